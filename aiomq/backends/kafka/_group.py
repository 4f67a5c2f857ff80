"""``KafkaGroupCoordinator``: the group capabilities of the Kafka backend (``GroupCoordinator``
and ``ConsumerGroupCoordinator``).

Each operation is one request of Kafka's classic group protocol, or of the consumer group
protocol (KIP-848: ConsumerGroupHeartbeat, ConsumerGroupDescribe), to the group's
coordinator (``_group_protocol``), retried while the coordinator moves or loads, with
Kafka's group error codes raised as the typed errors of ``aiomq.backends.group``.

Connections: a JoinGroup waits in the coordinator until every member has rejoined (up to
the rebalance timeout), and a SyncGroup of a follower until the leader's; a broker answers
one request per connection at a time, so either would hold up everything behind it. Each
goes on a connection of its own (taken from a pool, as fetches are) with a deadline of the
rebalance timeout plus five seconds (Java's ``rebalance.timeout.ms + 5000``).
Heartbeats, commits and the admin requests go on the shared coordinator connection, which
therefore never waits behind a join. A ConsumerGroupHeartbeat is answered at once (there is
no join barrier), so it goes there too.

The consumer group protocol names topics by id; members name them. Ids are turned into
names, and owned names into ids, through ``TopicIds`` (Metadata v12 to the coordinator,
cached). An assignment naming a topic id that one metadata request cannot resolve (the
topic was just deleted, or the coordinator did not answer in time) is handed to the member
without that topic's partitions: a member is never told a partition it cannot name. The
backend keeps such an assignment and resolves it again at each of the member's next
heartbeats, handing it over whole (as a new assignment) once every id resolves.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.protocol.commit import OffsetFetchRequest

from ...errors import (
    BrokerUnavailable,
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
from ..base import (
    INT32_MAX,
    CommittedOffset,
    Membership,
    TopicPartition,
    check_commit,
    check_consumer_heartbeat,
    check_group,
    check_membership,
    check_string,
)
from ..group import (
    GroupDescription,
    GroupListing,
    GroupMember,
    HeartbeatAnswer,
    JoinResult,
    MemberDescription,
)
from . import _group_protocol as wire
from ._cluster import COORDINATION, Cluster, Retry
from ._errors import RETRY_COORDINATOR, error_for_code, error_name
from ._pool import FetchPool
from ._topic_ids import TopicIds

__all__ = ["KafkaGroupCoordinator", "consumer_heartbeat_error", "group_error"]

_JOIN_MARGIN = 5.0
"""How much longer than the rebalance timeout a JoinGroup or SyncGroup may take (Java's)."""

_DEAD = "Dead"

# Kafka's group error codes, by what they mean to a member.
_MEMBER_ID_REQUIRED = 79
_STALE = {
    22: "ILLEGAL_GENERATION",
    25: "UNKNOWN_MEMBER_ID",
    110: "FENCED_MEMBER_EPOCH",
    113: "STALE_MEMBER_EPOCH",
}
_FENCED = {82: "FENCED_INSTANCE_ID", 111: "UNRELEASED_INSTANCE_ID"}
_REBALANCE_IN_PROGRESS = 27
_INCONSISTENT_GROUP_PROTOCOL = 23
_INVALID_SESSION_TIMEOUT = 26
_NON_EMPTY_GROUP = 68
_GROUP_ID_NOT_FOUND = 69
_GROUP_MAX_SIZE_REACHED = 81
_UNKNOWN_MEMBER_ID = 25
_UNSUPPORTED_ASSIGNOR = 112
_INVALID_REGULAR_EXPRESSION = 128
_INVALID_GROUP_ID = 24
_GROUP_AUTHORIZATION_FAILED = 30  # AuthenticationError, as for the classic operations
_CONSUMER_MEMBER_STALE = {110: "FENCED_MEMBER_EPOCH", 25: "UNKNOWN_MEMBER_ID"}
_CLASSIC_MEMBER = 0  # ConsumerGroupDescribe v1's member type of a classic member
_LEAVE_EPOCHS = (-1, -2)  # a member leaving; -2: a static member coming back soon


def group_error(code: int, context: str) -> Exception:
    """The aiomq error for a non-zero Kafka group error ``code`` (``GroupCoordinator``'s
    contract); codes that are not about groups as ``error_for_code`` maps them."""
    if code in _STALE:
        return StaleMember(f"{context}: {_STALE[code]} (error {code})", _STALE[code])
    if code == _REBALANCE_IN_PROGRESS:
        return RebalanceInProgress(f"{context}: the group is rebalancing (error {code})")
    if code in _FENCED:
        return FencedInstanceId(
            f"{context}: another member took this static member's instance id "
            f"({_FENCED[code]}, error {code})"
        )
    if code == _INCONSISTENT_GROUP_PROTOCOL:
        return InconsistentGroupProtocol(
            f"{context}: no protocol (assignor) offered is supported by every member, or the "
            f"protocol type differs (error {code})"
        )
    if code == _INVALID_SESSION_TIMEOUT:
        return ConfigError(
            "group.session_timeout",
            f"{context}: outside the broker's group.min.session.timeout.ms and "
            f"group.max.session.timeout.ms (error {code})",
        )
    if code == _NON_EMPTY_GROUP:
        return GroupNotEmpty(f"{context}: the group still has members (error {code})")
    if code == _GROUP_ID_NOT_FOUND:
        return GroupError(f"{context}: the group does not exist (error {code})")
    if code == _GROUP_MAX_SIZE_REACHED:
        return GroupError(f"{context}: the group is full, group.max.size (error {code})")
    return error_for_code(code, context)


def consumer_heartbeat_error(code: int, message: str | None, context: str) -> Exception:
    """The aiomq error for a non-zero ConsumerGroupHeartbeat ``code`` other than the
    coordinator's moving or loading (``ConsumerGroupCoordinator``'s contract), with the
    broker's ``message``."""
    detail = f": {message}" if message else ""
    if code in _CONSUMER_MEMBER_STALE:
        reason = _CONSUMER_MEMBER_STALE[code]
        return StaleMember(f"{context}: {reason} (error {code}){detail}", reason)
    if code in _FENCED:
        return FencedInstanceId(f"{context}: {error_name(code)}{detail}")
    if code == _UNSUPPORTED_ASSIGNOR:
        # The broker's message names the assignors it has ("Supported assignors: ...").
        return ConfigError("group.remote_assignor", f"{context}: {message or error_name(code)}")
    if code == _INVALID_REGULAR_EXPRESSION:
        # The broker's message quotes the expression and says what RE2J found wrong.
        return ConfigError("pattern", f"{context}: {error_name(code)}{detail}")
    if code in (_INVALID_GROUP_ID, _GROUP_AUTHORIZATION_FAILED):
        return error_for_code(code, context, message)
    return GroupError(f"{context}: {error_name(code)}{detail}")


class _ParkedRequests(FetchPool):
    """Connections that each carry one JoinGroup or SyncGroup at a time (``FetchPool``'s
    rule), for as long as the caller's deadline allows."""

    async def _take(self, node: int, deadline: float) -> Any:
        conn = await super()._take(node, deadline)
        # aiokafka bounds every request by the connection's request timeout; a join may
        # rightly wait longer. The caller's deadline bounds it instead (Cluster.request).
        conn._request_timeout = max(deadline - asyncio.get_running_loop().time(), 0.0) + 1.0
        return conn


def _millis(field: str, seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ConfigError(field, f"must be a number of seconds, not {type(seconds).__name__}")
    if not (math.isfinite(seconds) and 0.001 <= seconds <= INT32_MAX / 1000):
        raise ConfigError(field, f"must be between 0.001 and {INT32_MAX / 1000} s, not {seconds}")
    return round(seconds * 1000)


def _check_member(group: str, generation: int, member_id: str, instance_id: str | None) -> None:
    check_membership(Membership(group, generation, member_id, instance_id))


def _check_protocols(protocol_type: object, protocols: object) -> list[tuple[str, bytes]]:
    check_string("protocol_type", protocol_type)
    if not isinstance(protocols, Sequence) or isinstance(protocols, str | bytes):
        raise ConfigError(
            "protocols",
            f"must be a sequence of (name, bytes) pairs, not {type(protocols).__name__}",
        )
    out = []
    for pair in protocols:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], bytes)
        ):
            raise ConfigError("protocols", f"must be (name, bytes) pairs, not {pair!r}")
        check_string("protocols", pair[0])
        out.append((pair[0], pair[1]))
    return out


def _check_assignments(assignments: object) -> list[tuple[str, bytes]]:
    if not isinstance(assignments, Mapping):
        raise ConfigError(
            "assignments", f"must map member ids to bytes, not {type(assignments).__name__}"
        )
    for member_id, data in assignments.items():
        check_string("assignments", member_id)
        if not isinstance(data, bytes):
            raise ConfigError(
                "assignments", f"{member_id!r}: must be bytes, not {type(data).__name__}"
            )
    return list(assignments.items())


def commit_rows(
    offsets: Mapping[TopicPartition, CommittedOffset], metadata_limit: int
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """``offsets`` grouped by topic as OffsetCommit carries them, checked against the
    broker's ``offset.metadata.max.bytes`` first: Kafka would store the other partitions of
    the commit and refuse only that one; aiomq refuses the whole commit before sending."""
    by_topic: dict[str, list[tuple[int, int, str]]] = {}
    for (topic, partition), committed in offsets.items():
        if len(committed.metadata) > metadata_limit:
            raise ConfigError(
                "metadata",
                f"{topic}[{partition}]: {len(committed.metadata)} characters, more than "
                f"the broker's offset.metadata.max.bytes ({metadata_limit})",
            )
        by_topic.setdefault(topic, []).append((partition, committed.offset, committed.metadata))
    return list(by_topic.items())


_Targets = tuple[tuple[uuid.UUID, tuple[int, ...]], ...]
"""A consumer-protocol assignment as the coordinator sends it: partitions by topic id."""


class KafkaGroupCoordinator:
    """``GroupCoordinator`` over Kafka's classic group protocol, and
    ``ConsumerGroupCoordinator`` over the consumer group protocol (KIP-848, Kafka 4.0+),
    for one ``Cluster``.

    Every operation raises ``BrokerUnavailable`` when the group's coordinator cannot be
    found or reached before its deadline (``net.request_timeout``; for JoinGroup and
    SyncGroup the rebalance timeout plus five seconds when that is longer), and
    ``ClosedError`` once the cluster is closed. The Go counterpart is sarama's
    ``consumerGroup`` calling ``Broker.JoinGroup`` and friends on its coordinator.
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._parked = _ParkedRequests(cluster)
        # Per group, the rebalance timeout of the last join: a SyncGroup waits that long.
        self._rebalance_timeouts: dict[str, float] = {}
        self._topic_ids = TopicIds(cluster)
        self._consumer_protocol: bool | None = None  # see supports_consumer_protocol()
        # Per (group, member id), an assignment handed over without the partitions of topic
        # ids that did not resolve, and the ids that had resolved then (module docstring).
        self._partial: dict[tuple[str, str], tuple[_Targets, frozenset[uuid.UUID]]] = {}

    def clear(self) -> None:
        """Forget idle join connections (closing the cluster closes them)."""
        self._parked.clear()

    # -- requests ------------------------------------------------------------------------

    async def _ask(
        self, group: str, request: Any, deadline: float, context: str, *, parked: bool = False
    ) -> Any:
        """``request`` to the group's coordinator; ``Retry`` when it cannot be reached."""
        cluster = self._cluster
        node = await cluster.coordinator(group, deadline)
        try:
            if parked:
                return await self._parked.request(node, request, deadline=deadline, context=context)
            return await cluster.send(
                node, request, deadline=deadline, context=context, group=COORDINATION
            )
        except BrokerUnavailable as exc:
            cluster.forget_coordinator(group)  # it died or moved: look it up again
            raise Retry(str(exc)) from None

    def _check(self, group: str, code: int, context: str) -> None:
        """Raise for a group error ``code``; ``Retry`` when the coordinator moved or loads."""
        if code in RETRY_COORDINATOR:
            self._cluster.forget_coordinator(group)
            raise Retry(f"{context}: the coordinator moved or is loading (error {code})")
        if code:
            raise group_error(code, context)

    def _parked_deadline(self, rebalance_timeout: float) -> float:
        cluster = self._cluster
        return cluster.deadline(max(cluster.request_timeout, rebalance_timeout + _JOIN_MARGIN))

    # -- membership ----------------------------------------------------------------------

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
        """JoinGroup (``GroupCoordinator.join_group``), on a connection of its own."""
        _check_member(group, -1, member_id, instance_id)
        session_ms = _millis("group.session_timeout", session_timeout)
        rebalance_ms = _millis("group.rebalance_timeout", rebalance_timeout)
        offered = _check_protocols(protocol_type, protocols)
        if reason is not None:
            check_string("reason", reason)
        request = wire.join_group(
            group,
            session_ms,
            rebalance_ms,
            member_id,
            instance_id,
            protocol_type,
            offered,
            reason,
        )
        context = f"join group {group!r}"
        self._rebalance_timeouts[group] = rebalance_timeout

        async def attempt(deadline: float) -> JoinResult:
            response = await self._ask(group, request, deadline, context, parked=True)
            if response.error_code == _MEMBER_ID_REQUIRED:
                raise MemberIdRequired(
                    f"{context}: join again with the member id given", response.member_id
                )
            self._check(group, response.error_code, context)
            chosen_type = getattr(response, "protocol_type", None)  # v7+
            if chosen_type is not None and chosen_type != protocol_type:
                raise InconsistentGroupProtocol(
                    f"{context}: the group runs protocol type {chosen_type!r}, "
                    f"not {protocol_type!r}"
                )
            members = tuple(
                GroupMember(mid, iid, meta or b"") for mid, iid, meta in response.members
            )
            return JoinResult(
                response.generation_id,
                response.protocol_name or "",
                response.leader,
                response.member_id,
                members,
                bool(getattr(response, "skip_assignment", False)),  # v9+
            )

        deadline = self._parked_deadline(rebalance_timeout)
        return await self._cluster.retrying(context, attempt, deadline)

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
        """SyncGroup (``GroupCoordinator.sync_group``), on a connection of its own: a
        follower waits there for the leader's assignment."""
        _check_member(group, generation, member_id, instance_id)
        check_string("protocol_type", protocol_type)
        check_string("protocol", protocol)
        rows = _check_assignments(assignments)
        request = wire.sync_group(
            group, generation, member_id, instance_id, protocol_type, protocol, rows
        )
        context = f"sync group {group!r}"

        async def attempt(deadline: float) -> bytes:
            response = await self._ask(group, request, deadline, context, parked=True)
            self._check(group, response.error_code, context)
            chosen = getattr(response, "protocol_name", None)  # v5+
            if chosen is not None and chosen != protocol:
                raise InconsistentGroupProtocol(
                    f"{context}: the group chose protocol {chosen!r}, not {protocol!r}"
                )
            return bytes(response.assignment or b"")

        rebalance_timeout = self._rebalance_timeouts.get(group, 0.0)
        return await self._cluster.retrying(
            context, attempt, self._parked_deadline(rebalance_timeout)
        )

    async def heartbeat(
        self, group: str, *, generation: int, member_id: str, instance_id: str | None
    ) -> None:
        """Heartbeat (``GroupCoordinator.heartbeat``)."""
        _check_member(group, generation, member_id, instance_id)
        request = wire.heartbeat(group, generation, member_id, instance_id)
        context = f"heartbeat in group {group!r}"

        async def attempt(deadline: float) -> None:
            response = await self._ask(group, request, deadline, context)
            self._check(group, response.error_code, context)

        await self._cluster.retrying(context, attempt)

    async def leave_group(
        self, group: str, members: Sequence[tuple[str, str | None]], reason: str | None = None
    ) -> None:
        """LeaveGroup (``GroupCoordinator.leave_group``). A member the coordinator does not
        know, or knows under another member id (a static member that was replaced), is
        skipped, as is a group it does not know."""
        check_group(group)
        if not isinstance(members, Sequence) or isinstance(members, str):
            raise ConfigError("members", f"must be (member_id, instance_id) pairs, not {members!r}")
        for pair in members:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigError(
                    "members", f"must be (member_id, instance_id) pairs, not {pair!r}"
                )
            _check_member(group, -1, pair[0], pair[1])
        if reason is not None:
            check_string("reason", reason)
        if not members:
            await self._cluster.pause(0)  # a scheduling point, as a request would be
            return
        request = wire.leave_group(group, members, reason)
        context = f"leave group {group!r}"
        gone = (_UNKNOWN_MEMBER_ID, *_FENCED)

        async def attempt(deadline: float) -> None:
            response = await self._ask(group, request, deadline, context)
            if response.error_code != _UNKNOWN_MEMBER_ID:
                self._check(group, response.error_code, context)
            for member_id, _instance_id, code in response.members:
                if code not in gone:
                    self._check(group, code, f"{context} (member {member_id!r})")

        await self._cluster.retrying(context, attempt)

    async def commit_member_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit with the member's generation and ids
        (``GroupCoordinator.commit_member_offsets``). Nothing is sent for no offsets."""
        check_membership(membership)
        check_commit(offsets)
        cluster = self._cluster
        if not offsets:
            await cluster.pause(0)  # a scheduling point, as a request would be
            return
        rows = commit_rows(offsets, await cluster.metadata_limit())
        for topic, parts in rows:
            await self._check_partitions(topic, [p for p, _, _ in parts])
        group = membership.group
        request = wire.offset_commit(
            group, membership.generation, membership.member_id, membership.instance_id, rows
        )
        context = f"commit for group {group!r}"

        async def attempt(deadline: float) -> None:
            response = await self._ask(group, request, deadline, context)
            for topic, parts in response.topics:
                for partition, code in parts:
                    self._check(group, code, f"commit {topic}[{partition}] for group {group!r}")

        await cluster.retrying(context, attempt)

    async def _check_partitions(self, topic: str, partitions: Sequence[int]) -> None:
        """``UnknownTopic`` unless ``topic`` has every one of ``partitions``: Kafka would
        store the rest of a commit and refuse only those, the contract stores nothing."""
        cluster = self._cluster
        leaders = cluster.leaders.get(topic)
        if leaders is None or max(partitions) >= len(leaders):
            leaders = await cluster.topic_leaders(topic)  # asked fresh: UnknownTopic if gone
        missing = [p for p in partitions if p >= len(leaders)]
        if missing:
            raise UnknownTopic(f"topic {topic!r} has no partition {missing[0]}")

    # -- the consumer group protocol (KIP-848) --------------------------------------------

    async def _api_versions(
        self, node: int, deadline: float, group: str | None = None
    ) -> dict[int, tuple[int, int]]:
        """Broker ``node``'s ApiVersions ranges (those its coordinator connection agreed);
        ``Retry`` when it cannot be reached (it is then forgotten as ``group``'s
        coordinator)."""
        try:
            conn = await self._cluster.connection(node, deadline, COORDINATION)
        except BrokerUnavailable as exc:
            if group is not None:
                self._cluster.forget_coordinator(group)
            raise Retry(str(exc)) from None
        versions: dict[int, tuple[int, int]] = conn._versions  # aiokafka's, from connecting
        return versions

    async def supports_consumer_protocol(self) -> bool:
        """Whether the brokers offer ConsumerGroupHeartbeat (API 68: Kafka 3.7+ with the
        protocol on, 4.0+ by default), as one broker's ApiVersions answer says; asked once.
        A group whose coordinator does not offer it after all (a cluster being upgraded)
        has its heartbeats refused with ``ConfigError("group.protocol")``."""
        if self._consumer_protocol is None:
            cluster = self._cluster

            async def attempt(deadline: float) -> bool:
                await cluster.ready()
                versions = await self._api_versions(cluster.any_broker(), deadline)
                return wire.CONSUMER_GROUP_HEARTBEAT in versions

            self._consumer_protocol = await cluster.retrying("api versions", attempt)
        return self._consumer_protocol

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
        """ConsumerGroupHeartbeat (``ConsumerGroupCoordinator.consumer_group_heartbeat``):
        v1, or v0 on Kafka 3.7-3.9, where a member joining (epoch 0) is given its id by the
        coordinator: the answer's ``member_id`` is then the one to heartbeat with, and a
        regular expression is a ``ConfigError("pattern")`` (v0 has no field for it).

        ``owned`` topics are sent by id; one that has none (it was deleted) is left out.
        The answer's assignment leaves out topic ids no name is found for (module
        docstring). The heartbeat interval is in seconds; a leave (epoch -1 or -2) is
        answered with that epoch and no assignment.
        """
        check_group(group)
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
        rebalance_ms = (
            -1
            if rebalance_timeout is None
            else _millis("group.rebalance_timeout", rebalance_timeout)
        )
        context = f"heartbeat in consumer group {group!r}"
        cluster = self._cluster

        async def attempt(deadline: float) -> HeartbeatAnswer:
            node = await cluster.coordinator(group, deadline)
            if wire.CONSUMER_GROUP_HEARTBEAT not in await self._api_versions(node, deadline, group):
                raise ConfigError(
                    "group.protocol",
                    f"{context}: the group's coordinator (broker {node}) does not speak the "
                    "consumer group protocol (KIP-848, Kafka 4.0+); use the classic protocol",
                )
            owned_ids = None
            if holding is not None:
                ids = await self._topic_ids.ids(holding, node, deadline)
                owned_ids = [(ids[t], parts) for t, parts in holding.items() if t in ids]
            request = wire.consumer_group_heartbeat(
                group,
                member_id,
                member_epoch,
                instance_id,
                rebalance_ms,
                topics,
                server_assignor,
                owned_ids,
                subscribed_topic_regex,
            )
            response = await self._ask(group, request, deadline, context)
            code = response.error_code
            if code in RETRY_COORDINATOR:
                cluster.forget_coordinator(group)
                raise Retry(f"{context}: the coordinator moved or is loading (error {code})")
            if code:
                self._partial.pop((group, member_id), None)
                raise consumer_heartbeat_error(code, response.error_message, context)
            answered_id = response.member_id or member_id
            interval = response.heartbeat_interval_ms / 1000
            if member_epoch in _LEAVE_EPOCHS:
                self._partial.pop((group, answered_id), None)
                return HeartbeatAnswer(answered_id, response.member_epoch, interval)
            assignment = await self._assignment(
                (group, answered_id), response.assignment, node, deadline
            )
            return HeartbeatAnswer(answered_id, response.member_epoch, interval, assignment)

        return await cluster.retrying(context, attempt)

    async def _assignment(
        self, key: tuple[str, str], sent: Any, node: int, deadline: float
    ) -> dict[str, tuple[int, ...]] | None:
        """The assignment to hand the member: ``sent`` by the coordinator ``node`` (None:
        unchanged) with its topics named, or a partial one of before now more complete."""
        if sent is not None:
            targets: _Targets = tuple(
                (topic_id, tuple(sorted(partitions))) for topic_id, partitions in sent[0]
            )
            told: frozenset[uuid.UUID] | None = None
        elif key in self._partial:
            targets, told = self._partial[key]
        else:
            return None
        names = await self._topic_ids.names((topic_id for topic_id, _ in targets), node, deadline)
        if told is not None and told == frozenset(names):
            return None  # nothing more resolved: the member has it as it was
        if len(names) < len(targets):
            self._partial[key] = (targets, frozenset(names))
        else:
            self._partial.pop(key, None)
        return {names[topic_id]: parts for topic_id, parts in targets if topic_id in names}

    # -- administration ------------------------------------------------------------------

    async def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """OffsetFetch of every partition (``GroupCoordinator.group_offsets``)."""
        check_group(group)
        request = OffsetFetchRequest(group, None)  # v2+: no topics means all of them
        context = f"offsets of group {group!r}"

        async def attempt(deadline: float) -> dict[TopicPartition, CommittedOffset]:
            response = await self._ask(group, request, deadline, context)
            self._check(group, getattr(response, "error_code", 0), context)
            out: dict[TopicPartition, CommittedOffset] = {}
            for topic, parts in response.topics:
                for partition, offset, metadata, code in parts:
                    self._check(group, code, context)
                    if offset >= 0:
                        out[(topic, partition)] = CommittedOffset(offset, metadata or "")
            return out

        return await self._cluster.retrying(context, attempt)

    async def list_groups(self) -> list[GroupListing]:
        """ListGroups to every broker (each lists the groups it coordinates), sorted by id."""
        cluster = self._cluster
        request = wire.list_groups()
        context = "list groups"

        async def one(node: int, deadline: float) -> list[GroupListing]:
            try:
                response = await cluster.send(
                    node, request, deadline=deadline, context=f"{context} of broker {node}"
                )
            except BrokerUnavailable as exc:
                raise Retry(str(exc)) from None
            if response.error_code in RETRY_COORDINATOR:
                raise Retry(f"{context}: broker {node} is loading (error {response.error_code})")
            if response.error_code:
                raise group_error(response.error_code, f"{context} of broker {node}")
            return [
                GroupListing(name, state, protocol_type, kind[0] if kind else "classic")
                for name, protocol_type, state, *kind in response.groups
            ]

        async def attempt(deadline: float) -> list[GroupListing]:
            await cluster.ready()
            nodes = list(cluster.brokers)
            answers = await asyncio.gather(*(one(node, deadline) for node in nodes))
            return sorted((g for answer in answers for g in answer), key=lambda g: g.group)

        return await cluster.retrying(context, attempt)

    async def describe_group(self, group: str) -> GroupDescription:
        """DescribeGroups, then ConsumerGroupDescribe when that says ``Dead``
        (``GroupCoordinator.describe_group``).

        Kafka 4's coordinator answers DescribeGroups for a consumer group (KIP-848) as a
        ``Dead`` classic group, and ConsumerGroupDescribe for a classic group with
        GROUP_ID_NOT_FOUND: a classic group takes one request, as before; a consumer group
        or an unknown one two (asking ListGroups for the group's type would ask every broker).
        An unknown group is a classic ``Dead`` one with no members.
        """
        check_group(group)
        request = wire.describe_groups([group])
        context = f"describe group {group!r}"

        async def attempt(deadline: float) -> GroupDescription:
            response = await self._ask(group, request, deadline, context)
            code, _name, state, protocol_type, protocol, members, *_ = response.groups[0]
            if code == _GROUP_ID_NOT_FOUND or (not code and state == _DEAD):
                described = await self._describe_consumer_group(group, deadline, context)
                return described or GroupDescription(group, _DEAD, "", "")
            self._check(group, code, context)
            return GroupDescription(
                group,
                state,
                protocol_type,
                protocol,
                tuple(
                    MemberDescription(mid, iid, client, host, meta or b"", assigned or b"")
                    for mid, iid, client, host, meta, assigned in members
                ),
            )

        return await self._cluster.retrying(context, attempt)

    async def _describe_consumer_group(
        self, group: str, deadline: float, context: str
    ) -> GroupDescription | None:
        """ConsumerGroupDescribe of ``group``; None when it is no consumer group (or the
        coordinator does not know that protocol)."""
        node = await self._cluster.coordinator(group, deadline)
        if wire.CONSUMER_GROUP_DESCRIBE not in await self._api_versions(node, deadline, group):
            return None
        response = await self._ask(group, wire.consumer_group_describe([group]), deadline, context)
        code, message, _name, state, group_epoch, assignment_epoch, assignor, members, *_ = (
            response.groups[0]
        )
        if code == _GROUP_ID_NOT_FOUND:
            return None
        if code in RETRY_COORDINATOR:
            self._check(group, code, context)
        if code:
            raise group_error(code, f"{context}: {message}" if message else context)
        described = []
        for mid, iid, _rack, epoch, client, host, topics, regex, now, target, *kind in members:
            described.append(
                MemberDescription(
                    mid,
                    iid,
                    client,
                    host,
                    member_type="classic" if kind and kind[0] == _CLASSIC_MEMBER else "consumer",
                    member_epoch=epoch,
                    subscribed_topics=tuple(sorted(topics or ())),
                    assigned=self._described_partitions(now),
                    target=self._described_partitions(target),
                    subscribed_pattern=regex or None,
                )
            )
        return GroupDescription(
            group,
            state,
            "consumer",
            assignor or "",
            tuple(described),
            group_type="consumer",
            group_epoch=group_epoch,
            assignment_epoch=assignment_epoch,
        )

    def _described_partitions(self, assignment: Any) -> frozenset[TopicPartition]:
        """A ConsumerGroupDescribe assignment as ``(topic, partition)`` pairs; its topic
        ids and names go into the cache on the way."""
        pairs: set[TopicPartition] = set()
        for topic_id, name, partitions in assignment[0]:
            self._topic_ids.learn(topic_id, name)
            pairs.update((name, p) for p in partitions)
        return frozenset(pairs)

    async def delete_group(self, group: str) -> None:
        """DeleteGroups (``GroupCoordinator.delete_group``)."""
        check_group(group)
        request = wire.delete_groups([group])
        context = f"delete group {group!r}"

        async def attempt(deadline: float) -> None:
            response = await self._ask(group, request, deadline, context)
            for _name, code in response.results:
                self._check(group, code, context)

        await self._cluster.retrying(context, attempt)
