"""The transaction contract: what exactly-once producers and read_committed consumers rely on.

Each test runs on ``memory://`` and, with ``-m kafka``, on a real Kafka broker, as
tests/backends/test_contract.py does. Kafka writes a transaction's markers a moment after
EndTxn answers, so what a commit or an abort makes visible is waited for with long polls
(``read_until``), never assumed at once; what must stay hidden is checked before the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from aiomq.backends import LATEST, CommittedOffset, FetchResult, Record
from aiomq.backends.base import Membership, TransactionalProducer
from aiomq.client import Client, connect
from aiomq.config import Config, ProducerConfig
from aiomq.errors import (
    ClosedError,
    ConfigError,
    MessageTooLarge,
    ProducerFenced,
    TransactionError,
)
from tests.backends.common import LONG_WAIT, OFFSET, VALUE, create, rec, values

pytestmark = pytest.mark.asyncio

NO_CHECK = -1, ""  # generation and member id of offsets committed outside group management


def new_id() -> str:
    """A transactional id unique in the session (Kafka keeps them across tests)."""
    return f"tx-{uuid.uuid4().hex[:16]}"


@asynccontextmanager
async def transactional(
    client: Client, transactional_id: str | None = None, transaction_timeout: float = 60.0
) -> AsyncIterator[TransactionalProducer]:
    """A transactional producer on ``client``, closed on the way out."""
    producer = await client.backend.transactional_producer(
        transactional_id or new_id(), transaction_timeout=transaction_timeout
    )
    try:
        yield producer
    finally:
        await producer.aclose()


async def read_until(
    client: Client,
    topic: str,
    end: int,
    *,
    partition: int = 0,
    start: int = 0,
    read_committed: bool,
) -> tuple[list[Record], FetchResult]:
    """Fetch from ``start`` until ``next_offset`` reaches ``end``: the records, and the last
    answer. A ``read_committed`` read waits here for the markers of ended transactions."""
    records: list[Record] = []
    offset = start
    with anyio.fail_after(LONG_WAIT * 1.5):
        while True:
            result = await client.backend.fetch(
                topic, partition, offset, max_wait=LONG_WAIT, read_committed=read_committed
            )
            records.extend(result.records)
            offset = result.next_offset
            if offset >= end:
                return records, result


async def peek(
    client: Client, topic: str, offset: int = 0, *, partition: int = 0, read_committed: bool
) -> FetchResult:
    """One fetch that does not wait: what is readable now."""
    return await client.backend.fetch(
        topic, partition, offset, max_wait=0, read_committed=read_committed
    )


async def committed_eventually(
    client: Client, group: str, expected: dict[tuple[str, int], CommittedOffset]
) -> None:
    """Wait until ``group``'s committed offsets are ``expected``: Kafka stores a committed
    transaction's offsets when its marker reaches ``__consumer_offsets``, after EndTxn."""
    with anyio.fail_after(LONG_WAIT):
        while True:
            got = await client.backend.committed_offsets(group, list(expected))
            if got == expected:
                return
            await anyio.sleep(0.05)  # polled: nothing tells a client the marker landed


def vals(records: list[Record]) -> list[bytes | None]:
    return [r[VALUE] for r in records]


def offs(records: list[Record]) -> list[int]:
    return [r[OFFSET] for r in records]


def not_fenced(exc: BaseException) -> bool:
    return isinstance(exc, TransactionError) and not isinstance(exc, ProducerFenced)


class TestCommitAndAbort:
    async def test_commit_makes_the_records_visible_to_read_committed(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            result = await producer.produce(topic_name, 0, values(3))
            assert list(result.offsets) == [0, 1, 2]
            held = await peek(client, topic_name, read_committed=True)
            assert held.records == []
            assert (held.last_stable_offset, held.high_watermark) == (0, 3)
            await producer.commit()
        got, last = await read_until(client, topic_name, 4, read_committed=True)
        assert vals(got) == [b"v0", b"v1", b"v2"]
        assert offs(got) == [0, 1, 2]
        assert last.next_offset == 4  # the commit marker took offset 3
        assert last.last_stable_offset == last.high_watermark == 4
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 4}

    async def test_abort_hides_the_records_from_read_committed_only(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(3))
            await producer.abort()
        got, last = await read_until(client, topic_name, 4, read_committed=True)
        assert got == []
        assert last.next_offset == 4
        # From inside the aborted records too (Kafka hands out their whole batch).
        inside, _ = await read_until(client, topic_name, 4, start=1, read_committed=True)
        assert inside == []
        uncommitted, _ = await read_until(client, topic_name, 4, read_committed=False)
        assert vals(uncommitted) == [b"v0", b"v1", b"v2"]

    async def test_read_uncommitted_sees_an_open_transaction(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2))
            got, last = await read_until(client, topic_name, 2, read_committed=False)
            assert vals(got) == [b"v0", b"v1"]
            assert last.last_stable_offset == 0
            await producer.abort()

    async def test_transactions_follow_one_another(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            for i, end in enumerate([producer.commit, producer.abort, producer.commit]):
                await producer.begin()
                await producer.produce(topic_name, 0, values(1, i))
                await end()
        got, last = await read_until(client, topic_name, 6, read_committed=True)
        assert vals(got) == [b"v0", b"v2"]
        assert offs(got) == [0, 4]
        assert last.next_offset == 6

    async def test_an_empty_transaction_commits(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.commit()
            await producer.begin()
            await producer.abort()
            await producer.begin()
            await producer.produce(topic_name, 0, values(1))
            await producer.commit()
        got, _ = await read_until(client, topic_name, 2, read_committed=True)
        assert vals(got) == [b"v0"]


class TestLastStableOffset:
    @pytest.mark.parametrize("outcome", ["commit", "abort"])
    async def test_an_open_transaction_holds_read_committed_readers(
        self, client: Client, topic_name: str, outcome: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(2))
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2, 2))
            # What is below the transaction is readable; the reader stops at its start.
            below, last = await read_until(client, topic_name, 2, read_committed=True)
            assert vals(below) == [b"v0", b"v1"]
            assert last.next_offset == 2
            assert (last.last_stable_offset, last.high_watermark) == (2, 4)
            got: list[tuple[list[Record], FetchResult]] = []

            async def reader() -> None:
                got.append(await read_until(client, topic_name, 5, start=2, read_committed=True))

            start = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.wait_all_tasks_blocked()
                assert not got  # held at the last stable offset
                await (producer.commit() if outcome == "commit" else producer.abort())
            assert time.monotonic() - start < LONG_WAIT / 2  # woken, not timed out
        records, last = got[0]
        assert vals(records) == ([b"v2", b"v3"] if outcome == "commit" else [])
        assert last.next_offset == 5
        assert last.last_stable_offset == 5

    async def test_every_fetch_reports_the_last_stable_offset(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(1))
        plain = await peek(client, topic_name, read_committed=False)
        assert (plain.last_stable_offset, plain.high_watermark) == (1, 1)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2, 1))
            for read_committed in (False, True):
                result = await peek(client, topic_name, read_committed=read_committed)
                assert (result.last_stable_offset, result.high_watermark) == (1, 3)
            await producer.commit()
        await read_until(client, topic_name, 4, read_committed=True)
        for read_committed in (False, True):
            result = await peek(client, topic_name, 3, read_committed=read_committed)
            assert (result.last_stable_offset, result.high_watermark) == (4, 4)

    async def test_the_earliest_open_transaction_sets_it(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, [rec(None, b"plain")])
        async with transactional(client) as first, transactional(client) as second:
            await first.begin()
            await second.begin()
            await first.produce(topic_name, 0, [rec(None, b"first")])
            await second.produce(topic_name, 0, [rec(None, b"second")])
            assert (await peek(client, topic_name, read_committed=True)).last_stable_offset == 1
            await first.commit()  # marker at 3; the second transaction still holds offset 2
            got, last = await read_until(client, topic_name, 2, read_committed=True)
            assert vals(got) == [b"plain", b"first"]
            assert last.last_stable_offset == 2
            await second.commit()  # marker at 4
            rest, last = await read_until(client, topic_name, 5, start=2, read_committed=True)
            assert vals(rest) == [b"second"]
            assert last.last_stable_offset == 5


class TestMarkers:
    async def test_markers_never_appear_and_next_offset_steps_over_them(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2))  # 0, 1
            await producer.commit()  # marker 2
            await read_until(client, topic_name, 3, read_committed=True)  # it is written
            await client.backend.produce(topic_name, 0, values(1, 3))  # 3
            await producer.begin()
            await producer.produce(topic_name, 0, values(1, 4))  # 4
            await producer.abort()  # marker 5
            await read_until(client, topic_name, 6, read_committed=True)
            await client.backend.produce(topic_name, 0, values(1, 6))  # 6
        uncommitted, last = await read_until(client, topic_name, 7, read_committed=False)
        assert offs(uncommitted) == [0, 1, 3, 4, 6]
        assert last.next_offset == 7
        committed, last = await read_until(client, topic_name, 7, read_committed=True)
        assert offs(committed) == [0, 1, 3, 6]
        assert vals(committed) == [b"v0", b"v1", b"v3", b"v6"]
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 7}
        for marker, following in ((2, 3), (5, 6)):
            for read_committed in (False, True):
                got, _ = await read_until(
                    client, topic_name, 7, start=marker, read_committed=read_committed
                )
                assert got[0][OFFSET] == following


class TestFencing:
    async def test_a_new_producer_with_the_same_id_fences_the_old_one(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        transactional_id = new_id()
        async with transactional(client, transactional_id) as old:
            await old.begin()
            await old.produce(topic_name, 0, values(2))
            async with transactional(client, transactional_id) as new:
                # Opening the new one aborted the old one's transaction (marker at 2).
                got, last = await read_until(client, topic_name, 3, read_committed=True)
                assert got == []
                assert last.next_offset == 3
                with pytest.raises(ProducerFenced):
                    await old.produce(topic_name, 0, values(1, 2))
                with pytest.raises(ProducerFenced):
                    await old.commit()
                with pytest.raises(ProducerFenced):
                    await old.abort()
                assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 3}
                await new.begin()
                await new.produce(topic_name, 0, values(1, 3))
                await new.commit()
                got, _ = await read_until(client, topic_name, 5, read_committed=True)
                assert vals(got) == [b"v3"]
        uncommitted, _ = await read_until(client, topic_name, 5, read_committed=False)
        assert vals(uncommitted) == [b"v0", b"v1", b"v3"]

    async def test_an_idle_producer_learns_it_was_fenced_on_its_next_call(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        transactional_id = new_id()
        async with (
            transactional(client, transactional_id) as old,
            transactional(client, transactional_id),
        ):

            async def begin_and_produce() -> None:
                # begin() may ask the broker nothing: produce then learns it.
                await old.begin()
                await old.produce(topic_name, 0, values(1))

            with pytest.raises(ProducerFenced):
                await begin_and_produce()
        assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 0}

    async def test_producers_on_two_clients_fence_each_other(
        self, backend_url: str, topic_name: str
    ) -> None:
        transactional_id = new_id()
        async with connect(backend_url) as one, connect(backend_url) as two:
            await create(one, topic_name)
            async with transactional(one, transactional_id) as old:
                await old.begin()
                await old.produce(topic_name, 0, values(1))
                async with transactional(two, transactional_id):
                    with pytest.raises(ProducerFenced):
                        await old.commit()
            got, _ = await read_until(two, topic_name, 2, read_committed=True)
            assert got == []


class TestTimeout:
    async def test_the_broker_aborts_a_transaction_open_too_long(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        async with transactional(client, transaction_timeout=1.0) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2))
            # Held at the transaction's start until the broker aborts it (Kafka looks for
            # timed-out transactions every 10 s by default).
            start = time.monotonic()
            first = await client.backend.fetch(
                topic_name, 0, 0, max_wait=LONG_WAIT, read_committed=True
            )
            assert time.monotonic() - start < LONG_WAIT * 0.9  # woken by the abort
            assert first.records == []
            got, last = await read_until(client, topic_name, 3, read_committed=True)
            assert got == []
            assert last.next_offset == 3
            with pytest.raises(TransactionError) as caught:
                await producer.produce(topic_name, 0, values(1, 2))
            assert not_fenced(caught.value)
            with pytest.raises(TransactionError) as caught:
                await producer.commit()
            assert not_fenced(caught.value)
            assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 3}
            # The producer goes on once it aborted its side of the transaction.
            await producer.abort()
            await producer.begin()
            await producer.produce(topic_name, 0, values(1, 3))
            await producer.commit()
        got, _ = await read_until(client, topic_name, 5, read_committed=True)
        assert vals(got) == [b"v3"]


class TestWrongState:
    async def test_calls_outside_a_transaction_raise_and_change_nothing(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        group = f"g-{topic_name}"
        offsets = {(topic_name, 0): CommittedOffset(1)}
        async with transactional(client) as producer:
            calls = [
                lambda: producer.produce(topic_name, 0, values(1)),
                lambda: producer.send_offsets(Membership(group, *NO_CHECK), offsets),
                producer.commit,
                producer.abort,
            ]
            for call in calls:
                with pytest.raises(TransactionError) as caught:
                    await call()
                assert not_fenced(caught.value)
            assert await client.backend.list_offsets(topic_name, {0: LATEST}) == {0: 0}
            assert await client.backend.committed_offsets(group, [(topic_name, 0)]) == {}
            await producer.begin()
            await producer.produce(topic_name, 0, values(1))
            with pytest.raises(TransactionError) as caught:
                await producer.begin()
            assert not_fenced(caught.value)
            await producer.produce(topic_name, 0, values(1, 1))
            await producer.commit()  # the transaction the second begin() found open
        got, _ = await read_until(client, topic_name, 3, read_committed=True)
        assert vals(got) == [b"v0", b"v1"]

    async def test_a_closed_producer_refuses_calls(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(2))
            await producer.aclose()  # aborts the open transaction
            await producer.aclose()
            with pytest.raises(ClosedError):
                await producer.begin()
            with pytest.raises(ClosedError):
                await producer.produce(topic_name, 0, values(1))
        got, last = await read_until(client, topic_name, 3, read_committed=True)
        assert got == []
        assert last.next_offset == 3

    async def test_a_refused_batch_leaves_the_transaction_open(
        self, backend_url: str, topic_name: str
    ) -> None:
        config = Config(producer=ProducerConfig(max_message_bytes=500))
        async with connect(backend_url, config) as client:
            await create(client, topic_name)
            async with transactional(client) as producer:
                await producer.begin()
                await producer.produce(topic_name, 0, values(1))
                with pytest.raises(MessageTooLarge):
                    await producer.produce(topic_name, 0, [rec(None, b"x" * 600)])
                with pytest.raises(ConfigError) as caught:
                    await producer.produce(topic_name, 0, [rec(None, "text")])  # type: ignore[arg-type]
                assert caught.value.field == "value"
                await producer.produce(topic_name, 0, values(1, 1))
                await producer.commit()
            got, _ = await read_until(client, topic_name, 3, read_committed=True)
            assert vals(got) == [b"v0", b"v1"]

    async def test_bad_arguments_raise_config_error(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        backend = client.backend
        opens = [
            ("transactional_id", "", 60.0),
            ("transactional_id", 5, 60.0),
            ("transaction_timeout", new_id(), 0),
            ("transaction_timeout", new_id(), float("nan")),
            ("transaction_timeout", new_id(), True),
            ("transaction_timeout", new_id(), 16 * 60.0),  # over the broker's 15 minutes
        ]
        for field, transactional_id, timeout in opens:
            with pytest.raises(ConfigError) as caught:
                await backend.transactional_producer(
                    transactional_id,  # type: ignore[arg-type]
                    transaction_timeout=timeout,
                )
            assert caught.value.field == field
        with pytest.raises(ConfigError) as caught:
            await backend.fetch(topic_name, 0, 0, max_wait=0, read_committed="yes")  # type: ignore[arg-type]
        assert caught.value.field == "read_committed"
        async with transactional(client) as producer:
            await producer.begin()
            offsets = {(topic_name, 0): CommittedOffset(1)}
            with pytest.raises(ConfigError) as caught:
                await producer.send_offsets("group", offsets)  # type: ignore[arg-type]
            assert caught.value.field == "membership"
            with pytest.raises(ConfigError) as caught:
                await producer.send_offsets(Membership("", *NO_CHECK), offsets)
            assert caught.value.field == "group"
            await producer.produce(topic_name, 0, values(1))
            await producer.commit()  # still open after the refused calls
        got, _ = await read_until(client, topic_name, 2, read_committed=True)
        assert vals(got) == [b"v0"]


class TestOffsets:
    async def test_offsets_take_effect_only_on_commit(
        self, client: Client, topic_name: str
    ) -> None:
        source, sink = topic_name, f"{topic_name}-out"
        await create(client, source)
        await create(client, sink)
        await client.backend.produce(source, 0, values(5))
        group = f"g-{topic_name}"
        tp = (source, 0)
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(sink, 0, values(5))
            await producer.send_offsets(
                Membership(group, *NO_CHECK), {tp: CommittedOffset(5, "done")}
            )
            assert await client.backend.committed_offsets(group, [tp]) == {}
            await producer.commit()
        await committed_eventually(client, group, {tp: CommittedOffset(5, "done")})
        got, _ = await read_until(client, sink, 6, read_committed=True)
        assert len(got) == 5

    async def test_aborted_offsets_never_take_effect(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        group = f"g-{topic_name}"
        tp = (topic_name, 0)
        await client.backend.commit_offsets(group, {tp: CommittedOffset(1)})
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, values(1))
            await producer.send_offsets(Membership(group, *NO_CHECK), {tp: CommittedOffset(9)})
            await producer.abort()
            await read_until(client, topic_name, 2, read_committed=True)  # the abort ended
            assert await client.backend.committed_offsets(group, [tp]) == {tp: CommittedOffset(1)}
            # The same producer commits the next transaction's offsets.
            await producer.begin()
            await producer.send_offsets(Membership(group, *NO_CHECK), {tp: CommittedOffset(2)})
            await producer.commit()
        await committed_eventually(client, group, {tp: CommittedOffset(2)})


class TestSeveralPartitions:
    @pytest.mark.parametrize("outcome", ["commit", "abort"])
    async def test_one_transaction_spans_topics_and_partitions(
        self, client: Client, topic_name: str, outcome: str
    ) -> None:
        other = f"{topic_name}-b"
        await create(client, topic_name, partitions=2)
        await create(client, other)
        writes = {
            (topic_name, 0): [rec(None, b"a0")],
            (topic_name, 1): [rec(None, b"a1"), rec(None, b"a1b")],
            (other, 0): [rec(b"k", b"b0")],
        }
        async with transactional(client) as producer:
            await producer.begin()
            for (topic, partition), records in writes.items():
                await producer.produce(topic, partition, records)
            for topic, partition in writes:
                held = await peek(client, topic, partition=partition, read_committed=True)
                assert (held.records, held.last_stable_offset) == ([], 0)
            await (producer.commit() if outcome == "commit" else producer.abort())
        for (topic, partition), records in writes.items():
            end = len(records) + 1
            got, _ = await read_until(client, topic, end, partition=partition, read_committed=True)
            expected = [r[1] for r in records] if outcome == "commit" else []
            assert vals(got) == expected
            seen, _ = await read_until(
                client, topic, end, partition=partition, read_committed=False
            )
            assert vals(seen) == [r[1] for r in records]


class TestInterleaved:
    @pytest.mark.parametrize("outcome", ["commit", "abort"])
    async def test_a_plain_producer_between_a_transactions_records(
        self, client: Client, topic_name: str, outcome: str
    ) -> None:
        await create(client, topic_name)
        plain = client.backend
        async with transactional(client) as producer:
            await producer.begin()
            await producer.produce(topic_name, 0, [rec(None, b"t0"), rec(None, b"t1")])
            await plain.produce(topic_name, 0, [rec(None, b"p0")])
            await producer.produce(topic_name, 0, [rec(None, b"t2")])
            await plain.produce(topic_name, 0, [rec(None, b"p1")])
            # The plain records wait behind the open transaction for read_committed readers.
            held = await peek(client, topic_name, read_committed=True)
            assert (held.records, held.last_stable_offset, held.high_watermark) == ([], 0, 5)
            seen, _ = await read_until(client, topic_name, 5, read_committed=False)
            assert vals(seen) == [b"t0", b"t1", b"p0", b"t2", b"p1"]
            await (producer.commit() if outcome == "commit" else producer.abort())
        got, last = await read_until(client, topic_name, 6, read_committed=True)
        if outcome == "commit":
            assert vals(got) == [b"t0", b"t1", b"p0", b"t2", b"p1"]
        else:
            assert vals(got) == [b"p0", b"p1"]
            assert offs(got) == [2, 4]
        assert last.next_offset == 6
