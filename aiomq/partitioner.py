"""Partitioners choose the partition of a record that names none (sarama's ``Partitioner``).

``HashPartitioner``, the default, is the Java client's: ``toPositive(murmur2(key)) %
partitions`` for a keyed record, so a key lands where Java producers, aiokafka and
librdkafka's ``murmur2_random`` put it, and sticky partitioning for key-less records (KIP-480,
KIP-794). sarama's default hash partitioner uses FNV-1a instead and disagrees with all of
them; aiomq picks compatibility with the rest of the ecosystem. A partitioner may have an
``on_appended(topic, partition, size)`` method: the producer calls it for each key-less record
the partitioner placed.

A record with an explicit ``partition`` never reaches the partitioner: ``select_partition``
honours it under every partitioner (Java and aiokafka do; sarama only under its manual one).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias, runtime_checkable

from .errors import ConfigError, UnknownTopic

__all__ = [
    "HashPartitioner",
    "ManualPartitioner",
    "Partitioner",
    "PartitionerFunc",
    "PartitionerLike",
    "RandomPartitioner",
    "RoundRobinPartitioner",
    "checked_choice",
    "murmur2",
    "partitioner_from",
    "select_partition",
    "to_positive",
]


@runtime_checkable
class Partitioner(Protocol):
    """Chooses a partition in ``range(partitions)`` for a record of ``topic`` with ``key``.

    ``key`` is the encoded key, ``None`` for a key-less record; ``partitions`` is the topic's
    partition count, always at least 1. The producer calls it once per record without an
    explicit partition, from the event loop's thread; it must not block. Go's
    ``sarama.Partitioner`` (without ``RequiresConsistency``: aiomq never re-partitions a
    record on retry).
    """

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int: ...


PartitionerFunc: TypeAlias = Callable[[str, bytes | None, int], int]
"""A plain function used as a partitioner: ``(topic, key, partitions) -> partition``."""

PartitionerLike: TypeAlias = str | Partitioner | type[Partitioner] | PartitionerFunc
"""What ``producer.partitioner`` accepts; see ``partitioner_from``."""

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Kafka's murmur2 of ``data`` as a signed 32-bit int, like Java's ``Utils.murmur2``.

    Bit-for-bit the Java client's version (seed ``0x9747b28c``), checked against Kafka's own
    test vectors. Works on unsigned 32-bit values and converts at the end, which is where
    Java's ``>>>`` and Python's ``>>`` agree.
    """
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    if words:
        # One C-level unpack of all full words instead of four index-and-shift steps each.
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k = ((k ^ (k >> 24)) * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        i = length - tail
        if tail == 3:
            h ^= data[i + 2] << 16
        if tail >= 2:
            h ^= data[i + 1] << 8
        h = ((h ^ data[i]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Java's ``Utils.toPositive``: clear the sign bit (not ``abs``, which overflows)."""
    return number & 0x7FFFFFFF


class RandomPartitioner:
    """Picks a uniformly random partition (sarama's ``NewRandomPartitioner``).

    ``rng`` (a ``random.Random``) makes the choice reproducible; the default is the ``random``
    module's shared generator.
    """

    __slots__ = ("_randrange",)

    def __init__(self, rng: random.Random | None = None) -> None:
        self._randrange = (rng or random).randrange

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        return self._randrange(partitions)

    def __repr__(self) -> str:
        return "RandomPartitioner()"


class RoundRobinPartitioner:
    """Cycles through the partitions, 0, 1, 2, ... (sarama's ``NewRoundRobinPartitioner``).

    Unlike sarama, which keeps one counter for all topics, each topic has its own, so
    interleaving topics does not skew either one. If the partition count changes the cycle
    goes on modulo the new count. Keys are ignored.
    """

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        n = self._next.get(topic, 0)
        self._next[topic] = n + 1
        return n % partitions

    def __repr__(self) -> str:
        return "RoundRobinPartitioner()"


class HashPartitioner:
    """The Java client's default: keyed records by key hash, key-less ones sticky.

    A keyed record goes to ``to_positive(murmur2(key)) % partitions``: equal keys land on
    the same partition as long as the partition count does not change, and on the one a Java
    or aiokafka producer picks (sarama's ``NewHashPartitioner`` hashes with FNV-1a, so its
    placement differs). A key-less record goes to the topic's current sticky partition,
    which moves to another partition, chosen at random, once ``sticky_bytes`` have been
    sent to it (KIP-480 and KIP-794, the Java producer's uniform sticky partitioning): the
    producer fills one batch at a time instead of one record per partition, and over time
    every partition gets its share. With a ``fallback`` partitioner, key-less records go to
    it instead (sarama's hash partitioner falls back to random).
    """

    __slots__ = ("_fallback", "_randrange", "_sticky", "_sticky_bytes")

    def __init__(
        self,
        fallback: Partitioner | None = None,
        *,
        sticky_bytes: int = 16 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        self._fallback = fallback
        self._sticky_bytes = sticky_bytes
        self._randrange = (rng or random).randrange
        self._sticky: dict[str, list[int]] = {}  # topic -> [partition, bytes sent to it]

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        if key is not None:
            return to_positive(murmur2(key)) % partitions
        if self._fallback is not None:
            return self._fallback.partition(topic, key, partitions)
        return self._current(topic, partitions)[0]

    def place_keyless(self, topic: str, partitions: int, size: int) -> int:
        """The partition for a key-less record of ``size`` bytes that the producer appends
        there: ``partition(topic, None, partitions)``, and the sticky partition moves on
        once ``sticky_bytes`` went to it (Java's ``BuiltInPartitioner.updatePartitionInfo``).
        One call per record on the producer's hot path."""
        if self._fallback is not None:
            return self._fallback.partition(topic, None, partitions)
        current = self._current(topic, partitions)
        current[1] += size
        if current[1] >= self._sticky_bytes:
            del self._sticky[topic]  # the next key-less record picks a new one
        return current[0]

    def room(self, topic: str, partitions: int) -> tuple[int, int] | None:
        """Where key-less records of ``topic`` go now, and how many bytes of them the
        partition takes before the next one moves it on; None when they do not stick (a
        fallback partitioner). A producer places records smaller than what is left of that
        room without a call each, then reports their bytes with ``placed``: the same as a
        ``place_keyless`` per record."""
        if self._fallback is not None:
            return None
        current = self._current(topic, partitions)
        return current[0], self._sticky_bytes - current[1]

    def placed(self, topic: str, partition: int, size: int) -> None:
        """``size`` bytes of key-less records went to ``partition`` within its ``room``."""
        current = self._sticky.get(topic)
        if current is not None and current[0] == partition:
            current[1] += size

    def _current(self, topic: str, partitions: int) -> list[int]:
        current = self._sticky.get(topic)
        if current is None or current[0] >= partitions:
            current = self._sticky[topic] = [self._randrange(partitions), 0]
        return current

    def __repr__(self) -> str:
        if self._fallback is not None:
            return f"HashPartitioner(fallback={self._fallback!r})"
        return f"HashPartitioner(sticky_bytes={self._sticky_bytes})"


class ManualPartitioner:
    """Requires every record to name its partition (sarama's ``NewManualPartitioner``).

    Records with a ``partition`` never reach a partitioner, so being called means one was
    missing: it raises ``ConfigError("producer.partitioner", ...)``, where sarama silently
    sends to partition 0.
    """

    __slots__ = ()

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        raise ConfigError(
            "producer.partitioner",
            f"the manual partitioner needs an explicit partition (record for topic {topic!r})",
        )

    def __repr__(self) -> str:
        return "ManualPartitioner()"


class _FunctionPartitioner:
    __slots__ = ("_fn",)

    def __init__(self, fn: PartitionerFunc) -> None:
        self._fn = fn

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        return self._fn(topic, key, partitions)

    def __repr__(self) -> str:
        return f"partitioner_from({self._fn!r})"


_NAMED: dict[str, Callable[[], Partitioner]] = {
    "hash": HashPartitioner,
    "random": RandomPartitioner,
    "round_robin": RoundRobinPartitioner,
    "manual": ManualPartitioner,
}


def partitioner_from(spec: PartitionerLike, *, sticky_bytes: int = 16 * 1024) -> Partitioner:
    """Return a partitioner for ``spec``.

    ``spec`` is a name (``"hash"``, ``"random"``, ``"round_robin"``, ``"manual"``: a new
    instance on each call, so stateful ones are not shared; ``"hash"`` moves its sticky
    partition on after ``sticky_bytes``, the producer's batch size), a ``Partitioner``
    object (returned as is, shared by whoever uses it), a ``Partitioner`` class (called with
    no arguments, like sarama's ``PartitionerConstructor``), or a function ``(topic, key,
    partitions) -> int``. Anything else raises ``ConfigError("producer.partitioner", ...)``.
    """
    if isinstance(spec, str):
        if spec == "hash":
            return HashPartitioner(sticky_bytes=sticky_bytes)
        try:
            return _NAMED[spec]()
        except KeyError:
            known = ", ".join(repr(n) for n in _NAMED)
            raise ConfigError(
                "producer.partitioner", f"unknown partitioner {spec!r}; known: {known}"
            ) from None
    if isinstance(spec, type):
        if not callable(getattr(spec, "partition", None)):
            raise ConfigError("producer.partitioner", f"{spec.__name__} has no partition method")
        made: Partitioner = spec()
        return made
    if isinstance(spec, Partitioner):
        return spec
    if callable(spec):
        return _FunctionPartitioner(spec)
    raise ConfigError(
        "producer.partitioner",
        f"must be a name, a Partitioner or a function, not {type(spec).__name__}",
    )


def select_partition(
    partitioner: Partitioner,
    topic: str,
    key: bytes | None,
    partitions: int,
    partition: int | None = None,
) -> int:
    """Return the partition a record goes to: ``partition`` if given, else the partitioner's.

    An explicit ``partition`` outside ``range(partitions)`` raises ``UnknownTopic`` (sarama's
    ``ErrInvalidPartition``). A partitioner answer outside that range, or not an ``int``,
    raises ``ValueError``: the partitioner is broken, and the record is not sent anywhere.
    ``partitions`` below 1 raises ``UnknownTopic``.
    """
    if partitions < 1:
        raise UnknownTopic(f"topic {topic!r} has no partitions")
    if partition is not None:
        if 0 <= partition < partitions:
            return partition
        raise UnknownTopic(f"topic {topic!r} has no partition {partition} (it has {partitions})")
    chosen = partitioner.partition(topic, key, partitions)
    return checked_choice(partitioner, topic, partitions, chosen)


def checked_choice(partitioner: Partitioner, topic: str, partitions: int, chosen: Any) -> int:
    """``chosen``, what ``partitioner`` answered for ``topic`` with ``partitions`` (at least
    1), if it is one of its partitions; else ``ValueError`` (``select_partition``'s check)."""
    is_int = chosen.__class__ is int or (isinstance(chosen, int) and not isinstance(chosen, bool))
    if is_int and 0 <= chosen < partitions:
        return int(chosen)
    raise ValueError(
        f"{partitioner!r} returned {chosen!r} for topic {topic!r} with {partitions} partitions"
    )
