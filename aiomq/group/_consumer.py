"""A member of a consumer group under Kafka 4's consumer protocol (KIP-848), as a state
machine.

``ConsumerMember`` does no I/O, like ``ClassicMember``: the driver asks it for the heartbeat
to send (``heartbeat()``), reports the answer or the failure, runs the partition callbacks it
returns (``Revoke``, ``Lose``, ``Assign``) and reports each one done. The protocol, as Kafka's
Java consumer runs it (AbstractMembershipManager, ConsumerHeartbeatRequestManager):

- there is no join barrier: the member heartbeats with epoch 0 to join; the coordinator
  computes every member's target assignment itself and hands each member its whole target,
  at its own pace, in heartbeat answers.
- reconciling a new target: revoke what is no longer in it (committing its offsets first),
  then assign what was added; then acknowledge at once with a heartbeat listing what the
  member owns. The coordinator gives a partition to its new owner only after the old owner
  acknowledged giving it up, so a partition that does not move is never revoked, and nobody
  else stops.
- the member epoch: the coordinator raises it as the member catches up; offsets are committed
  with it, so a member that fell behind can never overwrite the new owner's progress.
- a heartbeat sends only what changed since the last one that got through; after any error
  the next one sends everything (and the coordinator answers with the whole assignment).
- fenced (``StaleMember``: an epoch the coordinator no longer accepts, or an unknown member):
  every partition is lost (not committed) and the member joins again with epoch 0 and the
  same id. ``FencedInstanceId`` (another process is this static member), ``ConfigError`` and
  other group errors end the member.
- leaving: revoke everything (committing), then heartbeat with epoch -1; a static member
  that keeps its place for a restart (KIP-345) sends -2 instead and the coordinator holds its
  partitions until its session ends. A dynamic member told not to leave sends nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..backends.group import HeartbeatAnswer, Membership
from ..errors import FencedInstanceId, StaleMember
from ._actions import Assign, Fail, Lose, Partitions, Revoke, is_transient

__all__ = ["Action", "ConsumerMember", "ConsumerState", "Heartbeat"]

LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2  # a static member leaving for a moment: its partitions wait for it

Action = Revoke | Lose | Assign | Fail


class ConsumerState(enum.Enum):
    """Where the member is (Java's ``MemberState``)."""

    UNSUBSCRIBED = "unsubscribed"  # not started
    JOINING = "joining"  # epoch 0 sent, or to be sent
    RECONCILING = "reconciling"  # revoke / assign callbacks in flight
    ACKNOWLEDGING = "acknowledging"  # reconciled; the heartbeat saying so is due
    STABLE = "stable"
    PREPARE_LEAVING = "prepare leaving"  # revoking everything before the leave heartbeat
    LEAVING = "leaving"  # the leave heartbeat is due or in flight
    LEFT = "left"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A ConsumerGroupHeartbeat to send; fields that are None are unchanged since the last
    heartbeat the coordinator got. Report ``answered`` or ``failed`` with it."""

    member_id: str
    member_epoch: int
    instance_id: str | None
    rebalance_timeout: float | None
    subscribed_topics: tuple[str, ...] | None
    server_assignor: str | None
    owned: Mapping[str, tuple[int, ...]] | None
    subscribed_topic_regex: str | None = None  # "" drops the one sent before

    @property
    def leaving(self) -> bool:
        """Whether this heartbeat leaves the group."""
        return self.member_epoch < 0


class ConsumerMember:
    """One member's view of the consumer protocol; see the module docstring.

    ``member_id`` is made by the client once (a UUID) and kept across rejoins. ``topics``
    and ``pattern`` (a regular expression the coordinator matches topic names against; the
    member subscribes to the union) are sent like every field: in full, or when changed.
    ``owned`` is
    what the member consumes once the callbacks it returned have run; ``reported`` what the
    coordinator was last told it owns (they differ while it reconciles).
    """

    def __init__(
        self,
        group: str,
        topics: Sequence[str],
        *,
        member_id: str,
        rebalance_timeout: float,
        instance_id: str | None = None,
        server_assignor: str | None = None,
        leave_on_close: bool | None = None,
        pattern: str | None = None,
    ) -> None:
        self.group = group
        self.topics = tuple(sorted(set(topics)))
        self.pattern = pattern
        self.member_id = member_id
        self.rebalance_timeout = rebalance_timeout
        self.instance_id = instance_id
        self.server_assignor = server_assignor
        self.leave_on_close = instance_id is None if leave_on_close is None else leave_on_close
        self.state = ConsumerState.UNSUBSCRIBED
        self.epoch = 0
        self.interval = 0.0  # seconds between heartbeats, as the coordinator says
        self.owned: Partitions = frozenset()
        self.reported: Partitions = frozenset()
        self.target: Partitions | None = None  # the coordinator's latest target for us
        self._pending = 0  # callbacks returned and not yet done
        self._reconciling = False  # a reconciliation's callbacks are among them
        self._full = True  # the next heartbeat sends every field
        self._sent_topics: tuple[str, ...] | None = None
        self._sent_pattern: str | None = None
        self._had_pattern = False  # a pattern was sent once: "" drops it
        self._sent_owned: Partitions | None = None
        self._in_flight: Heartbeat | None = None
        self._send_leave = True  # whether leaving ends with a leave heartbeat

    def __repr__(self) -> str:
        return (
            f"<ConsumerMember {self.group!r} {self.member_id} epoch {self.epoch} "
            f"{self.state.value} owns {len(self.owned)}>"
        )

    # -- what the driver reads ------------------------------------------------------------

    @property
    def membership(self) -> Membership | None:
        """The member's epoch and id, what offsets are committed with; None before it has
        an epoch."""
        if self.epoch <= 0:
            return None
        return Membership(self.group, self.epoch, self.member_id, self.instance_id)

    @property
    def urgent(self) -> bool:
        """Whether a heartbeat should go now rather than after ``interval``: joining,
        acknowledging a reconciliation, leaving (Java sends these at once)."""
        if self._in_flight is not None:
            return False
        if self.state in (ConsumerState.JOINING, ConsumerState.LEAVING):
            return True
        return self.epoch > 0 and self.reported != self._sent_owned

    @property
    def done(self) -> bool:
        """Whether the member has left or failed: nothing more to send."""
        return self.state in (ConsumerState.LEFT, ConsumerState.FAILED)

    @property
    def converged(self) -> bool:
        """Whether the member owns its whole target and the coordinator knows it."""
        return (
            self.state is ConsumerState.STABLE
            and self._pending == 0
            and (self.target is None or self.target == self.owned)
        )

    # -- heartbeats ----------------------------------------------------------------------------

    def start(self) -> None:
        """Join: the first heartbeat (epoch 0, every field) is due at once."""
        if self.state is ConsumerState.UNSUBSCRIBED:
            self.state = ConsumerState.JOINING
            self.epoch = 0
            self._full = True

    def heartbeat(self) -> Heartbeat | None:
        """The heartbeat to send now; None when there is nothing to send (not started, left,
        failed, or a heartbeat already in flight). A member revoking before it leaves still
        heartbeats, so that it keeps its membership for the commit."""
        state = self.state
        if self._in_flight is not None or state in (
            ConsumerState.UNSUBSCRIBED,
            ConsumerState.LEFT,
            ConsumerState.FAILED,
        ):
            return None
        if state is ConsumerState.LEAVING:
            epoch = LEAVE_EPOCH if self.leave_on_close else STATIC_LEAVE_EPOCH
            request = Heartbeat(self.member_id, epoch, self.instance_id, None, None, None, None)
            self._in_flight = request
            return request
        full = self._full or state is ConsumerState.JOINING
        owned = frozenset() if state is ConsumerState.JOINING else self.reported
        request = Heartbeat(
            self.member_id,
            self.epoch,
            self.instance_id,
            self.rebalance_timeout if full else None,
            self.topics if full or self.topics != self._sent_topics else None,
            self.server_assignor if full else None,
            _by_topic(owned) if full or owned != self._sent_owned else None,
            self._pattern_to_send(full),
        )
        self._full = False
        self._sent_topics = self.topics
        self._sent_pattern = self.pattern
        self._sent_owned = owned
        self._in_flight = request
        return request

    def _pattern_to_send(self, full: bool) -> str | None:
        """The pattern, when it is to be sent; ``""`` to drop the one sent before."""
        if self.pattern is not None:
            self._had_pattern = True
            return self.pattern if full or self.pattern != self._sent_pattern else None
        # A full heartbeat says it again: the one that dropped it may have been lost.
        dropped = self._had_pattern and (full or self._sent_pattern is not None)
        return "" if dropped else None

    def answered(self, request: Heartbeat, answer: HeartbeatAnswer) -> list[Action]:
        """The coordinator answered ``request``."""
        if request is not self._in_flight:
            return []
        self._in_flight = None
        if request.leaving:
            self.state = ConsumerState.LEFT
            return []
        if self.done:
            return []
        self.member_id = answer.member_id or self.member_id
        self.epoch = answer.member_epoch
        self.interval = answer.heartbeat_interval
        if answer.assignment is not None:
            self.target = frozenset(
                (topic, partition)
                for topic, partitions in answer.assignment.items()
                for partition in partitions
            )
        state = self.state
        if state in (ConsumerState.PREPARE_LEAVING, ConsumerState.LEAVING):
            return []  # leaving: a new target no longer matters
        if state is ConsumerState.JOINING:
            self.state = ConsumerState.STABLE
        elif (
            state is ConsumerState.ACKNOWLEDGING
            and request.owned is not None
            and self._sent_owned == self.reported
        ):
            self.state = ConsumerState.STABLE  # the acknowledgement got through
        return self._reconcile()

    def failed(self, request: Heartbeat, error: BaseException) -> list[Action]:
        """``request`` failed with ``error`` (a transient one: the driver backs off and the
        next heartbeat sends every field)."""
        if request is not self._in_flight:
            return []
        self._in_flight = None
        self._full = True
        if request.leaving:
            self.state = ConsumerState.LEFT  # best effort: the session timeout ends it
            return []
        if self.done:
            return []
        if isinstance(error, StaleMember):
            if self.state in (ConsumerState.PREPARE_LEAVING, ConsumerState.LEAVING):
                self._send_leave = False  # nothing left to leave
                if self.state is ConsumerState.LEAVING:
                    self.state = ConsumerState.LEFT
                return []
            return self._fenced()
        if isinstance(error, FencedInstanceId) or not is_transient(error):
            return self._fail(error)
        return []

    def _fenced(self) -> list[Action]:
        """The coordinator no longer knows this member at its epoch: what it owns is lost,
        and it joins again with epoch 0 and the same id (Java's transitionToFenced)."""
        lost = self.owned
        self.owned = frozenset()
        self.reported = frozenset()
        self.target = None
        self.epoch = 0
        self._reconciling = False
        self.state = ConsumerState.JOINING
        return self._callbacks([Lose(lost)] if lost else [])

    def _fail(self, error: BaseException) -> list[Action]:
        lost = self.owned
        self.owned = frozenset()
        self.state = ConsumerState.FAILED
        actions: list[Action] = [Lose(lost)] if lost else []
        return [*self._callbacks(actions), Fail(error)]

    # -- reconciling ---------------------------------------------------------------------------

    def _reconcile(self) -> list[Action]:
        """Start reconciling towards the target if one is waiting and none is under way."""
        target = self.target
        if self._reconciling or target is None:
            return []
        if target == self.owned:
            if self.state is ConsumerState.RECONCILING:
                self.state = ConsumerState.ACKNOWLEDGING
            return []
        revoked = self.owned - target
        added = target - self.owned
        self.owned = target
        self.state = ConsumerState.RECONCILING
        self._reconciling = True
        actions: list[Action] = [Revoke(revoked)] if revoked else []
        actions.append(Assign(added))  # called with nothing added too, as Java does
        return self._callbacks(actions)

    def _callbacks(self, actions: list[Action]) -> list[Action]:
        self._pending += sum(1 for a in actions if not isinstance(a, Fail))
        return actions

    def callbacks_done(self) -> list[Action]:
        """A Revoke, Lose or Assign the driver ran has finished."""
        if self._pending:
            self._pending -= 1
        if self._pending:
            return []
        if self.state is ConsumerState.PREPARE_LEAVING:
            self.state = ConsumerState.LEAVING if self._send_leave else ConsumerState.LEFT
            return []
        if not self._reconciling:
            return []
        self._reconciling = False
        self.reported = self.owned  # the next heartbeat acknowledges it
        self.state = ConsumerState.ACKNOWLEDGING
        return self._reconcile()  # the target may have moved on meanwhile

    # -- subscription and leaving --------------------------------------------------------------

    def subscribe(self, topics: Sequence[str], pattern: str | None = None) -> None:
        """Change the subscribed topics and pattern (None: none); the next heartbeat sends
        them."""
        self.topics = tuple(sorted(set(topics)))
        self.pattern = pattern

    def leave(self) -> list[Action]:
        """Close: revoke (committing) everything, then the leave heartbeat, unless this is a
        dynamic member told not to leave or one that never joined."""
        if self.state in (
            ConsumerState.PREPARE_LEAVING,
            ConsumerState.LEAVING,
            ConsumerState.LEFT,
            ConsumerState.FAILED,
        ):
            return []
        joined = self.epoch > 0 or self._in_flight is not None
        # A dynamic member told not to leave says nothing: its session timeout ends it.
        self._send_leave = joined and (self.instance_id is not None or self.leave_on_close)
        actions = self._release_all()
        if self._pending:
            self.state = ConsumerState.PREPARE_LEAVING
        else:
            self.state = ConsumerState.LEAVING if self._send_leave else ConsumerState.LEFT
        return actions

    def _release_all(self) -> list[Action]:
        owned = self.owned
        self.owned = frozenset()
        self._reconciling = False
        if not owned:
            return []
        return self._callbacks([Revoke(owned) if self.epoch > 0 else Lose(owned)])


def _by_topic(partitions: Partitions) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        out.setdefault(topic, []).append(partition)
    return {topic: tuple(parts) for topic, parts in out.items()}
