"""The Kafka backend's group coordinator (``KafkaGroupCoordinator``) against a real broker.

The scenarios of test_memory_coordinator.py, call by call, with the same outcomes: Kafka's
coordinator is the reference the in-process one follows. Where Kafka's own bounds make a
scenario slower (a session timeout is at least the broker's ``group.min.session.timeout.ms``,
6 s by default), the test says so. Then a Java ``KafkaConsumer`` (cooperative-sticky) and a
member made of raw coordinator calls share a group: no partition is ever owned by both.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
import pytest_asyncio

from aiomq.backends import backend_from_url, parse_bootstrap
from aiomq.backends.base import Backend, CommittedOffset, Membership
from aiomq.backends.consumer_protocol import (
    Assignment,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from aiomq.backends.group import JoinResult
from aiomq.backends.kafka import _group_protocol as wire
from aiomq.backends.kafka._cluster import Cluster
from aiomq.backends.kafka._group import KafkaGroupCoordinator
from aiomq.config import Config
from aiomq.errors import (
    ClosedError,
    ConfigError,
    FencedInstanceId,
    GroupError,
    GroupNotEmpty,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    StaleMember,
    UnknownTopic,
)
from aiomq.group.assignors import CooperativeStickyAssignor
from tests.backends.common import kafka_bootstrap
from tests.backends.test_kafka import library_tasks, open_sockets
from tests.java import Java, java, kafka_libs  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]

PROTOCOLS = (("cooperative-sticky", b"meta"),)
MIN_SESSION = 6.0  # Kafka's group.min.session.timeout.ms: the shortest session it accepts
HEARTBEAT = 0.5  # how often a test's live member heartbeats


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    return kafka_bootstrap(request)


@pytest_asyncio.fixture
async def c(bootstrap: str) -> AsyncIterator[KafkaGroupCoordinator]:
    cluster = Cluster(parse_bootstrap(bootstrap), Config(), url=f"kafka://{bootstrap}")
    try:
        yield KafkaGroupCoordinator(cluster)
    finally:
        await cluster.aclose()


@pytest_asyncio.fixture
async def backend(bootstrap: str) -> AsyncIterator[Backend]:
    opened = backend_from_url(f"kafka://{bootstrap}", Config())
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def g() -> str:
    """A fresh group id (Kafka's groups outlive a test)."""
    return f"g-{uuid.uuid4().hex[:16]}"


async def join(
    c: KafkaGroupCoordinator,
    g: str,
    member_id: str = "",
    *,
    instance_id: str | None = None,
    session: float = 10.0,
    rebalance: float = 10.0,
    protocols: tuple[tuple[str, bytes], ...] = PROTOCOLS,
) -> JoinResult:
    """JoinGroup as a member does it: a dynamic member asks again with the id it is given."""
    kwargs = dict(
        instance_id=instance_id,
        session_timeout=session,
        rebalance_timeout=rebalance,
        protocol_type="consumer",
        protocols=protocols,
    )
    try:
        return await c.join_group(g, member_id=member_id, **kwargs)  # type: ignore[arg-type]
    except MemberIdRequired as required:
        assert not member_id
        return await c.join_group(g, member_id=required.member_id, **kwargs)  # type: ignore[arg-type]


async def sync(
    c: KafkaGroupCoordinator,
    g: str,
    r: JoinResult,
    assignments: dict[str, bytes] | None = None,
    instance_id: str | None = None,
) -> bytes:
    return await c.sync_group(
        g,
        generation=r.generation,
        member_id=r.member_id,
        instance_id=instance_id,
        protocol_type="consumer",
        protocol=r.protocol,
        assignments=assignments or {},
    )


async def heartbeat(
    c: KafkaGroupCoordinator, g: str, r: JoinResult, instance_id: str | None = None
) -> None:
    await c.heartbeat(g, generation=r.generation, member_id=r.member_id, instance_id=instance_id)


async def until_rebalancing(c: KafkaGroupCoordinator, g: str, r: JoinResult) -> None:
    """Heartbeat as a live member does until the group asks it to rejoin."""
    while True:
        try:
            await heartbeat(c, g, r)
        except RebalanceInProgress:
            return
        await anyio.sleep(HEARTBEAT)


async def pair(
    c: KafkaGroupCoordinator, g: str, session: float = 10.0
) -> tuple[JoinResult, JoinResult]:
    """Two members, stable in one generation: ``(leader, follower)``."""
    a = await join(c, g, session=session)
    await sync(c, g, a)
    joined: list[JoinResult] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:

            async def second() -> None:
                joined.append(await join(c, g, session=session))

            tg.start_soon(second)
            await until_rebalancing(c, g, a)
            a = await join(c, g, a.member_id, session=session)
    b = joined[0]
    assert a.is_leader
    assert a.generation == b.generation
    await sync(c, g, a, {a.member_id: b"", b.member_id: b""})
    await sync(c, g, b)
    return a, b


class TestJoin:
    async def test_a_lone_member_leads_generation_one(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        with pytest.raises(MemberIdRequired) as required:
            await c.join_group(
                g,
                member_id="",
                instance_id=None,
                session_timeout=10,
                rebalance_timeout=10,
                protocol_type="consumer",
                protocols=PROTOCOLS,
            )
        assert required.value.member_id
        r = await join(c, g)
        assert (r.generation, r.protocol, r.is_leader) == (1, "cooperative-sticky", True)
        assert [m.metadata for m in r.members] == [b"meta"]
        assert await sync(c, g, r, {r.member_id: b"all"}) == b"all"
        await heartbeat(c, g, r)
        assert (await c.describe_group(g)).state == "Stable"

    async def test_a_second_member_makes_the_first_rejoin(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        first = await join(c, g)
        await sync(c, g, first, {first.member_id: b"a"})
        joined: list[JoinResult] = []
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def second() -> None:
                    joined.append(await join(c, g))

                tg.start_soon(second)
                # The second join waits in the coordinator (on a connection of its own, so
                # these heartbeats are not held behind it) until the first member rejoins.
                await until_rebalancing(c, g, first)
                again = await join(c, g, first.member_id)
        [other] = joined
        assert again.generation == other.generation == 2
        assert again.is_leader  # the leader that rejoined stays the leader
        assert {m.member_id for m in again.members} == {first.member_id, other.member_id}
        assert other.members == ()  # only the leader sees the members

    async def test_followers_wait_in_sync_for_the_leaders_assignment(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g)
        await sync(c, g, a, {a.member_id: b""})
        results: dict[str, JoinResult] = {}
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def member(member_id: str) -> None:
                    r = await join(c, g, member_id)
                    results[r.member_id] = r

                tg.start_soon(member, "")
                await until_rebalancing(c, g, a)
                tg.start_soon(member, a.member_id)
        leader = next(r for r in results.values() if r.is_leader)
        follower = next(r for r in results.values() if not r.is_leader)
        got: list[bytes] = []
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def follow() -> None:
                    got.append(await sync(c, g, follower))

                tg.start_soon(follow)
                # The follower's SyncGroup is sent; a round trip of the leader's later: the
                # coordinator still holds the follower's answer back.
                await heartbeat(c, g, leader)
                assert got == []
                mine = await sync(c, g, leader, {leader.member_id: b"L", follower.member_id: b"F"})
        assert (mine, got) == (b"L", [b"F"])

    async def test_a_member_that_does_not_rejoin_in_time_is_dropped(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g, rebalance=1.0)
        await sync(c, g, a)
        with anyio.fail_after(20):
            b = await join(c, g, rebalance=1.0)  # a never rejoins: the join ends at the deadline
        assert b.generation == 2
        assert [m.member_id for m in b.members] == [b.member_id]
        with pytest.raises(StaleMember):
            await heartbeat(c, g, a)

    async def test_no_common_protocol_is_refused(self, c: KafkaGroupCoordinator, g: str) -> None:
        a = await join(c, g)
        await sync(c, g, a)
        with pytest.raises(InconsistentGroupProtocol):
            await join(c, g, protocols=(("range", b""),))

    async def test_a_session_timeout_out_of_bounds_is_a_config_error(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        with pytest.raises(ConfigError, match="session_timeout"):
            await join(c, g, session=3600)
        # Kafka's lower bound, group.min.session.timeout.ms (6 s by default; in process, 1 ms).
        with pytest.raises(ConfigError, match="session_timeout") as below:
            await join(c, g, session=1)
        assert below.value.field == "group.session_timeout"


class TestSessions:
    async def test_a_silent_member_is_removed_and_the_others_rebalance(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a, b = await pair(c, g, session=MIN_SESSION)
        # a falls silent; b heartbeats and stays. Once a's session has run out, b is told
        # to rejoin, and the next generation has b alone.
        with anyio.fail_after(MIN_SESSION + 10):
            await until_rebalancing(c, g, b)
        alone = await join(c, g, b.member_id, session=MIN_SESSION)
        assert alone.generation == b.generation + 1
        assert [m.member_id for m in alone.members] == [b.member_id]
        with pytest.raises(StaleMember):
            await heartbeat(c, g, a)

    async def test_leaving_makes_the_others_rebalance_at_once(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a, b = await pair(c, g)
        await c.leave_group(g, [(b.member_id, None)])
        with pytest.raises(RebalanceInProgress):
            await heartbeat(c, g, a)

    async def test_leaving_twice_or_a_group_nobody_knows_is_no_error(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g)
        await c.leave_group(g, [(a.member_id, None)])
        await c.leave_group(g, [(a.member_id, None)])
        await c.leave_group(f"{g}-unknown", [("nobody", None), ("", "instance")])


class TestStatic:
    async def test_a_static_member_back_in_time_keeps_its_place_without_a_rebalance(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        first = await join(c, g, instance_id="i-1")
        await sync(c, g, first, {first.member_id: b"mine"}, instance_id="i-1")
        back = await join(c, g, instance_id="i-1")
        assert back.generation == first.generation
        assert back.skip_assignment  # the leader came back: it keeps its assignment
        assert back.member_id != first.member_id
        assert await sync(c, g, back, instance_id="i-1") == b"mine"
        with pytest.raises(FencedInstanceId):
            await heartbeat(c, g, first, instance_id="i-1")
        # Leaving under the replaced id is no error, and does not remove the new self.
        await c.leave_group(g, [(first.member_id, "i-1")])
        await heartbeat(c, g, back, instance_id="i-1")

    async def test_a_static_member_leaves_by_its_instance_id(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        r = await join(c, g, instance_id="i-1")
        await sync(c, g, r, instance_id="i-1")
        await c.leave_group(g, [("", "i-1")])
        described = await c.describe_group(g)
        assert (described.state, described.members) == ("Empty", ())


class TestConnections:
    async def test_heartbeats_do_not_wait_behind_a_parked_join(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g)
        await sync(c, g, a)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(join, c, g)  # parks until a rejoins
                await until_rebalancing(c, g, a)
                for _ in range(3):  # answered at once, each, while the join waits
                    with anyio.fail_after(2), pytest.raises(RebalanceInProgress):
                        await heartbeat(c, g, a)
                await join(c, g, a.member_id)

    async def test_a_join_may_wait_longer_than_the_request_timeout(
        self, bootstrap: str, g: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = Config()
        config.net.request_timeout = 1.0
        cluster = Cluster(parse_bootstrap(bootstrap), config, url=f"kafka://{bootstrap}")
        c = KafkaGroupCoordinator(cluster)
        sent: list[str] = []
        request = Cluster.request

        async def spy(self: Cluster, conn: Any, req: Any, **kwargs: Any) -> Any:
            sent.append(getattr(req, "name", ""))
            return await request(self, conn, req, **kwargs)

        monkeypatch.setattr(Cluster, "request", spy)
        try:
            a = await join(c, g, rebalance=3.0)
            await sync(c, g, a)
            before = sent.count("JoinGroup")
            with anyio.fail_after(20):
                b = await join(c, g, rebalance=3.0)  # a never rejoins: 3 s in the coordinator
            assert sent.count("JoinGroup") == before + 2  # MemberIdRequired, then the join
            assert (b.generation, [m.member_id for m in b.members]) == (2, [b.member_id])
        finally:
            await cluster.aclose()

    async def test_a_cancelled_join_does_not_hold_up_the_next(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g)
        await sync(c, g, a)
        async with anyio.create_task_group() as tg:
            tg.start_soon(join, c, g)
            await until_rebalancing(c, g, a)
            tg.cancel_scope.cancel()
        # Its connection still carries the cancelled join, which the coordinator answers
        # only when the join phase ends: it is closed, never reused.
        with anyio.fail_after(5):
            again = await join(c, g, a.member_id)
        assert again.generation == 2

    async def test_closing_ends_a_parked_join(self, bootstrap: str, g: str) -> None:
        sockets = open_sockets()
        cluster = Cluster(parse_bootstrap(bootstrap), Config(), url=f"kafka://{bootstrap}")
        c = KafkaGroupCoordinator(cluster)
        a = await join(c, g, rebalance=30)
        await sync(c, g, a)
        waiting = asyncio.ensure_future(join(c, g, rebalance=30))
        with anyio.fail_after(20):
            await until_rebalancing(c, g, a)
        with anyio.fail_after(5):
            await cluster.aclose()
            with pytest.raises(ClosedError):
                await waiting
        assert not library_tasks()
        assert open_sockets() == sockets


class TestVersions:
    async def test_the_versions_of_older_brokers_work_too(
        self,
        c: KafkaGroupCoordinator,
        backend: Backend,
        g: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # What a broker before Kafka 2.4 answers (JoinGroup v5, SyncGroup v3, Heartbeat v3,
        # LeaveGroup v3, OffsetCommit v7) and before 3.8 (ListGroups v4).
        for api in (
            wire._JOIN_GROUP,
            wire._SYNC_GROUP,
            wire._HEARTBEAT,
            wire._LEAVE_GROUP,
            wire._OFFSET_COMMIT,
            wire._LIST_GROUPS,
        ):
            monkeypatch.setattr(api, "structs", api.structs[:1])
        topic = f"t-{g}"
        await backend.create_topic(topic)
        r = await join(c, g, instance_id=None)
        assert (r.generation, r.protocol, r.is_leader) == (1, "cooperative-sticky", True)
        assert [m.metadata for m in r.members] == [b"meta"]
        assert await sync(c, g, r, {r.member_id: b"all"}) == b"all"
        await heartbeat(c, g, r)
        with pytest.raises(StaleMember):
            await c.heartbeat(
                g, generation=r.generation + 1, member_id=r.member_id, instance_id=None
            )
        offsets = {(topic, 0): CommittedOffset(3, "m")}
        await c.commit_member_offsets(Membership(g, r.generation, r.member_id), offsets)
        assert await backend.committed_offsets(g, [(topic, 0)]) == offsets
        listed = {x.group: x for x in await c.list_groups()}
        assert (listed[g].state, listed[g].group_type) == ("Stable", "classic")
        await c.leave_group(g, [(r.member_id, None)], reason="done")
        assert (await c.describe_group(g)).state == "Empty"


class TestArguments:
    async def test_bad_arguments_are_config_errors_naming_them(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        def joining(**changes: Any) -> Coroutine[Any, Any, Any]:
            kwargs: dict[str, Any] = dict(
                member_id="",
                instance_id=None,
                session_timeout=10.0,
                rebalance_timeout=10.0,
                protocol_type="consumer",
                protocols=PROTOCOLS,
            )
            kwargs.update(changes)
            return c.join_group(g, **kwargs)

        def syncing(assignments: Any) -> Coroutine[Any, Any, Any]:
            return c.sync_group(
                g,
                generation=1,
                member_id="m",
                instance_id=None,
                protocol_type="consumer",
                protocol="range",
                assignments=assignments,
            )

        cases: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = [
            ("group.session_timeout", lambda: joining(session_timeout="10")),
            ("group.session_timeout", lambda: joining(session_timeout=float("nan"))),
            ("group.rebalance_timeout", lambda: joining(rebalance_timeout=-1)),
            ("membership", lambda: joining(instance_id="")),
            ("protocols", lambda: joining(protocols=[("range", "not bytes")])),
            ("protocols", lambda: joining(protocols="range")),
            ("assignments", lambda: syncing({"m": "not bytes"})),
            ("assignments", lambda: syncing([("m", b"")])),
            (
                "membership",
                lambda: c.heartbeat(g, generation=2**31, member_id="m", instance_id=None),
            ),
            ("group", lambda: c.describe_group("")),
            ("members", lambda: c.leave_group(g, [("m",)])),  # type: ignore[list-item]
        ]
        for field_name, call in cases:
            with pytest.raises(ConfigError) as caught:
                await call()
            assert caught.value.field == field_name


class TestCommits:
    async def test_commits_are_checked_against_the_generation(
        self, c: KafkaGroupCoordinator, backend: Backend, g: str
    ) -> None:
        topic = f"t-{g}"
        await backend.create_topic(topic, 2)
        offsets = {(topic, 0): CommittedOffset(5, "m")}
        a = await join(c, g)
        # Between JoinGroup and SyncGroup the generation is not settled yet.
        with pytest.raises(RebalanceInProgress):
            await c.commit_member_offsets(Membership(g, a.generation, a.member_id), offsets)
        await sync(c, g, a)
        await c.commit_member_offsets(Membership(g, a.generation, a.member_id), offsets)
        with pytest.raises(StaleMember) as stale:
            await c.commit_member_offsets(Membership(g, a.generation - 1, a.member_id), offsets)
        assert stale.value.reason == "ILLEGAL_GENERATION"
        with pytest.raises(StaleMember) as unknown:
            await c.commit_member_offsets(Membership(g, a.generation, "nobody"), offsets)
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        with pytest.raises(StaleMember):  # a plain commit while the group has members
            await c.commit_member_offsets(Membership(g, -1, ""), offsets)
        # A group without members takes plain commits.
        await c.commit_member_offsets(Membership(f"{g}-other", -1, ""), offsets)
        assert await backend.committed_offsets(g, [(topic, 0)]) == offsets

    async def test_a_commit_naming_a_missing_partition_stores_nothing(
        self, c: KafkaGroupCoordinator, backend: Backend, g: str
    ) -> None:
        # Kafka itself would store the partitions that exist and refuse only the others.
        topic = f"t-{g}"
        await backend.create_topic(topic, 2)
        a = await join(c, g)
        await sync(c, g, a)
        member = Membership(g, a.generation, a.member_id)
        for missing in [(topic, 2), (f"{topic}-missing", 0)]:
            with pytest.raises(UnknownTopic):
                await c.commit_member_offsets(
                    member, {(topic, 1): CommittedOffset(9), missing: CommittedOffset(4)}
                )
        assert await backend.committed_offsets(g, [(topic, 1)]) == {}


class TestAdmin:
    async def test_a_group_with_members_cannot_be_deleted(
        self, c: KafkaGroupCoordinator, g: str
    ) -> None:
        a = await join(c, g)
        with pytest.raises(GroupNotEmpty):
            await c.delete_group(g)
        await c.leave_group(g, [(a.member_id, None)])
        await c.delete_group(g)
        assert (await c.describe_group(g)).state == "Dead"
        with pytest.raises(GroupError):
            await c.delete_group(g)  # nobody knows it any more

    async def test_list_and_describe(self, c: KafkaGroupCoordinator, g: str) -> None:
        a = await join(c, g, instance_id="static-1")
        await sync(c, g, a, {a.member_id: b"assigned"}, instance_id="static-1")
        listed = {x.group: x for x in await c.list_groups()}
        assert (listed[g].state, listed[g].protocol_type, listed[g].group_type) == (
            "Stable",
            "consumer",
            "classic",
        )
        described = await c.describe_group(g)
        assert (described.state, described.protocol_type, described.protocol) == (
            "Stable",
            "consumer",
            "cooperative-sticky",
        )
        [member] = described.members
        assert (member.member_id, member.instance_id) == (a.member_id, "static-1")
        assert (member.metadata, member.assignment) == (b"meta", b"assigned")
        assert member.client_id == "aiomq"
        unknown = await c.describe_group(f"{g}-unknown")
        assert (unknown.state, unknown.members) == ("Dead", ())


# -- a Java member in the same group ----------------------------------------------------------

Owned = frozenset[int]


@dataclass
class History:
    """What each member owned, in the order it happened, by generation: after each
    rebalance, and after each revocation (a Java member reports one when it closes)."""

    of: dict[str, list[tuple[int, Owned]]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, member: str, generation: int, owned: Owned) -> None:
        self.of.setdefault(member, []).append((generation, owned))
        self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checking it after each change."""
        while not condition():
            self.changed.clear()
            await self.changed.wait()

    def last(self, member: str) -> Owned:
        entries = self.of.get(member, [])
        return entries[-1][1] if entries else frozenset()

    def held(self, member: str, generation: int) -> Owned:
        """What ``member`` owned while generation ``generation`` was being formed."""
        before = [owned for gen, owned in self.of.get(member, []) if gen < generation]
        return before[-1] if before else frozenset()

    def check_never_owned_twice(self) -> None:
        """Members of one generation own disjoint sets, and a partition a member gains was
        released by every other member before that generation (KIP-429's two rounds)."""
        for member, entries in self.of.items():
            previous: Owned = frozenset()
            for generation, owned in entries:
                for other, theirs in self.of.items():
                    if other == member:
                        continue
                    same = {o for gen, o in theirs if gen == generation}
                    assert all(not owned & o for o in same), (generation, self.of)
                    gained = owned - previous
                    assert not gained & self.held(other, generation), (generation, self.of)
                previous = owned


class CooperativeMember:
    """A cooperative-sticky member made of raw coordinator calls: it leads with aiomq's
    assignor, revokes what it lost and rejoins at once, heartbeats, and rejoins when told."""

    def __init__(
        self, c: KafkaGroupCoordinator, g: str, topic: str, partitions: int, history: History
    ) -> None:
        self.c, self.g, self.topic, self.partitions = c, g, topic, partitions
        self.history = history
        self.member_id = ""
        self.generation = -1
        self.owned: Owned = frozenset()
        self.result: JoinResult | None = None

    async def rejoin(self) -> bool:
        """One JoinGroup and SyncGroup; whether partitions were revoked (rejoin again)."""
        assignor = CooperativeStickyAssignor()
        subscription = Subscription(
            (self.topic,),
            assignor.subscription_user_data(self.generation),
            tuple((self.topic, p) for p in sorted(self.owned)),
            self.generation,
        )
        r = await join(
            self.c,
            self.g,
            self.member_id,
            protocols=((assignor.name, encode_subscription(subscription)),),
        )
        self.member_id = r.member_id
        assignments: dict[str, bytes] = {}
        if r.is_leader:
            subscriptions = {m.member_id: decode_subscription(m.metadata) for m in r.members}
            plan = assignor.assign({self.topic: self.partitions}, subscriptions)
            assignments = {m: encode_assignment(Assignment(tuple(tps))) for m, tps in plan.items()}
        data = await sync(self.c, self.g, r, assignments)
        assigned = frozenset(p for _, p in decode_assignment(data).partitions) if data else Owned()
        revoked = self.owned - assigned
        self.owned, self.generation, self.result = assigned, r.generation, r
        self.history.add("aiomq", r.generation, assigned)
        return bool(revoked)

    async def run(self, stop: anyio.Event) -> None:
        rejoin = self.result is None
        while not stop.is_set():
            if rejoin:
                rejoin = await self.rejoin()
                continue
            assert self.result is not None
            try:
                await heartbeat(self.c, self.g, self.result)
            except RebalanceInProgress:
                rejoin = True
                continue
            with anyio.move_on_after(HEARTBEAT):
                await stop.wait()
        await self.c.leave_group(self.g, [(self.member_id, None)])


class JavaMember:
    """tests/java/GroupMember.java in the group; its lines go into ``history``."""

    def __init__(self, process: subprocess.Popen[str], history: History) -> None:
        self.process = process
        self.history = history
        self.left = anyio.Event()

    async def read(self) -> None:
        out = self.process.stdout
        assert out is not None
        while line := await asyncio.to_thread(out.readline):
            words = line.split()
            if words[0] == "GEN":
                owned = frozenset(int(p) for p in words[2:])
                self.history.add("java", int(words[1]), owned)
            elif words[0] == "LEFT":
                self.left.set()

    def stop(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write("stop\n")
        stdin.flush()


@pytest.mark.parametrize("first", ["aiomq", "java"])
async def test_a_java_member_and_an_aiomq_member_never_own_a_partition_twice(
    c: KafkaGroupCoordinator,
    backend: Backend,
    g: str,
    bootstrap: str,
    java: Java,  # noqa: F811  (the fixture imported above)
    first: str,
) -> None:
    """The first member leads and owns all four partitions; the second joins; after two
    rounds each owns two; the Java member leaves and aiomq's owns all four again."""
    topic = f"t-{g}"
    await backend.create_topic(topic, 4)
    history = History()
    ours = CooperativeMember(c, g, topic, 4, history)
    everything = frozenset(range(4))
    stop = anyio.Event()
    process: subprocess.Popen[str] | None = None
    try:
        with anyio.fail_after(50):
            async with anyio.create_task_group() as tg:
                if first == "aiomq":
                    await ours.rejoin()
                    assert ours.owned == everything
                process = java.start("GroupMember", bootstrap, g, topic)
                theirs = JavaMember(process, history)
                tg.start_soon(theirs.read)
                if first == "java":
                    await history.until(lambda: history.last("java") == everything)
                tg.start_soon(ours.run, stop)
                # aiomq's leader, or Java's, withholds the two partitions the other member
                # still owns in the first round; that member revokes them and the next round
                # gives them out.
                await history.until(
                    lambda: (
                        bool(ours.owned and history.last("java"))
                        and history.last("java") == everything - ours.owned
                    )
                )
                assert len(ours.owned) == len(history.last("java")) == 2
                assert ours.result is not None
                assert ours.result.is_leader == (first == "aiomq")
                theirs.stop()
                await theirs.left.wait()
                await history.until(lambda: ours.owned == everything)
                stop.set()
    finally:
        if process is not None:
            process.kill()
            process.wait()
    history.check_never_owned_twice()
