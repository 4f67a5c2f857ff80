"""The backend contract: what producers, consumers and groups rely on, on every backend.

Each test runs on ``memory://`` and, with ``-m kafka``, on a real Kafka broker; a behaviour
that differs between them is a bug in a backend, not something to special-case here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

from aiomq.backends import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    FetchResult,
    ProduceRecord,
    Record,
    TopicExists,
)
from aiomq.client import Client, connect
from aiomq.config import Config, ProducerConfig
from aiomq.errors import ClosedError, ConfigError, MessageTooLarge, OffsetOutOfRange, UnknownTopic
from aiomq.message import Headers, now_ms, record_size
from tests.backends.common import (
    HEADERS,
    KEY,
    LONG_WAIT,
    OFFSET,
    TIMESTAMP,
    VALUE,
    create,
    delete_records_before,
    fetch_all,
    rec,
    values,
)


def sized(size: int, key: bytes | None, headers: Headers = ()) -> ProduceRecord:
    """A record whose batch of its own (``record_size``) is exactly ``size`` bytes."""
    value = b"x" * (size - record_size(key, b"", headers))
    while record_size(key, value, headers) > size:  # the value's length varint grew
        value = value[:-1]
    assert record_size(key, value, headers) == size
    return rec(key, value, headers)


pytestmark = pytest.mark.asyncio


class TestProduceFetch:
    async def test_offsets_are_contiguous_from_zero(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        first = await client.backend.produce(topic_name, 0, values(3))
        second = await client.backend.produce(topic_name, 0, values(2, 3))
        assert list(first.offsets) == [0, 1, 2]
        assert first.base_offset == 0
        assert list(second.offsets) == [3, 4]
        records = await fetch_all(client, topic_name, 0, 0, 5)
        assert [r[OFFSET] for r in records] == [0, 1, 2, 3, 4]

    async def test_order_is_kept_per_partition(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=2)
        for start in range(0, 300, 100):
            await client.backend.produce(topic_name, 1, values(100, start))
        records = await fetch_all(client, topic_name, 1, 0, 300)
        assert [r[VALUE] for r in records] == [b"v%d" % i for i in range(300)]
        empty = await client.backend.fetch(topic_name, 0, 0, max_wait=0)
        assert empty.records == []

    async def test_a_batch_larger_than_a_request_keeps_its_order(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        big = [rec(None, b"%06d" % i + b"." * 1000) for i in range(3000)]  # about 3 MB
        result = await client.backend.produce(topic_name, 0, big)
        assert list(result.offsets) == list(range(3000))
        assert len(result.timestamps) == 3000
        got = await fetch_all(client, topic_name, 0, 0, 3000)
        assert [r[VALUE] for r in got] == [r[1] for r in big]

    async def test_concurrent_calls_are_appended_in_call_order(
        self, client: Client, topic_name: str
    ) -> None:
        # The producers keep several batches of a partition in flight on this: the first
        # call needs several requests on Kafka, and the calls after it must wait for all
        # of them, not land between them.
        await create(client, topic_name)
        calls = [[rec(None, b"0.%06d" % i + b"." * 1000) for i in range(3000)]]  # about 3 MB
        calls += [[rec(None, b"%d.%d" % (n, i)) for i in range(n)] for n in range(1, 6)]
        tasks = [
            asyncio.ensure_future(client.backend.produce(topic_name, 0, records))
            for records in calls
        ]
        with anyio.fail_after(LONG_WAIT):
            results = await asyncio.gather(*tasks)
        sent = [r[1] for records in calls for r in records]
        assert [o for result in results for o in result.offsets] == list(range(len(sent)))
        got = await fetch_all(client, topic_name, 0, 0, len(sent))
        assert [r[VALUE] for r in got] == sent

    async def test_keys_values_and_headers_round_trip(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        sent = [
            rec(b"key", b"value", (("h", b"1"), ("h", b"2"), ("other", b""))),
            rec(None, b"no key"),
            rec(b"tombstone", None),
            rec(b"", b""),
        ]
        await client.backend.produce(topic_name, 0, sent)
        got = await fetch_all(client, topic_name, 0, 0, 4)
        assert [(r[KEY], r[VALUE], tuple(r[HEADERS])) for r in got] == [
            (b"key", b"value", (("h", b"1"), ("h", b"2"), ("other", b""))),
            (None, b"no key", ()),
            (b"tombstone", None, ()),
            (b"", b"", ()),
        ]

    async def test_timestamps_are_kept_or_stamped(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        given = 1_600_000_000_123
        before = now_ms()
        result = await client.backend.produce(
            topic_name, 0, [rec(None, b"a", (), given), rec(None, b"b")]
        )
        after = now_ms()
        assert result.timestamps[0] == given
        assert before <= result.timestamps[1] <= after
        got = await fetch_all(client, topic_name, 0, 0, 2)
        assert [r[TIMESTAMP] for r in got] == list(result.timestamps)

    async def test_fetch_from_an_offset(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(10))
        got = await fetch_all(client, topic_name, 0, 7, 3)
        assert [r[OFFSET] for r in got] == [7, 8, 9]
        assert [r[VALUE] for r in got] == [b"v7", b"v8", b"v9"]

    async def test_fetch_reports_watermarks(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(4))
        result = await client.backend.fetch(topic_name, 0, 1, max_wait=LONG_WAIT)
        assert result.high_watermark == 4
        assert result.log_start_offset == 0
        assert result.next_offset == result.records[-1][OFFSET] + 1

    async def test_max_records_caps_a_fetch(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(10))
        result = await client.backend.fetch(topic_name, 0, 0, max_wait=LONG_WAIT, max_records=4)
        assert [r[OFFSET] for r in result.records] == [0, 1, 2, 3]
        assert result.next_offset == 4

    async def test_max_bytes_still_returns_one_record(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, [rec(None, b"x" * 5000)] * 3)
        result = await client.backend.fetch(topic_name, 0, 0, max_wait=LONG_WAIT, max_bytes=100)
        assert len(result.records) >= 1
        assert result.records[0][VALUE] == b"x" * 5000

    async def test_an_empty_batch_appends_nothing_but_checks_the_partition(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name, partitions=2)
        result = await client.backend.produce(topic_name, 1, [])
        assert list(result.offsets) == []
        assert result.base_offset == -1
        assert await client.backend.list_offsets(topic_name, {1: LATEST}) == {1: 0}
        with pytest.raises(UnknownTopic):
            await client.backend.produce(topic_name, 2, [])

    async def test_an_empty_batch_auto_creates_the_topic(
        self, client: Client, topic_name: str
    ) -> None:
        await client.backend.produce(topic_name, 0, [])
        assert topic_name in await client.backend.list_topics()

    async def test_log_append_time_replaces_the_given_timestamp(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name, config={"message.timestamp.type": "LogAppendTime"})
        before = now_ms()
        result = await client.backend.produce(
            topic_name, 0, [rec(None, b"a", (), 1), rec(None, b"b", (), 2)]
        )
        after = now_ms()
        assert result.timestamps[0] == result.timestamps[1]
        assert before <= result.timestamps[0] <= after
        got = await fetch_all(client, topic_name, 0, 0, 2)
        assert [r[TIMESTAMP] for r in got] == list(result.timestamps)

    async def test_the_size_limit_is_per_record_not_per_batch(
        self, client: Client, topic_name: str
    ) -> None:
        # Ten records fit the topic's limit one by one, not all together: Kafka refuses such
        # a batch whole, and the backend splits it, as the Java producer does.
        await create(client, topic_name, config={"max.message.bytes": "300"})
        batch = [rec(None, b"%02d" % i + b"." * 48) for i in range(10)]
        result = await client.backend.produce(topic_name, 0, batch)
        assert list(result.offsets) == list(range(10))
        got = await fetch_all(client, topic_name, 0, 0, 10)
        assert [r[VALUE] for r in got] == [r[1] for r in batch]
        with pytest.raises(MessageTooLarge):
            await client.backend.produce(topic_name, 0, [rec(None, b"x" * 400)])
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 10}

    async def test_null_header_values_round_trip(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        headers = (("a", None), ("b", b""), ("a", b"1"), ("é", None))
        await client.backend.produce(topic_name, 0, [rec(b"k", b"v", headers), rec(None, None)])
        got = await fetch_all(client, topic_name, 0, 0, 2)
        assert [(r[KEY], r[VALUE], tuple(r[HEADERS])) for r in got] == [
            (b"k", b"v", headers),
            (None, None, ()),
        ]


class TestSizeLimit:
    async def test_a_record_exactly_at_the_topic_limit_goes_in(
        self, client: Client, topic_name: str
    ) -> None:
        # The limit applies to a batch holding the record alone: 61 bytes of batch header
        # and the record, as Kafka measures it.
        await create(client, topic_name, config={"max.message.bytes": "300"})
        headers = (("hé", b"1" * 70), ("n", None))
        at_limit = sized(300, b"k", headers)
        await client.backend.produce(topic_name, 0, [at_limit])
        with pytest.raises(MessageTooLarge):
            await client.backend.produce(topic_name, 0, [sized(301, b"k", headers)])
        got = await fetch_all(client, topic_name, 0, 0, 1)
        assert [(r[KEY], r[VALUE], tuple(r[HEADERS])) for r in got] == [at_limit[:3]]
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 1}

    async def test_the_client_limit_stops_a_larger_record_before_sending(
        self, backend_url: str, topic_name: str
    ) -> None:
        config = Config(producer=ProducerConfig(max_message_bytes=500))
        async with connect(backend_url, config) as client:
            await create(client, topic_name)
            with pytest.raises(MessageTooLarge, match="max_message_bytes"):
                await client.backend.produce(topic_name, 0, [rec(None, b"small"), sized(501, None)])
            assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 0}
            # Records that fit the limit one by one go in, however many there are.
            batch = [sized(500, None)] * 5
            result = await client.backend.produce(topic_name, 0, batch)
            assert list(result.offsets) == list(range(5))


class TestOffsets:
    async def test_oldest_and_newest(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=2)
        assert await client.backend.list_offsets(topic_name, {0: EARLIEST, 1: LATEST}) == {
            0: 0,
            1: 0,
        }
        await client.backend.produce(topic_name, 0, values(5))
        assert await client.backend.list_offsets(topic_name, {0: EARLIEST}) == {0: 0}
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 5}

    async def test_offset_for_time_is_first_at_or_after(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        base = 1_700_000_000_000
        stamps = [base, base + 10, base + 20, base + 30]
        await client.backend.produce(topic_name, 0, [rec(None, b"r", (), ts) for ts in stamps])
        got = await client.backend.list_offsets(topic_name, {0: base + 10})
        assert got == {0: 1}
        assert await client.backend.list_offsets(topic_name, {0: base + 11}) == {0: 2}
        assert await client.backend.list_offsets(topic_name, {0: 0}) == {0: 0}
        assert await client.backend.list_offsets(topic_name, {0: base + 31}) == {0: None}

    async def test_fetch_past_the_end_is_out_of_range(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(3))
        with pytest.raises(OffsetOutOfRange):
            await client.backend.fetch(topic_name, 0, 4, max_wait=0)

    async def test_fetch_before_the_start_is_out_of_range(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(3))
        with pytest.raises(OffsetOutOfRange):
            await client.backend.fetch(topic_name, 0, -5, max_wait=0)

    async def test_deleted_records_move_the_log_start(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(5))
        await delete_records_before(client, topic_name, 3)
        assert await client.backend.list_offsets(topic_name, {0: EARLIEST}) == {0: 3}
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 5}
        result = await client.backend.fetch(topic_name, 0, 3, max_wait=LONG_WAIT)
        assert [r[VALUE] for r in result.records] == [b"v3", b"v4"]
        assert result.log_start_offset == 3
        assert result.high_watermark == 5
        with pytest.raises(OffsetOutOfRange):
            await client.backend.fetch(topic_name, 0, 2, max_wait=0)

    async def test_specs_must_be_ints(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        with pytest.raises(ConfigError, match=r"timestamp: .* not bool") as caught:
            await client.backend.list_offsets(topic_name, {0: True})  # not timestamp 1
        assert caught.value.field == "timestamp"
        with pytest.raises(ConfigError, match="EARLIEST, LATEST or a timestamp") as caught:
            await client.backend.list_offsets(topic_name, {0: -3})
        assert caught.value.field == "timestamp"
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 0}

    async def test_offset_for_time_never_returns_a_deleted_offset(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        base = 1_700_000_000_000
        await client.backend.produce(
            topic_name, 0, [rec(None, b"r%d" % i, (), base + i) for i in range(10)]
        )
        await delete_records_before(client, topic_name, 5)
        # The first records held at or after each time: never one before the log start.
        assert await client.backend.list_offsets(topic_name, {0: 0}) == {0: 5}
        assert await client.backend.list_offsets(topic_name, {0: base + 2}) == {0: 5}
        assert await client.backend.list_offsets(topic_name, {0: base + 7}) == {0: 7}
        assert await client.backend.list_offsets(topic_name, {0: base + 10}) == {0: None}


class TestRetention:
    async def test_next_offset_after_retention_removed_many_records(
        self, client: Client, topic_name: str
    ) -> None:
        # Enough records deleted (more than 4,096, more than half the log) that the in-process
        # log drops them from its list: offsets must not turn into list positions.
        await create(client, topic_name)
        for start in range(0, 10_000, 2_000):
            await client.backend.produce(topic_name, 0, values(2_000, start))
        await delete_records_before(client, topic_name, 9_900)
        result = await client.backend.fetch(topic_name, 0, 9_950, max_wait=LONG_WAIT)
        assert result.records[0][OFFSET] == 9_950
        assert result.records[0][VALUE] == b"v9950"
        assert result.next_offset == result.records[-1][OFFSET] + 1
        assert (result.log_start_offset, result.high_watermark) == (9_900, 10_000)
        capped = await client.backend.fetch(
            topic_name, 0, 9_900, max_wait=LONG_WAIT, max_records=10
        )
        assert [r[OFFSET] for r in capped.records] == list(range(9_900, 9_910))
        assert capped.next_offset == 9_910
        rest = await fetch_all(client, topic_name, 0, 9_910, 90)
        assert [r[OFFSET] for r in rest] == list(range(9_910, 10_000))
        at_end = await client.backend.fetch(topic_name, 0, 10_000, max_wait=0)
        assert at_end.records == []
        assert at_end.next_offset == 10_000
        await client.backend.produce(topic_name, 0, values(1, 10_000))
        after = await client.backend.fetch(topic_name, 0, 10_000, max_wait=LONG_WAIT)
        assert [(r[OFFSET], r[VALUE]) for r in after.records] == [(10_000, b"v10000")]
        assert after.next_offset == 10_001


class TestLongPoll:
    async def test_a_waiting_fetch_wakes_when_records_arrive(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        result: list[FetchResult] = []

        async def fetcher() -> None:
            result.append(await client.backend.fetch(topic_name, 0, 0, max_wait=LONG_WAIT))

        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            await anyio.wait_all_tasks_blocked()
            assert not result
            await client.backend.produce(topic_name, 0, values(3))
        assert time.monotonic() - start < LONG_WAIT / 2
        assert [r[OFFSET] for r in result[0].records][:1] == [0]
        assert result[0].records[0][VALUE] == b"v0"

    async def test_a_fetch_at_the_end_waits_for_the_next_record(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(2))
        result: list[FetchResult] = []

        async def fetcher() -> None:
            result.append(await client.backend.fetch(topic_name, 0, 2, max_wait=LONG_WAIT))

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            await anyio.wait_all_tasks_blocked()
            assert not result
            await client.backend.produce(topic_name, 0, values(1, 2))
        assert [(r[OFFSET], r[VALUE]) for r in result[0].records] == [(2, b"v2")]

    async def test_max_wait_bounds_an_empty_fetch(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        start = time.monotonic()
        result = await client.backend.fetch(topic_name, 0, 0, max_wait=0.3)
        elapsed = time.monotonic() - start
        assert result.records == []
        assert result.next_offset == 0
        assert 0.25 <= elapsed < LONG_WAIT / 2

    async def test_min_bytes_holds_a_fetch_until_max_wait(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(1))
        start = time.monotonic()
        result = await client.backend.fetch(topic_name, 0, 0, max_wait=0.5, min_bytes=100_000)
        elapsed = time.monotonic() - start
        assert [r[VALUE] for r in result.records] == [b"v0"]  # what there is, at the deadline
        assert 0.45 <= elapsed < LONG_WAIT / 2

    async def test_exactly_min_bytes_available_returns_at_once(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        record = rec(b"key", b"value", (("h", b"1"),))
        await client.backend.produce(topic_name, 0, [record])
        size = record_size(*record[:3])  # what one record takes in the log
        with anyio.fail_after(LONG_WAIT / 4):  # not held until max_wait
            result = await client.backend.fetch(
                topic_name, 0, 0, max_wait=LONG_WAIT, min_bytes=size
            )
        assert [r[VALUE] for r in result.records] == [b"value"]
        # One byte more is not there: that fetch waits out max_wait.
        start = time.monotonic()
        held = await client.backend.fetch(topic_name, 0, 0, max_wait=0.3, min_bytes=size + 1)
        assert time.monotonic() - start >= 0.25
        assert [r[VALUE] for r in held.records] == [b"value"]

    async def test_min_bytes_reached_ends_the_wait(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        result: list[FetchResult] = []

        async def fetcher() -> None:
            fetched = await client.backend.fetch(
                topic_name, 0, 0, max_wait=LONG_WAIT, min_bytes=2000
            )
            result.append(fetched)

        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            await anyio.wait_all_tasks_blocked()
            await client.backend.produce(topic_name, 0, values(1))  # not enough yet
            await client.backend.produce(topic_name, 0, values(30, 1, size=100))
        assert time.monotonic() - start < LONG_WAIT / 2
        assert len(result[0].records) > 1

    async def test_a_fetch_can_be_cancelled(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        with anyio.move_on_after(0.2) as scope:
            await client.backend.fetch(topic_name, 0, 0, max_wait=LONG_WAIT)
        assert scope.cancelled_caught
        # The backend still works after a cancelled fetch.
        await client.backend.produce(topic_name, 0, values(1))
        assert len(await fetch_all(client, topic_name, 0, 0, 1)) == 1

    async def test_concurrent_fetches_on_different_partitions(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name, partitions=3)
        got: dict[int, list[Record]] = {}

        async def fetcher(partition: int) -> None:
            result = await client.backend.fetch(topic_name, partition, 0, max_wait=LONG_WAIT)
            got[partition] = list(result.records)

        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            for p in range(3):
                tg.start_soon(fetcher, p)
            await anyio.wait_all_tasks_blocked()
            for p in (2, 0, 1):
                await client.backend.produce(topic_name, p, [rec(None, b"p%d" % p)])
        assert time.monotonic() - start < LONG_WAIT / 2
        assert {p: [r[VALUE] for r in rs] for p, rs in got.items()} == {
            0: [b"p0"],
            1: [b"p1"],
            2: [b"p2"],
        }

    async def test_closing_the_client_ends_a_waiting_fetch(
        self, backend_url: str, topic_name: str
    ) -> None:
        errors: list[BaseException] = []
        async with connect(backend_url) as client:
            await create(client, topic_name)

            async def fetcher() -> None:
                try:
                    await client.backend.fetch(topic_name, 0, 0, max_wait=LONG_WAIT)
                except ClosedError as exc:
                    errors.append(exc)

            start = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(fetcher)
                await anyio.wait_all_tasks_blocked()
                await client.aclose()
        assert time.monotonic() - start < LONG_WAIT / 2
        assert len(errors) == 1


class TestPartitioning:
    async def test_same_key_same_partition(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=4)
        keys = [b"user-%d" % i for i in range(20)]
        chosen = {key: await client.partition_for(topic_name, key) for key in keys}
        for key in keys:
            assert await client.partition_for(topic_name, key) == chosen[key]
            await client.backend.produce(topic_name, chosen[key], [rec(key, b"x")])
        assert len(set(chosen.values())) > 1  # 20 keys do not all hash to one partition
        # Another client on the same cluster agrees, and the records are where it says.
        async with connect(client.url) as other:
            for key in keys:
                assert await other.partition_for(topic_name, key) == chosen[key]
        for partition in range(4):
            expected = [k for k in keys if chosen[k] == partition]
            got = await fetch_all(client, topic_name, partition, 0, len(expected))
            assert [r[KEY] for r in got] == expected

    async def test_explicit_partition_wins(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=3)
        assert await client.partition_for(topic_name, b"k", partition=2) == 2
        with pytest.raises(UnknownTopic):
            await client.partition_for(topic_name, b"k", partition=3)


class TestAdmin:
    async def test_create_list_describe_delete(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic_name, partitions=3)
            assert topic_name in await admin.list_topics()
            info = await admin.describe_topic(topic_name)
            assert info.name == topic_name
            assert [p.id for p in info.partitions] == [0, 1, 2]
            assert all(p.leader >= 0 and p.leader in p.replicas for p in info.partitions)
            assert all(set(p.isr) <= set(p.replicas) for p in info.partitions)
            assert await client.partitions(topic_name) == [0, 1, 2]
            await admin.delete_topic(topic_name)
            assert topic_name not in await admin.list_topics()
            with pytest.raises(UnknownTopic):
                await admin.describe_topic(topic_name)

    async def test_list_leaves_out_internal_topics(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic_name)
            names = await admin.list_topics()
        assert names == sorted(names)
        assert not [n for n in names if n.startswith("__")]

    async def test_creating_an_existing_topic_raises(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic_name)
            with pytest.raises(TopicExists):
                await admin.create_topic(topic_name)

    async def test_deleting_a_missing_topic_raises(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            with pytest.raises(UnknownTopic):
                await admin.delete_topic(topic_name)

    async def test_bad_arguments_raise_config_error(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            calls: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("topic", lambda: admin.create_topic("bad/name")),
                ("partitions", lambda: admin.create_topic(topic_name, partitions=0)),
                ("replication", lambda: admin.create_topic(topic_name, replication=1000)),
                ("replication", lambda: admin.create_topic(topic_name, replication=0)),
                ("replication", lambda: admin.create_topic(topic_name, replication=True)),
                ("config", lambda: admin.create_topic(topic_name, config={"retention.ms": 1})),  # type: ignore[dict-item]
            ]
            for field, call in calls:
                with pytest.raises(ConfigError) as caught:
                    await call()
                assert caught.value.field == field
            assert topic_name not in await admin.list_topics()


class TestErrors:
    async def test_unknown_topic_when_auto_create_is_off(
        self, backend_url: str, topic_name: str
    ) -> None:
        async with connect(backend_url + "?auto_create_topics=false") as client:
            with pytest.raises(UnknownTopic):
                await client.partitions(topic_name)
            with pytest.raises(UnknownTopic):
                await client.backend.produce(topic_name, 0, values(1))
            with pytest.raises(UnknownTopic):
                await client.backend.produce(topic_name, 0, [])
            with pytest.raises(UnknownTopic):
                await client.backend.fetch(topic_name, 0, 0, max_wait=0)
            with pytest.raises(UnknownTopic):
                await client.backend.list_offsets(topic_name, {0: LATEST})
            async with client.admin() as admin:
                assert topic_name not in await admin.list_topics()

    async def test_unknown_partition(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=2)
        with pytest.raises(UnknownTopic):
            await client.backend.produce(topic_name, 2, values(1))
        with pytest.raises(UnknownTopic):
            await client.backend.fetch(topic_name, 5, 0, max_wait=0)

    async def test_message_too_large(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        with pytest.raises(MessageTooLarge):
            await client.backend.produce(topic_name, 0, [rec(None, b"x" * 2_000_000)])
        await client.backend.produce(topic_name, 0, values(1))
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 1}


class TestGroupOffsets:
    async def test_commit_and_read_back(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name, partitions=2)
        group = f"g-{topic_name}"
        assert await client.backend.committed_offsets(group, [(topic_name, 0)]) == {}
        await client.backend.commit_offsets(
            group,
            {(topic_name, 0): CommittedOffset(5, "meta"), (topic_name, 1): CommittedOffset(0)},
        )
        got = await client.backend.committed_offsets(group, [(topic_name, 0), (topic_name, 1)])
        assert got == {
            (topic_name, 0): CommittedOffset(5, "meta"),
            (topic_name, 1): CommittedOffset(0),
        }
        await client.backend.commit_offsets(group, {(topic_name, 0): CommittedOffset(7)})
        got = await client.backend.committed_offsets(group, [(topic_name, 0)])
        assert got == {(topic_name, 0): CommittedOffset(7)}
        other = await client.backend.committed_offsets(f"{group}-other", [(topic_name, 0)])
        assert other == {}

    async def test_an_empty_group_id_is_a_config_error(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        with pytest.raises(ConfigError, match=r"^group: must not be empty"):
            await client.backend.committed_offsets("", [(topic_name, 0)])
        with pytest.raises(ConfigError, match=r"^group: must not be empty"):
            await client.backend.committed_offsets("", [])
        with pytest.raises(ConfigError, match=r"^group: must not be empty") as caught:
            await client.backend.commit_offsets("", {(topic_name, 0): CommittedOffset(1)})
        assert caught.value.field == "group"

    async def test_offsets_of_a_deleted_topic_are_dropped(
        self, client: Client, topic_name: str
    ) -> None:
        # Kafka's group coordinator drops them once it applies the deletion, a moment after
        # DeleteTopics answers; a topic created again under the name starts with none.
        await create(client, topic_name, partitions=2)
        kept = f"{topic_name}-kept"
        await create(client, kept)
        group = f"g-{topic_name}"
        partitions = [(topic_name, 0), (topic_name, 1), (kept, 0)]
        await client.backend.commit_offsets(
            group,
            {
                (topic_name, 0): CommittedOffset(5, "a"),
                (topic_name, 1): CommittedOffset(3),
                (kept, 0): CommittedOffset(7, "k"),
            },
        )
        await client.backend.delete_topic(topic_name)
        with anyio.fail_after(LONG_WAIT / 2):
            while True:
                got = await client.backend.committed_offsets(group, partitions)
                if all(t != topic_name for t, _ in got):
                    break
                await anyio.sleep(0.05)  # polled: Kafka drops them asynchronously
        assert await client.backend.committed_offsets(group, partitions) == {
            (kept, 0): CommittedOffset(7, "k")
        }
        await create(client, topic_name, partitions=2)
        assert await client.backend.committed_offsets(group, partitions[:2]) == {}


async def test_records_survive_the_client(backend_url: str, topic_name: str) -> None:
    """A broker outlives its clients: what one client wrote, the next one reads."""
    async with connect(backend_url) as first:
        await create(first, topic_name)
        await first.backend.produce(topic_name, 0, values(3))
    async with connect(backend_url) as second:
        got = await fetch_all(second, topic_name, 0, 0, 3)
    assert [r[VALUE] for r in got] == [b"v0", b"v1", b"v2"]


async def test_backend_ops_yield_to_the_loop(client: Client, topic_name: str) -> None:
    """A loop of produces never starves other tasks (each call is a scheduling point)."""
    await create(client, topic_name)
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.get_running_loop().create_task(other())
    for _ in range(3):
        await client.backend.produce(topic_name, 0, values(1))
    assert ran.is_set()
    await task
