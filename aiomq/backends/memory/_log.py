"""The in-process broker's log: a topic's partitions, their records, offsets and retention,
and what transactions left in them (markers, aborted records, the last stable offset).

Plain synchronous objects with no I/O and no waiting: the broker (``_broker.py``) owns the
topics, the transaction coordinator (``_transactions.py``) ends transactions here, the
backend (``_backend.py``) parks fetches on a partition's ``waiters``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping, Sequence

from ...concurrency._park import Parker, wake_all
from ...errors import ConfigError, OffsetOutOfRange
from ...message import CREATE_TIME, LOG_APPEND_TIME, record_size
from ..base import FetchResult, Record

__all__ = [
    "CONTROL_BATCH_BYTES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "TOPIC_CONFIGS",
    "PartitionLog",
    "TopicLog",
    "TransactionIndex",
    "check_topic_config",
]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's ``message.max.bytes`` default: the largest record batch the broker accepts."""

CONTROL_BATCH_BYTES = record_size(b"\0" * 4, b"\0" * 6)
"""What a commit or abort marker takes in the log: Kafka's control batch of one control
record (key: version and type, two int16; value: version int16, coordinator epoch int32)."""

TOPIC_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.type",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    }
)
"""The topic config names Kafka 4.1 knows (what DescribeConfigs lists for a topic).

A topic is created with any of them; the log applies ``retention.bytes``,
``max.message.bytes``, ``message.timestamp.type``, ``message.timestamp.after.max.ms`` and
``message.timestamp.before.max.ms`` and keeps the others as given. Any other name is
refused, as Kafka refuses it.
"""

# Drop records that retention deleted once they are at least this many and half the list:
# one list move per many appends instead of one per append.
_COMPACT_AT = 4096

_INTEGER = re.compile(r"[+-]?\d+")
_TIMESTAMP_AFTER_MAX_MS = 3_600_000  # Kafka 4's default: one hour
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


class TransactionIndex:
    """What transactions left in one partition's log (Kafka's producer state and aborted
    transaction index): the offsets of their markers, the records of those aborted, and
    where each transaction still open began.

    ``markers`` are increasing offsets. ``aborted`` holds ``[start, end)`` offset ranges,
    one per batch an aborted transaction appended, sorted and disjoint: exact ranges, where
    Kafka keeps each aborted transaction's first and last offset and the batches' producer
    ids to tell its records from those interleaved with them. ``open`` maps a producer id
    to the first offset its open transaction took here and that transaction's deadline (on
    the coordinator's clock), which a ``read_committed`` fetch parked at the last stable
    offset wakes for.
    """

    __slots__ = ("aborted", "markers", "open")

    def __init__(self) -> None:
        self.markers: list[int] = []
        self.aborted: list[tuple[int, int]] = []
        self.open: dict[int, tuple[int, float]] = {}

    def last_stable(self, high_watermark: int) -> int:
        """The first offset of the earliest transaction still open, else the high watermark."""
        if not self.open:
            return high_watermark
        return min(first for first, _ in self.open.values())

    def next_deadline(self) -> float | None:
        """The earliest deadline of the transactions open here; None when none is."""
        if not self.open:
            return None
        return min(deadline for _, deadline in self.open.values())

    def visible(self, records: list[Record], start: int, read_committed: bool) -> list[Record]:
        """``records`` (offsets ``start`` on, contiguous) without the markers and, when
        ``read_committed``, without the records of aborted transactions."""
        end = start + len(records)
        markers = self.markers
        hidden = [
            (m, m + 1) for m in markers[bisect_left(markers, start) : bisect_left(markers, end)]
        ]
        if read_committed and self.aborted:
            aborted = self.aborted
            # The ranges are disjoint and sorted, so their ends are sorted too: the first
            # that ends after ``start`` is the first that can overlap.
            i = bisect_right(aborted, (start, start))
            if i and aborted[i - 1][1] > start:
                i -= 1
            while i < len(aborted) and aborted[i][0] < end:
                hidden.append(aborted[i])
                i += 1
            hidden.sort()
        if not hidden:
            return records
        out: list[Record] = []
        at = start
        for low, high in hidden:
            if low > at:
                out.extend(records[at - start : low - start])
            at = max(at, high)
        if at < end:
            out.extend(records[at - start :])
        return out

    def forget_before(self, offset: int) -> None:
        """Drop what concerns only offsets before ``offset`` (deleted by retention)."""
        del self.markers[: bisect_left(self.markers, offset)]
        aborted = self.aborted
        keep = 0
        while keep < len(aborted) and aborted[keep][1] <= offset:
            keep += 1
        del aborted[:keep]


class PartitionLog:
    """One partition's log.

    ``records[i]`` has offset ``first + i``; ``records[:head]`` were deleted by retention and
    wait for compaction. ``cum[i]`` is the byte size of ``records[:i]`` plus everything
    compacted away before, so the size of ``records[a:b]`` is ``cum[b] - cum[a]``.
    A transaction's marker takes an offset and a place in ``records`` like a record, and is
    listed in ``txns`` (None until a transaction first wrote here), so no fetch returns it.
    """

    __slots__ = ("cum", "first", "head", "records", "timestamp_type", "txns", "waiters")

    # Invariant: len(cum) == len(records) + 1; 0 <= head <= len(records); cum is increasing.
    # Invariant: every offset in txns.markers and txns.aborted is below the high watermark.

    def __init__(self, timestamp_type: int = CREATE_TIME) -> None:
        self.records: list[Record] = []
        self.timestamp_type = timestamp_type  # the topic's: CreateTime or LogAppendTime
        self.cum: list[int] = [0]
        self.first = 0
        self.head = 0
        self.txns: TransactionIndex | None = None
        self.waiters: set[Parker[bool]] = set()

    @property
    def log_start(self) -> int:
        return self.first + self.head

    @property
    def high_watermark(self) -> int:
        return self.first + len(self.records)

    @property
    def last_stable_offset(self) -> int:
        """Kafka's LSO: where the earliest open transaction began, else the high watermark."""
        hw = self.first + len(self.records)
        return hw if self.txns is None else self.txns.last_stable(hw)

    def wake(self) -> None:
        # Every parked fetch re-checks its own condition; a set keeps removal O(1) for
        # fetches that leave on their deadline.
        wake_all(self.waiters, False)

    def read(
        self,
        offset: int,
        min_bytes: int,
        max_bytes: int,
        max_records: int | None,
        read_committed: bool = False,
    ) -> FetchResult | None:
        """The fetch answer at ``offset``, or None while fewer than ``min_bytes`` are ready.

        ``read_committed`` reads no further than the last stable offset. Bytes count what
        the log holds in the range read, markers and aborted records included, as Kafka
        counts them; ``max_records`` caps the offsets read, so a fetch may return fewer.
        """
        start = offset - self.first
        end = len(self.records)
        if start < self.head or start > end:
            raise OffsetOutOfRange(
                f"offset {offset} is outside the log [{self.log_start}, {self.high_watermark}]"
            )
        high_watermark = self.first + end
        txns = self.txns
        if txns is None:
            stable = high_watermark
        else:
            stable = txns.last_stable(high_watermark)
            if read_committed and stable < high_watermark:
                end = max(start, stable - self.first)
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
        if txns is not None and records:
            records = txns.visible(records, offset, read_committed)
        return FetchResult(
            records,
            self.first + end,
            high_watermark,
            self.first + self.head,
            stable,
            self.timestamp_type,
        )

    def open_transaction(self, producer_id: int, first: int, deadline: float) -> None:
        """Record that ``producer_id``'s transaction, open until ``deadline``, wrote its
        first record here at ``first``: the last stable offset stays at or before it."""
        txns = self.txns
        if txns is None:
            txns = self.txns = TransactionIndex()
        txns.open[producer_id] = (first, deadline)

    def end_transaction(
        self, producer_id: int, batches: Sequence[tuple[int, int]], commit: bool, timestamp: int
    ) -> int:
        """Append the marker ending ``producer_id``'s transaction (a commit or an abort); its
        ``batches`` (``[start, end)`` offset ranges) are remembered as aborted if it is one.
        Returns the marker's offset. Wakes the parked fetches: the last stable offset moved.
        """
        txns = self.txns
        if txns is None:
            txns = self.txns = TransactionIndex()
        txns.open.pop(producer_id, None)
        if not commit:
            for batch in batches:
                insort(txns.aborted, batch)
        offset = self.first + len(self.records)
        self.records.append((offset, timestamp, None, None, ()))
        self.cum.append(self.cum[-1] + CONTROL_BATCH_BYTES)
        txns.markers.append(offset)
        if self.waiters:
            self.wake()
        return offset

    def offset_for_time(self, timestamp: int) -> int | None:
        """The first offset still held whose timestamp is at or after ``timestamp``."""
        # CreateTime timestamps need not increase, so this is a scan (Kafka keeps a sparse
        # time index for the same question); it is an admin-path call, not a hot one.
        records = self.records
        for i in range(self.head, len(records)):
            if records[i][1] >= timestamp:
                return self.first + i
        return None

    def trim(self, retention_records: int | None, retention_bytes: int | None) -> None:
        """Delete the oldest records beyond either limit (None: no limit); moves the start."""
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
            if self.txns is not None:
                self.txns.forget_before(self.first)


class TopicLog:
    """A topic: its partitions and the topic configs that override the broker's settings.

    ``config`` has passed ``check_topic_config``. ``timestamp_after_max`` and
    ``timestamp_before_max`` bound a CreateTime timestamp around the broker's clock, in
    milliseconds (Kafka's ``message.timestamp.after.max.ms``, one hour by default, and
    ``message.timestamp.before.max.ms``, no bound by default).
    """

    __slots__ = (
        "config",
        "log_append_time",
        "max_message_bytes",
        "partitions",
        "retention_bytes",
        "timestamp_after_max",
        "timestamp_before_max",
    )

    def __init__(self, partitions: int, config: Mapping[str, str]) -> None:
        log_append_time = config.get("message.timestamp.type") == "LogAppendTime"
        kind = LOG_APPEND_TIME if log_append_time else CREATE_TIME
        self.partitions = [PartitionLog(kind) for _ in range(partitions)]
        self.config = dict(config)
        self.retention_bytes = _long_config(config, "retention.bytes")
        self.max_message_bytes = _int_config(config, "max.message.bytes")
        self.log_append_time = log_append_time
        after = _parse(config, "message.timestamp.after.max.ms", 0, _INT64_MAX)
        before = _parse(config, "message.timestamp.before.max.ms", 0, _INT64_MAX)
        self.timestamp_after_max = _TIMESTAMP_AFTER_MAX_MS if after is None else after
        self.timestamp_before_max = _INT64_MAX if before is None else before


def check_topic_config(config: Mapping[str, str]) -> None:
    """Refuse what Kafka 4.1 refuses: an unknown name, or a bad value of a config the log
    applies, with ``ConfigError("config", ...)``. Values of the other configs are kept
    unchecked."""
    for key in config:
        if key not in TOPIC_CONFIGS:
            raise ConfigError("config", f"unknown topic config {key!r}")
    _long_config(config, "retention.bytes")
    _int_config(config, "max.message.bytes")
    _parse(config, "message.timestamp.after.max.ms", 0, _INT64_MAX)
    _parse(config, "message.timestamp.before.max.ms", 0, _INT64_MAX)
    kind = config.get("message.timestamp.type", "CreateTime")
    if kind not in ("CreateTime", "LogAppendTime"):
        raise ConfigError(
            "config", f"message.timestamp.type must be CreateTime or LogAppendTime, not {kind!r}"
        )


def _long_config(config: Mapping[str, str], key: str) -> int | None:
    # Kafka's LONG with no validator: any value; a negative one means "no limit", which
    # overrides the broker's setting (None: not set, the broker's applies).
    return _parse(config, key, -_INT64_MAX - 1, _INT64_MAX)


def _int_config(config: Mapping[str, str], key: str) -> int | None:
    # Kafka's INT with atLeast(0).
    return _parse(config, key, 0, _INT32_MAX)


def _parse(config: Mapping[str, str], key: str, minimum: int, maximum: int) -> int | None:
    raw = config.get(key)
    if raw is None:
        return None
    if _INTEGER.fullmatch(raw.strip()) is None:  # as Java parses it: no "1_000"
        raise ConfigError("config", f"topic config {key} must be an integer, not {raw!r}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ConfigError(
            "config", f"topic config {key} must be between {minimum} and {maximum}, not {value}"
        )
    return value
