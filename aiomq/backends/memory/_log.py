"""The in-process broker's log: a topic's partitions, their records, offsets and retention.

Plain synchronous objects with no I/O and no waiting: the broker (``_broker.py``) owns the
topics, the backend (``_backend.py``) parks fetches on a partition's ``waiters``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from ...concurrency._park import Parker, wake_all
from ...errors import OffsetOutOfRange
from ..base import FetchResult, Record

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "PartitionLog", "TopicLog"]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's ``message.max.bytes`` default: the largest record batch the broker accepts."""

# Drop records that retention deleted once they are at least this many and half the list:
# one list move per many appends instead of one per append.
_COMPACT_AT = 4096


class PartitionLog:
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


class TopicLog:
    """A topic: its partitions and the topic-level settings that override the broker's."""

    __slots__ = (
        "config",
        "log_append_time",
        "max_message_bytes",
        "partitions",
        "retention_bytes",
        "retention_records",
    )

    def __init__(self, partitions: int, config: Mapping[str, str]) -> None:
        self.partitions = [PartitionLog() for _ in range(partitions)]
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
