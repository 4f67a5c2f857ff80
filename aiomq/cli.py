"""The ``aiomq`` command line: one click group, one sub-command or group per concern.

``aiomq kafka start|stop|status|fetch`` runs a local broker for development. Further commands
(``demo``, ``produce``, ``consume``, ...) are added here with ``main.add_command``.
"""

from __future__ import annotations

import click

from . import __version__
from .testing._cli import kafka

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="aiomq")
def main() -> None:
    """aiomq: Go's concurrency toolkit and a sarama-style Kafka client for asyncio and trio."""


main.add_command(kafka)

if __name__ == "__main__":
    main()
