"""The records aiomq sends and receives: ProducerMessage, RecordMetadata, Message.

Go's ``sarama.ProducerMessage``, ``sarama.ConsumerMessage`` and the partition/offset pair a
``SyncProducer`` returns. Timestamps are ``int`` milliseconds since the Unix epoch, Kafka's
wire form (Java's ``record.timestamp()``, aiokafka's ``ConsumerRecord.timestamp``), not
``datetime`` as in sarama's ``time.Time``: they round-trip exactly and cost nothing to copy.
Headers are ``(str, bytes)`` pairs in order, aiokafka's shape; Kafka allows a key to repeat.

This module also holds the checks every layer shares: ``validate_topic`` (Kafka's topic-name
rules), ``normalize_headers`` and ``record_size`` (sarama's ``ByteSize``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .errors import ConfigError

__all__ = [
    "Header",
    "Headers",
    "HeaderValue",
    "HeadersLike",
    "Message",
    "NO_TIMESTAMP",
    "ProducerMessage",
    "RecordMetadata",
    "MAX_TOPIC_LENGTH",
    "normalize_headers",
    "now_ms",
    "record_size",
    "validate_topic",
]

Header: TypeAlias = tuple[str, bytes]
"""One record header: a name and its raw value."""

Headers: TypeAlias = tuple[Header, ...]
"""A record's headers, in order, as aiomq hands them out (a tuple, so a ``Message`` is hashable)."""

HeaderValue: TypeAlias = bytes | bytearray | memoryview

HeadersLike: TypeAlias = Sequence[tuple[str, HeaderValue]] | Mapping[str, HeaderValue]
"""What aiomq accepts as headers: ``(name, value)`` pairs, or a mapping for the common case."""

NO_TIMESTAMP = -1
"""Kafka's ``RecordBatch.NO_TIMESTAMP``: the record carries no timestamp."""

MAX_TOPIC_LENGTH = 249
"""Kafka's ``Topic.MAX_NAME_LENGTH``."""

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")

# Names already found valid. Producers check the topic of every record; a set look-up is
# cheaper than the regex. Cleared rather than evicted when full: refilling costs little.
_valid_topics: set[str] = set()
_VALID_TOPICS_MAX = 4096

# Kafka's DefaultRecord.MAX_RECORD_OVERHEAD: five varint32 fields, one varint64 and attributes.
_MAX_RECORD_OVERHEAD = 5 * 5 + 10 + 1
_MAX_VARINT32 = 5


@dataclass(slots=True)
class ProducerMessage:
    """A record to produce (Go's ``sarama.ProducerMessage``).

    ``value`` and ``key`` are encoded by the client's codecs; ``None`` stays ``None`` (a key-less
    record, or a tombstone value) and is never handed to a codec. ``partition`` of ``None`` lets
    the producer's partitioner choose; an explicit partition is always honoured, whatever the
    partitioner (as in Java and aiokafka; sarama consults ``partition`` only under its manual
    partitioner). ``metadata`` is never sent: it rides along for the caller, so a message read
    back from ``successes`` or ``errors`` can be matched to its origin. ``timestamp`` in
    milliseconds since the epoch; ``None`` means "now" at send time.

    After delivery the producer sets ``partition``, ``offset`` and ``timestamp`` (the one the
    broker recorded). ``offset`` is ``None`` until then. The message is mutable, like sarama's;
    do not reuse one while it is in flight.
    """

    topic: str
    value: Any
    key: Any = None
    headers: HeadersLike | None = None
    partition: int | None = None
    metadata: Any = None
    timestamp: int | None = None
    offset: int | None = field(default=None, init=False)


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """Where a produced record landed (Go's ``(partition, offset)`` from ``SendMessage``).

    ``timestamp`` is in milliseconds since the epoch: the broker's log-append time when the
    topic uses ``LogAppendTime``, otherwise the record's create time.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed record (Go's ``sarama.ConsumerMessage``).

    ``key`` and ``value`` are already decoded by the client's codecs (``None`` when the record
    had none: a key-less record or a tombstone). ``headers`` is a tuple of ``(str, bytes)``
    pairs in record order. ``timestamp`` is in milliseconds since the epoch, ``NO_TIMESTAMP``
    (-1) when the record carries none. Frozen: a message is a fact about the log.
    """

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    headers: Headers = ()
    timestamp: int = NO_TIMESTAMP


def validate_topic(name: str) -> str:
    """Return ``name`` if it is a legal Kafka topic name, else raise ``ConfigError("topic", ...)``.

    Kafka's rules (``org.apache.kafka.common.internals.Topic.validate``): not empty, not ``.``
    or ``..``, at most 249 characters, only ASCII letters, digits, ``.``, ``_`` and ``-``.
    ``ConfigError`` is a ``ValueError``. Results are cached, so calling it on every send of a
    known topic costs a set look-up; only valid names are cached.
    """
    if name in _valid_topics:
        return name
    if not isinstance(name, str):
        raise ConfigError("topic", f"topic name must be a str, not {type(name).__name__}")
    if not name:
        raise ConfigError("topic", "topic name is empty")
    if name in (".", ".."):
        raise ConfigError("topic", f"topic name cannot be {name!r}")
    if len(name) > MAX_TOPIC_LENGTH:
        raise ConfigError(
            "topic", f"topic name is {len(name)} characters, more than {MAX_TOPIC_LENGTH}"
        )
    if _LEGAL_TOPIC.fullmatch(name) is None:
        raise ConfigError(
            "topic",
            f"topic name {name!r} has a character other than ASCII letters, digits, '.', '_', '-'",
        )
    if len(_valid_topics) >= _VALID_TOPICS_MAX:
        _valid_topics.clear()
    _valid_topics.add(name)
    return name


def normalize_headers(headers: HeadersLike | None) -> Headers:
    """Return ``headers`` as a tuple of ``(str, bytes)`` pairs; ``None`` gives ``()``.

    Accepts pairs or a mapping; ``bytearray`` and ``memoryview`` values are copied to
    ``bytes``. A name that is not a ``str`` or a value that is not bytes-like raises
    ``TypeError`` naming the header. Kafka's null header values are not supported: aiokafka
    types header values as ``bytes`` too.
    """
    if not headers:
        return ()
    pairs: Iterable[tuple[str, HeaderValue]] = (
        headers.items() if isinstance(headers, Mapping) else headers
    )
    out: list[Header] = []
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError(f"a header must be a (name, value) pair, not {pair!r}") from None
        if not isinstance(name, str):
            raise TypeError(f"header name must be a str, not {type(name).__name__}")
        if type(value) is not bytes:
            if not isinstance(value, bytearray | memoryview):
                raise TypeError(f"header {name!r} value must be bytes, not {type(value).__name__}")
            value = bytes(value)
        out.append((name, value))
    return tuple(out)


def record_size(key: bytes | None, value: bytes | None, headers: Headers = ()) -> int:
    """Return an upper bound of an encoded record's size in bytes (sarama's ``ByteSize``).

    The producer compares it with ``producer.max_message_bytes`` before sending, so an
    oversized record fails fast with ``MessageTooLarge`` instead of a broker round trip.
    Header names count in UTF-8 bytes.
    """
    size = _MAX_RECORD_OVERHEAD
    if headers:  # most records have none: skip setting up the loop
        for name, data in headers:
            size += len(name.encode()) + len(data) + 2 * _MAX_VARINT32
    if key is not None:
        size += len(key)
    if value is not None:
        size += len(value)
    return size


def now_ms() -> int:
    """The wall-clock time in milliseconds since the epoch, the unit of every aiomq timestamp."""
    return time.time_ns() // 1_000_000
