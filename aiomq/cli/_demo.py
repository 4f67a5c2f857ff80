"""``aiomq demo``: the seed's story in one run — producers, a consumer, a consumer group.

On ``memory://`` by default (``--brokers`` for Kafka), it creates ``test0`` with four
partitions, sends with a sync producer (printing partition and offset), sends with an async
producer whose successes and errors are drained by a task of their own, reads every
partition with a task each, and consumes as a member of a group with notifications,
committing what it marked. Everything runs under one context with a deadline, so the demo
ends by itself; ``--forever`` keeps the async producer sending one message a second, read by
the group, until Ctrl-C, which stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import click

from ..client import Client, connect
from ..concurrency import Context, ErrGroup, background, with_timeout
from ..config import Config, Offset
from ..errors import AiomqError, TopicExists
from ..group import ConsumerGroup, NotificationType
from ..message import Message, ProducerMessage

__all__ = ["demo"]

TOPIC = "test0"
PARTITIONS = 4
COUNT = 4  # messages per producer
DEADLINE = 15.0  # seconds the whole story may take


def line(message: Message) -> str:
    return (
        f"partition {message.partition}, offset {message.offset}, "
        f"key {message.key}, value {message.value}"
    )


async def _setup(client: Client) -> None:
    async with client.admin() as admin:
        with contextlib.suppress(TopicExists):
            await admin.create_topic(TOPIC, PARTITIONS)


async def _sync_producer(client: Client) -> None:
    click.echo("== sync producer: acks=all, each send returns where the record landed")
    async with client.sync_producer() as producer:
        for i in range(COUNT):
            sent = await producer.send(TOPIC, f"sync {i}", key=f"key-{i}")
            click.echo(f"  sent: partition {sent.partition}, offset {sent.offset}")


async def _async_producer(client: Client, count: int | None, interval: float) -> None:
    producer = client.async_producer()

    async def drain() -> None:
        assert producer.successes is not None
        async with ErrGroup() as g:

            async def successes() -> None:
                assert producer.successes is not None
                async for m in producer.successes:
                    click.echo(
                        f"  delivered {m.value!r}: partition {m.partition}, offset {m.offset}"
                    )

            async def errors() -> None:
                async for e in producer.errors:
                    click.echo(f"  failed {e.message.value!r}: {e.cause!r}")

            await g.go(successes)
            await g.go(errors)

    async with ErrGroup() as g:
        await g.go(drain)
        sent = 0
        while count is None or sent < count:
            await producer.input.send(ProducerMessage(TOPIC, f"async {sent}", key=f"key-{sent}"))
            sent += 1
            if interval:
                await asyncio.sleep(interval)
        await producer.aclose()  # delivers what was accepted, then closes both channels


async def _consumer(client: Client, starts: dict[int, int], expected: int) -> None:
    click.echo("== consumer: a task per partition, from where the producers started")
    consumer = client.consumer()
    seen = 0
    done = asyncio.Event()

    async def read(partition: int) -> None:
        nonlocal seen
        pc = await consumer.consume_partition(TOPIC, partition, starts[partition])
        async for message in pc:
            click.echo(f"  {line(message)}")
            seen += 1
            if seen >= expected:
                done.set()

    async with ErrGroup() as g:
        for partition in sorted(starts):
            await g.go(read, partition)
        await done.wait()
        await consumer.aclose()  # every partition's loop ends


async def _group(client: Client, ctx: Context, forever: bool) -> None:
    click.echo("== consumer group: notifications, mark_offset, commits every second")
    group: ConsumerGroup = client.group(f"demo-{uuid.uuid4().hex[:8]}", [TOPIC])
    assert group.notifications is not None
    joined = asyncio.Event()

    async def notifications() -> None:
        assert group.notifications is not None
        async for note in group.notifications:
            owned = sorted(p for _, p in note.current)
            click.echo(f"  [{note.type.value}] owns partitions {owned}")
            if note.type is NotificationType.REBALANCE_OK:
                joined.set()

    async def errors() -> None:
        async for error in group.errors:
            click.echo(f"  [group error] {error!r}")

    async with ErrGroup(ctx) as g:
        await g.go(notifications)
        await g.go(errors)
        await group.start()
        await joined.wait()  # it starts at the newest offsets: produce only once it owns them
        await g.go(_async_producer, client, None if forever else COUNT, 1.0 if forever else 0)
        seen = 0
        async for message in group:
            click.echo(f"  group got {line(message)}")
            group.mark_offset(message)
            seen += 1
            if not forever and seen >= COUNT:
                break
        await group.aclose()  # commits what was marked, leaves the group


async def run(url: str, forever: bool) -> None:
    """The whole story on ``url``; every step bounded by one context's deadline."""
    config = Config()
    config.key_codec = config.value_codec = "str"
    config.producer.return_successes = True
    config.group.return_notifications = True
    config.consumer.offsets.initial = Offset.NEWEST
    ctx, cancel = (background(), None) if forever else with_timeout(background(), DEADLINE)
    try:
        with ctx.scope():
            async with connect(url, config) as client:
                click.echo(f"aiomq demo on {url}")
                await _setup(client)
                ends = await client.backend.list_offsets(
                    TOPIC, dict.fromkeys(range(PARTITIONS), -1)
                )
                starts = {p: offset or 0 for p, offset in ends.items()}
                await _sync_producer(client)
                click.echo("== async producer: successes and errors drained by their own task")
                await _async_producer(client, COUNT, 0)
                await _consumer(client, starts, 2 * COUNT)
                await _group(client, ctx, forever)
        late = ctx.err()
    finally:
        if cancel is not None:
            cancel()
    if late is not None:
        raise click.ClickException(f"the demo did not finish within {DEADLINE} s: {late!r}")
    click.echo("done")


@click.command()
@click.option("--brokers", default=None, help="Kafka bootstrap address; memory:// without it.")
@click.option("--forever", is_flag=True, help="Keep producing one message a second until Ctrl-C.")
def demo(brokers: str | None, forever: bool) -> None:
    """Run producers, a consumer and a consumer group, as the seed's Go programs do."""
    url = f"kafka://{brokers}" if brokers else "memory://"
    try:
        asyncio.run(run(url, forever))
    except KeyboardInterrupt:
        click.echo("stopped")
    except AiomqError as exc:
        raise click.ClickException(str(exc)) from exc
