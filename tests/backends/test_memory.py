"""The in-process broker's own behaviour: retention, named brokers, parking, topic config."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import pytest
import pytest_asyncio

from aiomq.backends import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    MemoryBackend,
    MemoryBroker,
    broker,
    drop_broker,
)
from aiomq.backends.base import Backend, Membership, TransactionalProducer
from aiomq.backends.memory import DEFAULT_MAX_MESSAGE_BYTES, MemoryTransactionalProducer
from aiomq.client import Client, connect
from aiomq.concurrency._park import Parker, current
from aiomq.errors import (
    ClosedError,
    ConfigError,
    FencedInstanceId,
    MessageTooLarge,
    OffsetOutOfRange,
    StaleMember,
    TransactionError,
    UnknownTopic,
)
from aiomq.message import record_size
from tests.backends.common import OFFSET, VALUE, rec, values

pytestmark = pytest.mark.asyncio


@pytest.fixture
def name() -> Iterator[str]:
    unique = f"mem-{uuid.uuid4().hex[:12]}"
    yield unique
    drop_broker(unique)


@pytest.fixture
def mem(name: str) -> MemoryBroker:
    return broker(name)


async def parked_fetch_errors(
    client: Client,
    offset: int,
    error: type[BaseException],
    then: Callable[[], Awaitable[object]],
) -> list[BaseException]:
    """Park a fetch of ``t``/0 at ``offset``, run ``then`` once it waits, and return the
    ``error`` instances the fetch raised (any other outcome fails the test)."""
    errors: list[BaseException] = []

    async def fetcher() -> None:
        try:
            await client.backend.fetch("t", 0, offset, max_wait=30)
        except error as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(fetcher)
        await anyio.wait_all_tasks_blocked()
        await then()
    return errors


@pytest_asyncio.fixture
async def client(name: str) -> AsyncIterator[Client]:
    async with connect(f"memory://{name}") as opened:
        yield opened


class TestNamedBrokers:
    async def test_names_are_separate(self, name: str) -> None:
        async with connect(f"memory://{name}-a") as a, connect(f"memory://{name}-b") as b:
            await a.admin().create_topic("only-in-a")
            assert "only-in-a" in await a.admin().list_topics()
            assert "only-in-a" not in await b.admin().list_topics()
        drop_broker(f"{name}-a")
        drop_broker(f"{name}-b")

    async def test_same_name_is_the_same_broker(self, name: str) -> None:
        async with connect(f"memory://{name}") as a, connect(f"memory://{name}") as b:
            await a.backend.produce("shared", 0, values(2))
            result = await b.backend.fetch("shared", 0, 0, max_wait=0)
            assert [r[VALUE] for r in result.records] == [b"v0", b"v1"]

    async def test_memory_url_is_the_process_default(self) -> None:
        async with connect() as a, connect("memory://") as b:
            assert isinstance(a.backend, MemoryBackend)
            assert isinstance(b.backend, MemoryBackend)
            assert a.backend.broker is b.backend.broker is broker("")

    async def test_drop_broker_starts_fresh(self, name: str) -> None:
        async with connect(f"memory://{name}") as a:
            await a.admin().create_topic("gone")
        drop_broker(name)
        async with connect(f"memory://{name}") as b:
            assert await b.admin().list_topics() == []


class TestRetention:
    async def test_by_count_moves_the_log_start(self, mem: MemoryBroker, client: Client) -> None:
        mem.retention_records = 5
        await client.backend.produce("t", 0, values(3))
        await client.backend.produce("t", 0, values(4, 3))
        assert await client.backend.list_offsets("t", {0: EARLIEST}) == {0: 2}
        assert mem.offsets("t", 0) == (2, 7)
        result = await client.backend.fetch("t", 0, 2, max_wait=0)
        assert [r[OFFSET] for r in result.records] == [2, 3, 4, 5, 6]
        assert result.log_start_offset == 2
        with pytest.raises(OffsetOutOfRange):
            await client.backend.fetch("t", 0, 1, max_wait=0)

    async def test_by_bytes_keeps_the_newest_that_fit(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t", config={"retention.bytes": "1000"})
        await client.backend.produce("t", 0, values(10, size=100))
        size = record_size(None, b"v0" + b"." * 100)  # each record, as a batch of its own
        kept = 1000 // size
        assert kept == 5
        start, end = mem.offsets("t", 0)
        assert (start, end) == (10 - kept, 10)
        result = await client.backend.fetch("t", 0, start, max_wait=0)
        assert [r[OFFSET] for r in result.records] == list(range(start, 10))

    async def test_topic_setting_overrides_the_broker(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.retention_bytes = 2 * record_size(None, b"v0")
        await client.admin().create_topic("kept", config={"retention.bytes": "-1"})
        await client.backend.produce("kept", 0, values(5))
        await client.backend.produce("trimmed", 0, values(5))
        assert mem.offsets("kept", 0) == (0, 5)
        assert mem.offsets("trimmed", 0) == (3, 5)

    async def test_retention_by_count_is_the_brokers_alone(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        # Kafka has no retention by record count: it is a MemoryBroker setting, for tests,
        # and a topic config of that name is refused as unknown, as Kafka refuses it.
        with pytest.raises(ConfigError, match=r"unknown topic config 'retention\.records'"):
            await client.admin().create_topic("t", config={"retention.records": "2"})
        mem.retention_records = 2
        await client.backend.produce("t", 0, values(5))
        assert mem.offsets("t", 0) == (3, 5)

    async def test_long_logs_compact_and_keep_offsets(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.retention_records = 100
        for start in range(0, 20_000, 1000):
            await client.backend.produce("t", 0, values(1000, start))
        assert mem.offsets("t", 0) == (19_900, 20_000)
        result = await client.backend.fetch("t", 0, 19_950, max_wait=0)
        assert result.records[0][OFFSET] == 19_950
        assert result.records[0][VALUE] == b"v19950"
        assert len(result.records) == 50

    async def test_a_parked_fetch_overtaken_by_retention_is_out_of_range(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.retention_records = 2
        await client.backend.produce("t", 0, values(1))
        errors = await parked_fetch_errors(
            client, 1, OffsetOutOfRange, lambda: client.backend.produce("t", 0, values(5, 1))
        )
        assert len(errors) == 1


class TestParking:
    async def test_a_waiting_fetch_is_parked_not_polling(
        self, mem: MemoryBroker, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await client.admin().create_topic("t")
        parks = 0
        asyncio_parker: type[Parker[bool]] = type(current().parker())
        real_park = asyncio_parker.park

        async def counting_park(self: Parker[bool], *, late_cancel: bool = False) -> bool:
            nonlocal parks
            parks += 1
            return await real_park(self, late_cancel=late_cancel)

        monkeypatch.setattr(asyncio_parker, "park", counting_park)
        got: list[bytes | None] = []

        async def fetcher() -> None:
            result = await client.backend.fetch("t", 0, 0, max_wait=30)
            got.extend(r[VALUE] for r in result.records)

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            await anyio.wait_all_tasks_blocked()
            assert mem.waiting("t", 0) == 1
            for _ in range(100):  # other tasks run; the fetcher stays parked
                await asyncio.sleep(0)
            assert parks == 1
            await client.backend.produce("t", 0, values(1))
        assert got == [b"v0"]
        assert parks == 1
        assert mem.waiting("t", 0) == 0

    async def test_a_timed_out_fetch_leaves_no_waiter(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t")
        for _ in range(3):
            result = await client.backend.fetch("t", 0, 0, max_wait=0.01)
            assert result.records == []
        assert mem.waiting("t", 0) == 0

    async def test_a_cancelled_fetch_leaves_no_waiter(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.backend.fetch("t", 0, 0, max_wait=30))
            await anyio.wait_all_tasks_blocked()
            assert mem.waiting("t", 0) == 1
            tg.cancel_scope.cancel()
        assert mem.waiting("t", 0) == 0

    async def test_min_bytes_waits_for_enough(self, mem: MemoryBroker, client: Client) -> None:
        await client.admin().create_topic("t")
        got: list[int] = []

        async def fetcher() -> None:
            result = await client.backend.fetch("t", 0, 0, max_wait=30, min_bytes=200)
            got.append(len(result.records))

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            await anyio.wait_all_tasks_blocked()
            await client.backend.produce("t", 0, values(1))  # about 40 bytes: not enough
            await anyio.wait_all_tasks_blocked()
            assert got == []
            assert mem.waiting("t", 0) == 1
            await client.backend.produce("t", 0, values(5, 1))
        assert got == [6]

    async def test_deleting_the_topic_wakes_its_fetches(self, client: Client) -> None:
        await client.admin().create_topic("t")
        errors = await parked_fetch_errors(
            client, 0, UnknownTopic, lambda: client.admin().delete_topic("t")
        )
        assert len(errors) == 1

    async def test_closing_the_backend_wakes_its_fetches(self, name: str) -> None:
        async with connect(f"memory://{name}") as client:
            await client.admin().create_topic("t")
            errors = await parked_fetch_errors(client, 0, ClosedError, client.aclose)
        assert len(errors) == 1
        assert broker(name).waiting("t", 0) == 0


class TestTopics:
    async def test_auto_create_uses_the_broker_default(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.num_partitions = 3
        assert await client.partitions("auto") == [0, 1, 2]
        await client.backend.produce("auto2", 2, values(1))
        assert mem.partitions("auto2") == [0, 1, 2]

    async def test_the_broker_can_refuse_auto_create(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.auto_create_topics = False
        with pytest.raises(UnknownTopic):
            await client.partitions("nope")
        with pytest.raises(UnknownTopic):
            await client.backend.produce("nope", 0, values(1))

    async def test_a_fetch_never_creates_a_topic(self, mem: MemoryBroker, client: Client) -> None:
        with pytest.raises(UnknownTopic):
            await client.backend.fetch("nope", 0, 0, max_wait=0)
        assert mem.list_topics() == []

    async def test_topic_config_is_kept_and_checked(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t", config={"cleanup.policy": "delete"})
        assert mem.topic_config("t") == {"cleanup.policy": "delete"}
        with pytest.raises(ValueError, match=r"retention\.bytes"):
            await client.admin().create_topic("u", config={"retention.bytes": "lots"})
        with pytest.raises(ValueError, match="timestamp"):
            await client.admin().create_topic("u", config={"message.timestamp.type": "Now"})
        assert "u" not in mem.list_topics()


class TestRecords:
    async def test_too_large_rejects_the_whole_batch(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        big = rec(None, b"x" * DEFAULT_MAX_MESSAGE_BYTES)
        with pytest.raises(MessageTooLarge):
            await client.backend.produce("t", 0, [*values(3), big])
        assert mem.offsets("t", 0) == (0, 0)

    async def test_topic_max_message_bytes(self, client: Client) -> None:
        await client.admin().create_topic("t", config={"max.message.bytes": "200"})
        await client.backend.produce("t", 0, [rec(None, b"x" * 50)])
        with pytest.raises(MessageTooLarge, match=r"max\.message\.bytes"):
            await client.backend.produce("t", 0, [rec(None, b"x" * 200)])

    async def test_the_broker_limit_is_a_setting(self, mem: MemoryBroker, client: Client) -> None:
        mem.max_message_bytes = record_size(None, b"x" * 100)
        await client.backend.produce("t", 0, [rec(None, b"x" * 100)])
        with pytest.raises(MessageTooLarge, match="broker's maximum"):
            await client.backend.produce("t", 0, [rec(None, b"x" * 101)])
        assert mem.offsets("t", 0) == (0, 1)

    async def test_an_empty_batch_appends_nothing(self, mem: MemoryBroker, client: Client) -> None:
        result = await client.backend.produce("t", 0, [])
        assert result.base_offset == -1
        assert list(result.offsets) == []
        assert mem.offsets("t", 0) == (0, 0)

    async def test_max_bytes_splits_on_record_boundaries(self, client: Client) -> None:
        await client.backend.produce("t", 0, values(10, size=100))
        size = record_size(None, b"v0" + b"." * 100)
        result = await client.backend.fetch("t", 0, 0, max_wait=0, max_bytes=2 * size + size // 2)
        assert [r[OFFSET] for r in result.records] == [0, 1]
        assert result.next_offset == 2

    async def test_replication_beyond_the_one_broker_is_refused(self, client: Client) -> None:
        with pytest.raises(ConfigError, match=r"^replication: 2 is larger than the 1 available"):
            await client.admin().create_topic("t", replication=2)
        await client.admin().create_topic("t", replication=1)


class TestGroupOffsets:
    async def test_unknown_partition_stores_nothing(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t")
        with pytest.raises(UnknownTopic):
            await client.backend.commit_offsets(
                "g", {("t", 0): CommittedOffset(1), ("t", 1): CommittedOffset(1)}
            )
        assert await client.backend.committed_offsets("g", [("t", 0)]) == {}
        assert mem.groups() == []

    async def test_deleting_a_topic_drops_its_offsets(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        await client.admin().create_topic("t")
        await client.backend.commit_offsets("g", {("t", 0): CommittedOffset(1)})
        assert mem.groups() == ["g"]
        await client.admin().delete_topic("t")
        await client.admin().create_topic("t")
        assert await client.backend.committed_offsets("g", [("t", 0)]) == {}


async def open_producer(
    client: Client, transactional_id: str = "tx", transaction_timeout: float = 60.0
) -> MemoryTransactionalProducer:
    backend = client.backend
    assert isinstance(backend, MemoryBackend)
    return await backend.transactional_producer(
        transactional_id, transaction_timeout=transaction_timeout
    )


class FakeClock:
    """The transaction coordinator's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestTransactions:
    async def test_a_new_producer_keeps_the_id_and_bumps_the_epoch(self, client: Client) -> None:
        first = await open_producer(client, "a")
        assert isinstance(first, TransactionalProducer)
        assert isinstance(client.backend, Backend)
        second = await open_producer(client, "a")
        assert (second.producer_id, second.epoch) == (first.producer_id, first.epoch + 1)
        await second.begin()
        await second.produce("t", 0, values(1))
        # One bump aborts the transaction left open, one is the new producer's, as on Kafka.
        third = await open_producer(client, "a")
        assert (third.producer_id, third.epoch) == (first.producer_id, first.epoch + 3)
        other = await open_producer(client, "b")
        assert other.producer_id != first.producer_id
        assert other.transactional_id == "b"

    async def test_the_deadline_runs_from_the_first_record_and_is_checked_when_touched(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        clock = mem.transactions.clock = FakeClock()
        producer = await open_producer(client, transaction_timeout=5.0)
        await producer.begin()
        clock.now += 60  # begin() tells the broker nothing: no deadline runs yet
        await producer.produce("t", 0, values(1))
        clock.now += 4.9
        await producer.produce("t", 0, values(1, 1))
        assert mem.partition_log("t", 0).last_stable_offset == 0
        clock.now += 0.1
        # No fetch and no timer: the produce finds the transaction overdue, aborted.
        with pytest.raises(TransactionError, match="transaction_timeout"):
            await producer.produce("t", 0, values(1, 2))
        assert mem.offsets("t", 0) == (0, 3)  # two records and the abort marker
        assert mem.partition_log("t", 0).last_stable_offset == 3
        with pytest.raises(TransactionError, match="abort"):
            await producer.begin()
        await producer.abort()
        await producer.begin()
        await producer.produce("t", 0, values(1, 3))
        await producer.commit()
        result = await client.backend.fetch("t", 0, 0, max_wait=0, read_committed=True)
        assert [r[VALUE] for r in result.records] == [b"v3"]

    async def test_an_overdue_transaction_is_aborted_by_another_producer(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        clock = mem.transactions.clock = FakeClock()
        late = await open_producer(client, "late", transaction_timeout=1.0)
        await late.begin()
        await late.produce("t", 0, values(1))
        clock.now += 2
        await open_producer(client, "other")
        assert mem.partition_log("t", 0).last_stable_offset == 2

    @pytest.mark.parametrize(
        "refusal",
        [StaleMember("generation 3 is not the group's", "ILLEGAL_GENERATION"), FencedInstanceId()],
    )
    async def test_offsets_of_a_member_no_longer_current_are_refused(
        self,
        mem: MemoryBroker,
        client: Client,
        monkeypatch: pytest.MonkeyPatch,
        refusal: Exception,
    ) -> None:
        stale = Membership("g", 3, "member-1", "instance-1")

        def check_member(self: MemoryBroker, membership: Membership) -> None:
            if membership == stale:
                raise refusal

        monkeypatch.setattr(MemoryBroker, "check_member", check_member)
        producer = await open_producer(client)
        await producer.begin()
        await producer.produce("t", 0, values(1))
        with pytest.raises(type(refusal)):
            await producer.send_offsets(stale, {("t", 0): CommittedOffset(1)})
        # KIP-447: the transaction can only be aborted now.
        with pytest.raises(TransactionError, match="abort"):
            await producer.commit()
        with pytest.raises(TransactionError, match="abort"):
            await producer.produce("t", 0, values(1, 1))
        await producer.abort()
        assert await client.backend.committed_offsets("g", [("t", 0)]) == {}
        result = await client.backend.fetch("t", 0, 0, max_wait=0, read_committed=True)
        assert (result.records, result.next_offset) == ([], 2)
        current = Membership("g", 4, "member-1", "instance-1")
        await producer.begin()
        await producer.send_offsets(current, {("t", 0): CommittedOffset(2)})
        await producer.commit()
        assert await client.backend.committed_offsets("g", [("t", 0)]) == {
            ("t", 0): CommittedOffset(2)
        }

    async def test_closing_the_backend_aborts_its_open_transactions(
        self, name: str, client: Client
    ) -> None:
        async with connect(f"memory://{name}") as other:
            producer = await open_producer(other)
            await producer.begin()
            await producer.produce("t", 0, values(2))
        with pytest.raises(ClosedError):
            await producer.produce("t", 0, values(1))
        result = await client.backend.fetch("t", 0, 0, max_wait=0, read_committed=True)
        assert (result.records, result.next_offset, result.last_stable_offset) == ([], 3, 3)

    async def test_a_cancelled_open_fences_nobody(self, mem: MemoryBroker, client: Client) -> None:
        producer = await open_producer(client)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await open_producer(client)
        await producer.begin()
        await producer.produce("t", 0, values(1))
        await producer.commit()
        assert mem.offsets("t", 0) == (0, 2)

    async def test_a_held_reader_stays_parked_through_plain_appends(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        producer = await open_producer(client)
        await producer.begin()
        await producer.produce("t", 0, values(1))
        got: list[int] = []

        async def reader() -> None:
            result = await client.backend.fetch("t", 0, 0, max_wait=30, read_committed=True)
            got.extend(r[OFFSET] for r in result.records)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await client.backend.produce("t", 0, values(3, 1))  # above the LSO
            await anyio.wait_all_tasks_blocked()
            assert got == []
            assert mem.waiting("t", 0) == 1
            await producer.commit()
        assert got == [0, 1, 2, 3]
        assert mem.waiting("t", 0) == 0

    async def test_max_records_counts_markers_and_still_moves_on(self, client: Client) -> None:
        producer = await open_producer(client)
        for end in (producer.commit, producer.abort, producer.commit):
            await producer.begin()
            await producer.produce("t", 0, values(1))
            await end()
        # Offsets: 0 data, 1 commit, 2 aborted data, 3 abort, 4 data, 5 commit.
        seen: list[int] = []
        offset = 0
        while offset < 6:
            result = await client.backend.fetch(
                "t", 0, offset, max_wait=0, max_records=1, read_committed=True
            )
            assert result.next_offset == offset + 1
            seen.extend(r[OFFSET] for r in result.records)
            offset = result.next_offset
        assert seen == [0, 4]

    async def test_retention_keeps_offsets_and_forgets_old_markers(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        producer = await open_producer(client)
        for i in range(3000):  # 6,000 offsets: a record and a marker each
            await producer.begin()
            await producer.produce("t", 0, values(1, i))
            await (producer.commit() if i % 2 else producer.abort())
        mem.retention_records = 100
        await client.backend.produce("t", 0, values(1, 3000))  # offset 6000; trims
        part = mem.partition_log("t", 0)
        assert part.first > 0  # compacted: offsets no longer list positions
        assert part.txns is not None
        assert len(part.txns.markers) <= 100
        start, end = mem.offsets("t", 0)
        assert (start, end) == (5901, 6001)
        committed = await client.backend.fetch("t", 0, start, max_wait=0, read_committed=True)
        assert [r[VALUE] for r in committed.records] == [
            b"v%d" % i for i in range(2951, 3000, 2)
        ] + [b"v3000"]
        assert committed.next_offset == 6001
        everything = await client.backend.fetch("t", 0, start, max_wait=0)
        assert len(everything.records) == 50

    async def test_a_deleted_topic_leaves_its_transaction_able_to_end(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        producer = await open_producer(client)
        await producer.begin()
        await producer.produce("gone", 0, values(1))
        await producer.produce("kept", 0, values(1))
        await producer.send_offsets(
            Membership("g", -1, ""),
            {("gone", 0): CommittedOffset(1), ("kept", 0): CommittedOffset(1)},
        )
        await client.admin().delete_topic("gone")
        await producer.commit()
        assert mem.offsets("kept", 0) == (0, 2)
        assert await client.backend.committed_offsets("g", [("gone", 0), ("kept", 0)]) == {
            ("kept", 0): CommittedOffset(1)
        }
        assert await client.backend.list_offsets("kept", {0: LATEST}) == {0: 2}

    async def test_the_broker_bounds_the_transaction_timeout(
        self, mem: MemoryBroker, client: Client
    ) -> None:
        mem.transaction_max_timeout = 10.0
        await open_producer(client, transaction_timeout=10.0)
        with pytest.raises(ConfigError, match=r"transaction\.max\.timeout\.ms") as caught:
            await open_producer(client, transaction_timeout=10.5)
        assert caught.value.field == "transaction_timeout"
