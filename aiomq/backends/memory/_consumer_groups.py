"""The in-process broker's coordinator for Kafka 4's consumer group protocol (KIP-848).

``ConsumerCoordinator`` answers ConsumerGroupHeartbeat as Kafka 4.1's ``GroupMetadataManager``
does: no join barrier; the coordinator computes each member's target assignment with its
server-side assignor (``_server_assignors``) and every member reconciles on its own, one
heartbeat at a time (``_reconcile``).

- A member joins with epoch 0 and the id it made. The group epoch moves on when a member
  joins, leaves, is removed or changes its subscription, and when a subscribed topic
  appears, disappears or grows; the next heartbeat then computes the target assignment of
  that epoch (the group is ``Assigning`` until it does).
- A member may subscribe by a regular expression (RE2J's, through ``_regex``), on its own
  or with topic names (the union). Kafka resolves a group's expressions asynchronously, at
  most every 10 s and only when a heartbeat comes; here every heartbeat resolves them against
  the broker's topics, so a topic created or deleted is seen at once: sooner than on Kafka,
  never in a different order.
- A member gives up partitions first, keeping its epoch, and reaches the target epoch once
  a heartbeat's ``owned`` shows it holds none of them; a partition goes to its new owner
  only once the previous owner has acknowledged giving it up (or left, or was removed).
- The answer carries the member's assignment (all of it) when it joined (epoch 0), sent
  every field (after an error, Java's "full request"), or its assignment changed.
- Epochs are checked as Kafka checks them; a static member (instance id) may leave for a
  moment (epoch -2: it keeps its partitions until its session ends) and be taken over by
  a new member id with the same instance id, which gets its epoch and assignment.
- A member without a heartbeat for ``consumer_session_timeout`` is removed, and so is one
  that does not acknowledge a revocation within its rebalance timeout.

Deadlines are checked against the clock whenever a group is touched (a heartbeat, a commit,
a listing): a member's expiry is seen by the next request that could see it, as on Kafka,
and there is no timer or task to clean up. A group id is either a classic group (``_coordinator``)
or a consumer group: a heartbeat to a classic group with members, or a JoinGroup to a
consumer group with members, is a ``GroupError`` (Kafka 4.1 would convert the group
online; this coordinator does not).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ...config import SERVER_ASSIGNORS as ASSIGNOR_NAMES
from ...errors import ConfigError, FencedInstanceId, GroupError, GroupNotEmpty, StaleMember
from ..base import Membership, TopicPartition, check_consumer_heartbeat
from ..group import GroupDescription, GroupListing, HeartbeatAnswer, MemberDescription
from ._coordinator import Coordinator
from ._reconcile import UNREVOKED, Progress, reconcile
from ._regex import compile_topic_regex
from ._server_assignors import SERVER_ASSIGNORS, MemberSpec

__all__ = [
    "DEFAULT_CONSUMER_HEARTBEAT_INTERVAL",
    "DEFAULT_CONSUMER_SESSION_TIMEOUT",
    "ConsumerCoordinator",
]

DEFAULT_CONSUMER_SESSION_TIMEOUT = 45.0
"""Kafka's ``group.consumer.session.timeout.ms`` default, in seconds."""

DEFAULT_CONSUMER_HEARTBEAT_INTERVAL = 0.5
"""The heartbeat interval the in-process coordinator asks for, in seconds. Kafka's
``group.consumer.heartbeat.interval.ms`` is 5 s, to spare the broker and the network; a
member learns of a rebalance only from its next heartbeat, and in process a heartbeat
costs nothing, so rebalances here take a second, not ten."""

LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2

EMPTY, ASSIGNING, RECONCILING, STABLE = "Empty", "Assigning", "Reconciling", "Stable"


@dataclass(eq=False)
class _Member:
    member_id: str
    instance_id: str | None
    client_id: str
    rebalance_timeout: float
    session_deadline: float
    subscribed: frozenset[str] = frozenset()
    pattern: str | None = None  # its regular expression, if it subscribed by one
    assignor: str | None = None  # the one it asked for, if any
    progress: Progress = field(default_factory=Progress)
    # While it must give partitions up: when it is removed unless it has acknowledged.
    rebalance_deadline: float | None = None


@dataclass(eq=False)
class _Group:
    name: str
    epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, _Member] = field(default_factory=dict)
    static: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    targets: dict[str, frozenset[TopicPartition]] = field(default_factory=dict)
    # Partition counts of the subscribed topics that exist (Kafka's subscription metadata).
    topics: dict[str, int] = field(default_factory=dict)
    # Who holds each partition, assigned or still revoking (Kafka's partition epochs).
    # Invariant: owners[tp] == m for every tp in m.progress.assigned | m.progress.revoking.
    owners: dict[TopicPartition, str] = field(default_factory=dict)


class ConsumerCoordinator:
    """The consumer-protocol coordinator of one ``MemoryBroker``; see the module docstring.

    Settings, plain attributes like the broker's: ``consumer_session_timeout`` (45 s,
    Kafka's ``group.consumer.session.timeout.ms``), ``consumer_heartbeat_interval`` (0.5 s;
    Kafka's ``group.consumer.heartbeat.interval.ms`` is 5 s: see
    ``DEFAULT_CONSUMER_HEARTBEAT_INTERVAL``) and ``consumer_protocol`` (True; False makes
    the broker one without the protocol, as a Kafka broker before 4.0 without API 68:
    ``supports_consumer_protocol()`` answers False and a heartbeat is a
    ``ConfigError("group.protocol")``). ``classic`` is the broker's classic coordinator
    (a group id is one or the other); ``partition_count`` gives a topic's partition count,
    None when it does not exist; ``topic_names`` the names of the topics there are (for
    regular expressions; none without it); ``clock`` defaults to the running loop's.
    """

    def __init__(
        self,
        classic: Coordinator,
        partition_count: Callable[[str], int | None],
        clock: Callable[[], float] | None = None,
        topic_names: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._classic = classic
        self._partition_count = partition_count
        self._topic_names = topic_names
        self._clock = clock
        self._groups: dict[str, _Group] = {}
        self.consumer_session_timeout = DEFAULT_CONSUMER_SESSION_TIMEOUT
        self.consumer_heartbeat_interval = DEFAULT_CONSUMER_HEARTBEAT_INTERVAL
        self.consumer_protocol = True

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # -- the heartbeat ---------------------------------------------------------------------

    def heartbeat(
        self,
        group: str,
        *,
        member_id: str,
        member_epoch: int,
        instance_id: str | None = None,
        rebalance_timeout: float | None = None,
        subscribed_topics: Sequence[str] | None = None,
        server_assignor: str | None = None,
        owned: Mapping[str, Sequence[int]] | None = None,
        subscribed_topic_regex: str | None = None,
        client_id: str = "aiomq",
    ) -> HeartbeatAnswer:
        """Kafka's ConsumerGroupHeartbeat; see ``ConsumerGroupCoordinator``."""
        topics, holding = check_consumer_heartbeat(
            member_id,
            member_epoch,
            instance_id,
            rebalance_timeout,
            subscribed_topics,
            server_assignor,
            owned,
            subscribed_topic_regex,
        )
        if not self.consumer_protocol:
            raise ConfigError(
                "group.protocol",
                "the broker does not speak the consumer group protocol (KIP-848; its "
                "consumer_protocol setting is off): use the classic protocol",
            )
        _check_request(
            member_epoch, instance_id, rebalance_timeout, topics, subscribed_topic_regex, holding
        )
        if subscribed_topic_regex:
            compile_topic_regex(subscribed_topic_regex)  # INVALID_REGULAR_EXPRESSION
        if server_assignor is not None and server_assignor not in SERVER_ASSIGNORS:
            raise ConfigError(
                "group.remote_assignor",
                f"the coordinator has no assignor {server_assignor!r}; supported assignors: "
                + ", ".join(ASSIGNOR_NAMES),
            )
        now = self._now()
        g = self._groups.get(group)
        if g is not None:
            self._expire(g, now)
        if member_epoch < 0:
            return self._leave(group, g, member_id, member_epoch, instance_id)
        if g is None:
            if member_epoch != 0:
                raise GroupError(f"group {group!r} is not a consumer group the coordinator knows")
            self._take_from_classic(group)
            g = self._groups[group] = _Group(group)
        owned_now = None
        if holding is not None:
            owned_now = frozenset((t, p) for t, parts in holding.items() for p in parts)
        member = self._find(g, member_id, member_epoch, instance_id, owned_now, now, client_id)
        before = member.progress

        subscribed, pattern = member.subscribed, member.pattern
        member.client_id = client_id
        if instance_id is not None:
            member.instance_id = instance_id
            g.static[instance_id] = member.member_id
        if rebalance_timeout is not None:
            member.rebalance_timeout = rebalance_timeout
        if server_assignor is not None:
            member.assignor = server_assignor
        if topics is not None:
            member.subscribed = frozenset(topics)
        if subscribed_topic_regex is not None:
            member.pattern = subscribed_topic_regex or None  # "" drops it
        g.members[member.member_id] = member

        bump = g.epoch == 0 or member.subscribed != subscribed or member.pattern != pattern
        metadata = self._metadata(g)
        if metadata != g.topics:
            g.topics = metadata
            bump = True
        if bump:
            g.epoch += 1
        if g.epoch > g.assignment_epoch:
            self._assign(g)
        if not before.reconciled_to(g.assignment_epoch):
            mine = member.member_id
            after = reconcile(
                before,
                g.assignment_epoch,
                g.targets.get(mine, frozenset()),
                owned_now,
                lambda tp: g.owners.get(tp, mine) != mine,
            )
            if after != before:
                self._progress(g, member, after, now)
        member.session_deadline = now + self.consumer_session_timeout

        full = rebalance_timeout is not None and topics is not None and holding is not None
        assignment = None
        if member_epoch == 0 or full or member.progress.assigned != before.assigned:
            assignment = _by_topic(member.progress.assigned)
        return HeartbeatAnswer(
            member.member_id,
            member.progress.epoch,
            self.consumer_heartbeat_interval,
            assignment,
        )

    def _find(
        self,
        g: _Group,
        member_id: str,
        epoch: int,
        instance_id: str | None,
        owned: frozenset[TopicPartition] | None,
        now: float,
        client_id: str,
    ) -> _Member:
        """The member the heartbeat is from (new on a join), its epoch checked."""
        if instance_id is None:
            member = g.members.get(member_id)
            if member is None:
                if epoch != 0:
                    raise _unknown(g, member_id)
                return self._new_member(member_id, None, client_id, now)
            _check_epoch(g, member, epoch, owned)
            return member
        static = g.members.get(g.static.get(instance_id, ""))
        if epoch == 0:
            if static is None:
                return g.members.get(member_id) or self._new_member(
                    member_id, instance_id, client_id, now
                )
            if static.progress.epoch != STATIC_LEAVE_EPOCH:
                raise FencedInstanceId(
                    f"group {g.name!r}: instance {instance_id!r} is still held by member "
                    f"{static.member_id!r}, which has not left (UNRELEASED_INSTANCE_ID)"
                )
            return self._take_over(g, static, member_id)
        if static is None:
            raise StaleMember(
                f"group {g.name!r} has no member with instance id {instance_id!r}",
                "UNKNOWN_MEMBER_ID",
            )
        if static.member_id != member_id:
            raise FencedInstanceId(
                f"group {g.name!r}: instance {instance_id!r} was taken over by member "
                f"{static.member_id!r} (FENCED_INSTANCE_ID)"
            )
        _check_epoch(g, static, epoch, owned)
        return static

    def _new_member(
        self, member_id: str, instance_id: str | None, client_id: str, now: float
    ) -> _Member:
        # The request's rebalance timeout (required on a join) replaces this at once.
        return _Member(member_id, instance_id, client_id, 0.0, now)

    def _take_over(self, g: _Group, old: _Member, member_id: str) -> _Member:
        """A static member back under a new id: it takes the old one's place, assignment
        and target, at epoch 0 (Kafka's ``replaceMember``)."""
        new = replace(
            old,
            member_id=member_id,
            progress=replace(old.progress, epoch=0, previous_epoch=0),
            rebalance_deadline=None,
        )
        del g.members[old.member_id]
        g.members[member_id] = new
        target = g.targets.pop(old.member_id, None)
        if target is not None:
            g.targets[member_id] = target
        for tp in new.progress.assigned | new.progress.revoking:
            g.owners[tp] = member_id
        return new

    def _leave(
        self, group: str, g: _Group | None, member_id: str, epoch: int, instance_id: str | None
    ) -> HeartbeatAnswer:
        if g is None:
            raise GroupError(f"group {group!r} is not a consumer group the coordinator knows")
        if instance_id is None:
            member = g.members.get(member_id)
            if member is None:
                raise _unknown(g, member_id)
            self._remove(g, member)
        else:
            static = g.members.get(g.static.get(instance_id, ""))
            if static is None:
                raise StaleMember(
                    f"group {group!r} has no member with instance id {instance_id!r}",
                    "UNKNOWN_MEMBER_ID",
                )
            if static.member_id != member_id:
                raise FencedInstanceId(
                    f"group {group!r}: instance {instance_id!r} was taken over by member "
                    f"{static.member_id!r} (FENCED_INSTANCE_ID)"
                )
            if epoch == STATIC_LEAVE_EPOCH:
                # Gone for a moment: it keeps its assignment (not what it was revoking)
                # until its session ends or a member with its instance id takes over.
                for tp in static.progress.revoking:
                    g.owners.pop(tp, None)
                static.progress = replace(
                    static.progress, epoch=STATIC_LEAVE_EPOCH, revoking=frozenset()
                )
                static.rebalance_deadline = None
            else:
                self._remove(g, static)
        return HeartbeatAnswer(member_id, epoch, 0.0)

    # -- assignment ------------------------------------------------------------------------

    def _subscription(self, member: _Member) -> frozenset[str]:
        """The topics ``member`` subscribes to: its names, and those its regular expression
        matches whole (RE2J's ``matches()``) among the topics there are."""
        if member.pattern is None or self._topic_names is None:
            return member.subscribed
        regex = compile_topic_regex(member.pattern)
        matched = (t for t in self._topic_names() if regex.fullmatch(t) is not None)
        return member.subscribed.union(matched)

    def _metadata(self, g: _Group) -> dict[str, int]:
        wanted = {t for m in g.members.values() for t in self._subscription(m)}
        counts = {t: self._partition_count(t) for t in sorted(wanted)}
        return {t: n for t, n in counts.items() if n is not None}

    def _assign(self, g: _Group) -> None:
        """The target assignment of the group's epoch, by the assignor members ask for."""
        specs = {
            member_id: MemberSpec(
                self._subscription(m), g.targets.get(member_id, frozenset()), m.instance_id
            )
            for member_id, m in g.members.items()
        }
        g.targets = SERVER_ASSIGNORS[_assignor(g)](specs, g.topics)
        g.assignment_epoch = g.epoch

    def _progress(self, g: _Group, member: _Member, after: Progress, now: float) -> None:
        mine = member.member_id
        before = member.progress
        for tp in before.assigned | before.revoking:
            if g.owners.get(tp) == mine:
                del g.owners[tp]
        for tp in after.assigned | after.revoking:
            g.owners[tp] = mine
        member.progress = after
        # Kafka's rebalance timeout: started when the member is told to revoke, dropped
        # once it has nothing left to revoke.
        member.rebalance_deadline = (
            now + member.rebalance_timeout if after.state == UNREVOKED else None
        )

    # -- expiry and removal ----------------------------------------------------------------

    def _expire(self, g: _Group, now: float) -> None:
        """Remove the members whose session ended, or that did not acknowledge a revocation
        within their rebalance timeout, in the order their deadlines passed."""
        due = []
        for m in g.members.values():
            deadline = m.session_deadline
            if m.rebalance_deadline is not None:
                deadline = min(deadline, m.rebalance_deadline)
            if deadline <= now:
                due.append((deadline, m))
        for _, m in sorted(due, key=lambda d: d[0]):
            self._remove(g, m)

    def _remove(self, g: _Group, m: _Member) -> None:
        """Drop a member: its partitions are free at once, and the group epoch moves on."""
        del g.members[m.member_id]
        if m.instance_id is not None and g.static.get(m.instance_id) == m.member_id:
            del g.static[m.instance_id]
        g.targets.pop(m.member_id, None)
        for tp in m.progress.assigned | m.progress.revoking:
            if g.owners.get(tp) == m.member_id:
                del g.owners[tp]
        g.epoch += 1
        g.topics = self._metadata(g)

    # -- the rest of the group capability --------------------------------------------------

    def known(self, group: str) -> bool:
        """Whether ``group`` is a consumer group (with members or not)."""
        return group in self._groups

    def _take_from_classic(self, group: str) -> None:
        """Make ``group`` a consumer group: an empty classic group of that id is dropped
        (its offsets stay), one with members refuses (Kafka would convert it online)."""
        if self._classic.known(group):
            try:
                self._classic.delete_group(group)
            except GroupNotEmpty:
                raise GroupError(
                    f"group {group!r} is a classic group with members: a consumer-protocol "
                    "member cannot join it until they have left"
                ) from None

    def release(self, group: str) -> None:
        """Before a classic JoinGroup: an empty consumer group of that id is dropped (its
        offsets stay); one with members is a ``GroupError``."""
        g = self._groups.get(group)
        if g is None:
            return
        self._expire(g, self._now())
        if g.members:
            raise GroupError(
                f"group {group!r} is a consumer group (KIP-848) with members: a classic member "
                "cannot join it until they have left"
            )
        del self._groups[group]

    def check_commit(self, group: str, membership: Membership | None) -> None:
        """Refuse a commit to a consumer group whose membership is not current: a plain
        one (no membership, or a negative generation) while the group has members, an
        unknown member (``StaleMember`` ``UNKNOWN_MEMBER_ID``), an epoch that is not the
        member's (``STALE_MEMBER_EPOCH``, higher or lower)."""
        g = self._groups[group]
        self._expire(g, self._now())
        epoch, member_id = (-1, "")
        if membership is not None:
            epoch, member_id = membership.generation, membership.member_id
        if epoch < 0 and not g.members:
            return  # the admin's commits, or a consumer's outside group management
        member = g.members.get(member_id)
        if member is None:
            raise _unknown(g, member_id)
        if epoch != member.progress.epoch:
            raise StaleMember(
                f"group {group!r}: epoch {epoch} is not member {member_id!r}'s current one "
                f"({member.progress.epoch})",
                "STALE_MEMBER_EPOCH",
            )

    def list_groups(self) -> list[GroupListing]:
        now = self._now()
        out = []
        for g in self._groups.values():
            self._expire(g, now)
            out.append(GroupListing(g.name, _state(g), "consumer", "consumer"))
        return out

    def describe_group(self, group: str) -> GroupDescription | None:
        """The consumer group's description (Kafka's ConsumerGroupDescribe); None when
        ``group`` is not a consumer group."""
        g = self._groups.get(group)
        if g is None:
            return None
        self._expire(g, self._now())
        members = tuple(
            MemberDescription(
                m.member_id,
                m.instance_id,
                m.client_id,
                "/127.0.0.1",
                member_type="consumer",
                member_epoch=m.progress.epoch,
                subscribed_topics=tuple(sorted(m.subscribed)),
                assigned=m.progress.assigned,
                target=g.targets.get(m.member_id, frozenset()),
                subscribed_pattern=m.pattern,
            )
            for m in g.members.values()
        )
        return GroupDescription(
            group,
            _state(g),
            "consumer",
            _assignor(g),
            members,
            group_type="consumer",
            group_epoch=g.epoch,
            assignment_epoch=g.assignment_epoch,
        )

    def delete_group(self, group: str) -> None:
        """Delete an empty consumer group; ``GroupNotEmpty`` while it has members."""
        g = self._groups.get(group)
        if g is not None:
            self._expire(g, self._now())
            if g.members:
                raise GroupNotEmpty(f"group {group!r} still has members")
            del self._groups[group]


def _check_request(
    epoch: int,
    instance_id: str | None,
    rebalance_timeout: float | None,
    topics: tuple[str, ...] | None,
    regex: str | None,
    owned: Mapping[str, tuple[int, ...]] | None,
) -> None:
    """What Kafka answers INVALID_REQUEST for (its messages)."""
    if epoch == 0:
        if rebalance_timeout is None:
            raise GroupError("RebalanceTimeoutMs must be provided in first request.")
        if owned is None or any(owned.values()):
            raise GroupError("TopicPartitions must be empty when (re-)joining.")
        if topics is None and regex is None:
            raise GroupError(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when "
                "(re-)joining."
            )
    elif epoch == STATIC_LEAVE_EPOCH and instance_id is None:
        raise GroupError("InstanceId can't be null.")


def _check_epoch(
    g: _Group, member: _Member, epoch: int, owned: frozenset[TopicPartition] | None
) -> None:
    """Kafka's epoch check: an epoch ahead of the member's is fenced; one behind it only
    passes as the previous epoch of a member owning no more than it is assigned (its last
    answer was lost)."""
    current = member.progress
    if epoch > current.epoch or (
        epoch < current.epoch
        and (epoch != current.previous_epoch or owned is None or not owned <= current.assigned)
    ):
        raise StaleMember(
            f"group {g.name!r}: member {member.member_id!r} sent epoch {epoch}, the "
            f"coordinator's is {current.epoch}: its partitions are lost, it must rejoin",
            "FENCED_MEMBER_EPOCH",
        )


def _unknown(g: _Group, member_id: str) -> StaleMember:
    return StaleMember(f"group {g.name!r} has no member {member_id!r}", "UNKNOWN_MEMBER_ID")


def _assignor(g: _Group) -> str:
    """The assignor most members ask for; the default (Kafka's first) when none asks."""
    asked = Counter(m.assignor for m in g.members.values() if m.assignor is not None)
    return max(SERVER_ASSIGNORS, key=lambda name: asked[name])


def _state(g: _Group) -> str:
    if not g.members:
        return EMPTY
    if g.epoch > g.assignment_epoch:
        return ASSIGNING
    if all(m.progress.reconciled_to(g.assignment_epoch) for m in g.members.values()):
        return STABLE
    return RECONCILING


def _by_topic(partitions: frozenset[TopicPartition]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        out.setdefault(topic, []).append(partition)
    return {topic: tuple(parts) for topic, parts in out.items()}
