"""The in-process group coordinator answers JoinGroup, SyncGroup, Heartbeat and LeaveGroup by
Kafka's rules (the group contract suite runs the same scenarios through members on both
backends; these pin the coordinator's own rules, call by call)."""

from __future__ import annotations

import anyio
import pytest

from aiomq.backends.base import Membership
from aiomq.backends.group import JoinResult
from aiomq.backends.memory._coordinator import Coordinator
from aiomq.errors import (
    ConfigError,
    FencedInstanceId,
    GroupNotEmpty,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    StaleMember,
)

pytestmark = pytest.mark.asyncio

PROTOCOLS = (("cooperative-sticky", b"meta"),)


async def join(
    c: Coordinator,
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
        return await c.join_group("g", member_id=member_id, **kwargs)  # type: ignore[arg-type]
    except MemberIdRequired as required:
        assert not member_id
        return await c.join_group("g", member_id=required.member_id, **kwargs)  # type: ignore[arg-type]


async def sync(c: Coordinator, r: JoinResult, assignments: dict[str, bytes] | None = None) -> bytes:
    return await c.sync_group(
        "g",
        generation=r.generation,
        member_id=r.member_id,
        instance_id=None,
        protocol_type="consumer",
        protocol=r.protocol,
        assignments=assignments or {},
    )


async def heartbeat(c: Coordinator, r: JoinResult, instance_id: str | None = None) -> None:
    await c.heartbeat("g", generation=r.generation, member_id=r.member_id, instance_id=instance_id)


async def pair(c: Coordinator, session: float = 10.0) -> tuple[JoinResult, JoinResult]:
    """Two members, stable in one generation: ``(leader, follower)``."""
    a = await join(c, session=session)
    await sync(c, a)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            joined: list[JoinResult] = []

            async def second() -> None:
                joined.append(await join(c, session=session))

            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            a = await join(c, a.member_id, session=session)
    b = joined[0]
    assert a.is_leader
    assert a.generation == b.generation
    await sync(c, a, {a.member_id: b"", b.member_id: b""})
    await sync(c, b)
    return a, b


class TestJoin:
    async def test_a_lone_member_leads_generation_one(self) -> None:
        c = Coordinator()
        with pytest.raises(MemberIdRequired) as required:
            await c.join_group(
                "g",
                member_id="",
                instance_id=None,
                session_timeout=10,
                rebalance_timeout=10,
                protocol_type="consumer",
                protocols=PROTOCOLS,
            )
        assert required.value.member_id
        r = await join(c)
        assert (r.generation, r.protocol, r.is_leader) == (1, "cooperative-sticky", True)
        assert [m.metadata for m in r.members] == [b"meta"]
        assert await sync(c, r, {r.member_id: b"all"}) == b"all"
        await heartbeat(c, r)
        assert c.describe_group("g").state == "Stable"

    async def test_a_second_member_makes_the_first_rejoin(self) -> None:
        c = Coordinator()
        first = await join(c)
        await sync(c, first, {first.member_id: b"a"})
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                joined: list[JoinResult] = []

                async def second() -> None:
                    joined.append(await join(c))

                tg.start_soon(second)
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(RebalanceInProgress):
                    await heartbeat(c, first)
                again = await join(c, first.member_id)
        [other] = joined
        assert again.generation == other.generation == 2
        assert again.is_leader  # the leader that rejoined stays the leader
        assert {m.member_id for m in again.members} == {first.member_id, other.member_id}
        assert other.members == ()  # only the leader sees the members

    async def test_followers_wait_in_sync_for_the_leaders_assignment(self) -> None:
        c = Coordinator()
        a = await join(c)
        await sync(c, a, {a.member_id: b""})
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                results: dict[str, JoinResult] = {}

                async def member(member_id: str) -> None:
                    r = await join(c, member_id)
                    results[r.member_id] = r

                tg.start_soon(member, "")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(member, a.member_id)
        leader = next(r for r in results.values() if r.is_leader)
        follower = next(r for r in results.values() if not r.is_leader)
        got: list[bytes] = []
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def follow() -> None:
                    got.append(await sync(c, follower))

                tg.start_soon(follow)
                await anyio.wait_all_tasks_blocked()
                assert got == []
                mine = await sync(c, leader, {leader.member_id: b"L", follower.member_id: b"F"})
        assert (mine, got) == (b"L", [b"F"])

    async def test_a_member_that_does_not_rejoin_in_time_is_dropped(self) -> None:
        c = Coordinator()
        a = await join(c, rebalance=0.2)
        await sync(c, a)
        with anyio.fail_after(5):
            b = await join(c, rebalance=0.2)  # a never rejoins: the join ends at the deadline
        assert b.generation == 2
        assert [m.member_id for m in b.members] == [b.member_id]
        with pytest.raises(StaleMember):
            await heartbeat(c, a)

    async def test_no_common_protocol_is_refused(self) -> None:
        c = Coordinator()
        a = await join(c)
        await sync(c, a)
        with pytest.raises(InconsistentGroupProtocol):
            await join(c, protocols=(("range", b""),))

    async def test_a_session_timeout_out_of_bounds_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="session_timeout"):
            await join(Coordinator(), session=3600)
        with pytest.raises(ConfigError, match="session_timeout"):
            await join(Coordinator(), session=5.9)  # under Kafka's default minimum, 6 s


class TestSessions:
    async def test_a_silent_member_is_removed_and_the_others_rebalance(self) -> None:
        c = Coordinator()
        c.min_session_timeout = 0.1  # the broker's setting, lowered for a quick test
        a, b = await pair(c, session=0.3)
        # a falls silent; b heartbeats every 0.1 s and stays. Once a's session has run out,
        # b is told to rejoin, and the next generation has b alone.
        with anyio.fail_after(5):
            while True:
                try:
                    await heartbeat(c, b)
                except RebalanceInProgress:
                    break
                await anyio.sleep(0.1)
        alone = await join(c, b.member_id, session=0.3)
        assert alone.generation == b.generation + 1
        assert [m.member_id for m in alone.members] == [b.member_id]
        with pytest.raises(StaleMember):
            await heartbeat(c, a)

    async def test_leaving_makes_the_others_rebalance_at_once(self) -> None:
        c = Coordinator()
        a, b = await pair(c)
        await c.leave_group("g", [(b.member_id, None)])
        with pytest.raises(RebalanceInProgress):
            await heartbeat(c, a)


class TestStatic:
    async def test_a_static_member_back_in_time_keeps_its_place_without_a_rebalance(
        self,
    ) -> None:
        c = Coordinator()
        first = await join(c, instance_id="i-1")
        await sync(c, first, {first.member_id: b"mine"})
        back = await join(c, instance_id="i-1")
        assert back.generation == first.generation
        assert back.skip_assignment  # the leader came back: it keeps its assignment
        assert back.member_id != first.member_id
        assert await sync(c, back) == b"mine"
        with pytest.raises(FencedInstanceId):
            await heartbeat(c, first, instance_id="i-1")

    async def test_a_static_member_back_with_another_subscription_is_no_rebalance(
        self,
    ) -> None:
        # A restarted member owns nothing yet: its cooperative subscription differs from the
        # one it left with. Kafka rebalances only if the group's protocol would change.
        c = Coordinator()
        name = PROTOCOLS[0][0]
        first = await join(c, instance_id="i-1", protocols=((name, b"owned: 0, 1, 2"),))
        await sync(c, first, {first.member_id: b"mine"})
        back = await join(c, instance_id="i-1", protocols=((name, b"owned: none"),))
        assert back.generation == first.generation
        assert await sync(c, back) == b"mine"


class TestCommits:
    async def test_commits_are_checked_against_the_generation(self) -> None:
        c = Coordinator()
        a = await join(c)
        await sync(c, a)
        c.check_commit("g", Membership("g", a.generation, a.member_id))
        with pytest.raises(StaleMember) as stale:
            c.check_commit("g", Membership("g", a.generation - 1, a.member_id))
        assert stale.value.reason == "ILLEGAL_GENERATION"
        with pytest.raises(StaleMember) as unknown:
            c.check_commit("g", Membership("g", a.generation, "nobody"))
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        with pytest.raises(StaleMember):
            c.check_commit("g", None)  # a plain commit while the group has members
        c.check_commit("other", None)  # a group without members takes plain commits

    async def test_a_group_with_members_cannot_be_deleted(self) -> None:
        c = Coordinator()
        a = await join(c)
        with pytest.raises(GroupNotEmpty):
            c.delete_group("g")
        await c.leave_group("g", [(a.member_id, None)])
        c.delete_group("g")
        assert c.describe_group("g").state == "Dead"
