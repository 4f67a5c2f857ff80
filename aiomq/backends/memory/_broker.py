"""The in-process broker: named ``MemoryBroker`` instances, their topics and group offsets.

``memory://`` is the process's shared default broker, ``memory://a`` and ``memory://b`` are
separate. A broker lives as long as the process (like a real one outlives its clients) unless
``drop_broker`` forgets it. Everything runs on the event loop's thread, so state changes need
no locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import ConfigError, GroupError, MessageTooLarge, UnknownTopic
from ...message import now_ms, record_size
from ..base import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    Membership,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicExists,
    TopicInfo,
    TopicPartition,
    check_commit,
    check_group,
    check_membership,
    check_offset_specs,
    check_partition,
    check_records,
    check_topic,
    check_topic_arguments,
    check_topic_partitions,
    check_transaction_timeout,
    check_transactional_id,
)
from ._consumer_groups import ConsumerCoordinator
from ._coordinator import Coordinator
from ._log import DEFAULT_MAX_MESSAGE_BYTES, PartitionLog, TopicLog, check_topic_config
from ._transactions import DEFAULT_TRANSACTION_MAX_TIMEOUT, ProducerKey, TransactionCoordinator

__all__ = ["BROKER_ID", "MemoryBroker", "broker", "drop_broker"]

BROKER_ID = 0
"""The in-process broker's id, the leader and only replica of every partition."""

DEFAULT_OFFSET_METADATA_MAX_BYTES = 4096
"""Kafka's ``offset.metadata.max.bytes`` default: the longest metadata a commit may carry."""


def _setting(topic_value: int | None, broker_value: int | None) -> int | None:
    # A topic's value overrides the broker's; a negative one is Kafka's "no limit".
    value = topic_value if topic_value is not None else broker_value
    return None if value is None or value < 0 else value


class MemoryBroker:
    """One in-process Kafka broker (broker id 0): topics, logs, group offsets, transactions.

    Its settings are plain attributes, like a broker's dynamic config, and may change at any
    time: ``auto_create_topics`` (True, Kafka's ``auto.create.topics.enable``: a topic is
    created on first produce or metadata request, when the client allows it too),
    ``num_partitions`` (1, Kafka's ``num.partitions``: for auto-created topics),
    ``max_message_bytes`` (Kafka's ``message.max.bytes``, the largest batch of one record),
    ``offset_metadata_max_bytes`` (4096, Kafka's ``offset.metadata.max.bytes``: in characters,
    as Kafka counts), ``retention_records`` and ``retention_bytes`` (None: keep everything;
    otherwise the oldest records are deleted, per partition, to stay within the limit and
    the log start moves forward; ``retention_records`` is the in-process broker's own, for
    tests, and has no topic config). A topic's config (``retention.bytes``,
    ``max.message.bytes``, ``message.timestamp.type``, ``message.timestamp.after.max.ms``,
    ``message.timestamp.before.max.ms``) overrides them. ``transaction_max_timeout`` (900 s,
    Kafka's ``transaction.max.timeout.ms``) bounds the timeout a transactional producer may
    ask for; ``transactions`` is the transaction coordinator (producer ids, epochs, the
    transactions open and their deadlines); ``groups_coordinator`` the classic group
    coordinator (members, generations, assignments) and ``consumer_coordinator`` the one of
    Kafka 4's consumer group protocol (KIP-848; its settings ``consumer_session_timeout``,
    ``consumer_heartbeat_interval`` and ``consumer_protocol`` are there). A group id is a
    classic group or a consumer group, never both; its committed offsets are the broker's.

    Every public method checks its arguments first with ``aiomq.backends.base``'s checks, as
    the backend operations do, and changes nothing when one is bad. Unlike Kafka, retention
    is exact (Kafka deletes whole segments) and runs on append, not on a timer; there is no
    time-based retention and no compaction.
    """

    __slots__ = (
        "_groups",
        "_topics",
        "auto_create_topics",
        "consumer_coordinator",
        "groups_coordinator",
        "max_message_bytes",
        "name",
        "num_partitions",
        "offset_metadata_max_bytes",
        "retention_bytes",
        "retention_records",
        "transaction_max_timeout",
        "transactions",
    )

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.auto_create_topics = True
        self.num_partitions = 1
        self.max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
        self.offset_metadata_max_bytes = DEFAULT_OFFSET_METADATA_MAX_BYTES
        self.retention_records: int | None = None
        self.retention_bytes: int | None = None
        self._topics: dict[str, TopicLog] = {}
        self._groups: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        self.transaction_max_timeout = DEFAULT_TRANSACTION_MAX_TIMEOUT
        self.transactions = TransactionCoordinator()
        self.groups_coordinator = Coordinator()
        self.consumer_coordinator = ConsumerCoordinator(
            self.groups_coordinator, self._partition_count, topic_names=self._topics.keys
        )

    def __repr__(self) -> str:
        return f"<MemoryBroker {self.name!r} topics={len(self._topics)}>"

    # -- topics --------------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic; ``TopicExists`` if it exists, ``ConfigError`` for bad arguments.

        ``replication`` must be None or 1: there is one broker. ``config`` takes Kafka 4.1's
        topic config names only (``_log.TOPIC_CONFIGS``).
        """
        configs = check_topic_arguments(name, partitions, replication, config)
        if replication is not None and replication > 1:
            raise ConfigError("replication", f"{replication} is larger than the 1 available broker")
        check_topic_config(configs)
        if name in self._topics:
            raise TopicExists(f"topic {name!r} already exists")
        self._topics[name] = TopicLog(partitions, configs)

    def delete_topic(self, name: str) -> None:
        """Delete a topic, its records and the offsets groups committed for it.

        Fetches parked on it wake and raise ``UnknownTopic``. Kafka's group coordinator drops
        the offsets too, a moment after the deletion; here it is at once.
        """
        check_topic(name, internal=False)
        topic = self._topics.pop(name, None)
        if topic is None:
            raise UnknownTopic(f"topic {name!r} does not exist")
        for offsets in self._groups.values():
            for tp in [tp for tp in offsets if tp[0] == name]:
                del offsets[tp]
        for part in topic.partitions:
            part.wake()

    def list_topics(self) -> list[str]:
        """The topic names, sorted."""
        return sorted(self._topics)

    def describe_topic(self, name: str) -> TopicInfo:
        """The topic with its partitions, all led by broker 0. ``UnknownTopic``."""
        topic = self._topic(check_topic(name), allow_create=False)
        replicas = (BROKER_ID,)
        return TopicInfo(
            name,
            tuple(
                PartitionInfo(i, BROKER_ID, replicas, replicas)
                for i in range(len(topic.partitions))
            ),
        )

    def topic_config(self, name: str) -> dict[str, str]:
        """The config the topic was created with (not Kafka's full set of defaults)."""
        return dict(self._topic(check_topic(name), allow_create=False).config)

    def partitions(self, name: str, *, allow_create: bool = True) -> list[int]:
        """The topic's partition ids; creates it when missing and both sides allow it."""
        return list(range(len(self._topic(check_topic(name), allow_create).partitions)))

    def partition_log(self, topic: str, partition: int) -> PartitionLog:
        """One partition's log, for the backend's fetches. ``UnknownTopic``; never creates."""
        return self._partition(check_topic(topic), check_partition(partition))

    def _partition_count(self, name: str) -> int | None:
        topic = self._topics.get(name)
        return None if topic is None else len(topic.partitions)

    def _topic(self, name: str, allow_create: bool) -> TopicLog:
        topic = self._topics.get(name)
        if topic is None:
            if not (allow_create and self.auto_create_topics):
                raise UnknownTopic(f"topic {name!r} does not exist")
            topic = self._topics[name] = TopicLog(self.num_partitions, {})
        return topic

    def _partition(self, name: str, partition: int, allow_create: bool = False) -> PartitionLog:
        parts = self._topic(name, allow_create).partitions
        if partition >= len(parts):
            raise UnknownTopic(f"topic {name!r} has no partition {partition}")
        return parts[partition]

    # -- records -------------------------------------------------------------------------

    def append(
        self,
        topic: str,
        partition: int,
        records: Sequence[ProduceRecord],
        *,
        allow_create: bool = True,
        max_record_bytes: int | None = None,
        producer: ProducerKey | None = None,
    ) -> ProduceResult:
        """Append ``records`` to one partition, all or none, and wake its parked fetches.

        ``max_record_bytes`` is the client's limit (``producer.max_message_bytes``), which
        applies with the topic's and the broker's. A record over any of them raises
        ``MessageTooLarge``; a CreateTime timestamp more than the topic's
        ``message.timestamp.after.max.ms`` ahead of the broker's clock (or
        ``before.max.ms`` behind it) raises ``ConfigError("timestamp")``, as on Kafka.
        ``producer`` (from ``init_producer``) appends inside its transaction, which the
        records start if it has not started yet: ``ProducerFenced`` or
        ``TransactionError`` (its transaction timed out) first, when it is not current.
        """
        check_topic(topic)
        check_partition(partition)
        check_records(records)
        if producer is not None:
            self.transactions.check(producer)
        t = self._topic(topic, allow_create)
        if partition >= len(t.partitions):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        part = t.partitions[partition]
        broker_limit = _setting(t.max_message_bytes, self.max_message_bytes)
        if broker_limit is None:
            broker_limit = DEFAULT_MAX_MESSAGE_BYTES
        limit = broker_limit if max_record_bytes is None else min(broker_limit, max_record_bytes)
        now = now_ms()
        log_append = t.log_append_time
        latest = now + t.timestamp_after_max
        earliest = now - t.timestamp_before_max
        base = part.high_watermark
        total = part.cum[-1]
        stored: list[Record] = []
        sizes: list[int] = []
        stamps: list[int] = []
        keep, size_of, stamp = stored.append, sizes.append, stamps.append
        measure = record_size
        # One pass that sizes and builds; the log is touched only after it, so a refused
        # record leaves the partition as it was (Kafka refuses a batch whole).
        for offset, (key, value, headers, timestamp) in enumerate(records, base):
            # The producer's own size check uses the same measure, so a record it lets
            # through is never refused here for size.
            size = measure(key, value, headers)
            if size > limit:
                raise _too_large(offset - base, size, broker_limit, max_record_bytes)
            if timestamp is None or log_append:
                timestamp = now
            elif not earliest <= timestamp <= latest:
                raise ConfigError(
                    "timestamp",
                    f"record {offset - base}: {timestamp} is outside the topic's bounds "
                    f"[{earliest}, {latest}] around the broker's time {now} "
                    "(message.timestamp.before.max.ms, message.timestamp.after.max.ms)",
                )
            total += size
            size_of(total)
            stamp(timestamp)
            keep((offset, timestamp, key, value, headers))
        part.records.extend(stored)
        part.cum.extend(sizes)
        if producer is not None and stored:
            self.transactions.add_records(producer, part, base, base + len(stored))
        retention_records = _setting(None, self.retention_records)
        retention_bytes = _setting(t.retention_bytes, self.retention_bytes)
        if retention_records is not None or retention_bytes is not None:
            part.trim(retention_records, retention_bytes)
        if part.waiters and stored:
            part.wake()
        return ProduceResult(range(base, base + len(stamps)), stamps)

    def offsets(self, topic: str, partition: int) -> tuple[int, int]:
        """``(log start, high watermark)`` of a partition. ``UnknownTopic``."""
        part = self.partition_log(topic, partition)
        return part.log_start, part.high_watermark

    def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """Resolve ``EARLIEST``, ``LATEST`` or a timestamp per partition (``Backend``)."""
        check_topic(topic)
        check_offset_specs(specs)
        out: dict[int, int | None] = {}
        for partition, spec in specs.items():
            part = self._partition(topic, partition)
            if spec == LATEST:
                out[partition] = part.high_watermark
            elif spec == EARLIEST:
                out[partition] = part.log_start
            else:
                out[partition] = part.offset_for_time(spec)
        return out

    def waiting(self, topic: str, partition: int) -> int:
        """How many fetches are parked on a partition, waiting for records."""
        return len(self.partition_log(topic, partition).waiters)

    # -- group offsets -------------------------------------------------------------------

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        """Store offsets for ``group``; ``UnknownTopic`` (and nothing stored) for a bad one.

        Metadata longer than ``offset_metadata_max_bytes`` characters (UTF-16 units, as Java
        counts a ``String``) raises ``ConfigError("metadata")``, Kafka's
        ``OFFSET_METADATA_TOO_LARGE``.
        """
        check_group(group)
        self._check_offsets(offsets)
        # Kafka refuses a commit outside group management while the group has members.
        self._check_commit(group, None)
        self._groups.setdefault(group, {}).update(offsets)

    def commit_member_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Store offsets for a member of ``membership.group``, checked against its
        generation first (``check_member``); nothing is stored when a check fails."""
        check_membership(membership)
        self._check_offsets(offsets)
        self.check_member(membership)
        self._groups.setdefault(membership.group, {}).update(offsets)

    def delete_group(self, group: str) -> None:
        """Delete a group without members and its committed offsets (Kafka's DeleteGroups).
        ``GroupNotEmpty`` while it has members; ``GroupError`` for a group nobody knows."""
        check_group(group)
        classic, consumer = self.groups_coordinator, self.consumer_coordinator
        if not classic.known(group) and not consumer.known(group) and not self._groups.get(group):
            raise GroupError(f"group {group!r} does not exist")
        classic.delete_group(group)
        consumer.delete_group(group)
        self._groups.pop(group, None)

    def _check_offsets(self, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        check_commit(offsets)
        limit = self.offset_metadata_max_bytes
        for (topic, partition), committed in offsets.items():
            self._partition(topic, partition)
            metadata = committed.metadata
            if len(metadata) > limit // 2 and _java_length(metadata) > limit:
                raise ConfigError(
                    "metadata",
                    f"{topic}[{partition}]: {_java_length(metadata)} characters, more than the "
                    f"broker's offset.metadata.max.bytes ({limit})",
                )

    def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """The group's committed offsets for ``partitions``; those never committed are absent."""
        check_group(group)
        check_topic_partitions(partitions)
        stored = self._groups.get(group, {})
        return {tp: stored[tp] for tp in partitions if tp in stored}

    def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """Every offset ``group`` committed."""
        check_group(group)
        return dict(self._groups.get(group, {}))

    def groups(self) -> list[str]:
        """Ids of the groups that committed offsets, sorted."""
        return sorted(g for g, offsets in self._groups.items() if offsets)

    def check_member(self, membership: Membership) -> None:
        """Refuse offsets from a member that is no longer current in its group:
        ``StaleMember`` (an older generation, an unknown member), ``FencedInstanceId``
        (another member took its static instance id).

        Generation -1 with member id ``""`` means a commit outside group management (Kafka's
        simple commits), refused while the group has members. A generation of 0 or more
        for a group the coordinator does not know is refused with ``ILLEGAL_GENERATION``,
        as Kafka refuses it. In a consumer group (KIP-848) the generation is the member's
        epoch: any other, lower or higher, is ``StaleMember`` ``STALE_MEMBER_EPOCH``.
        """
        check_membership(membership)
        self._check_commit(membership.group, membership)

    def _check_commit(self, group: str, membership: Membership | None) -> None:
        # A consumer group's generation is the member's epoch; a classic group's its own.
        if self.consumer_coordinator.known(group):
            self.consumer_coordinator.check_commit(group, membership)
        else:
            self.groups_coordinator.check_commit(group, membership)

    # -- transactions --------------------------------------------------------------------

    def init_producer(self, transactional_id: str, transaction_timeout: float) -> ProducerKey:
        """Kafka's InitProducerId for ``transactional_id``: the key its producer uses from
        now on. Fences the producer that held the id and aborts the transaction it left
        open. A timeout over ``transaction_max_timeout`` raises
        ``ConfigError("transaction_timeout")``, Kafka's ``INVALID_TRANSACTION_TIMEOUT``.
        """
        check_transactional_id(transactional_id)
        timeout = check_transaction_timeout(transaction_timeout)
        if timeout > self.transaction_max_timeout:
            raise ConfigError(
                "transaction_timeout",
                f"{timeout} s is more than the broker's transaction.max.timeout.ms "
                f"({self.transaction_max_timeout} s)",
            )
        return self.transactions.init_producer(transactional_id, timeout)

    def send_offsets(
        self,
        producer: ProducerKey,
        membership: Membership,
        offsets: Mapping[TopicPartition, CommittedOffset],
    ) -> None:
        """Kafka's TxnOffsetCommit: hold ``offsets`` for ``membership``'s group until the
        producer's transaction ends; they are stored if it commits.

        Checked first, as ``commit_offsets`` and ``check_member`` check (nothing is held
        when one fails), then ``ProducerFenced`` or ``TransactionError`` as ``append``.
        """
        check_membership(membership)
        self._check_offsets(offsets)
        self.transactions.check(producer)
        self.check_member(membership)
        self.transactions.add_offsets(producer, membership.group, offsets)

    def end_transaction(self, producer: ProducerKey, commit: bool) -> ProducerKey:
        """Commit or abort the producer's transaction (Kafka's EndTxn); the key it goes on
        with. A commit stores the offsets it held, for the partitions that still exist.
        ``ProducerFenced``; ``TransactionError`` for a commit after the broker aborted the
        transaction for its timeout (an abort is then accepted)."""
        key, held = self.transactions.end(producer, commit)
        for group, offsets in held.items():
            kept = {tp: committed for tp, committed in offsets.items() if self._exists(tp)}
            if kept:
                self._groups.setdefault(group, {}).update(kept)
        return key

    def expire_transactions(self) -> None:
        """Abort the transactions open longer than their timeout (checked when used)."""
        self.transactions.expire()

    def _exists(self, tp: TopicPartition) -> bool:
        topic = self._topics.get(tp[0])
        return topic is not None and tp[1] < len(topic.partitions)


def _too_large(index: int, size: int, broker_limit: int, client_limit: int | None) -> Exception:
    if client_limit is not None and size > client_limit:
        return MessageTooLarge(
            f"record {index} is {size} bytes as a batch of its own, more than "
            f"producer.max_message_bytes ({client_limit})"
        )
    return MessageTooLarge(
        f"record {index} is {size} bytes as a batch of its own, more than the broker's "
        f"maximum of {broker_limit} (max.message.bytes)"
    )


def _java_length(text: str) -> int:
    # Java's String.length(): UTF-16 code units, two for a character outside the BMP.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_brokers: dict[str, MemoryBroker] = {}


def broker(name: str = "") -> MemoryBroker:
    """The process's broker called ``name`` (``memory://name``), created on first use.

    ``""`` is the shared default broker of ``memory://``.
    """
    found = _brokers.get(name)
    if found is None:
        found = _brokers[name] = MemoryBroker(name)
    return found


def drop_broker(name: str = "") -> None:
    """Forget the broker called ``name``: the next ``memory://name`` starts empty.

    Clients already connected keep using the old broker until they close.
    """
    _brokers.pop(name, None)
