"""``python -m aiomq.testing start|stop|status|fetch``: the ``aiomq kafka`` commands."""

from aiomq.testing.kafka import main

if __name__ == "__main__":
    main()
