"""The backend interface: the few operations aiomq's messaging layer needs from a log broker.

Producers, consumers, groups and the admin are written once over ``Backend``; ``kafka://``
(aiokafka) and ``memory://`` (the in-process broker) implement it and pass one contract suite
(tests/backends/test_contract.py). A backend deals in bytes: codecs and partitioners run in
the client above it. docs/architecture.md explains how to add a third backend.

The Go counterpart is sarama's ``Broker``/``Client`` pair, reduced to what a client needs:
produce a batch to one partition, fetch from a position with a long poll, partition
metadata and offsets, topic admin, and group-offset storage. Go's ``interface`` is a
``typing.Protocol`` here: a backend satisfies it by shape, without inheriting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

from ..errors import ConfigError, MessageTooLarge, TopicExists
from ..message import Headers, record_size, validate_topic

__all__ = [
    "EARLIEST",
    "LATEST",
    "Backend",
    "Membership",
    "CommittedOffset",
    "FetchResult",
    "PartitionInfo",
    "ProduceRecord",
    "ProduceResult",
    "Record",
    "TopicExists",
    "TopicInfo",
    "TopicPartition",
    "TransactionalProducer",
    "check_commit",
    "check_consumer_heartbeat",
    "check_fetch_arguments",
    "check_flag",
    "check_group",
    "check_membership",
    "check_offset",
    "check_offset_specs",
    "check_partition",
    "check_record_sizes",
    "check_records",
    "CheckedRecords",
    "check_string",
    "check_topic",
    "check_topic_arguments",
    "check_topic_partitions",
    "check_transaction_timeout",
    "check_transactional_id",
]

LATEST = -1
"""``list_offsets`` spec for the high watermark (sarama's ``OffsetNewest``, Kafka's -1)."""

EARLIEST = -2
"""``list_offsets`` spec for the log start offset (sarama's ``OffsetOldest``, Kafka's -2)."""

TopicPartition: TypeAlias = tuple[str, int]
"""A ``(topic, partition)`` pair, the key of group offsets."""


ProduceRecord: TypeAlias = tuple[bytes | None, bytes | None, Headers, int | None]
"""One record handed to ``Backend.produce``: ``(key, value, headers, timestamp)``.

Key and value are encoded bytes or None; ``timestamp`` is milliseconds since the epoch
(Kafka's CreateTime), or None to let the backend stamp the record with the current time.
A plain tuple, not a named one: the producer builds one per record, and a plain tuple of
atomic values costs the least to build and nothing to the garbage collector.
"""

Record: TypeAlias = tuple[int, int, bytes | None, bytes | None, Headers]
"""One record of a partition's log: ``(offset, timestamp, key, value, headers)``.

What ``Backend.fetch`` returns. A plain tuple for the same reason as ``ProduceRecord``, and
more so here: the in-process broker keeps every record it holds as one, and CPython's
collector stops tracking plain tuples of atomic values (never those of a ``NamedTuple``
subclass), so a log of millions of records adds nothing to each full collection.
"""


@dataclass(frozen=True, slots=True)
class ProduceResult:
    """Where a produced batch landed: each record's offset and timestamp, in input order.

    The Go counterpart is sarama's ``ProduceResponseBlock`` (``Offset``, ``Timestamp``) for
    one partition, here with an offset and a timestamp for every record.

    ``offsets`` increase; they are contiguous (a ``range``) when the batch went in as one
    append, always so in process. On Kafka a batch larger than one request is sent as several
    and another producer's records may land between them. ``timestamps[i]`` is what the log
    recorded for record ``i``: its CreateTime, or the broker's append time under
    ``LogAppendTime``. Offsets are -1 when the producer did not wait for an acknowledgement
    (``Acks.NONE``): they are then unknown.
    """

    offsets: Sequence[int]
    timestamps: Sequence[int]

    @property
    def base_offset(self) -> int:
        """The first record's offset; -1 for an empty batch or an unacknowledged one."""
        return self.offsets[0] if self.offsets else -1


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch returned (a row of sarama's ``FetchResponse``, ``FetchResponseBlock``).

    ``records`` are in offset order, all at or after the requested offset (possibly empty
    when the wait ran out). ``next_offset`` is where the next fetch should start: one past
    the last record, or further when the log holds offsets no consumer sees (Kafka's
    transaction markers); it equals the requested offset when nothing was read.
    ``high_watermark`` is the offset the next produced record will get (the partition's
    end), ``log_start_offset`` the oldest offset still held. ``last_stable_offset`` is the
    first offset of a transaction still open (the high watermark when none is): a
    ``read_committed`` fetch reads no further. ``timestamp_type`` says what the records'
    timestamps are: ``CREATE_TIME`` (0, given by the producer) or ``LOG_APPEND_TIME`` (1,
    stamped by the broker; the topic's ``message.timestamp.type``). sarama hands out a
    block's raw record sets and leaves ``next_offset`` to its consumer; here the backend
    decodes them and says where to go on.
    """

    records: Sequence[Record]
    next_offset: int
    high_watermark: int
    log_start_offset: int
    last_stable_offset: int = -1
    timestamp_type: int = 0


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition of a topic (a row of sarama's ``TopicMetadata.Partitions``).

    ``leader``, ``replicas`` and ``isr`` are broker ids; the in-process broker is broker 0.
    ``leader`` is -1 while the partition has no leader (Kafka's ``LEADER_NOT_AVAILABLE``).
    """

    id: int
    leader: int
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic and its partitions, ordered by partition id (sarama's ``TopicMetadata``)."""

    name: str
    partitions: tuple[PartitionInfo, ...] = field(default=())
    internal: bool = False


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    """A group's committed position in one partition (sarama's ``OffsetFetchResponseBlock``).

    ``offset`` is the next record the group will read (a consumed offset plus one, what
    ``mark_offset`` stores); ``metadata`` is the free text committed with it.
    """

    offset: int
    metadata: str = ""


@dataclass(frozen=True, slots=True)
class Membership:
    """Who commits: a member's generation (KIP-848: its epoch), id and static instance id.

    Offsets committed with it are refused (``StaleMember``, ``FencedInstanceId``) once it is
    no longer current, so a member that lost its partitions cannot overwrite the new owner's
    progress. It is also what a transactional producer sends with its offsets (Java's
    ``ConsumerGroupMetadata``, KIP-447).
    """

    group: str
    generation: int
    member_id: str
    instance_id: str | None = None


@runtime_checkable
class TransactionalProducer(Protocol):
    """One transactional producer's identity on the broker (Kafka's ``transactional.id``):
    its producer id and epoch, its sequence numbers and the transaction under way.

    ``begin()`` opens a transaction; ``produce`` and ``send_offsets`` only work inside one;
    ``commit()`` makes all of it visible to ``read_committed`` readers at once, the records
    and the group offsets, or ``abort()`` discards all of it. A transaction open longer
    than the producer's transaction timeout (counted from its first record or offsets, when
    the broker learns of it) is aborted by the broker: what follows in it fails with
    ``TransactionError``.

    Errors: ``TransactionError`` (the transaction is aborted; once ``abort()`` is called,
    the producer can begin another), ``ProducerFenced`` (a newer producer with the same
    transactional id took over: this one can only be closed), ``StaleMember`` or
    ``FencedInstanceId`` from ``send_offsets`` when the group moved on (KIP-447: the
    transaction must be aborted). After any of them but ``ProducerFenced``, every call but
    ``abort()`` and ``aclose()`` raises ``TransactionError`` until ``abort()``, as Java's
    producer in its abortable-error state; after ``ProducerFenced``, every call but
    ``aclose()`` raises ``ProducerFenced``. ``begin()`` may ask the broker nothing, so a
    fenced producer may learn it from the next ``produce``, ``send_offsets``, ``commit`` or
    ``abort``. Using it in the wrong state (``produce`` outside a transaction, ``begin``
    twice) raises ``TransactionError`` and changes nothing; so does a call refused for its
    own arguments (``ConfigError``, ``MessageTooLarge`` for a record over the client's
    limit, ``UnknownTopic``): the transaction stays open. After ``aclose()`` every call but
    ``aclose()`` raises ``ClosedError``.
    """

    @property
    def transactional_id(self) -> str:
        """The id this producer was opened with."""
        ...

    async def begin(self) -> None:
        """Open a transaction (no I/O until the first record or offsets)."""
        ...

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append ``records`` inside the transaction (``Backend.produce``'s contract)."""
        ...

    async def send_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Commit ``offsets`` for ``membership``'s group as part of the transaction: they
        take effect only if it commits (consume-transform-produce, exactly once).

        ``membership`` with generation -1 and member id ``""`` is not checked (offsets
        committed outside group management, as ``Backend.commit_offsets``)."""
        ...

    async def commit(self) -> None:
        """Commit the transaction. Every ``produce`` of it must have returned. On Kafka,
        ``read_committed`` readers see it, and the group its offsets, once the broker has
        written its markers, a moment after this returns."""
        ...

    async def abort(self) -> None:
        """Abort the transaction: its records are never visible to ``read_committed``
        readers, its offsets never take effect. Also ends a transaction that failed
        (``TransactionError``, ``StaleMember``, ``FencedInstanceId``)."""
        ...

    async def aclose(self) -> None:
        """Release the producer; a transaction still open is aborted. Idempotent."""
        ...


@runtime_checkable
class Backend(Protocol):
    """The operations every aiomq backend provides; all of them are coroutines but ``url``.

    Errors are aiomq's own (``UnknownTopic``, ``OffsetOutOfRange``, ``MessageTooLarge``,
    ``BrokerUnavailable``, ...), never a library's: a backend maps them in one place. Every
    operation checks its arguments first with the ``check_*`` functions below: a bad one
    raises ``ConfigError`` naming it, before any I/O, and changes nothing. Nothing here
    encodes values or chooses partitions; the client does that.
    """

    @property
    def url(self) -> str:
        """The URL the backend was opened from."""
        ...

    async def open(self) -> None:
        """Connect (a no-op in process). Called once, before any other operation."""
        ...

    async def aclose(self) -> None:
        """Release connections and wake parked fetches. Idempotent."""
        ...

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append ``records`` to one partition, in order; returns their offsets.

        Creates the topic first when it is missing and auto-creation is on; an empty batch
        appends nothing but checks (or creates) the topic and partition all the same. Raises
        ``UnknownTopic`` (topic or partition missing), ``MessageTooLarge`` (a record over
        the client's ``producer.max_message_bytes`` or the topic's or broker's maximum, each
        measured as a batch holding that record alone: ``aiomq.message.record_size``) and
        ``ConfigError("timestamp")`` (a timestamp the broker refuses: more than the topic's
        ``message.timestamp.after.max.ms`` ahead, an hour by default). A batch that fits one
        request is appended whole or not at all; on Kafka a larger one goes as several
        requests, as does one over the topic's ``max.message.bytes``, and a failure may leave
        the earlier ones appended (the in-process broker is always all or none).

        Concurrent calls to one partition are appended in the order they were made, each
        call's records together, whatever each waits for first (a leader, a connection, a
        split): the producers keep several batches of a partition in flight on this. Kafka
        keeps it through the idempotent producer's sequence numbers (``producer.idempotent``,
        the default, or a transaction; without them a retried request may land after a later
        call's); the in-process broker appends at the call.
        """
        ...

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
        read_committed: bool = False,
    ) -> FetchResult:
        """Read records starting at ``offset``: a long poll, as Kafka's Fetch.

        Returns as soon as at least ``min_bytes`` of records are available, or after
        ``max_wait`` seconds with whatever there is (possibly nothing). ``max_bytes`` bounds
        the answer but at least one record is returned when one is available, so a record
        larger than ``max_bytes`` never stalls a consumer. ``max_records`` caps the count.
        Raises ``OffsetOutOfRange`` when ``offset`` is before the log start or past the high
        watermark (fetching *at* the high watermark waits for new records) and
        ``UnknownTopic``; a fetch never creates a topic.

        Transactions: a commit or abort marker takes an offset but never appears (it only
        moves ``next_offset``). With ``read_committed`` (Kafka's isolation level) the fetch
        reads no further than the last stable offset, waiting there as at the high
        watermark, until the transaction ends or ``max_wait`` passes, and leaves out the
        records of aborted transactions; without it (the default, ``read_uncommitted``)
        every data record up to the high watermark is returned, those of open and aborted
        transactions included. Both report ``last_stable_offset``. ``ConfigError`` when
        ``read_committed`` is not a ``bool``.
        """
        ...

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic`` in order; creates it when missing and allowed."""
        ...

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """Resolve one offset per partition: ``{partition: spec}`` → ``{partition: offset}``.

        A spec is ``EARLIEST`` (the log start), ``LATEST`` (the high watermark) or a
        timestamp in milliseconds: the first offset whose record timestamp is at or after
        it, or ``None`` when no record is that recent.
        """
        ...

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic. ``TopicExists`` when it exists.

        ``ConfigError`` names a bad argument: an illegal or internal (``__``) name, a count
        below 1, a replication factor above the brokers there are, a config name Kafka does
        not know or a value it refuses.
        """
        ...

    async def delete_topic(self, name: str) -> None:
        """Delete a topic, its records and the offsets groups committed for it.

        ``UnknownTopic`` when missing; ``ConfigError`` for an internal (``__``) topic. On
        Kafka the offsets go a moment after this returns, when the group coordinator applies
        the deletion.
        """
        ...

    async def list_topics(self) -> list[str]:
        """Names of the topics, sorted, without internal ones (``__consumer_offsets``)."""
        ...

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions with their leaders and replicas. ``UnknownTopic``."""
        ...

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Store ``offsets`` for ``group``, replacing earlier commits of those partitions.

        A plain store with no group membership check (Kafka's commit with generation -1, as
        sarama-cluster's offset manager outside a session). ``UnknownTopic`` for a missing
        partition; ``ConfigError("metadata")`` for metadata longer than the broker keeps
        (Kafka's ``offset.metadata.max.bytes``, 4096 characters by default).
        """
        ...

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """The group's committed offsets; partitions with no commit are left out."""
        ...

    async def transactional_producer(
        self, transactional_id: str, *, transaction_timeout: float
    ) -> TransactionalProducer:
        """Open the transactional producer ``transactional_id`` (Kafka's InitProducerId).

        Fences any older producer with the same id (its next call to the broker raises
        ``ProducerFenced``) and aborts the transaction it left open, so a restarted
        application picks up where its predecessor committed. ``transaction_timeout``: how
        long a transaction may stay open before the broker aborts it, in seconds.
        ``ConfigError("transactional_id")`` for an id that is not a non-empty ``str``,
        ``ConfigError("transaction_timeout")`` for a timeout under 1 ms or over the broker's
        ``transaction.max.timeout.ms`` (15 minutes by default).
        """
        ...


# -- argument checks every backend shares, so each raises the same error for the same input --
#
# Every public backend operation checks its arguments with these before doing anything, so a
# value the wire cannot hold (an offset of 2**63, a 40,000-character group id) is refused the
# same way on every backend, with a ConfigError naming the argument, instead of surfacing as a
# struct error from deep in a protocol encoder, or being stored in process and failing later.

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_STRING_BYTES = 2**15 - 1
"""The longest string Kafka's protocol carries (an INT16 length), in UTF-8 bytes."""


def _int(field: str, value: object, minimum: int, maximum: int) -> int:
    # bool is an int subclass; partition=True is a mistake, not partition 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"must be an int, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ConfigError(field, f"must be between {minimum} and {maximum}, not {value}")
    return value


def check_string(field: str, value: object, *, empty: bool = True) -> str:
    """``value`` if it is a ``str`` that fits Kafka's protocol (at most 32,767 UTF-8 bytes).

    ``empty=False`` refuses ``""`` too. ``ConfigError(field, ...)`` otherwise.
    """
    if not isinstance(value, str):
        raise ConfigError(field, f"must be a str, not {type(value).__name__}")
    if not empty and not value:
        raise ConfigError(field, "must not be empty")
    # Three bytes at most per character: most strings need no encoding to be measured.
    if len(value) * 3 > MAX_STRING_BYTES:
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_STRING_BYTES:
            raise ConfigError(field, f"is {size} bytes in UTF-8, more than {MAX_STRING_BYTES}")
    return value


def check_topic(name: object, *, internal: bool = True) -> str:
    """``name`` if it is a legal topic name (``validate_topic``); ``ConfigError("topic")``.

    ``internal=False`` (``create_topic``, ``delete_topic``) also refuses the names Kafka
    keeps for its own topics, those starting with ``__`` (``__consumer_offsets``): a client
    never creates nor deletes them (Kafka itself would let an admin delete one).
    """
    topic = validate_topic(name)  # type: ignore[arg-type]  # checking is the point
    if not internal and topic.startswith("__"):
        raise ConfigError(
            "topic", f"{topic!r}: names starting with '__' are kept for Kafka's internal topics"
        )
    return topic


def check_partition(partition: object) -> int:
    """``partition`` if it is an ``int`` in ``[0, 2**31)``; ``ConfigError`` otherwise."""
    return _int("partition", partition, 0, INT32_MAX)


def check_offset(offset: object, field: str = "offset", *, minimum: int = 0) -> int:
    """``offset`` if it is an ``int`` in ``[minimum, 2**63)``; ``ConfigError`` otherwise.

    ``fetch`` passes ``minimum=-2**63``: a negative fetch offset is before every log's
    start, which the log answers with ``OffsetOutOfRange``, as Kafka does.
    """
    return _int(field, offset, minimum, INT64_MAX)


def check_fetch_arguments(
    max_wait: object, min_bytes: object, max_bytes: object, max_records: object
) -> None:
    """Check ``Backend.fetch``'s keyword arguments; ``ConfigError`` naming the bad one.

    ``max_wait``: seconds, finite, >= 0, at most 2**31 - 1 milliseconds; ``min_bytes``: an
    int in ``[0, 2**31)``; ``max_bytes``: in ``[1, 2**31)``; ``max_records``: None or >= 1.
    """
    if isinstance(max_wait, bool) or not isinstance(max_wait, int | float):
        raise ConfigError("max_wait", f"must be a number of seconds, not {type(max_wait).__name__}")
    if not 0 <= max_wait <= INT32_MAX / 1000:  # NaN fails this too
        raise ConfigError("max_wait", f"must be between 0 and {INT32_MAX / 1000} s, not {max_wait}")
    _int("min_bytes", min_bytes, 0, INT32_MAX)
    _int("max_bytes", max_bytes, 1, INT32_MAX)
    if max_records is not None:
        _int("max_records", max_records, 1, INT32_MAX)


class CheckedRecords(list[ProduceRecord]):
    """Records that each passed ``check_records``' checks on the way in, one at a time: what
    aiomq's producers build their batches of (``producer._encode.Encoder`` checks every
    record it makes). ``check_records`` takes them as they are, so a producer does not pay
    for the same checks twice. Anything else, a plain list included, is checked."""

    __slots__ = ()


def check_records(records: Sequence[ProduceRecord]) -> None:
    """Check ``Backend.produce``'s records: a sequence of ``(key, value, headers, timestamp)``.

    Key and value are ``bytes`` or None (codecs above the backend turn anything else into
    bytes: a ``bytearray`` is refused, not copied); headers a tuple of
    ``(str, bytes | None)`` pairs; a timestamp None or an ``int`` in ``[0, 2**63)`` (the
    Java producer refuses negative ones too). ``ConfigError`` names the first bad field and
    the record's index. Whether the broker takes the timestamp (Kafka refuses one more than
    ``message.timestamp.after.max.ms`` ahead) is the broker's to say. ``CheckedRecords``
    pass without a look.
    """
    if records.__class__ is CheckedRecords:
        return
    if not isinstance(records, Sequence) or isinstance(records, str | bytes | bytearray):
        raise ConfigError("records", f"must be a sequence of records, not {type(records).__name__}")
    try:
        # The common record costs one test per field and no call; anything else goes to the
        # full check, which names the first bad field. A producer stamps every record, so
        # a timestamp in range is as common as none.
        for key, value, headers, timestamp in records:
            if not (
                (key is None or type(key) is bytes)
                and (type(value) is bytes or value is None)
                and headers == ()
                and (
                    timestamp is None
                    or (timestamp.__class__ is int and 0 <= timestamp <= INT64_MAX)
                )
            ):
                break
        else:
            return
    except (TypeError, ValueError):  # a record that is not four fields
        pass
    for i, record in enumerate(records):
        _check_record(i, record)


def _check_record(i: int, record: Any) -> None:
    try:
        key, value, headers, timestamp = record
    except (TypeError, ValueError):
        raise ConfigError(
            "records", f"record {i} must be a (key, value, headers, timestamp) tuple"
        ) from None
    if key is not None and type(key) is not bytes:
        raise ConfigError("key", f"record {i}: must be bytes or None, not {type(key).__name__}")
    if value is not None and type(value) is not bytes:
        raise ConfigError("value", f"record {i}: must be bytes or None, not {type(value).__name__}")
    if not isinstance(headers, tuple):
        raise ConfigError(
            "headers", f"record {i}: must be a tuple of (str, bytes) pairs, not {headers!r}"
        )
    for pair in headers:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not (pair[1] is None or type(pair[1]) is bytes)
        ):
            raise ConfigError(
                "headers", f"record {i}: a header must be (str, bytes | None), not {pair!r}"
            )
        check_string("headers", pair[0])
    if timestamp is not None:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise ConfigError(
                "timestamp",
                f"record {i}: must be None or an int of milliseconds, "
                f"not {type(timestamp).__name__}",
            )
        if not 0 <= timestamp <= INT64_MAX:
            raise ConfigError(
                "timestamp", f"record {i}: must be between 0 and {INT64_MAX}, not {timestamp}"
            )


def check_record_sizes(records: Sequence[ProduceRecord], limit: int) -> None:
    """``MessageTooLarge`` when a record is over the client's ``producer.max_message_bytes``.

    A record's size is ``aiomq.message.record_size``: that of a batch holding it alone, the
    measure Kafka's size limits apply to. Checked before anything is sent, so a record the
    broker would refuse anyway costs no round trip. Records already checked with
    ``check_records``.
    """
    for i, (key, value, headers, _) in enumerate(records):
        size = record_size(key, value, headers)
        if size > limit:
            raise MessageTooLarge(
                f"record {i} is {size} bytes as a batch of its own, more than "
                f"producer.max_message_bytes ({limit})"
            )


def check_topic_arguments(
    name: str,
    partitions: int,
    replication: int | None,
    config: Mapping[str, str] | None,
) -> dict[str, str]:
    """Check ``Backend.create_topic``'s arguments; return the config as a new dict.

    An illegal or internal name (``check_topic``), a partition count or replication factor
    that is not an ``int`` of at least 1 (``True`` included), or a config that does not map
    ``str`` to ``str`` raise ``ConfigError`` naming the argument. Whether the cluster has
    enough brokers for ``replication``, and whether it knows each config key, is the
    backend's to say (``ConfigError("replication")``, ``ConfigError("config")``).
    """
    check_topic(name, internal=False)
    _int("partitions", partitions, 1, INT32_MAX)
    if replication is not None:
        _int("replication", replication, 1, 2**15 - 1)
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError("config", f"must be a mapping of str to str, not {type(config).__name__}")
    configs = dict(config or {})
    for key, value in configs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError("config", f"must map str to str, not {key!r}: {value!r}")
        check_string("config", key)
        check_string("config", value)
    return configs


def check_offset_specs(specs: Mapping[int, int]) -> None:
    """Check ``Backend.list_offsets``'s specs: ``EARLIEST``, ``LATEST`` or a timestamp >= 0.

    A partition or spec that is not an ``int`` (``True`` is not timestamp 1, ``-1.0`` not
    ``LATEST``), or one out of the wire's range, raises ``ConfigError``.
    """
    if not isinstance(specs, Mapping):
        raise ConfigError("specs", f"must map partitions to specs, not {type(specs).__name__}")
    for partition, spec in specs.items():
        check_partition(partition)
        if isinstance(spec, bool) or not isinstance(spec, int):
            raise ConfigError(
                "timestamp",
                f"partition {partition}: a spec is EARLIEST, LATEST or an int timestamp, "
                f"not {type(spec).__name__}",
            )
        if spec != EARLIEST and spec != LATEST and not 0 <= spec <= INT64_MAX:
            raise ConfigError(
                "timestamp",
                f"partition {partition}: a spec is EARLIEST, LATEST or a timestamp between 0 "
                f"and {INT64_MAX}, not {spec}",
            )


def check_group(group: object) -> str:
    """``group`` if it is a non-empty ``str`` that fits the protocol; else
    ``ConfigError("group", ...)`` (Kafka's INVALID_GROUP_ID)."""
    return check_string("group", group, empty=False)


def check_flag(field: str, value: object) -> bool:
    """``value`` if it is a ``bool`` (``read_committed="yes"`` is a mistake, not True);
    ``ConfigError(field, ...)`` otherwise."""
    if not isinstance(value, bool):
        raise ConfigError(field, f"must be a bool, not {type(value).__name__}")
    return value


def check_transactional_id(transactional_id: object) -> str:
    """``transactional_id`` if it is a non-empty ``str`` that fits the protocol; else
    ``ConfigError("transactional_id", ...)``."""
    return check_string("transactional_id", transactional_id, empty=False)


def check_transaction_timeout(timeout: object) -> float:
    """``timeout`` in seconds if it is a number from 1 ms to ``2**31 - 1`` ms (Kafka's int32
    milliseconds); else ``ConfigError("transaction_timeout", ...)``. Whether it is within
    the broker's ``transaction.max.timeout.ms`` is the broker's to say."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ConfigError(
            "transaction_timeout", f"must be a number of seconds, not {type(timeout).__name__}"
        )
    if not 0.001 <= timeout <= INT32_MAX / 1000:  # NaN fails this too
        raise ConfigError(
            "transaction_timeout",
            f"must be between 0.001 and {INT32_MAX / 1000} s, not {timeout}",
        )
    return float(timeout)


def check_membership(membership: object) -> Membership:
    """``membership`` if it is a ``Membership`` the protocol can carry: a legal group id
    (``ConfigError("group")``), an int32 generation of at least -1, a member id and an
    instance id that is None or a non-empty ``str`` (``ConfigError("membership")``)."""
    if not isinstance(membership, Membership):
        raise ConfigError("membership", f"must be a Membership, not {type(membership).__name__}")
    check_group(membership.group)
    _int("membership", membership.generation, -1, INT32_MAX)
    check_string("membership", membership.member_id)
    if membership.instance_id is not None:
        check_string("membership", membership.instance_id, empty=False)
    return membership


def check_topic_partitions(partitions: object) -> None:
    """Check ``Backend.committed_offsets``'s ``partitions``: ``(topic, partition)`` pairs."""
    if not isinstance(partitions, Sequence | Set) or isinstance(partitions, str):
        raise ConfigError(
            "partitions",
            f"must be a sequence of (topic, partition) pairs, not {type(partitions).__name__}",
        )
    for pair in partitions:
        _topic_partition(pair)


def check_commit(offsets: object) -> None:
    """Check ``Backend.commit_offsets``'s ``offsets``: ``{(topic, partition): CommittedOffset}``.

    An offset is an ``int`` in ``[0, 2**63)`` (Kafka reads a negative one back as "nothing
    committed"); metadata a ``str`` of at most 32,767 UTF-8 bytes. How much metadata the
    broker keeps is its own setting (Kafka's ``offset.metadata.max.bytes``).
    """
    if not isinstance(offsets, Mapping):
        raise ConfigError(
            "offsets",
            f"must map (topic, partition) to CommittedOffset, not {type(offsets).__name__}",
        )
    for pair, committed in offsets.items():
        _topic_partition(pair)
        if not isinstance(committed, CommittedOffset):
            raise ConfigError(
                "offsets", f"{pair}: must be a CommittedOffset, not {type(committed).__name__}"
            )
        check_offset(committed.offset)
        check_string("metadata", committed.metadata)


def _topic_partition(pair: object) -> None:
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise ConfigError("partitions", f"must be (topic, partition) pairs, not {pair!r}")
    check_topic(pair[0])
    check_partition(pair[1])


def check_consumer_heartbeat(
    member_id: object,
    member_epoch: object,
    instance_id: object,
    rebalance_timeout: object,
    subscribed_topics: object,
    server_assignor: object,
    owned: object,
    subscribed_topic_regex: object = None,
) -> tuple[tuple[str, ...] | None, dict[str, tuple[int, ...]] | None]:
    """Check ``ConsumerGroupCoordinator.consumer_group_heartbeat``'s arguments; return the
    subscribed topics and the owned partitions, sorted and without repeats (None where not
    given).

    ``ConfigError`` naming the argument: ``member_id`` (a non-empty ``str``),
    ``member_epoch`` (an int from -2 to ``2**31 - 1``), ``instance_id`` (None or a
    non-empty ``str``), ``group.rebalance_timeout`` (None or 1 ms to ``2**31 - 1`` ms),
    ``subscribed_topics`` (None or a sequence of topic names), ``group.remote_assignor``
    (None or a non-empty ``str``; whether the coordinator has it is the coordinator's to
    say), ``owned`` (None or topic names mapped to partitions), ``pattern`` for
    ``subscribed_topic_regex`` (None or a ``str``; whether it is a valid regular expression
    is the coordinator's to say). What the protocol asks of their combination (a join sends
    a rebalance timeout, ...) is the coordinator's to say.
    """
    check_string("member_id", member_id, empty=False)
    _int("member_epoch", member_epoch, -2, INT32_MAX)
    if instance_id is not None:
        check_string("instance_id", instance_id, empty=False)
    if rebalance_timeout is not None:
        if isinstance(rebalance_timeout, bool) or not isinstance(rebalance_timeout, int | float):
            raise ConfigError(
                "group.rebalance_timeout",
                f"must be a number of seconds, not {type(rebalance_timeout).__name__}",
            )
        if not 0.001 <= rebalance_timeout <= INT32_MAX / 1000:  # NaN fails this too
            raise ConfigError(
                "group.rebalance_timeout",
                f"must be between 0.001 and {INT32_MAX / 1000} s, not {rebalance_timeout}",
            )
    if server_assignor is not None:
        check_string("group.remote_assignor", server_assignor, empty=False)
    if subscribed_topic_regex is not None:
        check_string("pattern", subscribed_topic_regex)
    topics = None
    if subscribed_topics is not None:
        if not isinstance(subscribed_topics, Sequence | Set) or isinstance(
            subscribed_topics, str | bytes
        ):
            raise ConfigError(
                "subscribed_topics",
                f"must be a sequence of topic names, not {type(subscribed_topics).__name__}",
            )
        topics = tuple(sorted({check_topic(topic) for topic in subscribed_topics}))
    holding = None
    if owned is not None:
        if not isinstance(owned, Mapping):
            raise ConfigError(
                "owned", f"must map topic names to partitions, not {type(owned).__name__}"
            )
        holding = {}
        for topic, partitions in owned.items():
            check_topic(topic)
            if not isinstance(partitions, Sequence | Set) or isinstance(partitions, str | bytes):
                raise ConfigError(
                    "owned", f"{topic!r}: must be a sequence of partitions, not {partitions!r}"
                )
            for partition in partitions:
                _int("owned", partition, 0, INT32_MAX)
            holding[topic] = tuple(sorted(set(partitions)))
    return topics, holding
