"""PartitionConsumer: where it starts, the order it yields, pause, resume, seek, what goes to
errors, offsets out of range, transactions, on memory:// and Kafka."""

from __future__ import annotations

import uuid

import anyio
import pytest

from aiomq.backends.base import Backend
from aiomq.client import Client, connect
from aiomq.concurrency import WouldBlock
from aiomq.config import Config, Isolation, Offset
from aiomq.consumer._fetcher import RecordDecodeError
from aiomq.errors import BrokerUnavailable, OffsetOutOfRange, UnknownTopic
from aiomq.message import now_ms
from tests.backends.common import create, delete_records_before, rec
from tests.consumer._helpers import produce, take
from tests.consumer.conftest import tap

pytestmark = [pytest.mark.asyncio, pytest.mark.fail_after(40)]


def vals(n: int, start: int = 0) -> list[bytes]:
    return [b"v%d" % i for i in range(start, start + n)]


class TestStartingPoints:
    async def test_oldest_yields_every_record_in_offset_order(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        for start in range(0, 250, 50):  # several batches in the log
            await produce(client, topic, vals(50, start))
        consumer = client.consumer()
        pc = await consumer.consume_partition(topic, 0, Offset.OLDEST)
        got = await take(pc, 250)
        assert [m.offset for m in got] == list(range(250))
        assert [m.value for m in got] == vals(250)
        assert {(m.topic, m.partition) for m in got} == {(topic, 0)}

    async def test_newest_yields_only_what_is_produced_next(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, vals(5))
        pc = await client.consumer().consume_partition(topic, 0)  # NEWEST by default
        await produce(client, topic, [b"new0", b"new1"])
        got = await take(pc, 2)
        assert [(m.offset, m.value) for m in got] == [(5, b"new0"), (6, b"new1")]

    async def test_a_concrete_offset_up_to_the_end_of_the_log(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, vals(10))
        consumer = client.consumer()
        pc = await consumer.consume_partition(topic, 0, 7)
        assert [m.offset for m in await take(pc, 3)] == [7, 8, 9]
        await pc.aclose()
        at_end = await consumer.consume_partition(topic, 0, 10)  # the next record's offset
        await produce(client, topic, [b"late"])
        assert [(m.offset, m.value) for m in await take(at_end, 1)] == [(10, b"late")]

    async def test_a_point_in_time(self, client: Client, topic: str) -> None:
        await create(client, topic)
        base = now_ms() - 60_000
        await produce(client, topic, [rec(None, b"t%d" % i, (), base + i * 1000) for i in range(5)])
        consumer = client.consumer()
        pc = await consumer.consume_partition(topic, 0, Offset.at(base + 2500))
        got = await take(pc, 2)
        assert [(m.offset, m.timestamp) for m in got] == [(3, base + 3000), (4, base + 4000)]
        await pc.aclose()
        pc = await consumer.consume_partition(topic, 0, Offset.at(base + 2000))  # at, inclusive
        assert (await take(pc, 1))[0].offset == 2
        await pc.aclose()
        # Nothing that recent: the next record produced.
        pc = await consumer.consume_partition(topic, 0, Offset.at(base + 3_600_000))
        await produce(client, topic, [b"after"])
        assert [(m.offset, m.value) for m in await take(pc, 1)] == [(5, b"after")]

    async def test_the_high_water_mark_is_known_from_the_start(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, vals(20))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        assert pc.high_water_mark == 20
        await take(pc, 20)
        await produce(client, topic, vals(5))
        await take(pc, 5)
        assert pc.high_water_mark == 25


class TestOutOfRange:
    async def test_past_the_end_raises_and_frees_the_partition(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, vals(3))
        consumer = client.consumer()
        with pytest.raises(OffsetOutOfRange, match=r"offset 4 is out of range"):
            await consumer.consume_partition(topic, 0, 4)
        pc = await consumer.consume_partition(topic, 0, 2)  # the failed call holds nothing
        assert (await take(pc, 1))[0].offset == 2

    async def test_before_the_start_raises(self, client: Client, topic: str) -> None:
        await create(client, topic)
        await produce(client, topic, vals(10))
        await delete_records_before(client, topic, 5)
        with pytest.raises(OffsetOutOfRange):
            await client.consumer().consume_partition(topic, 0, 2)

    @pytest.mark.parametrize("initial", [Offset.OLDEST, Offset.NEWEST])
    async def test_reset_moves_to_initial(
        self, backend_url: str, topic: str, initial: Offset
    ) -> None:
        config = Config()
        config.consumer.offsets.reset = True
        config.consumer.offsets.initial = initial
        async with connect(backend_url, config) as client:
            await create(client, topic)
            await produce(client, topic, vals(10))
            await delete_records_before(client, topic, 5)
            # One consumer per reader: a consumer reads a partition once at a time.
            before = await client.consumer().consume_partition(topic, 0, 2)
            past = await client.consumer().consume_partition(topic, 0, 50)
            await produce(client, topic, [b"next"])
            expected = 5 if initial is Offset.OLDEST else 10
            assert (await take(before, 1))[0].offset == expected
            assert (await take(past, 1))[0].offset == expected

    async def test_falling_out_of_the_log_stops_with_the_error_and_seek_restarts(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, vals(10))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        pc.pause()  # before its first fetch: the task has not run yet
        await delete_records_before(client, topic, 5)
        pc.resume()
        with pytest.raises(OffsetOutOfRange):
            await take(pc, 1)
        assert isinstance(pc.errors.recv_nowait(), OffsetOutOfRange)
        with pytest.raises(OffsetOutOfRange):  # it stays stopped
            await take(pc, 1)
        await pc.seek(Offset.OLDEST)
        assert [m.offset for m in await take(pc, 5)] == [5, 6, 7, 8, 9]

    async def test_falling_out_of_the_log_with_reset_goes_on(
        self, backend_url: str, topic: str
    ) -> None:
        config = Config()
        config.consumer.offsets.reset = True
        config.consumer.offsets.initial = Offset.OLDEST
        async with connect(backend_url, config) as client:
            await create(client, topic)
            await produce(client, topic, vals(10))
            pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
            pc.pause()
            await delete_records_before(client, topic, 5)
            pc.resume()
            assert [m.offset for m in await take(pc, 5)] == [5, 6, 7, 8, 9]
            with pytest.raises(WouldBlock):
                pc.errors.recv_nowait()


class TestPassingFailures:
    async def test_failures_after_a_resume_are_retried_with_backoff(
        self, backend_url: str, topic: str, config: Config
    ) -> None:
        # Regression: the backoff waited on the resume event, which a resume() leaves set,
        # so after pause() and resume() a failing partition was fetched again at once, over
        # and over (in process, without ever yielding to the event loop).
        async with connect(backend_url + "?auto_create_topics=false", config) as client:
            await create(client, topic)
            counter = tap(client)
            pc = await client.consumer().consume_partition(topic, 0)
            pc.pause()
            pc.resume()
            async with client.admin() as admin:
                await admin.delete_topic(topic)
            assert isinstance(await pc.errors.recv(), UnknownTopic)
            started = counter.started
            await anyio.sleep(0.5)  # backoff 0.1 s, doubling: a few fetches at most
            assert counter.started - started < 10

    async def test_a_failure_while_resetting_is_retried(self, backend_url: str, topic: str) -> None:
        # Regression: an error from the offset look-up of a reset ended the fetch task, and
        # with it the partition consumer, instead of being retried as a fetch's error is.
        config = Config()
        config.consumer.offsets.reset = True
        config.consumer.offsets.initial = Offset.OLDEST
        async with connect(backend_url, config) as client:
            await create(client, topic)
            await produce(client, topic, vals(10))
            pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
            pc.pause()  # before its first fetch
            await delete_records_before(client, topic, 5)
            tap(client).failures.append(BrokerUnavailable("the leader is moving"))
            pc.resume()
            assert [m.offset for m in await take(pc, 5)] == [5, 6, 7, 8, 9]
            assert isinstance(pc.errors.recv_nowait(), BrokerUnavailable)


class TestPauseResumeSeek:
    async def test_a_paused_consumer_fetches_nothing_until_resumed(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        counter = tap(client)
        await produce(client, topic, vals(3))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        pc.pause()
        assert pc.paused
        with anyio.move_on_after(0.5):  # an unpaused consumer gets them at once
            await take(pc, 1)
            pytest.fail("a paused consumer yielded a message")
        assert counter.started == 0
        pc.resume()
        assert not pc.paused
        assert [m.value for m in await take(pc, 3)] == vals(3)

    async def test_pause_while_reading_lets_the_fetch_under_way_finish(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        counter = tap(client)
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        await produce(client, topic, vals(2))
        assert [m.value for m in await take(pc, 2)] == vals(2)
        pc.pause()
        started = counter.started
        await counter.wait_answered(started)  # the long poll under way ends (max_wait)
        await produce(client, topic, vals(2, 2))
        got: list[bytes] = []
        with anyio.move_on_after(0.5):
            got = [m.value for m in await take(pc, 1)]
        # A long poll under way when pause() was called may still bring the records.
        assert counter.started == started
        pc.resume()
        got += [m.value for m in await take(pc, 2 - len(got))]
        assert got == vals(2, 2)

    async def test_seek_drops_what_was_fetched(self, client: Client, topic: str) -> None:
        await create(client, topic)
        base = now_ms() - 60_000
        await produce(client, topic, [rec(None, b"v%d" % i, (), base + i) for i in range(20)])
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        assert [m.offset for m in await take(pc, 2)] == [0, 1]  # the rest is fetched
        await pc.seek(10)
        assert [m.offset for m in await take(pc, 2)] == [10, 11]
        await pc.seek(Offset.OLDEST)
        assert [m.offset for m in await take(pc, 1)] == [0]
        await pc.seek(Offset.at(base + 15))
        assert [m.offset for m in await take(pc, 1)] == [15]
        await pc.seek(Offset.NEWEST)
        await produce(client, topic, [b"new"])
        assert [(m.offset, m.value) for m in await take(pc, 1)] == [(20, b"new")]

    async def test_seek_inside_a_running_loop(self, client: Client, topic: str) -> None:
        await create(client, topic)
        await produce(client, topic, vals(20))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        seen: list[int] = []
        async for message in pc:
            seen.append(message.offset)
            if message.offset == 3:
                await pc.seek(17)
            if message.offset == 19:
                break
        assert seen == [0, 1, 2, 3, 17, 18, 19]

    async def test_seek_out_of_range_changes_nothing(self, client: Client, topic: str) -> None:
        await create(client, topic)
        await produce(client, topic, vals(10))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        await take(pc, 2)
        with pytest.raises(OffsetOutOfRange):
            await pc.seek(11)
        assert [m.offset for m in await take(pc, 2)] == [2, 3]

    async def test_batches_hand_out_whole_fetches(self, client: Client, topic: str) -> None:
        await create(client, topic)
        await produce(client, topic, vals(30))
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        assert [m.offset for m in await take(pc, 4)] == [0, 1, 2, 3]
        offsets: list[int] = []
        async for batch in pc.batches():
            assert batch  # never an empty list
            offsets += [m.offset for m in batch]
            if len(offsets) >= 26:
                break
        assert offsets == list(range(4, 30))


class TestErrors:
    @pytest.fixture
    def config(self) -> Config:
        cfg = Config(value_codec="json", channel_buffer_size=2)
        cfg.consumer.max_wait = 0.1
        return cfg

    async def test_an_undecodable_record_goes_to_errors_and_reading_goes_on(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, [b'{"n": 1}', b"not json", b'{"n": 3}'])
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        got = await take(pc, 2)
        assert [(m.offset, m.value) for m in got] == [(0, {"n": 1}), (2, {"n": 3})]
        error = pc.errors.recv_nowait()
        assert isinstance(error, RecordDecodeError)
        assert (error.topic, error.partition, error.offset) == (topic, 0, 1)
        assert (error.key, error.value) == (None, b"not json")

    async def test_undrained_errors_never_hold_reading_back(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        await produce(client, topic, [b"bad%d" % i for i in range(5)] + [b'"good"'])
        pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
        assert [(m.offset, m.value) for m in await take(pc, 1)] == [(5, "good")]
        kept = [pc.errors.recv_nowait(), pc.errors.recv_nowait()]
        # The channel holds two: the oldest were dropped to make room for the newest.
        assert [e.offset for e in kept if isinstance(e, RecordDecodeError)] == [3, 4]


class TestTransactions:
    @pytest.mark.parametrize("isolation", [Isolation.READ_COMMITTED, Isolation.READ_UNCOMMITTED])
    async def test_read_committed_hides_aborted_transactions(
        self, backend_url: str, topic: str, isolation: Isolation
    ) -> None:
        config = Config()
        config.consumer.isolation = isolation
        async with connect(backend_url, config) as client:
            await create(client, topic)
            backend: Backend = client.backend
            producer = await backend.transactional_producer(
                f"tx-{uuid.uuid4().hex[:12]}", transaction_timeout=60.0
            )
            try:
                await producer.begin()
                await producer.produce(topic, 0, [rec(None, b"aborted0"), rec(None, b"aborted1")])
                await producer.abort()
                await producer.begin()
                await producer.produce(topic, 0, [rec(None, b"committed")])
                await producer.commit()
            finally:
                await producer.aclose()
            await produce(client, topic, [b"plain"])
            pc = await client.consumer().consume_partition(topic, 0, Offset.OLDEST)
            if isolation is Isolation.READ_COMMITTED:
                assert [m.value for m in await take(pc, 2)] == [b"committed", b"plain"]
            else:
                assert [m.value for m in await take(pc, 4)] == [
                    b"aborted0",
                    b"aborted1",
                    b"committed",
                    b"plain",
                ]
