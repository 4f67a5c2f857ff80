"""Kafka's consumer protocol: what a member puts in JoinGroup's metadata (its ``Subscription``)
and what the leader hands each member through SyncGroup (its ``Assignment``).

The bytes are those of kafka-clients' ``ConsumerProtocol`` (4.1), versions 0 to 3, so aiomq
and Java members read each other's: an int16 version, then the fields of that version, never
reordered, only appended. A reader parses a newer version as the newest it knows and ignores
the bytes after the fields it knows. Malformed bytes raise ``DecodeError`` saying what was
wrong and where; values the wire cannot carry raise ``ConfigError`` naming the field.

The Go counterpart is sarama's ``ConsumerGroupMemberMetadata`` and
``ConsumerGroupMemberAssignment``.
"""

# Layouts (ConsumerProtocolSubscription.json and ConsumerProtocolAssignment.json; non-flexible:
# int32 array counts, int16 string lengths, int32 byte lengths, a negative length is null):
#
#   Subscription  version i16, topics [string], user_data bytes?,
#                 owned_partitions [topic string, partitions [i32]]   (v1+),
#                 generation_id i32                                   (v2+, default -1),
#                 rack_id string?                                     (v3+)
#   Assignment    version i16, assigned_partitions [topic string, partitions [i32]],
#                 user_data bytes?                                    (v1-v3 only bump the number)

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import ConfigError, DecodeError
from .base import INT32_MAX, TopicPartition, check_partition, check_string

__all__ = [
    "HIGHEST_VERSION",
    "Assignment",
    "Subscription",
    "decode_assignment",
    "decode_cooperative_user_data",
    "decode_subscription",
    "encode_assignment",
    "encode_cooperative_user_data",
    "encode_subscription",
    "java_order",
]

HIGHEST_VERSION = 3
"""The newest consumer protocol version aiomq (and kafka-clients 4.1) reads and writes."""

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a member asks for: its topics, the partitions it owns now and their generation.

    ``user_data`` is the assignor's (cooperative-sticky puts its generation there, see
    ``encode_cooperative_user_data``); ``generation`` is -1 for a member with no assignment
    yet; ``rack`` is the member's ``client.rack``. ``group_instance_id`` is not part of the
    bytes: JoinGroup reports it beside them, and the range and round-robin assignors order
    static members by it (Java's ``Subscription.groupInstanceId``). Java's
    ``ConsumerPartitionAssignor.Subscription``.
    """

    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation: int = -1
    rack: str | None = None
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """What the leader gives a member: its partitions, plus the assignor's ``user_data``.

    Java's ``ConsumerPartitionAssignor.Assignment``.
    """

    partitions: tuple[TopicPartition, ...]
    user_data: bytes | None = None


# -- encoding ---------------------------------------------------------------------------------


def encode_subscription(sub: Subscription, version: int = HIGHEST_VERSION) -> bytes:
    """``sub`` as JoinGroup metadata, in consumer protocol ``version`` (0 to 3).

    As Java writes it: topics sorted, owned partitions sorted by topic then partition and
    grouped by topic. A lower version leaves out the fields it does not have (owned
    partitions before v1, the generation before v2, the rack before v3).
    ``ConfigError`` names a value the wire cannot carry.
    """
    _check_version(version)
    out = [_INT16.pack(version), _strings("topics", sorted(sub.topics, key=java_order))]
    out.append(_nullable_bytes("user_data", sub.user_data))
    if version >= 1:
        owned = sorted(sub.owned_partitions, key=lambda tp: (java_order(tp[0]), tp[1]))
        out.append(_topic_partitions("owned_partitions", owned))
    if version >= 2:
        out.append(_INT32.pack(_int32("generation", sub.generation)))
    if version >= 3:
        out.append(b"\xff\xff" if sub.rack is None else _string("rack", sub.rack))
    return b"".join(out)


def encode_assignment(assignment: Assignment, version: int = HIGHEST_VERSION) -> bytes:
    """``assignment`` as SyncGroup bytes, in consumer protocol ``version`` (0 to 3).

    As Java writes it: partitions grouped by topic in the order topics first appear, each
    topic's partitions in the order given. Send one for every member, an empty one
    included: a Java member fails on the zero bytes the broker gives a member left out.
    ``ConfigError`` names a value the wire cannot carry.
    """
    _check_version(version)
    return b"".join(
        (
            _INT16.pack(version),
            _topic_partitions("partitions", assignment.partitions),
            _nullable_bytes("user_data", assignment.user_data),
        )
    )


def encode_cooperative_user_data(generation: int) -> bytes:
    """The ``user_data`` of a cooperative-sticky subscription: the generation of the member's
    last assignment (-1 before the first), a big-endian int32.

    Java's ``CooperativeStickyAssignor.subscriptionUserData``.
    """
    return _INT32.pack(_int32("generation", generation))


def java_order(text: str) -> bytes:
    """Sort key that orders strings as Java's ``String.compareTo`` does (by UTF-16 unit)."""
    return text.encode("utf-16-be", "surrogatepass")


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 3:
        raise ConfigError("version", f"must be a consumer protocol version 0 to 3, not {version!r}")


def _int32(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value <= INT32_MAX:
        raise ConfigError(field, f"must be an int32, not {value!r}")
    return value


def _string(field: str, value: str) -> bytes:
    raw = check_string(field, value).encode("utf-8", "surrogatepass")
    return _INT16.pack(len(raw)) + raw


def _strings(field: str, values: Iterable[str]) -> bytes:
    parts = [_string(field, v) for v in values]
    return _INT32.pack(len(parts)) + b"".join(parts)


def _nullable_bytes(field: str, value: bytes | None) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff"
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ConfigError(field, f"must be bytes or None, not {type(value).__name__}")
    return _INT32.pack(len(value)) + bytes(value)


def _topic_partitions(field: str, partitions: Iterable[TopicPartition]) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(check_partition(partition))
    out = [_INT32.pack(len(by_topic))]
    for topic, numbers in by_topic.items():
        out.append(_string(field, topic))
        out.append(struct.pack(f">i{len(numbers)}i", len(numbers), *numbers))
    return b"".join(out)


# -- decoding ---------------------------------------------------------------------------------


def decode_subscription(data: bytes) -> Subscription:
    """The ``Subscription`` in JoinGroup metadata ``data`` (any version from 0; a version
    newer than 3 is read as 3, and bytes after the known fields are ignored, as Java does).

    An empty rack reads as None, as in Java. ``DecodeError`` if the bytes are malformed.
    """
    r = _Reader(data, "subscription")
    version = r.version()
    topics = tuple(r.array("topics", r.string))
    user_data = r.nullable_bytes("user_data")
    owned = r.topic_partitions("owned_partitions") if version >= 1 else ()
    generation = r.int32("generation") if version >= 2 else -1
    rack = (r.nullable_string("rack") or None) if version >= 3 else None
    return Subscription(topics, user_data, owned, generation, rack)


def decode_assignment(data: bytes) -> Assignment:
    """The ``Assignment`` in SyncGroup bytes ``data`` (any version from 0; bytes after the
    known fields are ignored, as Java does).

    ``b""`` is an empty assignment: the broker gives it to a member the leader left out.
    ``DecodeError`` if the bytes are malformed.
    """
    if not data:
        return Assignment(())
    r = _Reader(data, "assignment")
    r.version()
    partitions = r.topic_partitions("partitions")
    return Assignment(partitions, r.nullable_bytes("user_data"))


def decode_cooperative_user_data(data: bytes) -> int:
    """The generation in a cooperative-sticky subscription's ``user_data``: its first four
    bytes, a big-endian int32 (Java ignores any after them).

    ``DecodeError`` if there are fewer than four bytes.
    """
    if len(data) < 4:
        raise DecodeError(
            f"cooperative-sticky user data: needs 4 bytes (an int32 generation), got {len(data)}"
        )
    generation: int = _INT32.unpack_from(data)[0]
    return generation


class _Reader:
    """Reads one message's fields in order; ``DecodeError`` names the message, the field and
    the byte offset where the data ran out or made no sense."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(
                f"consumer protocol {what}: expected bytes, not {type(data).__name__}"
            )
        self._data = bytes(data)
        self._pos = 0
        self._what = what

    def _error(self, field: str, at: int, problem: str) -> DecodeError:
        return DecodeError(f"consumer protocol {self._what}: {field} at byte {at}: {problem}")

    def _take(self, field: str, size: int) -> bytes:
        start, end = self._pos, self._pos + size
        if end > len(self._data):
            left = len(self._data) - start
            raise self._error(field, start, f"needs {size} bytes, only {left} left")
        self._pos = end
        return self._data[start:end]

    def version(self) -> int:
        """The message's version, capped at the newest one known (whose fields are read)."""
        version: int = _INT16.unpack(self._take("version", 2))[0]
        if version < 0:
            raise self._error("version", 0, f"unsupported version {version}")
        return min(version, HIGHEST_VERSION)

    def int32(self, field: str) -> int:
        value: int = _INT32.unpack(self._take(field, 4))[0]
        return value

    def nullable_string(self, field: str) -> str | None:
        at = self._pos
        size: int = _INT16.unpack(self._take(field, 2))[0]
        if size < 0:
            return None
        try:
            return self._take(field, size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._error(field, at, f"not UTF-8 ({exc.reason})") from None

    def string(self, field: str) -> str:
        at = self._pos
        text = self.nullable_string(field)
        if text is None:
            raise self._error(field, at, "null where a string is required")
        return text

    def nullable_bytes(self, field: str) -> bytes | None:
        size = self.int32(field)
        return None if size < 0 else self._take(field, size)

    def array(self, field: str, read: Callable[[str], _T]) -> list[_T]:
        at = self._pos
        count = self.int32(field)
        left = len(self._data) - self._pos
        # Every element takes at least one byte, so a larger count is malformed; checking it
        # first keeps a forged count from making the reader allocate or loop for nothing.
        if not 0 <= count <= left:
            raise self._error(field, at, f"{count} elements with {left} bytes left")
        return [read(field) for _ in range(count)]

    def topic_partitions(self, field: str) -> tuple[TopicPartition, ...]:
        out: list[TopicPartition] = []
        for topic, partitions in self.array(field, self._topic):
            out.extend((topic, p) for p in partitions)
        return tuple(out)

    def _topic(self, field: str) -> tuple[str, list[int]]:
        return self.string(field), self.array(field, self.int32)
