"""A member of a consumer group under Kafka's classic protocol, as a state machine.

``ClassicMember`` does no I/O. Each event (a response, a failure, a callback finished) is a
method call that changes state at once and returns the ``Action``s to perform next; the task
that drives it (``aiomq.group._member``) performs them and reports back. So every rebalance
path, error included, is testable without a broker, and the same machine runs on Kafka and on
``memory://`` (both backends implement ``GroupCoordinator``).

The protocol, as Kafka's Java consumer runs it (AbstractCoordinator, ConsumerCoordinator):

- join: JoinGroup (``MemberIdRequired`` hands a dynamic member its id: join again with it);
  the leader reads every member's subscription, asks for the partition counts of the
  subscribed topics, runs the assignor; SyncGroup hands each member its partitions.
- cooperative (KIP-429, the default): a member keeps what it still owns across a rebalance
  and its subscription says so; the leader withholds partitions that change owner, the member
  that loses some revokes them (committing their offsets first) and rejoins at once, and the
  next round gives them to their new owner. Nothing is revoked that does not move.
- eager (range, round-robin): every owned partition is revoked before each join.
- heartbeats keep the member in; ``RebalanceInProgress`` on one means rejoin (keeping the
  partitions, under cooperative); ``StaleMember`` means the group moved on without this
  member: its partitions are lost (not committed: another member may own them) and it joins
  afresh; ``FencedInstanceId`` means another process took this static member's place: stop.
- leave: revoke everything (committing), then LeaveGroup, except for a static member, which
  by default keeps its place for a restart within the session timeout (KIP-345).

Errors reported for a generation the member no longer holds are ignored, as Java does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..backends.consumer_protocol import (
    Assignment,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from ..backends.group import JoinResult, Membership
from ..errors import (
    BrokerUnavailable,
    ConfigError,
    DecodeError,
    FencedInstanceId,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    StaleMember,
)
from ._actions import Assign, Fail, Lose, Partitions, Revoke
from .assignors import Assignor

__all__ = [
    "Action",
    "Assign",
    "ClassicMember",
    "Fail",
    "Join",
    "Leave",
    "Lose",
    "Metadata",
    "Partitions",
    "Revoke",
    "State",
    "Sync",
]

PROTOCOL_TYPE = "consumer"


class State(enum.Enum):
    """Where the member is. ``STABLE`` is the only state in which it heartbeats alone."""

    UNJOINED = "unjoined"  # nothing in flight; the next action is a join
    JOINING = "joining"  # JoinGroup in flight
    ASSIGNING = "assigning"  # the leader waits for partition counts
    SYNCING = "syncing"  # SyncGroup in flight
    RECONCILING = "reconciling"  # revoke / assign callbacks in flight
    STABLE = "stable"
    LEAVING = "leaving"
    LEFT = "left"
    FAILED = "failed"


# -- actions: what the driver performs, in the order returned ------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """Send JoinGroup with these arguments; report ``joined`` or ``join_failed``."""

    member_id: str
    instance_id: str | None
    protocols: tuple[tuple[str, bytes], ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Metadata:
    """Find the partition counts of ``topics`` (the leader's assignment needs them); report
    ``metadata``."""

    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sync:
    """Send SyncGroup; report ``synced`` or ``sync_failed``."""

    generation: int
    member_id: str
    instance_id: str | None
    protocol: str
    assignments: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Leave:
    """Send LeaveGroup (best effort); report ``left``."""

    member_id: str
    instance_id: str | None


Action = Join | Metadata | Sync | Revoke | Lose | Assign | Leave | Fail


class ClassicMember:
    """One member's view of the classic protocol; see the module docstring.

    ``membership`` is what offsets are committed with while the member owns partitions.
    ``owned`` is what it consumes now. Transitions return actions; the driver performs them in
    order, one at a time, and reports each outcome through the matching method.
    """

    def __init__(
        self,
        group: str,
        topics: Sequence[str],
        assignors: Sequence[Assignor],
        *,
        instance_id: str | None = None,
        leave_on_close: bool | None = None,
    ) -> None:
        if not assignors:
            raise ConfigError("group.rebalance_strategy", "at least one assignor is needed")
        self.group = group
        self.topics = tuple(sorted(set(topics)))
        self.assignors = tuple(assignors)
        # Cooperative only when every assignor offered is: the group may pick any of them,
        # and an eager one can hand an owned partition straight to another member.
        self.cooperative = all(a.cooperative for a in self.assignors)
        self.instance_id = instance_id
        self.leave_on_close = instance_id is None if leave_on_close is None else leave_on_close
        self.state = State.UNJOINED
        self.member_id = ""
        self.generation = -1
        self.protocol = ""
        self.owned: Partitions = frozenset()
        self.rejoin_reason: str | None = "initial join"
        self._pending: list[Action] = []  # callbacks still to run in this reconciliation
        self._join_result: JoinResult | None = None

    def __repr__(self) -> str:
        return (
            f"<ClassicMember {self.group!r} {self.member_id or '-'} gen {self.generation} "
            f"{self.state.value} owns {len(self.owned)}>"
        )

    # -- what the driver reads ------------------------------------------------------------

    @property
    def membership(self) -> Membership | None:
        """The generation offsets are committed with; None while the member has none."""
        if self.generation < 0 or not self.member_id:
            return None
        return Membership(self.group, self.generation, self.member_id, self.instance_id)

    @property
    def heartbeating(self) -> bool:
        """Whether heartbeats should be sent now: the member holds a generation and is not
        waiting in a JoinGroup (which would queue them behind it)."""
        return self.generation >= 0 and self.state in (
            State.SYNCING,
            State.ASSIGNING,
            State.RECONCILING,
            State.STABLE,
        )

    # -- joining ----------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin: the first join."""
        return self._join()

    def rejoin(self, reason: str) -> list[Action]:
        """Join again (a subscription change, or asked to by the group). While callbacks run
        the rejoin waits for them; while a join is in flight it is already under way."""
        if self.state in (State.LEAVING, State.LEFT, State.FAILED):
            return []
        self.rejoin_reason = self.rejoin_reason or reason
        if self.state is State.STABLE:
            return self._join()
        return []

    def _join(self) -> list[Action]:
        reason = self.rejoin_reason or "rejoin"
        self.rejoin_reason = None
        actions: list[Action] = []
        if not self.cooperative and self.owned:
            # Eager: everything goes back before the join (Java's onJoinPrepare).
            actions.append(Revoke(self.owned))
            self.owned = frozenset()
        self.state = State.JOINING
        actions.append(Join(self.member_id, self.instance_id, self._protocols(), reason))
        return actions

    def _protocols(self) -> tuple[tuple[str, bytes], ...]:
        owned = tuple(sorted(self.owned)) if self.cooperative else ()
        return tuple(
            (
                assignor.name,
                encode_subscription(
                    Subscription(
                        self.topics,
                        assignor.subscription_user_data(self.generation),
                        owned,
                        self.generation,
                    )
                ),
            )
            for assignor in self.assignors
        )

    def joined(self, result: JoinResult) -> list[Action]:
        """JoinGroup answered: sync (the leader first learns the partition counts)."""
        if self.state is not State.JOINING:
            return []
        self.member_id = result.member_id
        self.generation = result.generation
        self.protocol = result.protocol
        self._join_result = result
        if result.is_leader and not result.skip_assignment:
            try:
                subscriptions = {
                    m.member_id: decode_subscription(m.metadata) for m in result.members
                }
            except DecodeError as exc:
                return self._fail(exc)
            topics = sorted({t for s in subscriptions.values() for t in s.topics})
            self.state = State.ASSIGNING
            return [Metadata(tuple(topics))]
        return [self._sync({})]

    def metadata(self, partitions: Mapping[str, int]) -> list[Action]:
        """The leader's partition counts arrived: assign, then sync."""
        result = self._join_result
        if self.state is not State.ASSIGNING or result is None:
            return []
        assignor = next((a for a in self.assignors if a.name == result.protocol), None)
        if assignor is None:
            return self._fail(
                InconsistentGroupProtocol(
                    f"the group chose assignor {result.protocol!r}, which this member did not offer"
                )
            )
        # Java's range and round-robin order static members by their instance id.
        subscriptions = {
            m.member_id: replace(decode_subscription(m.metadata), group_instance_id=m.instance_id)
            for m in result.members
        }
        plan = assignor.assign(partitions, subscriptions)
        encoded = {
            member: encode_assignment(Assignment(tuple(plan.get(member, ()))))
            for member in subscriptions  # every member gets one, empty included: Java needs it
        }
        return [self._sync(encoded)]

    def _sync(self, assignments: Mapping[str, bytes]) -> Sync:
        self.state = State.SYNCING
        return Sync(self.generation, self.member_id, self.instance_id, self.protocol, assignments)

    def synced(self, data: bytes) -> list[Action]:
        """SyncGroup answered with this member's assignment: reconcile."""
        if self.state is not State.SYNCING:
            return []
        # A static leader back without a rebalance (skip_assignment) sent no assignment:
        # the answer is the one the group holds for it, as for any member (Java's
        # onJoinComplete reads it the same way).
        try:
            target = frozenset(decode_assignment(data).partitions)
        except DecodeError as exc:
            return self._fail(exc)
        revoked = self.owned - target
        added = target - self.owned
        actions: list[Action] = []
        if revoked:
            actions.append(Revoke(revoked))
            # The partitions go to their new owner in the next round: rejoin at once.
            self.rejoin_reason = self.rejoin_reason or "need to revoke partitions and re-join"
        actions.append(Assign(added))  # called with nothing added too, as Java does
        self.owned = target
        self.state = State.RECONCILING
        self._pending = list(actions)
        return actions

    def callbacks_done(self) -> list[Action]:
        """A Revoke, Lose or Assign the driver ran has finished."""
        if self._pending:
            self._pending.pop(0)
        if self._pending or self.state is not State.RECONCILING:
            return []
        self.state = State.STABLE
        if self.rejoin_reason is not None:
            return self._join()
        return []

    # -- failures ---------------------------------------------------------------------------

    def join_failed(self, error: BaseException) -> list[Action]:
        """JoinGroup failed with ``error``."""
        if self.state is not State.JOINING:
            return []
        if isinstance(error, MemberIdRequired):
            self.member_id = error.member_id
            self.rejoin_reason = "rejoin with the member id the coordinator gave"
            return self._join()
        if isinstance(error, StaleMember):  # the coordinator forgot us: start afresh
            return self._reset(error, keep_member_id=False) + self._join()
        if isinstance(error, RebalanceInProgress | BrokerUnavailable):
            self.rejoin_reason = self.rejoin_reason or f"retry after {type(error).__name__}"
            self.state = State.UNJOINED  # the driver backs off, then calls retry()
            return []
        return self._fail(error)

    def retry(self) -> list[Action]:
        """Join again after a transient failure (the driver waited its backoff first)."""
        if self.state is not State.UNJOINED:
            return []
        return self._join()

    def sync_failed(self, error: BaseException) -> list[Action]:
        """SyncGroup failed with ``error``."""
        if self.state is not State.SYNCING:
            return []
        if isinstance(error, RebalanceInProgress):
            self.rejoin_reason = "rebalance in progress"
            return self._join()
        if isinstance(error, StaleMember):
            keep = error.reason == "ILLEGAL_GENERATION"
            return self._reset(error, keep_member_id=keep) + self._join()
        if isinstance(error, BrokerUnavailable):
            self.rejoin_reason = f"retry after {type(error).__name__}"
            self.state = State.UNJOINED
            return []
        return self._fail(error)

    def heartbeat_failed(self, generation: int, error: BaseException) -> list[Action]:
        """A heartbeat sent for ``generation`` failed with ``error``."""
        if generation != self.generation or self.state in (State.LEFT, State.FAILED):
            return []  # about a generation we no longer hold: ignore it, as Java does
        if isinstance(error, RebalanceInProgress):
            return self.rejoin("the group is rebalancing")
        if isinstance(error, StaleMember):
            keep = error.reason == "ILLEGAL_GENERATION"
            if self.state in (State.STABLE, State.UNJOINED):
                return self._reset(error, keep_member_id=keep) + self._join()
            # A join, sync or callback is under way: it fails on its own or completes, and
            # the generation it brings supersedes this one.
            self.rejoin_reason = self.rejoin_reason or "the group moved on"
            return []
        if isinstance(error, FencedInstanceId):
            return self._fail(error)
        return []  # transient (the coordinator moved): the next heartbeat tries again

    def session_expired(self) -> list[Action]:
        """No heartbeat got through for a whole session timeout: the coordinator has removed
        this member, and its partitions are someone else's by now."""
        if self.state in (State.LEFT, State.FAILED, State.LEAVING) or self.generation < 0:
            return []
        error = StaleMember("no heartbeat got through for a session timeout", "SESSION_EXPIRED")
        actions = self._reset(error, keep_member_id=False)
        if self.state is State.STABLE:
            return actions + self._join()
        self.rejoin_reason = "session expired"
        return actions

    def _reset(self, error: BaseException, *, keep_member_id: bool) -> list[Action]:
        """Forget the generation; what the member owned is lost, not revoked."""
        self.generation = -1
        if not keep_member_id:
            self.member_id = ""
        lost = self.owned
        self.owned = frozenset()
        self.rejoin_reason = self.rejoin_reason or f"the group moved on ({error})"
        return [Lose(lost)] if lost else []

    def _fail(self, error: BaseException) -> list[Action]:
        self.state = State.FAILED
        actions: list[Action] = []
        if self.owned:
            actions.append(Lose(self.owned))
            self.owned = frozenset()
        actions.append(Fail(error))
        return actions

    # -- leaving ----------------------------------------------------------------------------

    def leave(self) -> list[Action]:
        """Close: revoke (and commit) everything, then leave the group unless this is a
        static member that keeps its place (``leave_on_close``)."""
        if self.state in (State.LEAVING, State.LEFT, State.FAILED):
            return []
        actions: list[Action] = []
        if self.owned:
            holding = self.generation >= 0
            actions.append(Revoke(self.owned) if holding else Lose(self.owned))
            self.owned = frozenset()
        self.state = State.LEAVING
        if self.member_id and self.leave_on_close:
            actions.append(Leave(self.member_id, self.instance_id))
        return actions

    def left(self) -> None:
        """Closing is complete."""
        self.state = State.LEFT
        self.generation = -1
