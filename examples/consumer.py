"""Read every partition of a topic, a task each, printing each record as it arrives.

Run ``python examples/consumer.py [--brokers HOST:PORT] [--count N] [--produce K]``
(``memory://`` without ``--brokers``). It lists the partitions of ``test0``, starts a
partition consumer at the newest offset of each and reads each in a task of its own; then it
produces ``K`` records (3 by default) so that there is something to read. ``--count`` ends
it after N records; otherwise it reads until ``Ctrl-C``. ``consumer.consume(topic)`` does
the same fan-in in one call.

The Go version (sarama): ``sarama.NewConsumer(addrs, nil)``, ``consumer.Partitions("test0")``,
``consumer.ConsumePartition("test0", partition, sarama.OffsetNewest)`` for each partition, a
goroutine ranging over ``pc.Messages()`` apiece, and a ``sync.WaitGroup`` to wait for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import aiomq

TOPIC = "test0"


async def main(url: str, count: int | None, produce: int) -> None:
    config = aiomq.Config()
    config.key_codec = config.value_codec = "str"
    config.producer.partitioner = "random"  # as the seed's producer
    async with aiomq.connect(url, config) as client:
        async with client.admin() as admin:
            with contextlib.suppress(aiomq.TopicExists):
                await admin.create_topic(TOPIC, partitions=3)
        consumer = client.consumer()
        seen = 0

        async def read(pc: aiomq.PartitionConsumer) -> None:
            """Print each record of one partition until the consumer closes."""
            nonlocal seen
            async for msg in pc:
                print(
                    f"partition: {msg.partition}, offset: {msg.offset}, "
                    f"key: {msg.key or ''}, value: {msg.value}"
                )
                seen += 1
                if count is not None and seen >= count:
                    await consumer.aclose()  # ends every partition's loop, this one too

        async with aiomq.ErrGroup() as g:
            for partition in await consumer.partitions(TOPIC):
                pc = await consumer.consume_partition(TOPIC, partition, aiomq.Offset.NEWEST)
                await g.go(read, pc)
            # Every partition consumer has its starting offset: what comes now is read.
            async with client.sync_producer() as producer:
                for i in range(produce):
                    await producer.send(TOPIC, f"Hello World! {i}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", help="Kafka bootstrap address; memory:// without it")
    parser.add_argument("--count", type=int, default=None, help="stop after N (default: never)")
    parser.add_argument("--produce", type=int, default=3, help="records to produce (default 3)")
    args = parser.parse_args()
    url = f"kafka://{args.brokers}" if args.brokers else "memory://"
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: asyncio.run cancels main() first
        asyncio.run(main(url, args.count, args.produce))
