"""The backend contract: what producers, consumers and groups rely on, on every backend.

Each test runs on ``memory://`` and, with ``-m kafka``, on a real Kafka broker; a behaviour
that differs between them is a bug in a backend, not something to special-case here.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import TopicPartition

from aiomq.backends import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    FetchResult,
    MemoryBackend,
    Record,
    TopicExists,
)
from aiomq.client import Client, connect
from aiomq.errors import ClosedError, MessageTooLarge, OffsetOutOfRange, UnknownTopic
from aiomq.message import now_ms
from tests.backends.common import HEADERS, KEY, OFFSET, TIMESTAMP, VALUE, rec, values

pytestmark = pytest.mark.asyncio

LONG_WAIT = 20.0  # a fetch that returns well before this was woken, not timed out


async def fetch_all(
    client: Client, topic: str, partition: int, offset: int, n: int
) -> list[Record]:
    """Fetch until ``n`` records from ``offset`` arrived (a fetch may return fewer)."""
    out: list[Record] = []
    while len(out) < n:
        result = await client.backend.fetch(topic, partition, offset, max_wait=LONG_WAIT)
        assert result.records, "a long poll returned nothing although records exist"
        out.extend(result.records)
        offset = result.next_offset
    return out


async def create(
    client: Client, topic: str, partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, partitions, config=config)


async def delete_records_before(client: Client, topic: str, offset: int) -> None:
    """Move partition 0's log start up to ``offset``, as retention would.

    Kafka: a DeleteRecords request (retention itself runs on whole segments every few
    minutes). In process: a retention limit that keeps the records from ``offset`` on, which
    applies at the next append.
    """
    backend = client.backend
    if isinstance(backend, MemoryBackend):
        mem = backend.broker
        _, end = mem.offsets(topic, 0)
        mem.retention_records = end - offset
        await backend.produce(topic, 0, [])
        mem.retention_records = None
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=client.url.removeprefix("kafka://"))
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(offset)})
    finally:
        await admin.close()


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
        with pytest.raises(TypeError, match="int"):
            await client.backend.list_offsets(topic_name, {0: True})  # not timestamp 1
        with pytest.raises(ValueError, match="EARLIEST"):
            await client.backend.list_offsets(topic_name, {0: -3})
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 0}


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

    async def test_bad_arguments_raise_value_error(self, client: Client, topic_name: str) -> None:
        async with client.admin() as admin:
            with pytest.raises(ValueError, match="topic"):
                await admin.create_topic("bad/name")
            with pytest.raises(ValueError, match="partition"):
                await admin.create_topic(topic_name, partitions=0)
            with pytest.raises(ValueError, match="replication"):
                await admin.create_topic(topic_name, replication=1000)
            for bad in (0, True):
                with pytest.raises(ValueError, match="replication factor must be an int >= 1"):
                    await admin.create_topic(topic_name, replication=bad)
            with pytest.raises(TypeError, match="str to str"):
                await admin.create_topic(topic_name, config={"retention.ms": 1})  # type: ignore[dict-item]
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

    async def test_an_empty_group_id_is_a_value_error(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        with pytest.raises(ValueError, match="group id"):
            await client.backend.committed_offsets("", [(topic_name, 0)])
        with pytest.raises(ValueError, match="group id"):
            await client.backend.committed_offsets("", [])
        with pytest.raises(ValueError, match="group id"):
            await client.backend.commit_offsets("", {(topic_name, 0): CommittedOffset(1)})


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
