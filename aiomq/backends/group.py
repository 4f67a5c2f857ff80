"""The group capability of a backend: coordinator operations consumer groups are built on.

Both backends implement ``GroupCoordinator`` (Kafka speaks the classic group protocol to the
group's coordinator broker; ``memory://`` has a coordinator of its own with the same rules),
so the membership state machine in ``aiomq.group`` is written once. The operations are
Kafka's JoinGroup, SyncGroup, Heartbeat and LeaveGroup, with the member's metadata and
assignments as opaque bytes (``aiomq.backends.consumer_protocol`` encodes what consumers put
in them), plus the group administration the admin needs.

Errors are aiomq's, raised as exceptions: ``MemberIdRequired`` (repeat the join with the id
it carries), ``RebalanceInProgress`` (rejoin), ``StaleMember`` (the generation moved on or the
member is unknown: its partitions are lost, rejoin), ``FencedInstanceId`` (another member
took this static member's place: stop), ``InconsistentGroupProtocol`` and ``ConfigError``
(a setting to fix). A coordinator that moves or is still loading is retried inside the
backend, within ``net.request_timeout``; past it, ``BrokerUnavailable``.

The Go counterpart is sarama's ``ConsumerGroup`` internals (``JoinGroupRequest`` and friends
sent through ``Broker``); sarama has no in-process coordinator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .base import CommittedOffset, Membership, TopicPartition

__all__ = [
    "ConsumerGroupCoordinator",
    "GroupCoordinator",
    "GroupDescription",
    "GroupListing",
    "GroupMember",
    "HeartbeatAnswer",
    "JoinResult",
    "Membership",
    "MemberDescription",
]


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One member as JoinGroup reports it to the leader: id, static id, protocol metadata."""

    member_id: str
    instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A completed join: the generation, the chosen protocol (the assignor's name), the
    leader, this member's id and, for the leader only, every member's metadata.

    ``skip_assignment``: the leader is a static member that came back without a rebalance;
    it must not assign: it sends an empty SyncGroup, which answers with the assignment the
    group holds for it.
    """

    generation: int
    protocol: str
    leader: str
    member_id: str
    members: tuple[GroupMember, ...] = ()
    skip_assignment: bool = False

    @property
    def is_leader(self) -> bool:
        """Whether this member leads the generation (and so computes the assignment)."""
        return self.leader == self.member_id


@dataclass(frozen=True, slots=True)
class GroupListing:
    """A group as ListGroups reports it: id, state, protocol type (``consumer``) and, on
    Kafka 4, its type (``classic`` or ``consumer``)."""

    group: str
    state: str
    protocol_type: str = "consumer"
    group_type: str = "classic"


@dataclass(frozen=True, slots=True)
class MemberDescription:
    """A member as the coordinator describes it.

    In a classic group (DescribeGroups): ``metadata`` and ``assignment`` are its bytes as
    it joined and as the leader sent them (decode with ``consumer_protocol``). In a consumer
    group (KIP-848's ConsumerGroupDescribe): ``member_epoch``, the ``subscribed_topics``,
    what it was given (``assigned``, without what it was told to revoke and has not yet
    acknowledged) and what the coordinator wants it to own (``target``; the two differ while
    it reconciles); ``subscribed_pattern`` is the regular expression it subscribed with
    (None without one); ``member_type`` is ``"consumer"``, or
    ``"classic"`` for a classic member that joined a consumer group.
    """

    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes = b""
    assignment: bytes = b""
    member_type: str = "classic"
    member_epoch: int = -1
    subscribed_topics: tuple[str, ...] = ()
    assigned: frozenset[TopicPartition] = frozenset()
    target: frozenset[TopicPartition] = frozenset()
    subscribed_pattern: str | None = None


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """A group's state, protocol and members.

    ``group_type`` is ``"classic"`` (state ``Empty``, ``PreparingRebalance``,
    ``CompletingRebalance``, ``Stable`` or ``Dead``; ``protocol`` the assignor the leader
    ran) or ``"consumer"`` (KIP-848: state ``Empty``, ``Assigning``, ``Reconciling``,
    ``Stable`` or ``Dead``; ``protocol`` the coordinator's assignor, ``group_epoch`` and
    ``assignment_epoch`` as the coordinator reports them).
    """

    group: str
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberDescription, ...] = field(default=())
    group_type: str = "classic"
    group_epoch: int = -1
    assignment_epoch: int = -1


@runtime_checkable
class GroupCoordinator(Protocol):
    """The group operations of a backend; see the module docstring for the errors."""

    async def join_group(
        self,
        group: str,
        *,
        member_id: str,
        instance_id: str | None,
        session_timeout: float,
        rebalance_timeout: float,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        reason: str | None = None,
    ) -> JoinResult:
        """Join (or rejoin) ``group``: Kafka's JoinGroup. Waits until the rebalance completes
        (every member rejoined, or ``rebalance_timeout`` passed: those missing are dropped).

        ``member_id`` is ``""`` on the first join of a dynamic member, which then gets
        ``MemberIdRequired`` carrying the id to join with. ``protocols`` lists
        ``(assignor name, subscription bytes)`` in preference order; the coordinator picks
        one every member supports. ``session_timeout``: a member that neither heartbeats nor
        rejoins for this long is removed; out of the coordinator's bounds it is a
        ``ConfigError``.
        """
        ...

    async def sync_group(
        self,
        group: str,
        *,
        generation: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str,
        protocol: str,
        assignments: Mapping[str, bytes],
    ) -> bytes:
        """Kafka's SyncGroup: the leader hands in every member's assignment (followers an
        empty mapping); each member gets its own back (``b""`` when the leader gave it none).
        """
        ...

    async def heartbeat(
        self, group: str, *, generation: int, member_id: str, instance_id: str | None
    ) -> None:
        """Kafka's Heartbeat: keeps the member alive. ``RebalanceInProgress`` when the group
        wants it to rejoin."""
        ...

    async def leave_group(
        self, group: str, members: Sequence[tuple[str, str | None]], reason: str | None = None
    ) -> None:
        """Kafka's LeaveGroup for ``(member_id, instance_id)`` pairs: the group rebalances
        without them at once instead of waiting for their session timeouts. Best effort: a
        member the coordinator no longer knows is not an error."""
        ...

    async def commit_member_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit checked against ``membership``: ``StaleMember`` or
        ``FencedInstanceId`` when it is not current, ``RebalanceInProgress`` while the group
        rebalances (retry after rejoining). ``UnknownTopic`` for a partition that does not
        exist; nothing is stored then."""
        ...

    async def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """Every offset ``group`` has committed (OffsetFetch for all partitions)."""
        ...

    async def list_groups(self) -> list[GroupListing]:
        """Every group the cluster knows (ListGroups), sorted by id."""
        ...

    async def describe_group(self, group: str) -> GroupDescription:
        """The group's state and members, of either type (DescribeGroups for a classic
        group, ConsumerGroupDescribe for a consumer group); an unknown group is a classic
        ``Dead`` one with no members, as Kafka reports it."""
        ...

    async def delete_group(self, group: str) -> None:
        """Delete a group without members and its committed offsets (DeleteGroups).
        ``GroupNotEmpty`` while it has members; ``GroupError`` for an unknown group."""
        ...


@dataclass(frozen=True, slots=True)
class HeartbeatAnswer:
    """What a KIP-848 heartbeat answered: the member's id and epoch, when to heartbeat next,
    and, when the coordinator sent one, the member's whole target assignment (topic name ->
    partitions; None: unchanged since the last one)."""

    member_id: str
    member_epoch: int
    heartbeat_interval: float
    assignment: Mapping[str, tuple[int, ...]] | None = None


@runtime_checkable
class ConsumerGroupCoordinator(Protocol):
    """The consumer group protocol of Kafka 4 (KIP-848): no JoinGroup/SyncGroup barrier;
    the coordinator assigns (``server_assignor``: ``"uniform"`` or ``"range"``) and each
    member reconciles on its own, by heartbeats.

    A member joins with epoch 0 and its own id (``member_id``, made once by the member; the
    answer's ``member_id`` is the one to heartbeat with from then on, as on Kafka 3.7-3.9 the
    coordinator makes it), leaves with epoch -1 (-2: a static member leaving for a moment, its
    assignment kept until its session ends); a leave is answered with the leave epoch, an
    interval of 0 and no assignment, and a second one is ``StaleMember``. Fields given as
    None are unchanged since the last heartbeat; after an error the next heartbeat sends them
    all. ``owned`` is every partition the member holds (topic name -> partitions); sending it
    after reconciling acknowledges the assignment.

    A member subscribes to topics by name (``subscribed_topics``) or by a regular expression
    (``subscribed_topic_regex``, ``""`` to drop one; Java sends an empty list of names with
    it); given both, it subscribes to the union. The coordinator matches the expression
    against the whole of every topic name (Kafka: RE2J's ``matches()``, so no lookarounds or
    backreferences; internal topics such as ``__consumer_offsets`` match too), again as
    topics are created and deleted, and moves the group epoch on when what it matches
    changes. Kafka 4.1 resolves a group's expressions asynchronously, when a heartbeat
    comes, at most once every 10 s (``REGEX_BATCH_REFRESH_MIN_INTERVAL_MS``): the join's
    answer assigns none of their topics yet (the next heartbeat does), a topic created
    later is assigned up to 10 s after the group's last resolution (10.1 s measured on
    4.1.2 right after a join), and a deleted topic is given up at the next heartbeat. Wait
    for the assignment, never for a time (memory:// resolves at every heartbeat).

    Errors: ``StaleMember`` (reason ``FENCED_MEMBER_EPOCH`` or ``UNKNOWN_MEMBER_ID``: the
    partitions are lost, join again with epoch 0), ``FencedInstanceId`` (another member has
    this static member's id, or has not released it yet: ``UNRELEASED_INSTANCE_ID``),
    ``ConfigError`` naming ``group.remote_assignor`` for an assignor the coordinator does not
    have, ``group.protocol`` for a coordinator without the protocol, and ``pattern`` for a
    regular expression the coordinator cannot compile (Kafka's INVALID_REGULAR_EXPRESSION) or
    a coordinator without regex subscriptions (Kafka 3.7-3.9, ConsumerGroupHeartbeat v0),
    ``AuthenticationError`` when the group is not the client's to join, ``GroupError`` for
    anything else final; a coordinator that moved or is loading is retried inside the backend
    within ``net.request_timeout``. Offsets are committed with ``commit_member_offsets``, the
    epoch as the membership's generation (``StaleMember`` with reason ``STALE_MEMBER_EPOCH``
    when it is not the member's current one).
    """

    async def supports_consumer_protocol(self) -> bool:
        """Whether the coordinator speaks this protocol (Kafka: the broker offers API 68)."""
        ...

    async def consumer_group_heartbeat(
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
    ) -> HeartbeatAnswer:
        """Kafka's ConsumerGroupHeartbeat (v1): join, stay, acknowledge or leave."""
        ...
