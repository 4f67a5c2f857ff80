"""ClassicMember, the classic group protocol as a state machine: each transition and the
actions it asks for, without any I/O."""

from __future__ import annotations

import pytest

from aiomq.backends.consumer_protocol import (
    Assignment,
    decode_assignment,
    decode_subscription,
    encode_assignment,
)
from aiomq.backends.group import GroupMember, JoinResult
from aiomq.errors import (
    BrokerUnavailable,
    FencedInstanceId,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    StaleMember,
)
from aiomq.group._classic import (
    Assign,
    ClassicMember,
    Fail,
    Join,
    Leave,
    Lose,
    Metadata,
    Revoke,
    State,
    Sync,
)
from aiomq.group.assignors import CooperativeStickyAssignor, RangeAssignor

T = "topic"


def parts(*ids: int) -> frozenset[tuple[str, int]]:
    return frozenset((T, i) for i in ids)


def assignment(*ids: int) -> bytes:
    return encode_assignment(Assignment(tuple((T, i) for i in ids)))


def member(cooperative: bool = True, instance_id: str | None = None) -> ClassicMember:
    assignor = CooperativeStickyAssignor() if cooperative else RangeAssignor()
    return ClassicMember("g", [T], [assignor], instance_id=instance_id)


def stable(m: ClassicMember, owned: tuple[int, ...], generation: int = 1) -> None:
    """Bring ``m`` to STABLE at ``generation`` owning ``owned``, as a follower."""
    [join] = m.start()
    assert isinstance(join, Join)
    m.joined(
        JoinResult(generation, "cooperative-sticky" if m.cooperative else "range", "leader", "m1")
    )
    actions = m.synced(assignment(*owned))
    for _ in actions:
        m.callbacks_done()
    assert m.state is State.STABLE
    assert m.owned == parts(*owned)


class TestJoining:
    def test_first_join_then_the_member_id_the_coordinator_requires(self) -> None:
        m = member()
        [join] = m.start()
        assert isinstance(join, Join)
        assert join.member_id == ""
        [(name, metadata)] = join.protocols
        assert name == "cooperative-sticky"
        subscription = decode_subscription(metadata)
        assert subscription.topics == (T,)
        assert subscription.owned_partitions == ()
        [again] = m.join_failed(MemberIdRequired("required", "m1"))
        assert isinstance(again, Join)
        assert again.member_id == "m1"

    def test_the_leader_assigns_every_member_even_with_nothing(self) -> None:
        m = member()
        [join] = m.start()
        assert isinstance(join, Join)
        me = GroupMember("m1", None, join.protocols[0][1])
        other = GroupMember("m2", None, join.protocols[0][1])
        idle = GroupMember("m3", None, join.protocols[0][1])
        [metadata] = m.joined(JoinResult(1, "cooperative-sticky", "m1", "m1", (me, other, idle)))
        assert metadata == Metadata((T,))
        [sync] = m.metadata({T: 2})
        assert isinstance(sync, Sync)
        assert set(sync.assignments) == {"m1", "m2", "m3"}
        got = {k: decode_assignment(v).partitions for k, v in sync.assignments.items()}
        assert sorted(p for ps in got.values() for p in ps) == [(T, 0), (T, 1)]
        assert sum(1 for ps in got.values() if not ps) == 1  # the empty one is still sent

    def test_a_follower_syncs_with_nothing_then_assigns(self) -> None:
        m = member()
        m.start()
        [sync] = m.joined(JoinResult(4, "cooperative-sticky", "leader", "m1"))
        assert sync == Sync(4, "m1", None, "cooperative-sticky", {})
        [assign] = m.synced(assignment(0, 1))
        assert assign == Assign(parts(0, 1))
        assert m.membership is not None
        assert (m.membership.generation, m.membership.member_id) == (4, "m1")
        assert m.callbacks_done() == []
        assert m.state is State.STABLE

    def test_an_assignor_the_member_did_not_offer_is_a_failure(self) -> None:
        m = member()
        [join] = m.start()
        assert isinstance(join, Join)
        me = GroupMember("m1", None, join.protocols[0][1])
        m.joined(JoinResult(1, "range", "m1", "m1", (me,)))
        [fail] = m.metadata({T: 1})
        assert isinstance(fail, Fail)
        assert isinstance(fail.error, InconsistentGroupProtocol)
        assert m.state is State.FAILED

    @pytest.mark.parametrize("error", [RebalanceInProgress("busy"), BrokerUnavailable("down")])
    def test_passing_join_failures_wait_then_retry(self, error: Exception) -> None:
        m = member()
        m.start()
        assert m.join_failed(error) == []
        assert m.state is State.UNJOINED
        [join] = m.retry()
        assert isinstance(join, Join)

    def test_a_restarted_static_leader_takes_the_assignment_the_group_holds(self) -> None:
        m = member(instance_id="i-1")  # a new process: it owns nothing yet
        m.start()
        [sync] = m.joined(JoinResult(5, "cooperative-sticky", "m1", "m1", (), skip_assignment=True))
        assert sync == Sync(5, "m1", "i-1", "cooperative-sticky", {})  # it does not assign
        assert m.synced(assignment(0, 2)) == [Assign(parts(0, 2))]
        assert m.owned == parts(0, 2)


class TestCooperative:
    def test_only_the_partitions_that_move_are_revoked_then_it_rejoins(self) -> None:
        m = member()
        stable(m, (0, 1, 2, 3))
        [join] = m.heartbeat_failed(1, RebalanceInProgress("new member"))
        assert isinstance(join, Join)
        # The subscription says what it still owns: it keeps consuming it meanwhile.
        owned = decode_subscription(join.protocols[0][1]).owned_partitions
        assert sorted(owned) == sorted(parts(0, 1, 2, 3))
        m.joined(JoinResult(2, "cooperative-sticky", "leader", "m1"))
        revoke, assign = m.synced(assignment(0, 1))
        assert revoke == Revoke(parts(2, 3))
        assert assign == Assign(parts())
        assert m.owned == parts(0, 1)
        assert m.callbacks_done() == []
        [rejoin] = m.callbacks_done()  # revoked some: the next round gives them away
        assert isinstance(rejoin, Join)

    def test_nothing_is_revoked_when_nothing_moves(self) -> None:
        m = member()
        stable(m, (0, 1))
        [join] = m.rejoin("subscription changed")
        assert isinstance(join, Join)
        m.joined(JoinResult(2, "cooperative-sticky", "leader", "m1"))
        [assign] = m.synced(assignment(0, 1, 2))
        assert assign == Assign(parts(2))
        assert m.callbacks_done() == []
        assert m.state is State.STABLE


class TestEager:
    def test_everything_is_revoked_before_each_join(self) -> None:
        m = member(cooperative=False)
        stable(m, (0, 1))
        revoke, join = m.heartbeat_failed(1, RebalanceInProgress("rebalance"))
        assert revoke == Revoke(parts(0, 1))
        assert isinstance(join, Join)
        assert decode_subscription(join.protocols[0][1]).owned_partitions == ()


class TestFailures:
    def test_a_stale_generation_loses_the_partitions_and_rejoins_with_the_same_id(
        self,
    ) -> None:
        m = member()
        stable(m, (0, 1))
        lose, join = m.heartbeat_failed(1, StaleMember("moved on", "ILLEGAL_GENERATION"))
        assert lose == Lose(parts(0, 1))
        assert isinstance(join, Join)
        assert join.member_id == "m1"
        assert m.membership is None
        assert m.owned == parts()

    def test_an_unknown_member_starts_afresh(self) -> None:
        m = member()
        stable(m, (0,))
        lose, join = m.heartbeat_failed(1, StaleMember("forgotten", "UNKNOWN_MEMBER_ID"))
        assert lose == Lose(parts(0))
        assert isinstance(join, Join)
        assert join.member_id == ""

    def test_errors_about_an_older_generation_are_ignored(self) -> None:
        m = member()
        stable(m, (0,), generation=5)
        assert m.heartbeat_failed(4, StaleMember("old", "ILLEGAL_GENERATION")) == []
        assert m.owned == parts(0)

    def test_a_fenced_static_member_stops(self) -> None:
        m = member(instance_id="i-1")
        stable(m, (0, 1))
        lose, fail = m.heartbeat_failed(1, FencedInstanceId("replaced"))
        assert lose == Lose(parts(0, 1))
        assert isinstance(fail, Fail)
        assert m.state is State.FAILED
        assert m.leave() == []

    def test_an_expired_session_loses_everything(self) -> None:
        m = member()
        stable(m, (0, 1))
        lose, join = m.session_expired()
        assert lose == Lose(parts(0, 1))
        assert isinstance(join, Join)

    def test_a_stale_sync_keeps_or_drops_the_member_id(self) -> None:
        m = member()
        stable(m, (0,))
        m.rejoin("again")
        m.joined(JoinResult(2, "cooperative-sticky", "leader", "m1"))
        lose, join = m.sync_failed(StaleMember("moved on", "ILLEGAL_GENERATION"))
        assert lose == Lose(parts(0))
        assert isinstance(join, Join)
        assert join.member_id == "m1"


class TestLeaving:
    def test_a_dynamic_member_revokes_then_leaves(self) -> None:
        m = member()
        stable(m, (0, 1))
        revoke, leave = m.leave()
        assert revoke == Revoke(parts(0, 1))
        assert leave == Leave("m1", None)
        m.left()
        assert m.state is State.LEFT

    def test_a_static_member_keeps_its_place_by_default(self) -> None:
        m = member(instance_id="i-1")
        stable(m, (0,))
        assert m.leave() == [Revoke(parts(0))]

    def test_leaving_with_nothing_owned_only_leaves(self) -> None:
        m = member()
        stable(m, ())
        assert m.leave() == [Leave("m1", None)]
