"""ConsumerGroup on memory:// and Kafka: consume, mark, commit, stop cleanly, resume without
a duplicate or a gap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import cast

import anyio
import pytest
import pytest_asyncio

from aiomq.backends.base import CommittedOffset
from aiomq.backends.group import GroupCoordinator
from aiomq.backends.memory import MemoryBackend
from aiomq.client import Client, connect
from aiomq.config import Config, GroupProtocol, Isolation, Offset
from aiomq.consumer._fetcher import RecordDecodeError
from aiomq.errors import ConfigError, StaleMember
from aiomq.group import ConsumerGroup, NotificationType
from aiomq.message import Message
from tests.group.conftest import BOTH_PROTOCOLS
from tests.polling import until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def config_for(url: str, protocol: GroupProtocol = GroupProtocol.AUTO) -> Config:
    config = Config()
    config.group.protocol = protocol
    if protocol is GroupProtocol.CLASSIC:
        config.group.heartbeat_interval = 0.1
        # Kafka's brokers refuse sessions under group.min.session.timeout.ms (6 s); memory://
        # brokers of these tests are lowered to allow quicker ones (see the conftest).
        config.group.session_timeout = 6.0 if url.startswith("kafka") else 1.0
    # Under the consumer protocol the coordinator sets both: the test brokers' are short.
    config.group.rebalance_timeout = 10.0
    config.consumer.offsets.initial = Offset.OLDEST
    config.consumer.max_wait = 0.2
    config.group.return_notifications = True
    return config


@pytest_asyncio.fixture
async def client(backend_url: str, protocol: GroupProtocol) -> AsyncIterator[Client]:
    async with connect(backend_url, config_for(backend_url, protocol)) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"cg-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group_id() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"


async def produce(client: Client, topic: str, start: int, count: int, partitions: int = 4) -> None:
    async with client.sync_producer() as producer:
        for i in range(start, start + count):
            await producer.send(topic, b"%d" % i, partition=i % partitions)


async def take(group: ConsumerGroup, count: int, mark: bool = True) -> list[Message]:
    out: list[Message] = []
    with anyio.fail_after(60):
        async for message in group:
            out.append(message)
            if mark:
                group.mark_offset(message)
            if len(out) == count:
                break
    return out


@BOTH_PROTOCOLS
async def test_consumes_in_partition_order_and_resumes_after_a_clean_stop(
    client: Client, topic: str, group_id: str, backend_url: str
) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, 4)
    await produce(client, topic, 0, 100)
    async with client.group(group_id, [topic]) as group:
        first = await take(group, 100)
    by_partition: dict[int, list[int]] = {}
    for m in first:
        by_partition.setdefault(m.partition, []).append(m.offset)
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())
    assert sorted(int(m.value) for m in first) == list(range(100))

    # A clean stop committed every mark: a new member resumes right after, no duplicate.
    await produce(client, topic, 100, 40)
    async with (
        connect(backend_url, config_for(backend_url)) as other,
        other.group(group_id, [topic]) as group,
    ):
        second = await take(group, 40)
    assert sorted(int(m.value) for m in second) == list(range(100, 140))


@BOTH_PROTOCOLS
async def test_notifications_report_the_rebalance(
    client: Client, topic: str, group_id: str
) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, 4)
    async with client.group(group_id, [topic]) as group:
        assert group.notifications is not None
        with anyio.fail_after(30):
            start = await group.notifications.recv()
            ok = await group.notifications.recv()
        assert start.type is NotificationType.REBALANCE_START
        assert ok.type is NotificationType.REBALANCE_OK
        assert ok.claimed == ok.current == frozenset((topic, p) for p in range(4))
        assert group.assignment == ok.current


@BOTH_PROTOCOLS
async def test_marks_are_committed_every_interval(
    client: Client, topic: str, group_id: str
) -> None:
    client.config.consumer.offsets.commit_interval = 0.1
    async with client.admin() as admin:
        await admin.create_topic(topic, 1)
    await produce(client, topic, 0, 10, partitions=1)
    async with client.group(group_id, [topic]) as group:
        await take(group, 10)
        with anyio.fail_after(10):
            while True:
                committed = await client.backend.committed_offsets(group_id, [(topic, 0)])
                if committed.get((topic, 0)) is not None and committed[(topic, 0)].offset == 10:
                    break
                await anyio.sleep(0.05)
        assert await group.lag() == {(topic, 0): 0}
        await produce(client, topic, 10, 3, partitions=1)
        assert await group.lag() == {(topic, 0): 3}


@BOTH_PROTOCOLS
async def test_a_commit_from_a_stale_generation_is_refused(
    client: Client, topic: str, group_id: str
) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, 2)
    await produce(client, topic, 0, 2, partitions=2)
    async with client.group(group_id, [topic]) as group:
        [message] = await take(group, 1)
        membership = group.metadata()
        assert membership is not None
    # The member left: its generation is over. Committing with it must not land.
    coordinator = cast(GroupCoordinator, client.backend)
    with pytest.raises(StaleMember):
        await coordinator.commit_member_offsets(membership, {(topic, 0): CommittedOffset(5)})
    assert message.topic == topic
    committed = await client.backend.committed_offsets(group_id, [(topic, 0)])
    assert committed.get((topic, 0)) != CommittedOffset(5)


async def test_commits_land_in_the_order_they_were_made(
    client: Client, topic: str, group_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that is slow (its coordinator died under it and it waits for the next one)
    must not land after a later commit and move the group's offset back: commits go one at a
    time, the later one carrying the later marks."""
    client.config.consumer.offsets.auto_commit = False
    async with client.admin() as admin:
        await admin.create_topic(topic, 1)
    await produce(client, topic, 0, 2, partitions=1)
    backend = client.backend
    kind = type(backend)
    real = kind.commit_member_offsets  # type: ignore[attr-defined]
    first_in_flight = asyncio.Event()
    release_first = asyncio.Event()
    calls = 0

    async def commit(self: object, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if self is backend and calls == 1:
            first_in_flight.set()
            await release_first.wait()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(kind, "commit_member_offsets", commit)
    async with client.group(group_id, [topic]) as group:
        [first] = await take(group, 1)
        slow = asyncio.ensure_future(group.commit())
        with anyio.fail_after(10):
            await first_in_flight.wait()
        [second] = await take(group, 1)
        later = asyncio.ensure_future(group.commit())
        await anyio.wait_all_tasks_blocked()
        release_first.set()
        with anyio.fail_after(10):
            await asyncio.gather(slow, later)
        committed = await backend.committed_offsets(group_id, [(topic, 0)])
    assert (first.offset, second.offset) == (0, 1)
    assert committed[(topic, 0)].offset == 2


@pytest.mark.parametrize("protocol", [GroupProtocol.CONSUMER], ids=str, indirect=True)
async def test_a_member_fenced_for_missing_heartbeats_cannot_commit_and_joins_again(
    client: Client, topic: str, group_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member whose heartbeats stop getting through (a stalled process, a partition) is
    removed when its session ends; what it commits from then on is refused, and once it can
    talk to the coordinator again it loses its partitions and joins afresh."""
    client.config.consumer.offsets.auto_commit = False  # the mark stays for group.commit()
    async with client.admin() as admin:
        await admin.create_topic(topic, 2)
    await produce(client, topic, 0, 4, partitions=2)
    backend = client.backend
    kind = type(backend)
    real = kind.consumer_group_heartbeat  # type: ignore[attr-defined]
    stalled = asyncio.Event()
    released = asyncio.Event()

    async def heartbeat(self: object, *args: object, **kwargs: object) -> object:
        if self is backend and stalled.is_set():
            await released.wait()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(kind, "consumer_group_heartbeat", heartbeat)
    async with client.group(group_id, [topic]) as group, client.admin() as admin:
        first = await take(group, 1)
        fenced = group.metadata()
        assert fenced is not None
        stalled.set()
        try:

            async def removed() -> bool:
                members = (await admin.describe_group(group_id)).members
                return all(m.member_id != fenced.member_id for m in members)

            await until(removed, 30)  # the test brokers' sessions are a few seconds
            with pytest.raises(StaleMember):
                await group.commit()
            coordinator = cast(GroupCoordinator, backend)
            with pytest.raises(StaleMember):
                await coordinator.commit_member_offsets(fenced, {(topic, 0): CommittedOffset(3)})
        finally:
            released.set()
        # Fenced: its partitions are lost (a rebalance that released them), and once it has
        # joined again with the same id it reads them from the start: nothing it marked was
        # committed.
        assert group.notifications is not None
        everything = frozenset({(topic, 0), (topic, 1)})
        lost = back = False
        with anyio.fail_after(30):
            while not back:
                note = await group.notifications.recv()
                if note.type is NotificationType.REBALANCE_OK:
                    lost = lost or note.released == everything
                    back = lost and note.current == everything
        again = await take(group, 4)
        rejoined = group.metadata()
        assert rejoined is not None
        assert rejoined.member_id == fenced.member_id
    assert sorted(int(m.value) for m in again) == [0, 1, 2, 3]
    assert int(first[0].value) in {0, 1}
    committed = await backend.committed_offsets(group_id, [(topic, 0), (topic, 1)])
    assert committed.get((topic, 0)) != CommittedOffset(3)


@BOTH_PROTOCOLS
async def test_many_members_consume_everything_at_least_once_when_one_is_killed(
    backend_url: str, topic: str, group_id: str, protocol: GroupProtocol
) -> None:
    async with connect(backend_url, config_for(backend_url, protocol)) as setup:
        async with setup.admin() as admin:
            await admin.create_topic(topic, 6)
        seen: set[int] = set()
        clients = [await connect(backend_url, config_for(backend_url, protocol)) for _ in range(3)]
        try:
            groups = [c.group(group_id, [topic]) for c in clients]
            # Every member owns its share before anything is produced, so that the victim
            # has records to read (a member alone in the group would read them all).
            with anyio.fail_after(60):
                for group in groups:
                    await group.start()
                for group in groups:
                    assert group.notifications is not None
                    while len(group.assignment) != 2:
                        await group.notifications.recv()
            await produce(setup, topic, 0, 600, partitions=6)
            everything = asyncio.Event()

            async def consume(group: ConsumerGroup, stop_after: int | None) -> None:
                n = 0
                async for message in group:
                    seen.add(int(message.value))
                    if len(seen) == 600:
                        everything.set()
                    group.mark_offset(message)
                    n += 1
                    if stop_after is not None and n >= stop_after:
                        return

            tasks = [asyncio.ensure_future(consume(g, None)) for g in groups[:2]]
            victim = asyncio.ensure_future(consume(groups[2], 50))
            with anyio.fail_after(60):
                await victim
            # The third member dies without leaving or committing (its task is killed): the
            # others take its partitions once its session has run out.
            runner = groups[2]._runner
            assert runner is not None
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            with anyio.fail_after(90):
                await everything.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for c in clients:
                await c.aclose()
        assert seen == set(range(600))


async def test_a_record_that_cannot_be_decoded_is_reported_and_skipped_past(
    backend_url: str, topic: str, group_id: str
) -> None:
    config = config_for(backend_url)
    config.value_codec = "json"
    async with connect(backend_url, config) as client:
        async with client.admin() as admin:
            await admin.create_topic(topic, 1)
        await client.backend.produce(
            topic,
            0,
            [
                (None, b'"one"', (), None),
                (None, b"{not json", (), None),
                (None, b'"three"', (), None),
            ],
        )
        async with client.group(group_id, [topic]) as group:
            got = await take(group, 2)
            with anyio.fail_after(10):
                error = await group.errors.recv()
    assert [m.value for m in got] == ["one", "three"]
    assert isinstance(error, RecordDecodeError)
    assert (error.topic, error.partition, error.offset, error.value) == (topic, 0, 1, b"{not json")


async def test_read_committed_groups_never_see_aborted_transactions(
    backend_url: str, topic: str, group_id: str
) -> None:
    config = config_for(backend_url)
    config.consumer.isolation = Isolation.READ_COMMITTED
    async with connect(backend_url, config) as client:
        async with client.admin() as admin:
            await admin.create_topic(topic, 1)
        txn = await client.backend.transactional_producer(f"tx-{group_id}", transaction_timeout=30)
        try:
            await txn.begin()
            await txn.produce(topic, 0, [(None, b"aborted", (), None)])
            await txn.abort()
            await txn.begin()
            await txn.produce(topic, 0, [(None, b"committed", (), None)])
            await txn.commit()
        finally:
            await txn.aclose()
        async with client.group(group_id, [topic]) as group:
            [message] = await take(group, 1)
    assert message.value == b"committed"


async def test_a_pattern_group_consumes_the_matching_topics_and_one_created_later(
    client: Client, topic: str, group_id: str
) -> None:
    first, second, later, other = (f"{topic}-{s}" for s in ("a", "b", "c", "a-x"))
    async with client.admin() as admin:
        for name in (first, second, other):
            await admin.create_topic(name, 2)
    for name in (first, second, other):
        await produce(client, name, 0, 10, partitions=2)
    async with client.group(group_id, pattern=f"{topic}-[a-z]") as group:
        before = await take(group, 20)
        assert {m.topic for m in before} == {first, second}  # not the whole of "…-a-x"
        async with client.admin() as admin:
            await admin.create_topic(later, 2)
        await produce(client, later, 0, 10, partitions=2)
        # Kafka 4.1 resolves the pattern again within about 10 s: take() waits up to 60 s.
        after = await take(group, 10)
        assert {m.topic for m in after} == {later}
        assert sorted(int(m.value) for m in after) == list(range(10))
        assert (later, 0) in group.assignment
    described = await cast(GroupCoordinator, client.backend).describe_group(group_id)
    assert described.group_type == "consumer"


async def test_a_pattern_needs_the_consumer_protocol(topic: str, group_id: str) -> None:
    classic = config_for("memory://", GroupProtocol.CLASSIC)
    async with connect(f"memory://{group_id}", classic) as client:
        with pytest.raises(ConfigError) as refused:
            client.group(group_id, pattern=f"{topic}.*")
        assert refused.value.field == "pattern"
        assert "group.protocol=consumer" in str(refused.value)
    # AUTO picks the consumer protocol for a pattern, or says why it cannot.
    auto = config_for("memory://")
    async with connect(f"memory://{group_id}-old", auto) as client:
        assert isinstance(client.backend, MemoryBackend)
        client.backend.broker.consumer_coordinator.consumer_protocol = False  # Kafka 3.x
        async with client.group(group_id, pattern=f"{topic}.*") as group:
            with pytest.raises(ConfigError) as missing:
                with anyio.fail_after(10):  # refused at once, not after a wait
                    await take(group, 1)
        assert missing.value.field == "pattern"
    auto.group.session_timeout = 6.0  # a classic-only setting: AUTO would choose classic
    async with connect(f"memory://{group_id}-classic", auto) as client:
        async with client.group(group_id, pattern=f"{topic}.*") as group:
            with pytest.raises(ConfigError, match="session_timeout") as classic_setting:
                with anyio.fail_after(10):  # refused at once, not after a wait
                    await take(group, 1)
        assert classic_setting.value.field == "pattern"


async def test_bad_arguments_are_typed_errors(client: Client, topic: str) -> None:
    with pytest.raises(ConfigError, match="topics"):
        client.group("g", topic)  # a str where a list of topics was meant
    with pytest.raises(ConfigError, match="topics"):
        client.group("g", [])
    with pytest.raises(ConfigError, match="topic"):
        client.group("g", ["bad topic name"])
    with pytest.raises(ConfigError, match="group"):
        client.group("", [topic])
    with pytest.raises(ConfigError, match="topics"):
        client.group("g")  # neither topics nor a pattern
    for pattern in ("", 7):
        with pytest.raises(ConfigError) as bad:
            client.group("g", pattern=pattern)  # type: ignore[arg-type]
        assert bad.value.field == "pattern"
