"""The in-process broker: named ``MemoryBroker`` instances, their topics and group offsets.

``memory://`` is the process's shared default broker, ``memory://a`` and ``memory://b`` are
separate. A broker lives as long as the process (like a real one outlives its clients) unless
``drop_broker`` forgets it. Everything runs on the event loop's thread, so state changes need
no locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import MessageTooLarge, UnknownTopic
from ...message import now_ms, record_size, validate_topic
from ..base import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicExists,
    TopicInfo,
    TopicPartition,
    check_group,
    check_offset_specs,
    check_topic_arguments,
)
from ._log import DEFAULT_MAX_MESSAGE_BYTES, PartitionLog, TopicLog

__all__ = ["BROKER_ID", "MemoryBroker", "broker", "drop_broker"]

BROKER_ID = 0
"""The in-process broker's id, the leader and only replica of every partition."""


def _setting(topic_value: int | None, broker_value: int | None) -> int | None:
    value = topic_value if topic_value is not None else broker_value
    return None if value is None or value < 0 else value


class MemoryBroker:
    """One in-process Kafka broker (broker id 0): topics, logs and group offsets.

    Its settings are plain attributes, like a broker's dynamic config, and may change at any
    time: ``auto_create_topics`` (True, Kafka's ``auto.create.topics.enable``: a topic is
    created on first produce or metadata request, when the client allows it too),
    ``num_partitions`` (1, Kafka's ``num.partitions``: for auto-created topics),
    ``max_message_bytes`` (Kafka's ``message.max.bytes``, checked per record),
    ``retention_records`` and ``retention_bytes`` (None: keep everything; otherwise the oldest
    records are deleted, per partition, to stay within the limit and the log start moves
    forward). A topic's config (``retention.bytes``, ``max.message.bytes``,
    ``message.timestamp.type`` and the in-process ``retention.records``) overrides them.

    Unlike Kafka, retention is exact (Kafka deletes whole segments) and runs on append, not
    on a timer; there is no time-based retention and no compaction.
    """

    __slots__ = (
        "_groups",
        "_topics",
        "auto_create_topics",
        "max_message_bytes",
        "name",
        "num_partitions",
        "retention_bytes",
        "retention_records",
    )

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.auto_create_topics = True
        self.num_partitions = 1
        self.max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
        self.retention_records: int | None = None
        self.retention_bytes: int | None = None
        self._topics: dict[str, TopicLog] = {}
        self._groups: dict[str, dict[TopicPartition, CommittedOffset]] = {}

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
        """Create a topic; ``TopicExists`` if it exists, ``ValueError`` for bad arguments.

        ``replication`` must be None or 1: there is one broker.
        """
        configs = check_topic_arguments(name, partitions, replication, config)
        if replication is not None and replication > 1:
            raise ValueError(
                f"replication factor {replication} is larger than the 1 available broker"
            )
        if name in self._topics:
            raise TopicExists(f"topic {name!r} already exists")
        self._topics[name] = TopicLog(partitions, configs)

    def delete_topic(self, name: str) -> None:
        """Delete a topic, its records and the offsets groups committed for it.

        Fetches parked on it wake and raise ``UnknownTopic``.
        """
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
        topic = self._topic(name, allow_create=False)
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
        return dict(self._topic(name, allow_create=False).config)

    def partitions(self, name: str, *, allow_create: bool = True) -> list[int]:
        """The topic's partition ids; creates it when missing and both sides allow it."""
        return list(range(len(self._topic(name, allow_create).partitions)))

    def _topic(self, name: str, allow_create: bool) -> TopicLog:
        topic = self._topics.get(name)
        if topic is None:
            validate_topic(name)  # an illegal name is a ConfigError, as on Kafka
            if not (allow_create and self.auto_create_topics):
                raise UnknownTopic(f"topic {name!r} does not exist")
            topic = self._topics[name] = TopicLog(self.num_partitions, {})
        return topic

    def _partition(self, name: str, partition: int, allow_create: bool = False) -> PartitionLog:
        parts = self._topic(name, allow_create).partitions
        if not 0 <= partition < len(parts):
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
    ) -> ProduceResult:
        """Append ``records`` to one partition, all or none, and wake its parked fetches."""
        t = self._topic(topic, allow_create)
        if not 0 <= partition < len(t.partitions):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        part = t.partitions[partition]
        limit = _setting(t.max_message_bytes, self.max_message_bytes)
        if limit is None:
            limit = DEFAULT_MAX_MESSAGE_BYTES
        now = now_ms()
        log_append = t.log_append_time
        base = part.high_watermark
        total = part.cum[-1]
        stored: list[Record] = []
        sizes: list[int] = []
        stamps: list[int] = []
        keep, size_of, stamp = stored.append, sizes.append, stamps.append
        measure = record_size
        # One pass that checks, sizes and builds; the log is touched only after it, so a bad
        # record leaves the partition as it was (Kafka rejects a batch whole).
        for offset, (key, value, headers, timestamp) in enumerate(records, base):
            if value is not None and type(value) is not bytes:
                raise TypeError(f"record value must be bytes or None, not {type(value).__name__}")
            if key is not None and type(key) is not bytes:
                raise TypeError(f"record key must be bytes or None, not {type(key).__name__}")
            # The producer's own size check uses the same bound, so a record it lets through
            # is never refused here for size.
            size = measure(key, value, headers)
            if size > limit:
                raise MessageTooLarge(
                    f"record of {size} bytes is larger than the broker's maximum of {limit}"
                )
            if timestamp is None or log_append:
                timestamp = now
            total += size
            size_of(total)
            stamp(timestamp)
            keep((offset, timestamp, key, value, headers))
        part.records.extend(stored)
        part.cum.extend(sizes)
        retention_records = _setting(t.retention_records, self.retention_records)
        retention_bytes = _setting(t.retention_bytes, self.retention_bytes)
        if retention_records is not None or retention_bytes is not None:
            part.trim(retention_records, retention_bytes)
        if part.waiters and stored:
            part.wake()
        return ProduceResult(range(base, base + len(stamps)), stamps)

    def offsets(self, topic: str, partition: int) -> tuple[int, int]:
        """``(log start, high watermark)`` of a partition. ``UnknownTopic``."""
        part = self._partition(topic, partition)
        return part.log_start, part.high_watermark

    def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """Resolve ``EARLIEST``, ``LATEST`` or a timestamp per partition (``Backend``)."""
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
        return len(self._partition(topic, partition).waiters)

    # -- group offsets -------------------------------------------------------------------

    def commit_offsets(self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        """Store offsets for ``group``; ``UnknownTopic`` (and nothing stored) for a bad one."""
        check_group(group)
        for topic, partition in offsets:
            self._partition(topic, partition)
        self._groups.setdefault(group, {}).update(offsets)

    def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """The group's committed offsets for ``partitions``; those never committed are absent."""
        check_group(group)
        stored = self._groups.get(group, {})
        return {tp: stored[tp] for tp in partitions if tp in stored}

    def groups(self) -> list[str]:
        """Ids of the groups that committed offsets, sorted."""
        return sorted(g for g, offsets in self._groups.items() if offsets)


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
