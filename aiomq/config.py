"""Client configuration: ``aiomq.Config()``, nested dataclasses shaped like ``sarama.Config``.

``cfg = Config(); cfg.producer.required_acks = Acks.ALL`` works as in Go. Every dataclass
checks itself on construction, and ``Config.validate()`` re-checks the whole tree after
mutation (sarama's ``Config.Validate``); ``aiomq.connect`` calls it. A bad value raises
``ConfigError`` naming the dotted field (``producer.timeout``). Durations are ``float``
seconds, not Go's ``time.Duration``, from 1 ms to 2**31 - 1 ms (Kafka carries them as int32
milliseconds); sizes in bytes fit an int32 too. Defaults follow sarama where the two agree
with Kafka's Java client, and aiokafka's where sarama has no counterpart. Each field is
documented where it is declared: what it does, its default and unit, its sarama and Java
names, and whether anything reads it yet.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import ClassVar, TypeVar

from .codecs import CodecLike, resolve
from .errors import ConfigError
from .partitioner import PartitionerLike, partitioner_from

__all__ = [
    "Acks",
    "Compression",
    "Config",
    "ConsumerConfig",
    "FetchConfig",
    "GroupConfig",
    "NetConfig",
    "Offset",
    "OffsetAt",
    "OffsetsConfig",
    "ProducerConfig",
    "GroupProtocol",
    "Isolation",
    "RebalanceStrategy",
    "SaslConfig",
    "SaslMechanism",
    "TlsConfig",
]

MiB = 1024 * 1024

_E = TypeVar("_E", bound=Enum)


class Acks(IntEnum):
    """How many replicas must acknowledge a produce request (sarama's ``RequiredAcks``).

    The values are Kafka's ``acks`` setting: ``NONE`` = 0 (``NoResponse``), ``LOCAL`` = 1
    (``WaitForLocal``, the leader only), ``ALL`` = -1 (``WaitForAll``, every in-sync replica).
    """

    NONE = 0
    LOCAL = 1
    ALL = -1


class Offset(IntEnum):
    """Where a consumer starts without a committed offset (sarama's ``OffsetNewest/Oldest``).

    The values are sarama's and Kafka's ListOffsets sentinels: ``NEWEST`` = -1 (the next
    record produced), ``OLDEST`` = -2 (the first record still in the log). A plain
    non-negative ``int`` is a concrete offset wherever an ``Offset`` is accepted, and
    ``Offset.at(timestamp)`` a point in time where a consumer starts.
    """

    NEWEST = -1
    OLDEST = -2

    @classmethod
    def at(cls, timestamp: int) -> OffsetAt:
        """The first record whose timestamp is at or after ``timestamp`` (milliseconds since
        the epoch), as an ``OffsetAt``; ``ConfigError("timestamp")`` for anything but an
        ``int`` from 0 to 2**63 - 1. Java's ``offsetsForTimes``; sarama's ``GetOffset`` with
        a time."""
        return OffsetAt(timestamp)


@dataclass(frozen=True, slots=True)
class OffsetAt:
    """A starting point in time: the first record whose timestamp is at or after
    ``timestamp``, or the next record produced when none is that recent. Made by
    ``Offset.at(timestamp)``; accepted wherever a consumer takes an ``Offset``. Java's
    ``offsetsForTimes`` followed by a seek."""

    timestamp: int
    """Milliseconds since the epoch (Kafka's record timestamps), from 0 to 2**63 - 1."""

    def __post_init__(self) -> None:
        value = self.timestamp
        # bool is an int subclass; at(True) is a mistake, not the first millisecond.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("timestamp", f"must be an int of milliseconds, not {value!r}")
        if not 0 <= value <= 2**63 - 1:
            raise ConfigError("timestamp", f"must be between 0 and {2**63 - 1}, not {value}")


class Compression(StrEnum):
    """Producer compression codec (sarama's ``CompressionCodec``).

    Values are Kafka's ``compression.type`` names; ``NONE`` maps to aiokafka's ``None`` (see
    ``aiokafka_name``). snappy, lz4 and zstd come with aiomq (through ``cramjam``).
    """

    NONE = "none"
    GZIP = "gzip"
    SNAPPY = "snappy"
    LZ4 = "lz4"
    ZSTD = "zstd"

    @property
    def aiokafka_name(self) -> str | None:
        """The ``compression_type`` argument aiokafka expects."""
        return None if self is Compression.NONE else self.value


class RebalanceStrategy(StrEnum):
    """How a group's leader assigns partitions (sarama's ``BalanceStrategy``); the values are
    Kafka's assignor names, so members of other clients that share a group agree on them.

    ``COOPERATIVE_STICKY`` (KIP-429) moves only the partitions that must move and keeps
    consuming the rest during a rebalance; ``RANGE`` and ``ROUND_ROBIN`` are eager: every
    member gives back all its partitions before each rebalance.
    """

    COOPERATIVE_STICKY = "cooperative-sticky"
    RANGE = "range"
    ROUND_ROBIN = "roundrobin"


class GroupProtocol(StrEnum):
    """The consumer-group protocol a member speaks (Java's ``group.protocol``).

    ``CLASSIC``: JoinGroup and SyncGroup, the assignment computed by the group's leader
    (every Kafka broker). ``CONSUMER``: Kafka 4's KIP-848, the broker assigns and no
    rebalance stops the whole group. ``AUTO``: ``CONSUMER`` where the broker offers it.
    """

    AUTO = "auto"
    CLASSIC = "classic"
    CONSUMER = "consumer"


class Isolation(StrEnum):
    """What a consumer reads of transactional records (Java's ``isolation.level``)."""

    READ_UNCOMMITTED = "read_uncommitted"
    READ_COMMITTED = "read_committed"


class SaslMechanism(StrEnum):
    """SASL mechanisms aiomq passes to the broker (sarama's ``SASLMechanism``)."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


# --- checks shared by the dataclasses; each names the dotted field it rejects -------------
#
# Kafka carries durations as int32 milliseconds and sizes as int32 bytes: a value outside
# those ranges would fail at the first request (or be truncated to 0 ms), so it fails here.

INT32_MAX = 2**31 - 1
MAX_SECONDS = INT32_MAX / 1000
"""The longest duration Kafka carries: 2**31 - 1 milliseconds, about 24.8 days."""

MAX_STRING_BYTES = 2**15 - 1
"""The longest string Kafka's protocol carries (an INT16 length), in UTF-8 bytes."""


def _number(path: str, value: object, *, zero: bool = False) -> float:
    """A duration in seconds from 1 ms to ``MAX_SECONDS`` (or exactly 0 with ``zero``)."""
    # bool is an int subclass; ``timeout=True`` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, f"must be a number of seconds, not {type(value).__name__}")
    if zero and value == 0:
        return 0.0
    # Compared before float(): float(10**400) raises OverflowError. NaN fails it too.
    if not 0.001 <= value <= MAX_SECONDS:
        least = "0 or between 0.001" if zero else "between 0.001"
        raise ConfigError(
            path,
            f"must be {least} and {MAX_SECONDS} s (Kafka's int32 milliseconds), not {value}",
        )
    return float(value)


def _integer(path: str, value: object, *, minimum: int, maximum: int | None = INT32_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ConfigError(path, f"must be >= {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(path, f"must be <= {maximum} (Kafka's int32), not {value}")
    return value


def _text(path: str, value: object, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a str, not {type(value).__name__}")
    if not empty and not value:
        raise ConfigError(path, "must be a non-empty str")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_STRING_BYTES:
        raise ConfigError(path, f"is {size} bytes in UTF-8, more than {MAX_STRING_BYTES}")
    return value


def _flag(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"must be a bool, not {type(value).__name__}")
    return value


def _member(path: str, enum: type[_E], value: object) -> _E:
    # Plain values are accepted and normalised (``required_acks = -1``, ``compression =
    # "gzip"``) so a config built from a file or environment needs no enum imports.
    if isinstance(value, enum):
        return value
    if not isinstance(value, bool):
        try:
            return enum(value)
        except ValueError:
            pass
    choices = ", ".join(repr(m.value) for m in enum)
    raise ConfigError(path, f"must be one of {choices} (or {enum.__name__}), not {value!r}")


# --- the tree ------------------------------------------------------------------------------
#
# Each field has its docstring right under it: what it does, its default and unit, its sarama
# and Java names, and, for settings of parts not built yet, that nothing reads it yet.


@dataclass(slots=True)
class ProducerConfig:
    """Producer settings (sarama's ``Config.Producer``), read by ``SyncProducer``,
    ``AsyncProducer`` and the backends they send through."""

    PATH: ClassVar[str] = "producer"

    required_acks: Acks = Acks.ALL
    """How many replicas must have a batch before the broker acknowledges it: ``Acks.ALL``
    (every in-sync replica; the default, as in Kafka 4's Java producer), ``Acks.LOCAL`` (the
    leader; sarama's default ``WaitForLocal``) or ``Acks.NONE``. sarama's
    ``Producer.RequiredAcks``, Java's ``acks``. The Kafka backend sends it with every
    produce request; ``memory://`` has one replica and acknowledges every append."""

    partitioner: PartitionerLike = "hash"
    """How a record without an explicit partition gets one: a name (``"hash"``: Java's murmur2
    of the key, a random partition for a key-less record; ``"random"``, ``"round_robin"``,
    ``"manual"``), a ``Partitioner`` or a callable ``(topic, key, partitions) -> int``,
    resolved once per client by ``partitioner_from``. Default ``"hash"``. sarama's
    ``Producer.Partitioner``, Java's ``partitioner.class``."""

    return_successes: bool = False
    """Whether ``AsyncProducer.successes`` delivers each acknowledged message (True) or is
    None (False, the default). sarama's ``Producer.Return.Successes``; Java reports each
    record to its callback instead. ``SyncProducer`` always returns the result."""

    timeout: float = 10.0
    """Seconds a produce may take on Kafka, from the first attempt to the acknowledgement,
    metadata look-ups and retries included; also the broker's wait for ``required_acks``.
    Default 10 s; 1 ms to about 24.8 days (Kafka's int32 milliseconds). sarama's
    ``Producer.Timeout``, Java's ``delivery.timeout.ms`` with ``request.timeout.ms``.
    ``memory://`` appends at once and does not read it."""

    max_message_bytes: int = MiB
    """The largest record a producer sends, in bytes, measured as Kafka does: a batch holding
    that record alone (``aiomq.message.record_size``). A larger one fails with
    ``MessageTooLarge`` before anything is sent, on every backend; it is also the most a
    Kafka produce request carries in one batch. Default 1 MiB (Java's; sarama's is
    1,000,000); 1 to 2**31 - 1. sarama's ``Producer.MaxMessageBytes``, Java's
    ``max.request.size``. The topic's ``max.message.bytes`` applies on top, on the broker."""

    linger: float = 0.0
    """Seconds a partition's open batch waits for more records before it is sent. 0 (the
    default): sent as soon as the partition has nothing in flight, so batches grow with the
    load. 0, or 1 ms to about 24.8 days. sarama's ``Producer.Flush.Frequency``, Java's
    ``linger.ms``."""

    batch_size: int = 16 * 1024
    """Bytes at which a partition's open batch closes and is sent. Default 16 KiB (Java's);
    1 to 2**31 - 1. sarama's ``Producer.Flush.Bytes``, Java's ``batch.size``."""

    compression: Compression = Compression.NONE
    """The codec of record batches sent to Kafka: ``NONE`` (the default), ``GZIP``,
    ``SNAPPY``, ``LZ4`` or ``ZSTD`` (the last three need the ``cramjam`` package). sarama's
    ``Producer.Compression``, Java's ``compression.type``. ``memory://`` stores records
    uncompressed and does not read it."""

    idempotent: bool = True
    """Whether the broker drops a batch the producer sent twice, so retries neither duplicate
    nor reorder records (Kafka's producer ids and sequence numbers); needs
    ``required_acks = Acks.ALL``. Default True (Kafka 4's Java default; set it False to use
    another ``required_acks``). sarama's ``Producer.Idempotent``, Java's
    ``enable.idempotence``. ``memory://`` never appends a batch twice and does not read it."""

    buffer_bytes: int = 32 * MiB
    """Bytes of records a producer holds, accepted and not yet delivered; a send waits for
    room beyond it. Default 32 MiB (Java's); at least 1. Java's ``buffer.memory``; sarama
    has no byte bound (its ``ChannelBufferSize`` counts messages)."""

    block_timeout: float = 60.0
    """Seconds a send waits for room in ``buffer_bytes`` (or in an async producer's input)
    before it fails. Default 60 s (Java's); 0 (fail at once), or 1 ms to about 24.8 days.
    Java's ``max.block.ms``; sarama blocks without a bound."""

    transactional_id: str | None = None
    """The producer's transactional id: set, the producer can run transactions
    (``producer.transaction()``), and a new producer with the same id fences the old one.
    Default None. Needs ``idempotent``. sarama's ``Producer.Transaction.ID``, Java's
    ``transactional.id``."""

    transaction_timeout: float = 60.0
    """Seconds a transaction may stay open before the broker aborts it. Default 60 s (Java's);
    1 ms to about 24.8 days, and within the broker's ``transaction.max.timeout.ms`` (15 min).
    sarama's ``Producer.Transaction.Timeout``, Java's ``transaction.timeout.ms``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; normalise plain values to their enums. Raises ``ConfigError``."""
        p = self.PATH
        self.required_acks = _member(f"{p}.required_acks", Acks, self.required_acks)
        partitioner_from(self.partitioner)  # raises ConfigError("producer.partitioner", ...)
        _flag(f"{p}.return_successes", self.return_successes)
        _number(f"{p}.timeout", self.timeout)
        _integer(f"{p}.max_message_bytes", self.max_message_bytes, minimum=1)
        _number(f"{p}.linger", self.linger, zero=True)
        _integer(f"{p}.batch_size", self.batch_size, minimum=1)
        self.compression = _member(f"{p}.compression", Compression, self.compression)
        _flag(f"{p}.idempotent", self.idempotent)
        _integer(f"{p}.buffer_bytes", self.buffer_bytes, minimum=1, maximum=None)
        _number(f"{p}.block_timeout", self.block_timeout, zero=True)
        _number(f"{p}.transaction_timeout", self.transaction_timeout)
        if self.idempotent and self.required_acks is not Acks.ALL:
            raise ConfigError(
                f"{p}.idempotent", f"needs {p}.required_acks = Acks.ALL, not {self.required_acks!r}"
            )
        if self.transactional_id is not None:
            _text(f"{p}.transactional_id", self.transactional_id, empty=False)
            if not self.idempotent:
                raise ConfigError(f"{p}.transactional_id", f"needs {p}.idempotent = True")


@dataclass(slots=True)
class OffsetsConfig:
    """Where consumers start and how groups commit (sarama's ``Config.Consumer.Offsets``)."""

    PATH: ClassVar[str] = "consumer.offsets"

    initial: Offset = Offset.NEWEST
    """Where a consumer starts in a partition with no committed offset: ``Offset.NEWEST``
    (the next record produced; sarama's default) or ``Offset.OLDEST`` (the first record
    still held). sarama's ``Consumer.Offsets.Initial``, Java's ``auto.offset.reset``
    (``latest``, ``earliest``)."""

    commit_interval: float = 1.0
    """Seconds between a group's commits of the offsets it marked. Default 1 s (sarama's;
    Java's is 5 s); 1 ms to about 24.8 days. sarama's ``Consumer.Offsets.AutoCommit.Interval``,
    Java's ``auto.commit.interval.ms``."""

    auto_commit: bool = True
    """Whether a group commits marked offsets every ``commit_interval`` (True, the default)
    or only when ``group.commit()`` is called. sarama's ``Consumer.Offsets.AutoCommit.Enable``,
    Java's ``enable.auto.commit``."""

    reset: bool = False
    """What a consumer does with an offset out of range (before the log's start, past its
    end), asked for or reached when retention removes what it was reading: False (the
    default) raises ``OffsetOutOfRange`` (sarama's behaviour), True moves to ``initial``
    (Java's ``auto.offset.reset``). Read by what ``client.consumer()`` makes; a consumer
    group always moves to ``initial``, as Java's does (its members cannot stop on one
    partition)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        self.initial = _member(f"{p}.initial", Offset, self.initial)
        _number(f"{p}.commit_interval", self.commit_interval)
        _flag(f"{p}.auto_commit", self.auto_commit)
        _flag(f"{p}.reset", self.reset)


@dataclass(slots=True)
class FetchConfig:
    """How much a consumer's fetch asks for, in bytes (sarama's ``Config.Consumer.Fetch``).

    A record larger than these is still returned, so consumption never stalls.
    """

    PATH: ClassVar[str] = "consumer.fetch"

    min: int = 1
    """Bytes the broker waits for before it answers a fetch, or until ``consumer.max_wait``
    passes. Default 1; 1 to 2**31 - 1. sarama's ``Consumer.Fetch.Min``, Java's
    ``fetch.min.bytes``."""

    default: int = MiB
    """Bytes a fetch asks for per partition. Default 1 MiB; 1 to 2**31 - 1, at most ``max``.
    sarama's ``Consumer.Fetch.Default``, Java's ``max.partition.fetch.bytes``."""

    max: int = 50 * MiB
    """Bytes a fetch request asks for in all. Default 50 MiB (Java's; sarama's 0 means no
    limit, aiomq always has one); 1 to 2**31 - 1. aiomq fetches each partition with its own
    request, so this bounds ``default``. sarama's ``Consumer.Fetch.Max``, Java's
    ``fetch.max.bytes``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        _integer(f"{p}.min", self.min, minimum=1)
        _integer(f"{p}.default", self.default, minimum=1)
        _integer(f"{p}.max", self.max, minimum=1)
        if self.default > self.max:
            raise ConfigError(f"{p}.default", f"{self.default} is larger than {p}.max")


@dataclass(slots=True)
class ConsumerConfig:
    """Consumer settings (sarama's ``Config.Consumer``): ``offsets``, ``fetch``, ``max_wait``."""

    PATH: ClassVar[str] = "consumer"

    offsets: OffsetsConfig = field(default_factory=OffsetsConfig)
    """Where consumers start and how groups commit (``OffsetsConfig``)."""

    fetch: FetchConfig = field(default_factory=FetchConfig)
    """How many bytes a fetch asks for (``FetchConfig``)."""

    max_wait: float = 0.5
    """Seconds the broker may hold a fetch waiting for ``fetch.min`` bytes. Default 0.5 s
    (sarama's and Java's); 1 ms to about 24.8 days. sarama's ``Consumer.MaxWaitTime``, Java's
    ``fetch.max.wait.ms``."""

    isolation: Isolation = Isolation.READ_UNCOMMITTED
    """What consumers read of transactional records: ``READ_UNCOMMITTED`` (the default:
    every record, those of aborted transactions included) or ``READ_COMMITTED`` (only
    committed transactions, up to the last stable offset). sarama's
    ``Consumer.IsolationLevel``, Java's ``isolation.level``."""

    check_crcs: bool = True
    """Whether a fetch from Kafka checks each record batch's CRC (True, the default, as
    Java's ``check.crcs``): a corrupted batch is then a ``DecodeError`` instead of wrong
    data. ``memory://`` keeps records as objects and has nothing to check."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field, nested ones included. Raises ``ConfigError``."""
        p = self.PATH
        _instance(f"{p}.offsets", self.offsets, OffsetsConfig).validate()
        _instance(f"{p}.fetch", self.fetch, FetchConfig).validate()
        _number(f"{p}.max_wait", self.max_wait)
        self.isolation = _member(f"{p}.isolation", Isolation, self.isolation)
        _flag(f"{p}.check_crcs", self.check_crcs)


CLASSIC_SESSION_TIMEOUT = 10.0
"""``group.session_timeout`` when unset, under the classic protocol (sarama's default)."""

CLASSIC_HEARTBEAT_INTERVAL = 3.0
"""``group.heartbeat_interval`` when unset, under the classic protocol (sarama's and Java's)."""

SERVER_ASSIGNORS = ("uniform", "range")
"""The assignors a Kafka 4 coordinator offers for ``group.remote_assignor``."""


@dataclass(slots=True)
class GroupConfig:
    """Consumer-group settings (sarama's ``Config.Consumer.Group``, sarama-cluster's ``Group``).

    Under Kafka 4's consumer protocol (KIP-848) the coordinator owns the session timeout,
    the heartbeat interval and the assignment: ``session_timeout``, ``heartbeat_interval``
    and ``rebalance_strategy`` belong to the classic protocol, and setting one together with
    ``protocol=CONSUMER`` is a ``ConfigError`` naming what replaces it.
    """

    PATH: ClassVar[str] = "group"

    return_notifications: bool = False
    """Whether ``group.notifications`` reports each rebalance (True) or stays empty (False,
    the default). sarama-cluster's ``Group.Return.Notifications``; Java calls a
    ``ConsumerRebalanceListener``."""

    protocol: GroupProtocol = GroupProtocol.AUTO
    """The group protocol: ``AUTO`` (the default), ``CLASSIC`` or ``CONSUMER``. ``AUTO``
    speaks KIP-848's ``CONSUMER`` where the broker offers it (Kafka 4; ``memory://``) and
    ``CLASSIC`` elsewhere (older brokers, Redpanda), and ``CLASSIC`` too when a classic-only
    setting (``session_timeout``, ``heartbeat_interval``, ``rebalance_strategy``) is given.
    ``CONSUMER`` on a broker without it is a ``ConfigError`` when the group starts. Java's
    ``group.protocol``."""

    session_timeout: float | None = None
    """Classic protocol: seconds a member may go without a heartbeat before the coordinator
    drops it from the group. None (the default) is 10 s (sarama's; Java's is 45 s); 1 ms to
    about 24.8 days, within the broker's ``group.min.session.timeout.ms`` and
    ``group.max.session.timeout.ms``. Under the consumer protocol the broker's
    ``group.consumer.session.timeout.ms`` rules. sarama's ``Consumer.Group.Session.Timeout``,
    Java's ``session.timeout.ms``."""

    heartbeat_interval: float | None = None
    """Classic protocol: seconds between a member's heartbeats; shorter than the session
    timeout (a third of it is usual). None (the default) is 3 s (sarama's and Java's); 1 ms
    to about 24.8 days. Under the consumer protocol the broker's
    ``group.consumer.heartbeat.interval.ms`` rules. sarama's
    ``Consumer.Group.Heartbeat.Interval``, Java's ``heartbeat.interval.ms``."""

    rebalance_timeout: float = 60.0
    """Seconds a member gets to give up partitions in a rebalance (classic: to rejoin)
    before the coordinator drops it. Default 60 s (sarama's; Java uses
    ``max.poll.interval.ms``, 5 min); 1 ms to about 24.8 days. sarama's
    ``Consumer.Group.Rebalance.Timeout``."""

    rebalance_strategy: RebalanceStrategy | None = None
    """Classic protocol: how the group's leader assigns partitions. None (the default) is
    ``COOPERATIVE_STICKY`` (KIP-429: only partitions that move are revoked); ``RANGE`` and
    ``ROUND_ROBIN`` are eager. Under the consumer protocol the coordinator assigns (see
    ``remote_assignor``). sarama's ``Consumer.Group.Rebalance.Strategy``, Java's
    ``partition.assignment.strategy``."""

    remote_assignor: str | None = None
    """Consumer protocol: the coordinator's assignor, ``"uniform"`` or ``"range"``; None (the
    default) is the broker's first (``uniform``, sticky and balanced). One the broker does not
    have is a ``ConfigError`` when the group starts. Java's ``group.remote.assignor``."""

    instance_id: str | None = None
    """A static member's id (KIP-345): a member that restarts with the same id within its
    session timeout gets its partitions back without a rebalance. Default None (a dynamic
    member). Java's ``group.instance.id``; sarama's ``Consumer.Group.InstanceId``."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def classic_settings(self) -> tuple[str, ...]:
        """The classic-only settings given (their paths)."""
        p = self.PATH
        given = (
            ("session_timeout", self.session_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("rebalance_strategy", self.rebalance_strategy),
        )
        return tuple(f"{p}.{name}" for name, value in given if value is not None)

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        _flag(f"{p}.return_notifications", self.return_notifications)
        self.protocol = _member(f"{p}.protocol", GroupProtocol, self.protocol)
        if self.session_timeout is not None:
            _number(f"{p}.session_timeout", self.session_timeout)
        if self.heartbeat_interval is not None:
            _number(f"{p}.heartbeat_interval", self.heartbeat_interval)
        _number(f"{p}.rebalance_timeout", self.rebalance_timeout)
        session = CLASSIC_SESSION_TIMEOUT if self.session_timeout is None else self.session_timeout
        interval = (
            CLASSIC_HEARTBEAT_INTERVAL
            if self.heartbeat_interval is None
            else self.heartbeat_interval
        )
        if interval >= session:
            raise ConfigError(
                f"{p}.heartbeat_interval", f"must be shorter than {p}.session_timeout ({session})"
            )
        if self.rebalance_strategy is not None:
            self.rebalance_strategy = _member(
                f"{p}.rebalance_strategy", RebalanceStrategy, self.rebalance_strategy
            )
        if self.remote_assignor is not None:
            _text(f"{p}.remote_assignor", self.remote_assignor, empty=False)
        if self.instance_id is not None:
            _text(f"{p}.instance_id", self.instance_id, empty=False)
        self._check_protocol()

    def _check_protocol(self) -> None:
        p = self.PATH
        classic = self.classic_settings
        if self.protocol is GroupProtocol.CONSUMER and classic:
            raise ConfigError(classic[0], _OWNED_BY_THE_COORDINATOR[classic[0].rsplit(".")[-1]])
        if self.remote_assignor is not None:
            if self.protocol is GroupProtocol.CLASSIC:
                raise ConfigError(
                    f"{p}.remote_assignor",
                    "only the consumer protocol assigns on the coordinator; the classic "
                    f"protocol's leader uses {p}.rebalance_strategy",
                )
            if classic:
                raise ConfigError(
                    f"{p}.remote_assignor",
                    f"asks for the consumer protocol, and {classic[0]} for the classic one; "
                    f"set {p}.protocol to say which",
                )


_OWNED_BY_THE_COORDINATOR = {
    "session_timeout": "the broker sets the session timeout under the consumer protocol "
    "(group.consumer.session.timeout.ms); leave it unset, or use protocol CLASSIC",
    "heartbeat_interval": "the broker sets the heartbeat interval under the consumer protocol "
    "(group.consumer.heartbeat.interval.ms); leave it unset, or use protocol CLASSIC",
    "rebalance_strategy": "the coordinator assigns partitions under the consumer protocol: "
    "choose its assignor with group.remote_assignor, or use protocol CLASSIC",
}


@dataclass(slots=True)
class SaslConfig:
    """SASL authentication with Kafka (sarama's ``Config.Net.SASL``); off while ``mechanism``
    is None. ``memory://`` does not read it."""

    PATH: ClassVar[str] = "net.sasl"

    mechanism: SaslMechanism | None = None
    """``SaslMechanism.PLAIN``, ``SCRAM_SHA_256`` or ``SCRAM_SHA_512``; None (the default)
    turns SASL off. sarama's ``Net.SASL.Mechanism`` (with ``Net.SASL.Enable``), Java's
    ``sasl.mechanism``."""

    username: str = ""
    """The user to log in as; required with a ``mechanism``. Default empty. sarama's
    ``Net.SASL.User``; Java puts it in ``sasl.jaas.config``."""

    password: str = field(default="", repr=False)
    """The user's password; left out of ``repr``. Default empty. sarama's
    ``Net.SASL.Password``; Java puts it in ``sasl.jaas.config``."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def enabled(self) -> bool:
        """Whether SASL is on (sarama's ``Net.SASL.Enable``)."""
        return self.mechanism is not None

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        if self.mechanism is not None:
            self.mechanism = _member(f"{p}.mechanism", SaslMechanism, self.mechanism)
        if not isinstance(self.username, str):
            raise ConfigError(f"{p}.username", "must be a str")
        if not isinstance(self.password, str):
            raise ConfigError(f"{p}.password", "must be a str")
        if self.mechanism is not None and not self.username:
            raise ConfigError(f"{p}.username", f"is required with {p}.mechanism set")


@dataclass(slots=True)
class TlsConfig:
    """TLS to Kafka (sarama's ``Config.Net.TLS``). ``memory://`` does not read it."""

    PATH: ClassVar[str] = "net.tls"

    enable: bool = False
    """Whether connections to brokers use TLS. Default False. sarama's ``Net.TLS.Enable``,
    Java's ``security.protocol`` ``SSL`` (or ``SASL_SSL`` with SASL)."""

    context: ssl.SSLContext | None = None
    """The ``ssl.SSLContext`` to connect with (CAs, client certificate, checks); None (the
    default) means ``ssl.create_default_context()``: the system's CAs, hostname checks. Set
    without ``enable`` it is an error rather than silently unused. sarama's
    ``Net.TLS.Config``, Java's ``ssl.*`` settings."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        _flag(f"{p}.enable", self.enable)
        if self.context is not None:
            _instance(f"{p}.context", self.context, ssl.SSLContext)
            if not self.enable:
                raise ConfigError(f"{p}.context", f"is set but {p}.enable is False")


@dataclass(slots=True)
class NetConfig:
    """Network settings for Kafka (sarama's ``Config.Net``). ``memory://`` does not read
    them."""

    PATH: ClassVar[str] = "net"

    sasl: SaslConfig = field(default_factory=SaslConfig)
    """SASL authentication with the brokers (``SaslConfig``)."""

    tls: TlsConfig = field(default_factory=TlsConfig)
    """TLS to the brokers (``TlsConfig``)."""

    request_timeout: float = 40.0
    """Seconds any request to Kafka may take, retries included (metadata, admin, offsets, a
    fetch's answer; a produce has ``producer.timeout``). Default 40 s (aiokafka's); 1 ms to
    about 24.8 days. sarama splits it into ``Net.DialTimeout``, ``Net.ReadTimeout`` and
    ``Net.WriteTimeout``; Java's ``request.timeout.ms``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field, nested ones included. Raises ``ConfigError``."""
        p = self.PATH
        _instance(f"{p}.sasl", self.sasl, SaslConfig).validate()
        _instance(f"{p}.tls", self.tls, TlsConfig).validate()
        _number(f"{p}.request_timeout", self.request_timeout)


@dataclass(slots=True)
class Config:
    """The whole client configuration (Go's ``sarama.NewConfig()``).

    Checked on construction; after changing fields call ``validate()`` (``connect`` does),
    which also normalises plain values (``-1`` to ``Acks.ALL``). Unlike sarama there is no
    ``Version``: API versions are negotiated with the broker.
    """

    client_id: str = "aiomq"
    """The name the client gives brokers with every request (in their logs, metrics and
    quotas). Default ``"aiomq"`` (sarama's is ``"sarama"``); not empty, at most 32,767 UTF-8
    bytes. sarama's ``ClientID``, Java's ``client.id``. ``memory://`` does not read it."""

    channel_buffer_size: int = 256
    """The capacity of the channels aiomq makes for results: an ``AsyncProducer``'s
    ``successes`` and ``errors`` (and, once they exist, the consumers' message buffers and a
    group's ``notifications``). Default 256 (sarama's); at least 0. sarama's
    ``ChannelBufferSize``."""

    key_codec: CodecLike = "bytes"
    """How keys are encoded and decoded: a codec name (``"bytes"``, the default, ``"str"``,
    ``"json"``, ``"msgpack"``) or a ``Codec`` object; see ``aiomq.codecs.resolve``. sarama's
    ``Encoder``; Java's ``key.serializer`` and ``key.deserializer``."""

    value_codec: CodecLike = "bytes"
    """How values are encoded and decoded, as ``key_codec``. Default ``"bytes"``. Java's
    ``value.serializer`` and ``value.deserializer``."""

    producer: ProducerConfig = field(default_factory=ProducerConfig)
    """Producer settings (``ProducerConfig``)."""

    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    """Consumer settings (``ConsumerConfig``)."""

    group: GroupConfig = field(default_factory=GroupConfig)
    """Consumer-group settings (``GroupConfig``)."""

    net: NetConfig = field(default_factory=NetConfig)
    """Network settings for Kafka (``NetConfig``)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the whole tree (sarama's ``Config.Validate``). Raises ``ConfigError``.

        Returns None; the first invalid field found is the one reported.
        """
        _text("client_id", self.client_id, empty=False)
        _integer("channel_buffer_size", self.channel_buffer_size, minimum=0, maximum=None)
        _codec("key_codec", self.key_codec)
        _codec("value_codec", self.value_codec)
        _instance("producer", self.producer, ProducerConfig).validate()
        _instance("consumer", self.consumer, ConsumerConfig).validate()
        _instance("group", self.group, GroupConfig).validate()
        _instance("net", self.net, NetConfig).validate()


_T = TypeVar("_T")


def _instance(path: str, value: object, kind: type[_T]) -> _T:
    # A section replaced wholesale (``cfg.producer = {...}``) must still be the right type.
    if not isinstance(value, kind):
        raise ConfigError(path, f"must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _codec(path: str, value: object) -> None:
    try:
        resolve(value)  # type: ignore[arg-type]  # checking is the point
    except ConfigError as exc:
        raise ConfigError(path, str(exc).removeprefix(f"{exc.field}: ")) from None
