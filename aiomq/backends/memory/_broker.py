"""The in-process broker behind ``memory://``: Kafka's log semantics with no network.

Not a mock: each topic has partitions, each partition an append-only log of records with
contiguous offsets, timestamps, a log start and a high watermark; fetches long-poll; errors
are Kafka's. Code tested here behaves the same on ``kafka://``, because both pass the one
contract suite. sarama ships ``MockBroker`` for its own tests, scripted response by
response; this is a working broker instead, the embedded default of ``aiomq demo``, the
examples and users' unit tests.

Brokers are named: ``memory://`` is the process's shared default, ``memory://a`` and
``memory://b`` are separate. A broker lives as long as the process (like a real one outlives
its clients) unless ``drop_broker`` forgets it. Everything runs on the event loop's thread,
so state changes need no locks; the one wait, a fetch, parks on ``aiomq.concurrency._park.Parker``.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

from ...concurrency._park import Parker, checkpoint, current, wake_all
from ...errors import ClosedError, MessageTooLarge, OffsetOutOfRange, UnknownTopic
from ...message import now_ms, record_size, validate_topic
from ..base import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    FetchResult,
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

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "MemoryBackend", "MemoryBroker", "broker", "drop_broker"]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's ``message.max.bytes`` default: the largest record the broker accepts."""

BROKER_ID = 0
"""The in-process broker's id, the leader and only replica of every partition."""

# Drop records that retention deleted once they are at least this many and half the list:
# one list move per many appends instead of one per append.
_COMPACT_AT = 4096


class _Partition:
    """One partition's log.

    ``records[i]`` has offset ``first + i``; ``records[:head]`` were deleted by retention and
    wait for compaction. ``cum[i]`` is the byte size of ``records[:i]`` plus everything
    compacted away before, so the size of ``records[a:b]`` is ``cum[b] - cum[a]``.
    """

    __slots__ = ("cum", "first", "head", "records", "waiters")

    # Invariant: len(cum) == len(records) + 1; 0 <= head <= len(records); cum is increasing.

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.cum: list[int] = [0]
        self.first = 0
        self.head = 0
        self.waiters: set[Parker[bool]] = set()

    @property
    def log_start(self) -> int:
        return self.first + self.head

    @property
    def high_watermark(self) -> int:
        return self.first + len(self.records)

    def wake(self) -> None:
        # Every parked fetch re-checks its own condition; a set keeps removal O(1) for
        # fetches that leave on their deadline.
        wake_all(self.waiters, False)

    def read(
        self, offset: int, min_bytes: int, max_bytes: int, max_records: int | None
    ) -> FetchResult | None:
        """The fetch answer at ``offset``, or None while fewer than ``min_bytes`` are ready."""
        start = offset - self.first
        end = len(self.records)
        if start < self.head or start > end:
            raise OffsetOutOfRange(
                f"offset {offset} is outside the log [{self.log_start}, {self.high_watermark}]"
            )
        cum = self.cum
        if min_bytes > 0 and (end == start or cum[end] - cum[start] < min_bytes):
            return None
        if max_records is not None and end > start + max_records:
            end = start + max_records
        if end > start + 1 and cum[end] - cum[start] > max_bytes:
            # At least one record, so a record larger than max_bytes never stalls a reader.
            fit = bisect_right(cum, cum[start] + max_bytes, start + 1, end + 1) - 1
            end = max(fit, start + 1)
        records = self.records[start:end]
        return FetchResult(records, offset + len(records), self.high_watermark, self.log_start)

    def offset_for_time(self, timestamp: int) -> int | None:
        # CreateTime timestamps need not increase, so this is a scan (Kafka keeps a sparse
        # time index for the same question); it is an admin-path call, not a hot one.
        records = self.records
        for i in range(self.head, len(records)):
            if records[i][1] >= timestamp:
                return self.first + i
        return None

    def trim(self, retention_records: int | None, retention_bytes: int | None) -> None:
        records, cum = self.records, self.cum
        if retention_records is not None and len(records) - self.head > retention_records:
            self.head = len(records) - retention_records
        if retention_bytes is not None and cum[-1] - cum[self.head] > retention_bytes:
            # The first record from which the rest fits in retention_bytes.
            self.head = bisect_left(cum, cum[-1] - retention_bytes, self.head)
        if self.head >= _COMPACT_AT and 2 * self.head >= len(records):
            del records[: self.head]
            del cum[: self.head]
            self.first += self.head
            self.head = 0


class _Topic:
    """A topic: its partitions and the topic-level settings that override the broker's."""

    __slots__ = (
        "config",
        "log_append_time",
        "max_message_bytes",
        "name",
        "partitions",
        "retention_bytes",
        "retention_records",
    )

    def __init__(self, name: str, partitions: int, config: Mapping[str, str]) -> None:
        self.name = name
        self.partitions = [_Partition() for _ in range(partitions)]
        self.config = dict(config)
        self.retention_bytes = _int_config(config, "retention.bytes")
        self.retention_records = _int_config(config, "retention.records")
        self.max_message_bytes = _int_config(config, "max.message.bytes")
        kind = config.get("message.timestamp.type", "CreateTime")
        if kind not in ("CreateTime", "LogAppendTime"):
            raise ValueError(
                f"message.timestamp.type must be CreateTime or LogAppendTime, not {kind!r}"
            )
        self.log_append_time = kind == "LogAppendTime"


def _int_config(config: Mapping[str, str], key: str) -> int | None:
    # None: not set, the broker's setting applies; -1: Kafka's "no limit", which overrides it.
    raw = config.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"topic config {key} must be an integer, not {raw!r}") from None
    if value < -1:
        raise ValueError(f"topic config {key} must be >= 0 or -1, not {value}")
    return value


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
        self._topics: dict[str, _Topic] = {}
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
        self._topics[name] = _Topic(name, partitions, configs)

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

    def _topic(self, name: str, allow_create: bool) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            validate_topic(name)  # an illegal name is a ConfigError, as on Kafka
            if not (allow_create and self.auto_create_topics):
                raise UnknownTopic(f"topic {name!r} does not exist")
            topic = self._topics[name] = _Topic(name, self.num_partitions, {})
        return topic

    def _partition(self, name: str, partition: int, allow_create: bool = False) -> _Partition:
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


class MemoryBackend:
    """``Backend`` over a ``MemoryBroker``; what ``aiomq.connect("memory://name")`` opens.

    ``auto_create_topics`` is the client's side of auto-creation (the Java consumer's
    ``allow.auto.create.topics``): a topic is auto-created only when both it and the broker
    allow it. Every operation yields to the event loop once, as a network call would, so a
    loop of sends never starves other tasks; nothing waits per record.

    The Go counterpart is a sarama ``Client`` connected to brokers; for tests sarama offers
    ``MockBroker`` (scripted answers) and the ``mocks`` package (expectations set per call).
    This is neither: a working broker in the process, with Kafka's semantics, that every
    aiomq producer and consumer runs on unchanged.
    """

    __slots__ = ("_auto_create", "_broker", "_closed", "_parked", "_url")

    def __init__(
        self,
        memory_broker: MemoryBroker,
        *,
        url: str = "memory://",
        auto_create_topics: bool = True,
    ) -> None:
        self._broker = memory_broker
        self._url = url
        self._auto_create = auto_create_topics
        self._closed = False
        self._parked: set[Parker[bool]] = set()

    @property
    def url(self) -> str:
        """The URL the backend was opened from."""
        return self._url

    @property
    def broker(self) -> MemoryBroker:
        """The in-process broker this backend talks to."""
        return self._broker

    def __repr__(self) -> str:
        return f"<MemoryBackend {self._url!r}{' closed' if self._closed else ''}>"

    def _check(self) -> MemoryBroker:
        if self._closed:
            raise ClosedError(f"backend {self._url!r} is closed")
        return self._broker

    async def open(self) -> None:
        """Nothing to connect; checks the backend is not closed."""
        self._check()

    async def aclose(self) -> None:
        """Close; fetches parked through this backend wake and raise ``ClosedError``."""
        if self._closed:
            return
        self._closed = True
        wake_all(self._parked, False)

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append a batch to one partition (``Backend.produce``)."""
        result = self._check().append(topic, partition, records, allow_create=self._auto_create)
        # After the append, so woken consumers run before this producer's next batch.
        await checkpoint()
        return result

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
    ) -> FetchResult:
        """Long-poll one partition from ``offset`` (``Backend.fetch``).

        Parks until a produce wakes it or ``max_wait`` passes: no polling, no timer task
        (one ``call_later`` handle per wait).
        """
        result = (
            self._check()
            ._partition(topic, partition)
            .read(offset, min_bytes, max_bytes, max_records)
        )
        if result is not None:
            await checkpoint()
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            remaining = deadline - loop.time()
            # Re-looked up each round: the topic may have been deleted meanwhile.
            part = self._check()._partition(topic, partition)
            if remaining <= 0:
                final = part.read(offset, 0, max_bytes, max_records)
                assert final is not None
                await checkpoint()
                return final
            parker: Parker[bool] = current().parker()
            part.waiters.add(parker)
            self._parked.add(parker)
            timer = loop.call_later(remaining, parker.wake, True)
            try:
                timed_out = await parker.park()
            finally:
                timer.cancel()
                part.waiters.discard(parker)
                self._parked.discard(parker)
            part = self._check()._partition(topic, partition)
            result = part.read(offset, 0 if timed_out else min_bytes, max_bytes, max_records)
            if result is not None:
                return result

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (``Backend.partitions``)."""
        result = self._check().partitions(topic, allow_create=self._auto_create)
        await checkpoint()
        return result

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """Resolve offsets by spec (``Backend.list_offsets``)."""
        result = self._check().list_offsets(topic, specs)
        await checkpoint()
        return result

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic (``Backend.create_topic``)."""
        self._check().create_topic(name, partitions, replication, config)
        await checkpoint()

    async def delete_topic(self, name: str) -> None:
        """Delete a topic (``Backend.delete_topic``)."""
        self._check().delete_topic(name)
        await checkpoint()

    async def list_topics(self) -> list[str]:
        """The topic names, sorted (``Backend.list_topics``)."""
        result = self._check().list_topics()
        await checkpoint()
        return result

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions (``Backend.describe_topic``)."""
        result = self._check().describe_topic(name)
        await checkpoint()
        return result

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Store group offsets (``Backend.commit_offsets``)."""
        self._check().commit_offsets(group, offsets)
        await checkpoint()

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """Read group offsets (``Backend.committed_offsets``)."""
        result = self._check().committed_offsets(group, partitions)
        await checkpoint()
        return result
