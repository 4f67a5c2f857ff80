"""consumer.consume(topic): every partition as one stream, one task each, stopped together."""

from __future__ import annotations

from collections import defaultdict

import anyio
import pytest

from aiomq.client import Client, connect
from aiomq.concurrency import background, with_cancel
from aiomq.config import Config, Offset
from aiomq.errors import ClosedError, ConfigError, OffsetOutOfRange
from tests.backends.common import create, delete_records_before
from tests.consumer._helpers import produce, take
from tests.consumer.conftest import consumer_tasks

pytestmark = [pytest.mark.asyncio, pytest.mark.fail_after(40)]

PARTITIONS = 4


async def fill(client: Client, topic: str, per_partition: int, batches: int = 4) -> None:
    """``per_partition`` records ``b"p<partition>-<i>"`` in each partition, a few batches each."""
    step = per_partition // batches
    for start in range(0, per_partition, step):
        for p in range(PARTITIONS):
            await produce(
                client, topic, [b"p%d-%d" % (p, i) for i in range(start, start + step)], p
            )


class TestFanIn:
    async def test_every_partition_in_order(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 100)
        async with client.consumer().consume(topic, Offset.OLDEST) as stream:
            assert stream.partitions == list(range(PARTITIONS))
            got = await take(stream, 100 * PARTITIONS)
        by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        for m in got:
            by_partition[m.partition].append((m.offset, m.value))
        assert sorted(by_partition) == list(range(PARTITIONS))
        for p, seen in by_partition.items():
            assert seen == [(i, b"p%d-%d" % (p, i)) for i in range(100)]

    async def test_new_records_of_every_partition_arrive(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 4)
        async with client.consumer().consume(topic) as stream:  # NEWEST
            for p in range(PARTITIONS):
                await produce(client, topic, [b"late-%d" % p], p)
            got = await take(stream, PARTITIONS)
        assert sorted((m.partition, m.offset, m.value) for m in got) == [
            (p, 4, b"late-%d" % p) for p in range(PARTITIONS)
        ]

    async def test_batches_are_whole_fetches_of_one_partition(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 40)
        seen: dict[int, list[int]] = defaultdict(list)
        async with client.consumer().consume(topic, Offset.OLDEST) as stream:
            async for batch in stream.batches():
                assert len({m.partition for m in batch}) == 1
                offsets = [m.offset for m in batch]
                assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
                seen[batch[0].partition] += offsets
                if sum(map(len, seen.values())) == 40 * PARTITIONS:
                    break
        assert {p: offsets for p, offsets in seen.items()} == {
            p: list(range(40)) for p in range(PARTITIONS)
        }

    async def test_a_bare_async_for_starts_by_itself(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 4)
        stream = client.consumer().consume(topic, 2)
        got = await take(stream, 2 * PARTITIONS)
        assert sorted((m.partition, m.offset) for m in got) == [
            (p, o) for p in range(PARTITIONS) for o in (2, 3)
        ]
        await stream.aclose()
        assert consumer_tasks() == set()


class TestStopping:
    async def test_cancelling_the_context_ends_the_loop_and_every_task(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 40)
        ctx, cancel = with_cancel(background())
        count = 0
        async with client.consumer().consume(topic, Offset.OLDEST, ctx=ctx) as stream:
            async for _ in stream:
                count += 1
                if count == 1:  # a fetch task per partition, and their supervisor
                    assert len(consumer_tasks()) == PARTITIONS + 1
                if count == 5:
                    cancel()
            # The loop ended by itself (without break), and left no task behind.
            assert consumer_tasks() == set()
            assert stream.ctx.done()
        assert 5 <= count < 40 * PARTITIONS

    async def test_a_context_ended_before_entering(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 4)
        ctx, cancel = with_cancel(background())
        cancel()
        async with client.consumer().consume(topic, Offset.OLDEST, ctx=ctx) as stream:
            assert await take(stream, 1) == []
        assert consumer_tasks() == set()

    async def test_leaving_the_block_stops_every_task(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 4)
        consumer = client.consumer()
        async with consumer.consume(topic, Offset.OLDEST) as stream:
            await take(stream, 1)
            assert consumer_tasks()
        assert consumer_tasks() == set()
        assert stream.closed
        with pytest.raises(ClosedError):
            await stream.start()
        # The partitions are free again.
        async with consumer.consume(topic, Offset.OLDEST) as again:
            assert len(await take(again, 4 * PARTITIONS)) == 4 * PARTITIONS

    async def test_closing_from_another_task_ends_a_running_loop(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, PARTITIONS)
        stream = client.consumer().consume(topic)
        await stream.start()
        reading, ended = anyio.Event(), anyio.Event()

        async def read() -> None:
            reading.set()
            async for _ in stream:
                pytest.fail("nothing was produced")
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await reading.wait()
            await stream.aclose()
            with anyio.fail_after(5):
                await ended.wait()
        assert consumer_tasks() == set()

    async def test_a_partition_out_of_range_stops_the_others_and_raises(
        self, backend_url: str, topic: str
    ) -> None:
        config = Config()
        config.consumer.max_wait = 0.1
        config.consumer.fetch.default = 1  # a record a fetch: the fetchers stay behind
        async with connect(backend_url, config) as client:
            await create(client, topic, PARTITIONS)
            await fill(client, topic, 8)
            async with client.consumer().consume(topic, Offset.OLDEST) as stream:
                # Nobody reads yet: each fetch task waits with a record or two fetched, and
                # partition 0's log start moves past where its task stands.
                await delete_records_before(client, topic, 8)
                with pytest.raises(OffsetOutOfRange):
                    async for _ in stream:
                        pass
                assert consumer_tasks() == set()
                errors = []
                while len(stream.errors):
                    errors.append(stream.errors.recv_nowait())
                assert any(isinstance(e, OffsetOutOfRange) for e in errors)


class TestArguments:
    async def test_bad_topic_offset_and_context(self, client: Client) -> None:
        consumer = client.consumer()
        with pytest.raises(ConfigError) as info:
            consumer.consume("not a topic!")
        assert info.value.field == "topic"
        with pytest.raises(ConfigError) as info:
            consumer.consume("t", offset=-3)
        assert info.value.field == "offset"
        with pytest.raises(ConfigError) as info:
            consumer.consume("t", ctx="soon")  # type: ignore[arg-type]
        assert info.value.field == "ctx"

    async def test_a_partition_already_read_by_this_consumer(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, PARTITIONS)
        consumer = client.consumer()
        pc = await consumer.consume_partition(topic, 2)
        with pytest.raises(ConfigError, match=r"\[2\] is already being consumed"):
            async with consumer.consume(topic):
                pass
        await pc.aclose()
        async with consumer.consume(topic) as stream:
            assert stream.partitions == list(range(PARTITIONS))
            with pytest.raises(ConfigError):
                await consumer.consume_partition(topic, 0)

    async def test_out_of_range_when_it_starts(self, client: Client, topic: str) -> None:
        await create(client, topic, PARTITIONS)
        await fill(client, topic, 4)
        consumer = client.consumer()
        with pytest.raises(OffsetOutOfRange):
            async with consumer.consume(topic, 5):
                pass
        async with consumer.consume(topic, 4):  # the claims were given back
            pass
