"""Client configuration: ``aiomq.Config()``, nested dataclasses shaped like ``sarama.Config``.

``cfg = Config(); cfg.producer.required_acks = Acks.ALL`` works as in Go. Every dataclass
checks itself on construction, and ``Config.validate()`` re-checks the whole tree after
mutation (sarama's ``Config.Validate``); ``aiomq.connect`` calls it. A bad value raises
``ConfigError`` naming the dotted field (``producer.timeout``). Durations are ``float``
seconds, not Go's ``time.Duration``. Defaults follow sarama where the two agree with Kafka's
Java client, and aiokafka's where sarama has no counterpart.
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
    "OffsetsConfig",
    "ProducerConfig",
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
    non-negative ``int`` is a concrete offset wherever an ``Offset`` is accepted.
    """

    NEWEST = -1
    OLDEST = -2


class Compression(StrEnum):
    """Producer compression codec (sarama's ``CompressionCodec``).

    Values are aiokafka's ``compression_type`` names; ``NONE`` maps to aiokafka's ``None``
    (see ``aiokafka_name``). snappy, lz4 and zstd need aiokafka's optional extras installed.
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
    """How a group assigns partitions (sarama's ``BalanceStrategy``); Kafka's assignor names."""

    RANGE = "range"
    ROUND_ROBIN = "roundrobin"
    STICKY = "sticky"


class SaslMechanism(StrEnum):
    """SASL mechanisms aiomq passes to the broker (sarama's ``SASLMechanism``)."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


# --- checks shared by the dataclasses; each names the dotted field it rejects -------------


def _number(path: str, value: object, *, positive: bool = True) -> float:
    # bool is an int subclass; ``timeout=True`` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, f"must be a number of seconds, not {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(path, f"must be finite, not {value}")
    if positive and value <= 0:
        raise ConfigError(path, f"must be > 0, not {value}")
    if not positive and value < 0:
        raise ConfigError(path, f"must be >= 0, not {value}")
    return float(value)


def _integer(path: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ConfigError(path, f"must be >= {minimum}, not {value}")
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


@dataclass(slots=True)
class ProducerConfig:
    """Producer settings (sarama's ``Config.Producer``).

    ``required_acks`` (``Acks.LOCAL``, sarama's default); ``partitioner``: a name (``"hash"``,
    ``"random"``, ``"round_robin"``, ``"manual"``), a ``Partitioner`` or a callable
    ``(topic, key, partitions) -> int``, resolved per producer by ``partitioner_from``;
    ``return_successes`` (False: ``AsyncProducer.successes`` is None); ``timeout`` (10 s, how
    long the broker waits for ``required_acks``, and on Kafka how long a batch may take to
    be acknowledged in all, retries included: aiokafka's producer ``request_timeout_ms``);
    ``max_message_bytes`` (1 MiB, aiokafka's ``max_request_size``; sarama uses 1,000,000);
    ``linger`` (0 s, sarama's ``Flush.Frequency``) and ``batch_size`` (16 KiB, sarama's
    ``Flush.Bytes``): how long and up to how many bytes a producer gathers records into one
    batch; the backend sends each batch it is given at once, as one Kafka batch up to
    ``max_message_bytes`` (no aiokafka ``linger_ms`` on top); ``compression``
    (``Compression.NONE``); ``idempotent`` (False, Java's ``enable.idempotence``): the broker
    drops a batch the producer sent twice, so retries neither duplicate nor reorder records;
    needs ``required_acks = Acks.ALL``; ``buffer_bytes`` (32 MiB, Java's ``buffer.memory``):
    the bytes of records a producer holds accepted and not yet delivered; ``block_timeout``
    (60 s, Java's ``max.block.ms``): how long a send waits for room in that buffer (or in an
    async producer's input) before it fails.
    """

    PATH: ClassVar[str] = "producer"

    required_acks: Acks = Acks.LOCAL
    partitioner: PartitionerLike = "hash"
    return_successes: bool = False
    timeout: float = 10.0
    max_message_bytes: int = MiB
    linger: float = 0.0
    batch_size: int = 16 * 1024
    compression: Compression = Compression.NONE
    idempotent: bool = False
    buffer_bytes: int = 32 * MiB
    block_timeout: float = 60.0

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
        _number(f"{p}.linger", self.linger, positive=False)
        _integer(f"{p}.batch_size", self.batch_size, minimum=1)
        self.compression = _member(f"{p}.compression", Compression, self.compression)
        _flag(f"{p}.idempotent", self.idempotent)
        _integer(f"{p}.buffer_bytes", self.buffer_bytes, minimum=1)
        _number(f"{p}.block_timeout", self.block_timeout, positive=False)
        if self.idempotent and self.required_acks is not Acks.ALL:
            raise ConfigError(
                f"{p}.idempotent", f"needs {p}.required_acks = Acks.ALL, not {self.required_acks!r}"
            )


@dataclass(slots=True)
class OffsetsConfig:
    """Offset settings (sarama's ``Config.Consumer.Offsets``).

    ``initial``: where to start without a committed offset (``Offset.NEWEST``, sarama's
    default); ``commit_interval``: how often a group commits marked offsets (1 s);
    ``auto_commit``: whether it does so at all (True; with False only ``group.commit()``
    commits).
    """

    PATH: ClassVar[str] = "consumer.offsets"

    initial: Offset = Offset.NEWEST
    commit_interval: float = 1.0
    auto_commit: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        self.initial = _member(f"{p}.initial", Offset, self.initial)
        _number(f"{p}.commit_interval", self.commit_interval)
        _flag(f"{p}.auto_commit", self.auto_commit)


@dataclass(slots=True)
class FetchConfig:
    """Fetch sizes (sarama's ``Config.Consumer.Fetch``), in bytes.

    ``min`` (1): the broker answers once this much is ready or ``consumer.max_wait`` passes;
    ``default`` (1 MiB): per partition per request (aiokafka's ``max_partition_fetch_bytes``);
    ``max`` (50 MiB): per request (aiokafka's ``fetch_max_bytes``; sarama's 0 means no limit,
    aiomq always has one). Kafka still returns a record larger than these so consumption never
    stalls.
    """

    PATH: ClassVar[str] = "consumer.fetch"

    min: int = 1
    default: int = MiB
    max: int = 50 * MiB

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
    """Consumer settings (sarama's ``Config.Consumer``).

    ``offsets`` and ``fetch`` as above; ``max_wait`` (0.5 s, sarama's ``MaxWaitTime``): how
    long the broker may hold a fetch waiting for ``fetch.min`` bytes.
    """

    PATH: ClassVar[str] = "consumer"

    offsets: OffsetsConfig = field(default_factory=OffsetsConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    max_wait: float = 0.5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field, nested ones included. Raises ``ConfigError``."""
        p = self.PATH
        _instance(f"{p}.offsets", self.offsets, OffsetsConfig).validate()
        _instance(f"{p}.fetch", self.fetch, FetchConfig).validate()
        _number(f"{p}.max_wait", self.max_wait)


@dataclass(slots=True)
class GroupConfig:
    """Consumer-group settings (sarama's ``Config.Consumer.Group``, sarama-cluster's ``Group``).

    ``return_notifications`` (False: ``group.notifications`` stays empty); ``session_timeout``
    (10 s) and ``heartbeat_interval`` (3 s), which must be shorter; ``rebalance_timeout``
    (60 s, how long members get to rejoin); ``rebalance_strategy`` (``RANGE``, sarama's
    default; aiokafka's is round robin).
    """

    PATH: ClassVar[str] = "group"

    return_notifications: bool = False
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    rebalance_timeout: float = 60.0
    rebalance_strategy: RebalanceStrategy = RebalanceStrategy.RANGE

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field. Raises ``ConfigError``."""
        p = self.PATH
        _flag(f"{p}.return_notifications", self.return_notifications)
        _number(f"{p}.session_timeout", self.session_timeout)
        _number(f"{p}.heartbeat_interval", self.heartbeat_interval)
        _number(f"{p}.rebalance_timeout", self.rebalance_timeout)
        if self.heartbeat_interval >= self.session_timeout:
            raise ConfigError(
                f"{p}.heartbeat_interval",
                f"must be shorter than {p}.session_timeout ({self.session_timeout})",
            )
        self.rebalance_strategy = _member(
            f"{p}.rebalance_strategy", RebalanceStrategy, self.rebalance_strategy
        )


@dataclass(slots=True)
class SaslConfig:
    """SASL authentication (sarama's ``Config.Net.SASL``); off while ``mechanism`` is None.

    With a mechanism set, ``username`` must not be empty. The password is left out of
    ``repr``.
    """

    PATH: ClassVar[str] = "net.sasl"

    mechanism: SaslMechanism | None = None
    username: str = ""
    password: str = field(default="", repr=False)

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
    """TLS (sarama's ``Config.Net.TLS``): ``enable``, and an optional ``ssl.SSLContext``.

    With ``enable`` and no ``context`` the client uses ``ssl.create_default_context()``
    (system CAs, hostname checks). A ``context`` without ``enable`` is an error rather than
    silently unused.
    """

    PATH: ClassVar[str] = "net.tls"

    enable: bool = False
    context: ssl.SSLContext | None = None

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
    """Network settings (sarama's ``Config.Net``): ``sasl``, ``tls`` and ``request_timeout``.

    ``request_timeout`` (40 s, aiokafka's ``request_timeout_ms``) bounds each broker request;
    sarama splits it into dial, read and write timeouts.
    """

    PATH: ClassVar[str] = "net"

    sasl: SaslConfig = field(default_factory=SaslConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    request_timeout: float = 40.0

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

    ``client_id`` ("aiomq", sarama's "sarama"); ``channel_buffer_size`` (256, sarama's
    ``ChannelBufferSize``): the capacity of every channel aiomq makes (``successes``,
    ``errors``, ``notifications``, per-partition message buffers); ``key_codec`` and
    ``value_codec`` ("bytes"): a codec name or object, see ``aiomq.codecs.resolve``; then the
    ``producer``, ``consumer``, ``group`` and ``net`` sections.

    Checked on construction; after changing fields call ``validate()`` (``connect`` does), which
    also normalises plain values (``-1`` to ``Acks.ALL``). Unlike sarama there is no
    ``Version``: aiokafka negotiates API versions with the broker.
    """

    client_id: str = "aiomq"
    channel_buffer_size: int = 256
    key_codec: CodecLike = "bytes"
    value_codec: CodecLike = "bytes"
    producer: ProducerConfig = field(default_factory=ProducerConfig)
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    group: GroupConfig = field(default_factory=GroupConfig)
    net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the whole tree (sarama's ``Config.Validate``). Raises ``ConfigError``.

        Returns None; the first invalid field found is the one reported.
        """
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigError("client_id", "must be a non-empty str")
        _integer("channel_buffer_size", self.channel_buffer_size, minimum=0)
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
