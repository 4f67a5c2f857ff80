"""Consume a topic as a member of a consumer group, marking each message; print the group's
notifications and errors from their own task.

Run ``python examples/consumer_group.py [--brokers HOST:PORT] [--count N] [--produce K]``
(``memory://`` without ``--brokers``). Once the member owns its partitions, a producer task
writes ``K`` messages for it to read (8 on ``memory://``, none on Kafka by default: there it
reads what others produce, from the newest offset). The offsets marked are committed every
second, before partitions move to another member and when the group closes: stop it and
start it again, and it goes on right after the last message it marked (sarama-cluster's
comment warns that ``MarkOffset`` loses what was not yet committed on a crash; a clean stop
loses nothing here).

The Go version (sarama-cluster): ``config.Group.Return.Notifications = true``,
``config.Consumer.Offsets.CommitInterval = 1 * time.Second``,
``config.Consumer.Offsets.Initial = sarama.OffsetNewest``, ``cluster.NewConsumer(addrs,
"group-1", []string{"test0"}, config)``, a goroutine selecting on ``c.Errors()`` and
``c.Notifications()``, and ``for msg := range c.Messages() { ...; c.MarkOffset(msg, "") }``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import aiomq

TOPIC = "test0"
GROUP = "group-1"


async def report(group: aiomq.ConsumerGroup, joined: asyncio.Event) -> None:
    """Print what the group reports, until it closes both channels."""

    async def notifications() -> None:
        assert group.notifications is not None
        async for note in group.notifications:
            owned = sorted(p for _, p in note.current)
            print(f"  [{note.type.value}] owns partitions {owned}")
            if note.type is aiomq.NotificationType.REBALANCE_OK:
                joined.set()

    async def errors() -> None:
        async for error in group.errors:
            print(f"  [error] {error!r}")

    async with aiomq.ErrGroup() as g:
        await g.go(notifications)
        await g.go(errors)


async def produce(client: aiomq.Client, count: int, joined: asyncio.Event) -> None:
    await joined.wait()  # the group starts at the newest offsets: write once it owns them
    async with client.sync_producer() as producer:
        for i in range(count):
            await producer.send(TOPIC, f"message {i}", key=f"key-{i}")


async def main(url: str, count: int | None, produced: int) -> None:
    config = aiomq.Config()
    config.group.return_notifications = True
    config.consumer.offsets.commit_interval = 1.0
    config.consumer.offsets.initial = aiomq.Offset.NEWEST
    config.key_codec = config.value_codec = "str"
    async with aiomq.connect(url, config) as client:
        async with client.admin() as admin:
            if TOPIC not in await admin.list_topics():
                await admin.create_topic(TOPIC, partitions=4)
        group = client.group(GROUP, [TOPIC])
        joined = asyncio.Event()
        async with aiomq.ErrGroup() as g:
            await g.go(report, group, joined)
            if produced:
                await g.go(produce, client, produced, joined)
            seen = 0
            async for msg in group:
                print(
                    f"partition {msg.partition}, offset {msg.offset}, key {msg.key}, "
                    f"value {msg.value}"
                )
                group.mark_offset(msg)  # committed within a second, or when the group closes
                seen += 1
                if count is not None and seen >= count:
                    break
            await group.aclose()  # commits what was marked, leaves, closes the channels


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", help="Kafka bootstrap address; memory:// without it")
    parser.add_argument("--count", type=int, default=None, help="stop after N messages")
    parser.add_argument("--produce", type=int, default=None, help="messages to write first")
    args = parser.parse_args()
    url = f"kafka://{args.brokers}" if args.brokers else "memory://"
    produced = args.produce if args.produce is not None else (0 if args.brokers else 8)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: asyncio.run cancels main() first
        asyncio.run(main(url, args.count, produced))
