"""``KafkaBackend``: the ``Backend`` operations over a Kafka cluster.

Each operation checks its arguments with ``base.py``'s shared checks before any I/O, then
sends Kafka protocol requests through the ``Cluster`` (its connections, metadata caches and
retry loop): Produce through ``Sender``, Fetch through the ``FetchPool``, and Metadata,
ListOffsets, CreateTopics, DeleteTopics, OffsetCommit and OffsetFetch as single requests;
transactions through ``KafkaTransactionalProducer``. Records stay in aiokafka's compiled
record code both ways.

Why protocol requests rather than aiokafka's producer, consumer and admin client: a backend
call names one partition and wants one answer within one deadline, and the messaging layer
above batches, retries and tracks positions itself; those clients each keep a connection
set and background tasks of their own, which a cancelled close left running.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.errors import CorruptRecordException
from aiokafka.protocol.admin import CreateTopicsRequest, DeleteTopicsRequest
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords

from ...config import Config
from ...errors import BrokerUnavailable, ConfigError, DecodeError, UnknownTopic
from ...message import CREATE_TIME
from ..base import (
    INT64_MAX,
    CommittedOffset,
    FetchResult,
    Membership,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicInfo,
    TopicPartition,
    check_commit,
    check_fetch_arguments,
    check_flag,
    check_group,
    check_offset,
    check_offset_specs,
    check_partition,
    check_topic,
    check_topic_arguments,
    check_topic_partitions,
    check_transaction_timeout,
    check_transactional_id,
)
from ..group import GroupDescription, GroupListing, HeartbeatAnswer, JoinResult
from ._cluster import COORDINATION, Cluster, Retry
from ._errors import (
    LEADER_NOT_AVAILABLE,
    RETRY_COORDINATOR,
    RETRY_LEADER,
    UNKNOWN_TOPIC,
    error_for_code,
    raise_for_code,
)
from ._group import KafkaGroupCoordinator
from ._pool import FetchPool
from ._sender import Sender
from ._transactional import KafkaTransactionalProducer

__all__ = ["KafkaBackend"]

_READ_UNCOMMITTED = 0
_READ_COMMITTED = 1
_CONTROL_TYPE = struct.Struct(">hh")  # a control record's key: version, type
_ABORT_MARKER = 0
_NOT_CONTROLLER = 41
_UNKNOWN_CONFIG = re.compile(r"[Uu]nknown topic config name: (\S+)")


def _fetch_wait_ms(max_wait: float, request_timeout: float) -> int:
    """``max_wait`` in milliseconds, capped so the broker answers before the request times out.

    The margin is one second, or half the request timeout when that is shorter than two
    seconds: a margin as long as the timeout would make every fetch return at once and a
    consumer poll in a busy loop.
    """
    timeout_ms = int(request_timeout * 1000)
    margin = min(1000, timeout_ms // 2)
    return max(0, min(int(max_wait * 1000), timeout_ms - margin))


def _topic_error(code: int, context: str, message: str | None) -> Exception:
    """The error for a CreateTopics or DeleteTopics answer; an unknown config named."""
    if message:
        unknown = _UNKNOWN_CONFIG.search(message)
        if unknown is not None:
            return ConfigError("config", f"{context}: unknown topic config {unknown[1]!r}")
    return error_for_code(code, context, message)


class KafkaBackend:
    """``Backend`` over a Kafka cluster; what ``aiomq.connect("kafka://host:port")`` opens.

    Connects on ``open()`` (or on first use). ``auto_create_topics`` is the client's side of
    auto-creation (Java's ``allow.auto.create.topics``): metadata requests ask the broker to
    create a missing topic only when it is on, and the broker's ``auto.create.topics.enable``
    decides. A produce waits for ``producer.required_acks`` and takes ``producer.timeout``
    at most, retries included; a fetch its wait plus ``net.request_timeout``; everything
    else ``net.request_timeout``. Transactional producers (``transactional_producer``) share
    the backend's connections; closing the backend closes them.

    The Go counterpart is a sarama ``Client`` (its ``Config.Net`` carries SASL and TLS the
    same way). A leader or coordinator that stops answering, or answers "not the leader", is
    forgotten and looked up again, as sarama does; transient errors are retried with backoff
    until the deadline, where sarama counts ``Metadata.Retry.Max`` attempts.
    """

    def __init__(
        self,
        hosts: Sequence[tuple[str, int]],
        config: Config,
        *,
        url: str,
        auto_create_topics: bool = True,
    ) -> None:
        self._cluster = Cluster(hosts, config, url=url)
        self._pool = FetchPool(self._cluster)
        self._sender = Sender(self._cluster, config)
        self._config = config
        self._url = url
        self._auto_create = auto_create_topics
        self._request_timeout = config.net.request_timeout
        self._producers: set[KafkaTransactionalProducer] = set()
        self._groups = KafkaGroupCoordinator(self._cluster)

    @property
    def url(self) -> str:
        """The URL the backend was opened from."""
        return self._url

    @property
    def auto_create_topics(self) -> bool:
        """Whether a produce may have a missing topic created (see the class docstring)."""
        return self._auto_create

    def __repr__(self) -> str:
        closed = " closed" if self._cluster.closed else ""
        return f"<KafkaBackend {self._cluster.bootstrap_servers!r}{closed}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Bootstrap cluster metadata.

        Raises ``BrokerUnavailable`` when no broker answers, ``AuthenticationError`` when
        the login or the TLS handshake is refused, ``ClosedError`` after ``aclose()``, also
        when ``aclose()`` comes while ``open()`` is still connecting.
        """
        await self._cluster.ready()

    async def aclose(self) -> None:
        """Close every connection; calls in flight end with ``ClosedError``. Idempotent.

        Transactional producers close first, aborting the transactions they have open
        (each bounded, see ``KafkaTransactionalProducer.aclose``). Finishes when cancelled
        (the cancellation is raised once everything is closed), and a later call completes
        whatever was still closing.
        """
        cancelled: asyncio.CancelledError | None = None
        closing = [asyncio.ensure_future(p.aclose()) for p in list(self._producers)]
        while closing:
            try:
                await asyncio.wait(closing)
            except asyncio.CancelledError as exc:
                cancelled = exc  # each close is bounded: finish them, then propagate
            closing = [task for task in closing if not task.done()]
        self._pool.clear()
        self._groups.clear()
        try:
            await self._cluster.aclose()
        finally:
            if cancelled is not None:
                raise cancelled

    # -- metadata ------------------------------------------------------------------------

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (``Backend.partitions``); may auto-create it.

        Answers at once when some partitions have no leader: they are listed all the same.
        """
        check_topic(topic)
        leaders = await self._cluster.topic_leaders(topic, allow_create=self._auto_create)
        return list(range(len(leaders)))

    # -- records -------------------------------------------------------------------------

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append a batch to one partition (``Backend.produce``), within ``producer.timeout``.

        A record that does not fit ``producer.max_message_bytes`` alone (in a batch of its
        own, header included) raises ``MessageTooLarge`` before anything is sent. Larger
        batches go as several Kafka batches, in order; if one fails, those before it stay
        written. A batch the broker refuses whole as too large (the topic's
        ``max.message.bytes`` is smaller) is sent again in halves, so the limit holds per
        record. An empty batch appends nothing, but the topic and partition are checked
        (and the topic auto-created) all the same.
        """
        return await self._sender.send(topic, partition, records, allow_create=self._auto_create)

    async def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        max_wait: float,
        min_bytes: int = 1,
        max_bytes: int = 1 << 20,
        max_records: int | None = None,
        read_committed: bool = False,
    ) -> FetchResult:
        """One Fetch request to the partition's leader (``Backend.fetch``).

        ``max_wait`` is capped below ``net.request_timeout`` (by a second, or by half of a
        timeout under two seconds), so the broker always answers before the request would
        time out. A leader that stops answering is looked up again and the fetch retried,
        for ``max_wait`` plus ``net.request_timeout`` at most. ``read_committed`` asks for
        Kafka's isolation level 1: the broker answers up to the last stable offset, with the
        aborted transactions in that range, whose records are left out as Java's consumer
        does (``_decode``).
        """
        check_topic(topic)
        check_partition(partition)
        check_offset(offset, minimum=-INT64_MAX - 1)  # a negative one is out of range
        check_fetch_arguments(max_wait, min_bytes, max_bytes, max_records)
        check_flag("read_committed", read_committed)
        wait_ms = _fetch_wait_ms(max_wait, self._request_timeout)
        request = FetchRequest(
            wait_ms,
            min_bytes,
            max_bytes,
            _READ_COMMITTED if read_committed else _READ_UNCOMMITTED,
            [(topic, [(partition, offset, max_bytes)])],
        )
        cluster = self._cluster
        context = f"fetch from {topic}[{partition}]"
        check_crcs = self._config.consumer.check_crcs

        async def attempt(deadline: float) -> FetchResult:
            leader = await cluster.leader(topic, partition, deadline)
            try:
                response = await self._pool.request(
                    leader, request, deadline=deadline, context=context
                )
            except BrokerUnavailable as exc:
                cluster.forget_leader(topic)  # the leader died or moved: ask again
                raise Retry(str(exc)) from None
            _, parts = response.topics[0]
            _, error, high_watermark, *rest = parts[0]
            if error in RETRY_LEADER:
                cluster.forget_leader(topic)
                if error == UNKNOWN_TOPIC:
                    # raises UnknownTopic if it is gone
                    await cluster.topic_leaders(topic, deadline=deadline)
                raise Retry(f"{context}: error {error}")
            raise_for_code(error, f"{context} at offset {offset}")
            # v4+: last_stable_offset, [log_start_offset (v5+)], aborted_transactions,
            # [preferred_read_replica (v11+)], records. Kafka 4 answers v4 at least.
            version = response.API_VERSION
            stable = rest[0]
            log_start = rest[1] if version >= 5 else -1
            aborted = None
            if read_committed:
                aborted = (rest[-3] if version >= 11 else rest[-2]) or []
            try:
                return _decode(
                    rest[-1],
                    offset,
                    high_watermark,
                    log_start,
                    max_records,
                    stable,
                    aborted,
                    check_crcs=check_crcs,
                )
            except (DecodeError, CorruptRecordException) as exc:
                raise DecodeError(f"{context}: {exc}") from exc

        deadline = cluster.deadline(wait_ms / 1000 + self._request_timeout)
        return await cluster.retrying(context, attempt, deadline)

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """ListOffsets to each leader (``Backend.list_offsets``)."""
        check_topic(topic)
        check_offset_specs(specs)
        cluster = self._cluster
        context = f"list offsets of {topic!r}"

        async def one_leader(
            node: int, wanted: list[tuple[int, int]], deadline: float
        ) -> dict[int, int | None]:
            request = OffsetRequest(-1, _READ_UNCOMMITTED, [(topic, wanted)])
            try:
                response = await cluster.send(node, request, deadline=deadline, context=context)
            except BrokerUnavailable as exc:
                cluster.forget_leader(topic)  # the leader died or moved: ask again
                raise Retry(str(exc)) from None
            out: dict[int, int | None] = {}
            for _, parts in response.topics:
                for partition, error, *info in parts:
                    if error in RETRY_LEADER:
                        cluster.forget_leader(topic)
                        raise Retry(f"list offsets of {topic}[{partition}]: error {error}")
                    raise_for_code(error, f"list offsets of {topic}[{partition}]")
                    if response.API_VERSION == 0:
                        offset = info[0][0] if info[0] else -1
                    else:
                        offset = info[1]
                    spec = specs[partition]
                    out[partition] = None if offset < 0 and spec >= 0 else offset
            return out

        async def attempt(deadline: float) -> dict[int, int | None]:
            by_leader: dict[int, list[tuple[int, int]]] = {}
            for partition, spec in specs.items():
                leader = await cluster.leader(topic, partition, deadline)
                by_leader.setdefault(leader, []).append((partition, spec))
            results = await asyncio.gather(
                *(one_leader(node, wanted, deadline) for node, wanted in by_leader.items())
            )
            merged: dict[int, int | None] = {}
            for result in results:
                merged.update(result)
            return merged

        return await cluster.retrying(context, attempt)

    # -- topics --------------------------------------------------------------------------

    async def _to_controller(self, request: Any, context: str, deadline: float) -> Any:
        """An admin request to a broker; KRaft brokers forward it to the controller."""
        cluster = self._cluster
        await cluster.ready()
        node = cluster.any_broker()
        try:
            return await cluster.send(node, request, deadline=deadline, context=context)
        except BrokerUnavailable as exc:
            raise Retry(str(exc)) from None

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic and wait until every partition has a leader.

        Without ``replication``, the broker's ``default.replication.factor``. Kafka's own
        topics (names starting with ``__``) are refused with ``ConfigError("topic")``.
        """
        configs = check_topic_arguments(name, partitions, replication, config)
        cluster = self._cluster
        await cluster.ready()
        if replication is None:
            # CreateTopics v3 (aiokafka's newest) cannot say "the broker's default".
            replication = await cluster.default_replication()
        context = f"create topic {name!r}"
        request = CreateTopicsRequest(
            [(name, partitions, replication, [], list(configs.items()))],
            int(self._request_timeout * 1000),
            False,
        )

        async def attempt(deadline: float) -> None:
            response = await self._to_controller(request, context, deadline)
            for topic_name, error, *message in response.topic_errors:
                if topic_name != name or not error:
                    continue
                if error == _NOT_CONTROLLER:
                    raise Retry(f"{context}: the broker asked is not the controller")
                raise _topic_error(error, context, message[0] if message else None)

        await cluster.retrying(context, attempt)
        await cluster.topic_leaders(name, created=True)  # visible, with leaders, on return

    async def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the metadata no longer lists it.

        Kafka's own topics (names starting with ``__``) are refused with
        ``ConfigError("topic")``.
        """
        check_topic(name, internal=False)
        cluster = self._cluster
        context = f"delete topic {name!r}"
        request = DeleteTopicsRequest([name], int(self._request_timeout * 1000))

        async def attempt(deadline: float) -> None:
            response = await self._to_controller(request, context, deadline)
            for topic_name, error, *message in response.topic_error_codes:
                if topic_name != name or not error:
                    continue
                if error == _NOT_CONTROLLER:
                    raise Retry(f"{context}: the broker asked is not the controller")
                raise _topic_error(error, context, message[0] if message else None)

        await cluster.retrying(context, attempt)
        cluster.forget_leader(name)

        async def gone(deadline: float) -> None:
            response = await cluster.metadata([name], allow_create=False, deadline=deadline)
            for error, topic_name, *_ in response.topics:
                if topic_name == name and error != UNKNOWN_TOPIC:
                    raise Retry(f"topic {name!r} is still listed")

        await cluster.retrying(context, gone)

    async def list_topics(self) -> list[str]:
        """Names of the non-internal topics, sorted; those without a leader right now too."""
        cluster = self._cluster

        async def attempt(deadline: float) -> Any:
            return await cluster.metadata(None, allow_create=False, deadline=deadline)

        response = await cluster.retrying("list topics", attempt)
        return sorted(
            name
            for error, name, *rest in response.topics
            if error in (0, LEADER_NOT_AVAILABLE)
            and not (len(rest) > 1 and rest[0])  # rest[0]: is_internal (v1+)
        )

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions with leader, replicas and ISR; never creates it."""
        check_topic(name)
        cluster = self._cluster

        async def attempt(deadline: float) -> Any:
            return await cluster.metadata([name], allow_create=False, deadline=deadline)

        response = await cluster.retrying(f"describe topic {name!r}", attempt)
        for error, topic_name, *rest in response.topics:
            if topic_name != name:
                continue
            if error == UNKNOWN_TOPIC:
                raise UnknownTopic(f"topic {name!r} does not exist")
            if error != LEADER_NOT_AVAILABLE:
                raise_for_code(error, f"describe topic {name!r}")
            internal = bool(rest[0]) if len(rest) > 1 else False
            partitions = [
                PartitionInfo(partition, leader, tuple(replicas), tuple(isr))
                for _err, partition, leader, replicas, isr, *_ in rest[-1]
            ]
            partitions.sort(key=lambda info: info.id)
            return TopicInfo(name, tuple(partitions), internal)
        raise UnknownTopic(f"topic {name!r} does not exist")

    # -- group offsets -------------------------------------------------------------------

    async def _to_coordinator(self, group: str, request: Any, deadline: float) -> Any:
        cluster = self._cluster
        node = await cluster.coordinator(group, deadline)
        try:
            return await cluster.send(
                node, request, deadline=deadline, context=f"group {group!r}", group=COORDINATION
            )
        except BrokerUnavailable as exc:
            cluster.forget_coordinator(group)  # the coordinator died or moved: ask again
            raise Retry(str(exc)) from None

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit with generation -1: a plain store (``Backend.commit_offsets``)."""
        check_group(group)
        check_commit(offsets)
        cluster = self._cluster
        # Kafka stores the other partitions of a commit and refuses only the one with too
        # much metadata: refused here whole, before anything is stored, as in process.
        limit = await cluster.metadata_limit() if offsets else 0
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        for (topic, partition), committed in offsets.items():
            if len(committed.metadata) > limit:
                raise ConfigError(
                    "metadata",
                    f"{topic}[{partition}]: {len(committed.metadata)} characters, more than "
                    f"the broker's offset.metadata.max.bytes ({limit})",
                )
            by_topic.setdefault(topic, []).append((partition, committed.offset, committed.metadata))
        request = OffsetCommitRequest(
            group,
            OffsetCommitRequest.DEFAULT_GENERATION_ID,
            "",
            OffsetCommitRequest.DEFAULT_RETENTION_TIME,
            list(by_topic.items()),
        )

        async def attempt(deadline: float) -> None:
            response = await self._to_coordinator(group, request, deadline)
            for topic, parts in response.topics:
                for partition, error in parts:
                    if error in RETRY_COORDINATOR:
                        cluster.forget_coordinator(group)
                        raise Retry(f"commit for group {group!r}: error {error}")
                    raise_for_code(error, f"commit {topic}[{partition}] for group {group!r}")

        await cluster.retrying(f"commit for group {group!r}", attempt)

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """OffsetFetch for ``partitions`` (``Backend.committed_offsets``)."""
        check_group(group)
        check_topic_partitions(partitions)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        cluster = self._cluster
        if not by_topic:
            await cluster.pause(0)  # a scheduling point, as a network call would be
            return {}
        request = OffsetFetchRequest(group, list(by_topic.items()))

        async def attempt(deadline: float) -> dict[TopicPartition, CommittedOffset]:
            response = await self._to_coordinator(group, request, deadline)
            top_error = getattr(response, "error_code", 0)
            if top_error in RETRY_COORDINATOR:
                cluster.forget_coordinator(group)
                raise Retry(f"offsets of group {group!r}: error {top_error}")
            raise_for_code(top_error, f"offsets of group {group!r}")
            out: dict[TopicPartition, CommittedOffset] = {}
            for topic, parts in response.topics:
                for partition, offset, metadata, error in parts:
                    if error in RETRY_COORDINATOR:
                        cluster.forget_coordinator(group)
                        raise Retry(f"offsets of group {group!r}: error {error}")
                    if error == UNKNOWN_TOPIC:
                        continue  # nothing committed for a partition Kafka does not know
                    raise_for_code(error, f"offset of {topic}[{partition}] for {group!r}")
                    if offset >= 0:
                        out[(topic, partition)] = CommittedOffset(offset, metadata or "")
            return out

        return await cluster.retrying(f"offsets of group {group!r}", attempt)

    # -- groups (GroupCoordinator, in _group.py) ------------------------------------------

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
        """JoinGroup (``GroupCoordinator.join_group``)."""
        return await self._groups.join_group(
            group,
            member_id=member_id,
            instance_id=instance_id,
            session_timeout=session_timeout,
            rebalance_timeout=rebalance_timeout,
            protocol_type=protocol_type,
            protocols=protocols,
            reason=reason,
        )

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
        """SyncGroup (``GroupCoordinator.sync_group``)."""
        return await self._groups.sync_group(
            group,
            generation=generation,
            member_id=member_id,
            instance_id=instance_id,
            protocol_type=protocol_type,
            protocol=protocol,
            assignments=assignments,
        )

    async def heartbeat(
        self, group: str, *, generation: int, member_id: str, instance_id: str | None
    ) -> None:
        """Heartbeat (``GroupCoordinator.heartbeat``)."""
        await self._groups.heartbeat(
            group, generation=generation, member_id=member_id, instance_id=instance_id
        )

    async def leave_group(
        self, group: str, members: Sequence[tuple[str, str | None]], reason: str | None = None
    ) -> None:
        """LeaveGroup (``GroupCoordinator.leave_group``)."""
        await self._groups.leave_group(group, members, reason)

    async def commit_member_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit checked against ``membership`` (``GroupCoordinator``)."""
        await self._groups.commit_member_offsets(membership, offsets)

    async def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """Every offset ``group`` committed (``GroupCoordinator.group_offsets``)."""
        return await self._groups.group_offsets(group)

    async def list_groups(self) -> list[GroupListing]:
        """ListGroups from every broker (``GroupCoordinator.list_groups``)."""
        return await self._groups.list_groups()

    async def describe_group(self, group: str) -> GroupDescription:
        """DescribeGroups, or ConsumerGroupDescribe for a consumer group
        (``GroupCoordinator.describe_group``)."""
        return await self._groups.describe_group(group)

    async def delete_group(self, group: str) -> None:
        """DeleteGroups (``GroupCoordinator.delete_group``)."""
        await self._groups.delete_group(group)

    # -- the consumer group protocol (ConsumerGroupCoordinator, in _group.py) -------------

    async def supports_consumer_protocol(self) -> bool:
        """Whether the brokers offer ConsumerGroupHeartbeat
        (``ConsumerGroupCoordinator.supports_consumer_protocol``)."""
        return await self._groups.supports_consumer_protocol()

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
        """ConsumerGroupHeartbeat
        (``ConsumerGroupCoordinator.consumer_group_heartbeat``)."""
        return await self._groups.consumer_group_heartbeat(
            group,
            member_id=member_id,
            member_epoch=member_epoch,
            instance_id=instance_id,
            rebalance_timeout=rebalance_timeout,
            subscribed_topics=subscribed_topics,
            server_assignor=server_assignor,
            owned=owned,
            subscribed_topic_regex=subscribed_topic_regex,
        )

    # -- transactions --------------------------------------------------------------------

    async def transactional_producer(
        self, transactional_id: str, *, transaction_timeout: float
    ) -> KafkaTransactionalProducer:
        """Open a transactional producer (``Backend.transactional_producer``).

        FindCoordinator and InitProducerId with the transactional id: the coordinator fences
        the id's older producer and aborts the transaction it left open (answering
        CONCURRENT_TRANSACTIONS until it has, retried for ``net.request_timeout``). The
        transaction protocol is TV2 when the cluster's finalized ``transaction.version`` is
        2 or more, else TV1, as the Java producer chooses. ``ConfigError`` for a bad id or
        timeout, and for a timeout over the broker's ``transaction.max.timeout.ms``.
        """
        check_transactional_id(transactional_id)
        timeout = check_transaction_timeout(transaction_timeout)
        self._cluster.check_open()
        producer = KafkaTransactionalProducer(
            self, self._cluster, self._config, transactional_id, timeout
        )
        await producer.open()
        if self._cluster.closed:
            raise self._cluster.closed_error()
        self._producers.add(producer)
        return producer

    def forget_producer(self, producer: KafkaTransactionalProducer) -> None:
        """``producer`` closed: the backend's close no longer waits for it."""
        self._producers.discard(producer)


def _decode(
    data: bytes | None,
    offset: int,
    high_watermark: int,
    log_start: int,
    max_records: int | None,
    stable: int,
    aborted: list[tuple[int, int]] | None = None,
    *,
    check_crcs: bool = True,
) -> FetchResult:
    """Records at or after ``offset`` from a Fetch answer's record batches.

    Control batches (transaction markers) hold offsets but no records: they only move
    ``next_offset``. A compressed batch may start before ``offset``; its earlier records
    are skipped, as Kafka's consumers do. A header's null value stays None. The timestamp
    type is the batches' (they share the topic's).

    For a ``read_committed`` answer ``aborted`` lists ``(producer id, first offset)`` of the
    transactions aborted in the range read, and their records are left out as Java's
    consumer does (``CompletedFetch.nextFetchedRecord``): before each batch of a producer,
    the aborted transactions that started at or before the batch's last offset mark their
    producer aborted; a transactional batch of an aborted producer is skipped whole; that
    producer's abort marker unmarks it (its next transaction may commit).

    With ``check_crcs`` a batch whose CRC does not match its bytes raises ``DecodeError``.
    """
    records: list[Record] = []
    next_offset = offset
    kind = CREATE_TIME
    if data:
        keep = records.append
        committed_only = aborted is not None
        pending = [(first, producer) for producer, first in aborted or ()]
        heapq.heapify(pending)
        aborted_producers: set[int] = set()
        batches = MemoryRecords(data)
        limit = max_records if max_records is not None else -1
        while batches.has_next():
            batch = batches.next_batch()
            if batch is None:  # a partial batch at the end of the answer
                break
            if check_crcs and not batch.validate_crc():
                raise DecodeError(
                    f"the record batch at offset {batch.base_offset} fails its CRC check: "
                    "it was corrupted on the way or on disk"
                )
            if committed_only and batch.producer_id >= 0:
                producer = batch.producer_id
                last = batch.next_offset - 1
                while pending and pending[0][0] <= last:
                    aborted_producers.add(heapq.heappop(pending)[1])
                if batch.is_control_batch:
                    if producer in aborted_producers and _is_abort_marker(batch):
                        aborted_producers.discard(producer)
                elif batch.is_transactional and producer in aborted_producers:
                    next_offset = batch.next_offset
                    continue
            if batch.is_control_batch:
                next_offset = batch.next_offset
                continue
            kind = batch.timestamp_type
            for record in batch:
                at = record.offset
                if at < offset:
                    continue
                headers = record.headers
                keep(
                    (
                        at,
                        record.timestamp,
                        record.key,
                        record.value,
                        tuple(headers) if headers else (),
                    )
                )
                if len(records) == limit:
                    return FetchResult(records, at + 1, high_watermark, log_start, stable, kind)
            next_offset = batch.next_offset
    return FetchResult(records, next_offset, high_watermark, log_start, stable, kind)


def _is_abort_marker(batch: Any) -> bool:
    for record in batch:
        key = record.key
        return key is not None and _CONTROL_TYPE.unpack_from(key)[1] == _ABORT_MARKER
    return False
