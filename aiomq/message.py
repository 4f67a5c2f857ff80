"""The records aiomq sends and receives: ProducerMessage, RecordMetadata, Message.

Go's ``sarama.ProducerMessage``, ``sarama.ConsumerMessage`` and the partition/offset pair a
``SyncProducer`` returns. Timestamps are ``int`` milliseconds since the Unix epoch, Kafka's
wire form (Java's ``record.timestamp()``, aiokafka's ``ConsumerRecord.timestamp``), not
``datetime`` as in sarama's ``time.Time``: they round-trip exactly and cost nothing to copy.
Headers are ``(str, bytes | None)`` pairs in order, aiokafka's shape; Kafka allows a key to
repeat, and a None value is Kafka's null header value.

This module also holds the checks every layer shares: ``validate_topic`` (Kafka's topic-name
rules), ``normalize_headers`` and ``record_size`` (sarama's ``ByteSize``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from .errors import ConfigError

__all__ = [
    "Header",
    "Headers",
    "HeaderValue",
    "HeadersLike",
    "Message",
    "CREATE_TIME",
    "LOG_APPEND_TIME",
    "NO_TIMESTAMP",
    "ProducerMessage",
    "RECORD_BATCH_OVERHEAD",
    "RecordMetadata",
    "MAX_TOPIC_LENGTH",
    "normalize_headers",
    "now_ms",
    "record_size",
    "validate_topic",
]

Header: TypeAlias = tuple[str, bytes | None]
"""One record header: a name and its raw value, or None (Kafka's null header value)."""

Headers: TypeAlias = tuple[Header, ...]
"""A record's headers, in order, as aiomq hands them out (a tuple, so a ``Message`` is hashable)."""

HeaderValue: TypeAlias = bytes | bytearray | memoryview | None

HeadersLike: TypeAlias = Sequence[tuple[str, HeaderValue]] | Mapping[str, HeaderValue]
"""What aiomq accepts as headers: ``(name, value)`` pairs, or a mapping for the common case."""

NO_TIMESTAMP = -1
"""Kafka's ``RecordBatch.NO_TIMESTAMP``: the record carries no timestamp."""

CREATE_TIME = 0
"""A record's timestamp was given by its producer (Kafka's ``TimestampType.CREATE_TIME``)."""

LOG_APPEND_TIME = 1
"""A record's timestamp was stamped by the broker as it appended the record (Kafka's
``TimestampType.LOG_APPEND_TIME``, the topic's ``message.timestamp.type``)."""

MAX_TOPIC_LENGTH = 249
"""Kafka's ``Topic.MAX_NAME_LENGTH``."""

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")

# Names already found valid. Producers check the topic of every record; a set look-up is
# cheaper than the regex. Cleared rather than evicted when full: refilling costs little.
_valid_topics: set[str] = set()
_VALID_TOPICS_MAX = 4096

RECORD_BATCH_OVERHEAD = 61
"""Bytes of a record batch's header before its records (Kafka's
``DefaultRecordBatch.RECORD_BATCH_OVERHEAD``): ``record_size`` counts it once per record."""

_BATCH_OVERHEAD = RECORD_BATCH_OVERHEAD


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


class RecordMetadata(NamedTuple):
    """Where a produced record landed (Go's ``(partition, offset)`` from ``SendMessage``).

    ``timestamp`` is in milliseconds since the epoch: the broker's log-append time when the
    topic uses ``LogAppendTime``, otherwise the record's create time. Immutable; a named
    tuple, as ``Message`` is, because producers build one per record: a tuple is the
    cheapest immutable object to build, and one of ints and a str costs the garbage
    collector nothing after its first look.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int


class Message(NamedTuple):
    """A consumed record (Go's ``sarama.ConsumerMessage``).

    ``key`` and ``value`` are already decoded by the client's codecs (``None`` when the record
    had none: a key-less record or a tombstone). ``headers`` is a tuple of
    ``(str, bytes | None)`` pairs in record order. ``timestamp`` is in milliseconds since the
    epoch, ``NO_TIMESTAMP`` (-1) when the record carries none; ``timestamp_type`` says who set
    it: ``CREATE_TIME`` (0, its producer) or ``LOG_APPEND_TIME`` (1, the broker). Immutable: a
    message is a fact about the log. A named tuple, because consumers build one per record
    and a tuple is the cheapest immutable object to build (a frozen dataclass costs several
    times more, one ``object.__setattr__`` per field).
    """

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    headers: Headers = ()
    timestamp: int = NO_TIMESTAMP
    timestamp_type: int = CREATE_TIME


def validate_topic(name: str) -> str:
    """Return ``name`` if it is a legal Kafka topic name, else raise ``ConfigError("topic", ...)``.

    Kafka's rules (``org.apache.kafka.common.internals.Topic.validate``): not empty, not ``.``
    or ``..``, at most 249 characters, only ASCII letters, digits, ``.``, ``_`` and ``-``.
    ``ConfigError`` is a ``ValueError``. Results are cached, so calling it on every send of a
    known topic costs a set look-up; only valid names are cached.
    """
    try:
        if name in _valid_topics:
            return name
    except TypeError:  # unhashable: a list of topics where one topic was meant
        pass
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
    """Return ``headers`` as a tuple of ``(str, bytes | None)`` pairs; ``None`` gives ``()``.

    Accepts pairs or a mapping; ``bytearray`` and ``memoryview`` values are copied to
    ``bytes``; a None value stays None (Kafka's null header value). A name that is not a
    ``str``, or a value of any other type, raises ``ConfigError("headers", ...)`` naming the
    header.
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
            raise ConfigError(
                "headers", f"a header must be a (name, value) pair, not {pair!r}"
            ) from None
        if not isinstance(name, str):
            raise ConfigError("headers", f"a header name must be a str, not {type(name).__name__}")
        if value is not None and type(value) is not bytes:
            if not isinstance(value, bytearray | memoryview):
                raise ConfigError(
                    "headers",
                    f"header {name!r}: the value must be bytes or None, not {type(value).__name__}",
                )
            value = bytes(value)
        out.append((name, value))
    return tuple(out)


def record_size(key: bytes | None, value: bytes | None, headers: Headers = ()) -> int:
    """Return the size in bytes of a Kafka record batch that holds this record alone.

    Exact for Kafka's record batch format (v2, uncompressed): the 61-byte batch header plus
    the record (``DefaultRecord.sizeInBytes``; header names count in UTF-8 bytes, a None key,
    value or header value one byte). It is the size both backends compare with every limit:
    the topic's ``max.message.bytes``, the broker's ``message.max.bytes`` (Kafka checks a
    batch, and a record that fits alone always goes through) and the client's
    ``producer.max_message_bytes``; ``memory://`` counts fetch and retention bytes with it.
    sarama's ``ByteSize`` is the same measure without the batch header.
    """
    # Attributes, timestamp delta 0 and offset delta 0 take a byte each in a batch of one;
    # a None key or value is a length of -1, one byte. Lengths under 8192 (two varint bytes)
    # are sized inline: this runs once per record on the in-process broker's hot path.
    if key is None:
        body = 4
    else:
        n = len(key)
        body = 3 + n + (1 if n < 64 else 2 if n < 8192 else _varint_size(n))
    if value is None:
        body += 1
    else:
        n = len(value)
        body += n + (1 if n < 64 else 2 if n < 8192 else _varint_size(n))
    if headers:  # most records have none: skip setting up the loop
        body += _varint_size(len(headers))
        for name, data in headers:
            n = len(name.encode("utf-8", "surrogatepass"))
            body += n + _varint_size(n)
            if data is None:
                body += 1
            else:
                n = len(data)
                body += n + _varint_size(n)
    else:
        body += 1
    return _BATCH_OVERHEAD + body + (1 if body < 64 else 2 if body < 8192 else _varint_size(body))


def _varint_size(n: int) -> int:
    # A zigzag varint of n >= 0 (2n in 7-bit groups), as Kafka's ByteUtils.sizeOfVarint.
    zigzag = n << 1
    size = 1
    while zigzag >= 0x80:
        zigzag >>= 7
        size += 1
    return size


def now_ms() -> int:
    """The wall-clock time in milliseconds since the epoch, the unit of every aiomq timestamp."""
    return time.time_ns() // 1_000_000
