"""ConsumerMember, Kafka 4's consumer group protocol (KIP-848) as a state machine: what each
heartbeat carries, how a target assignment is reconciled and acknowledged, fencing, leaving.
No broker: the coordinator's answers are written out as Kafka 4.1's broker gives them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from aiomq.backends.group import HeartbeatAnswer, Membership
from aiomq.errors import BrokerUnavailable, ConfigError, FencedInstanceId, GroupError, StaleMember
from aiomq.group._actions import Assign, Fail, Lose, Revoke
from aiomq.group._consumer import Action, ConsumerMember, ConsumerState, Heartbeat

T = "orders"


def tps(*partitions: int) -> frozenset[tuple[str, int]]:
    return frozenset((T, p) for p in partitions)


def answer(epoch: int, *partitions: int, assigned: bool = True) -> HeartbeatAnswer:
    return HeartbeatAnswer("m-1", epoch, 0.5, {T: partitions} if assigned else None)


def member(**kwargs: object) -> ConsumerMember:
    m = ConsumerMember("g", [T], member_id="m-1", rebalance_timeout=30.0, **kwargs)  # type: ignore[arg-type]
    m.start()
    return m


def state(m: ConsumerMember) -> ConsumerState:
    """The member's state, read afresh (past assertions do not narrow it)."""
    return m.state


def beat(m: ConsumerMember) -> Heartbeat:
    request = m.heartbeat()
    assert request is not None
    return request


def run_callbacks(m: ConsumerMember, actions: Sequence[Action]) -> list[Action]:
    """Report every callback done, as the driver does; returns what the last one returned."""
    out: list[Action] = []
    for _ in [a for a in actions if not isinstance(a, Fail)]:
        out = list(m.callbacks_done())
    return out


def joined(m: ConsumerMember, epoch: int, *partitions: int) -> None:
    """Join and reconcile ``partitions``, acknowledged."""
    run_callbacks(m, m.answered(beat(m), answer(epoch, *partitions)))
    ack = beat(m)
    # An empty assignment needs no acknowledgement: the join already said "owns nothing".
    assert ack.owned == ({T: partitions} if partitions else None)
    m.answered(ack, answer(epoch, assigned=False))
    assert state(m) is ConsumerState.STABLE
    assert m.converged


class TestJoining:
    def test_the_first_heartbeat_joins_with_epoch_0_and_every_field(self) -> None:
        m = member(server_assignor="range", instance_id="i-1")
        assert m.urgent
        first = beat(m)
        assert first == Heartbeat("m-1", 0, "i-1", 30.0, (T,), "range", {})
        assert m.heartbeat() is None  # one heartbeat in flight at a time
        assert not m.urgent
        assert m.membership is None

    def test_the_assignment_is_taken_and_acknowledged_at_once(self) -> None:
        m = member()
        actions = m.answered(beat(m), answer(1, 0, 1))
        assert actions == [Assign(tps(0, 1))]
        assert state(m) is ConsumerState.RECONCILING
        assert m.epoch == 1
        assert m.interval == 0.5
        assert m.membership == Membership("g", 1, "m-1", None)
        assert run_callbacks(m, actions) == []
        assert state(m) is ConsumerState.ACKNOWLEDGING
        assert m.urgent
        ack = beat(m)
        # Only what changed: the owned partitions, which acknowledge the reconciliation.
        assert ack == Heartbeat("m-1", 1, None, None, None, None, {T: (0, 1)})
        assert m.answered(ack, answer(2, assigned=False)) == []
        assert state(m) is ConsumerState.STABLE
        assert m.converged
        assert m.epoch == 2
        steady = beat(m)
        assert steady == Heartbeat("m-1", 2, None, None, None, None, None)

    def test_an_empty_first_assignment_is_not_final(self) -> None:
        m = member()
        assert m.answered(beat(m), answer(1)) == []  # nothing yet: no callbacks, stable
        assert state(m) is ConsumerState.STABLE
        assert m.answered(beat(m), answer(2, 3)) == [Assign(tps(3))]

    def test_a_subscription_change_is_sent_once(self) -> None:
        m = member()
        joined(m, 1, 0)
        m.subscribe(["b", T, "b"])
        assert beat(m).subscribed_topics == ("b", T)
        m.answered(m._in_flight or beat(m), answer(1, assigned=False))
        assert beat(m).subscribed_topics is None

    def test_a_pattern_is_sent_in_full_heartbeats_and_when_changed_and_dropped_with_empty(
        self,
    ) -> None:
        m = ConsumerMember("g", [], member_id="m-1", rebalance_timeout=30.0, pattern="o.*")
        m.start()
        first = beat(m)
        assert (first.subscribed_topics, first.subscribed_topic_regex) == ((), "o.*")
        m.answered(first, answer(1, assigned=False))
        assert beat(m).subscribed_topic_regex is None  # unchanged: not sent again
        m.failed(m._in_flight or beat(m), BrokerUnavailable("coordinator moved"))
        assert beat(m).subscribed_topic_regex == "o.*"  # a full heartbeat: every field
        m.answered(m._in_flight or beat(m), answer(1, assigned=False))
        m.subscribe([T])
        changed = beat(m)
        assert (changed.subscribed_topics, changed.subscribed_topic_regex) == ((T,), "")
        m.answered(changed, answer(1, assigned=False))
        assert beat(m).subscribed_topic_regex is None

    def test_a_member_without_a_pattern_never_sends_one(self) -> None:
        m = member()
        joined(m, 1, 0)
        m.failed(beat(m), BrokerUnavailable("coordinator moved"))
        assert beat(m).subscribed_topic_regex is None


class TestReconciling:
    def test_revocation_comes_first_and_only_what_moves(self) -> None:
        m = member()
        joined(m, 1, 0, 1, 2, 3)
        actions = m.answered(beat(m), answer(1, 0, 1))  # epoch unchanged until the ack
        assert actions == [Revoke(tps(2, 3)), Assign(frozenset())]
        # Heartbeats during the callbacks keep the member in; they claim nothing new.
        during = beat(m)
        assert during.owned is None
        m.answered(during, answer(1, assigned=False))
        assert state(m) is ConsumerState.RECONCILING
        run_callbacks(m, actions)
        ack = beat(m)
        assert ack.owned == {T: (0, 1)}
        m.answered(ack, answer(2, assigned=False))
        assert m.converged
        assert m.owned == tps(0, 1)

    def test_a_target_that_moves_during_callbacks_is_reconciled_next(self) -> None:
        m = member()
        joined(m, 1, 0, 1)
        first = m.answered(beat(m), answer(2, 0, 1, 2))
        assert first == [Assign(tps(2))]
        second_target = m.answered(beat(m), answer(3, 0, 1, 2, 3))
        assert second_target == []  # one reconciliation at a time
        follow_up = run_callbacks(m, first)
        assert follow_up == [Assign(tps(3))]
        ack = beat(m)  # the first reconciliation is acknowledged while the second runs
        assert ack.owned == {T: (0, 1, 2)}
        m.answered(ack, answer(3, assigned=False))
        assert not m.converged
        run_callbacks(m, follow_up)
        assert beat(m).owned == {T: (0, 1, 2, 3)}

    def test_a_lost_answer_is_repeated_after_an_error_with_every_field(self) -> None:
        m = member()
        joined(m, 1, 0)
        request = beat(m)
        assert m.failed(request, BrokerUnavailable("coordinator moved")) == []
        full = beat(m)
        assert full.rebalance_timeout == 30.0
        assert full.subscribed_topics == (T,)
        assert full.owned == {T: (0,)}
        assert full.member_epoch == 1

    def test_an_answer_to_a_forgotten_request_is_ignored(self) -> None:
        m = member()
        stale = beat(m)
        m.failed(stale, BrokerUnavailable("timeout"))
        assert m.answered(stale, answer(1, 0)) == []
        assert m.epoch == 0


class TestFencing:
    @pytest.mark.parametrize("reason", ["FENCED_MEMBER_EPOCH", "UNKNOWN_MEMBER_ID"])
    def test_fenced_loses_everything_and_rejoins_with_epoch_0_and_the_same_id(
        self, reason: str
    ) -> None:
        m = member()
        joined(m, 4, 0, 1)
        actions = m.failed(beat(m), StaleMember("fenced", reason))
        assert actions == [Lose(tps(0, 1))]
        assert state(m) is ConsumerState.JOINING
        assert m.epoch == 0
        assert m.membership is None
        run_callbacks(m, actions)
        again = beat(m)
        assert (again.member_id, again.member_epoch, again.owned) == ("m-1", 0, {})
        assert again.rebalance_timeout == 30.0

    def test_fenced_during_a_reconciliation_loses_its_target_and_never_acknowledges_it(
        self,
    ) -> None:
        m = member()
        joined(m, 1, 0)
        reconcile = m.answered(beat(m), answer(2, 0, 1))
        assert reconcile == [Assign(tps(1))]
        lost = m.failed(beat(m), StaleMember("fenced", "FENCED_MEMBER_EPOCH"))
        assert lost == [Lose(tps(0, 1))]
        run_callbacks(m, reconcile + lost)
        rejoin = beat(m)
        assert rejoin.member_epoch == 0
        assert rejoin.owned == {}

    @pytest.mark.parametrize(
        "error",
        [
            FencedInstanceId("another process is i-1"),
            ConfigError("group.remote_assignor", "unknown"),
            GroupError("the group is full"),
        ],
    )
    def test_final_errors_lose_everything_and_stop(self, error: BaseException) -> None:
        m = member(instance_id="i-1")
        joined(m, 1, 0)
        assert m.failed(beat(m), error) == [Lose(tps(0)), Fail(error)]
        assert m.done
        assert m.heartbeat() is None


class TestLeaving:
    def test_a_dynamic_member_revokes_then_leaves_with_epoch_minus_1(self) -> None:
        m = member()
        joined(m, 3, 0, 1)
        actions = m.leave()
        assert actions == [Revoke(tps(0, 1))]
        assert state(m) is ConsumerState.PREPARE_LEAVING
        keep_alive = beat(m)  # still heartbeating: the revocation commits with this epoch
        assert keep_alive.member_epoch == 3
        m.answered(keep_alive, answer(3, 0, 1))  # a new target no longer matters
        run_callbacks(m, actions)
        assert state(m) is ConsumerState.LEAVING
        assert m.urgent
        leave = beat(m)
        assert leave.member_epoch == -1
        assert leave.leaving
        m.answered(leave, HeartbeatAnswer("m-1", -1, 0.0))
        assert state(m) is ConsumerState.LEFT
        assert m.heartbeat() is None

    @pytest.mark.parametrize(("leave_on_close", "epoch"), [(None, -2), (False, -2), (True, -1)])
    def test_a_static_member_keeps_its_place_unless_told_to_leave(
        self, leave_on_close: bool | None, epoch: int
    ) -> None:
        m = member(instance_id="i-1", leave_on_close=leave_on_close)
        joined(m, 2, 0)
        run_callbacks(m, m.leave())
        leave = beat(m)
        assert (leave.member_epoch, leave.instance_id) == (epoch, "i-1")

    def test_a_dynamic_member_told_to_stay_sends_nothing(self) -> None:
        m = member(leave_on_close=False)
        joined(m, 2, 0)
        run_callbacks(m, m.leave())
        assert state(m) is ConsumerState.LEFT
        assert m.heartbeat() is None

    def test_a_member_that_never_sent_a_heartbeat_has_nothing_to_leave(self) -> None:
        m = member()
        assert m.leave() == []
        assert state(m) is ConsumerState.LEFT

    def test_an_answer_in_flight_when_leaving_begins_does_not_end_it(self) -> None:
        m = member()
        joined(m, 2, 0)
        in_flight = beat(m)
        run_callbacks(m, m.leave())
        m.answered(in_flight, answer(2, assigned=False))
        assert state(m) is ConsumerState.LEAVING
        assert beat(m).member_epoch == -1

    def test_a_failed_leave_still_ends_the_member(self) -> None:
        m = member()
        joined(m, 2)
        m.leave()
        m.failed(beat(m), BrokerUnavailable("coordinator gone"))
        assert state(m) is ConsumerState.LEFT

    def test_fenced_while_revoking_to_leave_skips_the_leave_heartbeat(self) -> None:
        m = member()
        joined(m, 2, 0)
        actions = m.leave()
        m.failed(beat(m), StaleMember("fenced", "FENCED_MEMBER_EPOCH"))
        run_callbacks(m, actions)
        assert state(m) is ConsumerState.LEFT
        assert m.heartbeat() is None
