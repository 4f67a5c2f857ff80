"""The in-process broker's log: a topic's partitions, their records, offsets and retention.

Plain synchronous objects with no I/O and no waiting: the broker (``_broker.py``) owns the
topics, the backend (``_backend.py``) parks fetches on a partition's ``waiters``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from ...concurrency._park import Parker, wake_all
from ...errors import ConfigError, OffsetOutOfRange
from ..base import FetchResult, Record

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "TOPIC_CONFIGS",
    "PartitionLog",
    "TopicLog",
    "check_topic_config",
]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's ``message.max.bytes`` default: the largest record batch the broker accepts."""

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
        self.partitions = [PartitionLog() for _ in range(partitions)]
        self.config = dict(config)
        self.retention_bytes = _long_config(config, "retention.bytes")
        self.max_message_bytes = _int_config(config, "max.message.bytes")
        self.log_append_time = config.get("message.timestamp.type") == "LogAppendTime"
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
