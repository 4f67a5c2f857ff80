"""Send messages with a SyncProducer and print where each one landed.

Run ``python examples/sync_producer.py [--brokers HOST:PORT] [--count N]``. Without
``--brokers`` it uses ``memory://``, the in-process broker, so it runs anywhere. The topic
``test0`` gets 8 partitions; each message goes to a random one, acknowledged by every
in-sync replica (``Acks.ALL``), and the producer prints its partition and offset.

The Go version (sarama): ``config.Producer.RequiredAcks = sarama.WaitForAll``,
``config.Producer.Partitioner = sarama.NewRandomPartitioner``,
``sarama.NewSyncProducer(addrs, config)``, ``pid, offset, err := client.SendMessage(msg)``.
"""

from __future__ import annotations

import argparse
import asyncio

import aiomq

TOPIC = "test0"


async def main(url: str, count: int) -> None:
    config = aiomq.Config()
    config.producer.required_acks = aiomq.Acks.ALL  # every in-sync replica confirms
    config.producer.partitioner = "random"
    config.value_codec = "str"
    async with aiomq.connect(url, config) as client:
        async with client.admin() as admin:
            if TOPIC not in await admin.list_topics():
                await admin.create_topic(TOPIC, partitions=8)
        async with client.sync_producer() as producer:
            for i in range(count):
                sent = await producer.send(TOPIC, f"Hello World! #{i}")
                print(f"partition {sent.partition}, offset {sent.offset}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", help="Kafka bootstrap address; memory:// without it")
    parser.add_argument("--count", type=int, default=3, help="messages to send (default 3)")
    args = parser.parse_args()
    asyncio.run(main(f"kafka://{args.brokers}" if args.brokers else "memory://", args.count))
