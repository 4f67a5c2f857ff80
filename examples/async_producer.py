"""Feed an AsyncProducer one message a second; a task drains its successes and errors.

Run ``python examples/async_producer.py [--brokers HOST:PORT] [--count N] [--interval S]``
(``memory://`` without ``--brokers``). The draining task is what sarama's comment calls
"must be written, or the channel blocks": in aiomq a producer whose results nobody reads
stops taking input and its ``send`` times out instead, but reading them is how you learn
what was delivered. ``Ctrl-C`` stops it cleanly; ``--count`` ends it by itself.

The Go version (sarama): ``config.Producer.Return.Successes = true``,
``config.Producer.Timeout = 5 * time.Second``, ``sarama.NewAsyncProducer(addrs, config)``,
a goroutine selecting on ``p.Errors()`` and ``p.Successes()``, and ``p.Input() <- msg``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random

import aiomq

TOPIC = "test0"


async def drain(producer: aiomq.AsyncProducer) -> None:
    """Print each result until the producer closes both channels."""
    assert producer.successes is not None

    async def successes() -> None:
        assert producer.successes is not None
        async for message in producer.successes:
            print(
                f"  delivered {message.value!r}: partition {message.partition}, "
                f"offset {message.offset}"
            )

    async def errors() -> None:
        async for error in producer.errors:
            print(f"  failed {error.message.value!r}: {error.cause!r}")

    async with aiomq.ErrGroup() as g:
        await g.go(successes)
        await g.go(errors)


async def main(url: str, count: int | None, interval: float) -> None:
    config = aiomq.Config()
    config.producer.return_successes = True  # successes comes back on its channel
    config.producer.timeout = 5.0
    config.value_codec = "str"
    async with aiomq.connect(url, config) as client:
        producer = client.async_producer()
        async with aiomq.ErrGroup() as g:
            await g.go(drain, producer)
            sent = 0
            while count is None or sent < count:
                value = f"async: {random.randrange(10_000)}"
                print(value)
                await producer.input.send(aiomq.ProducerMessage(TOPIC, value))
                sent += 1
                await asyncio.sleep(interval)
            await producer.aclose()  # delivers what was accepted, then closes the channels


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", help="Kafka bootstrap address; memory:// without it")
    parser.add_argument("--count", type=int, default=None, help="stop after N (default: never)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between sends")
    args = parser.parse_args()
    url = f"kafka://{args.brokers}" if args.brokers else "memory://"
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: asyncio.run cancels main() first
        asyncio.run(main(url, args.count, args.interval))
