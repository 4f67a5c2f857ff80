"""Produce requests written by aiomq: one record batch per request, to the partition leader.

A produce call's records go into aiokafka's compiled ``DefaultRecordBatchBuilder``, one
batch per ``producer.max_message_bytes``; each batch is built once, when it is first sent
(with its producer id, epoch and sequence when idempotent: a compressed batch cannot be
built twice), and goes out as one ProduceRequest on the leader's shared connection, so
concurrent calls pipeline. The whole call has one absolute deadline, ``producer.timeout``
from its start, metadata look-ups included: retriable errors (not the leader, no leader, a
lost connection, the broker's own timeout) look the leader up again and send again until
then, never longer. A batch the broker refuses as too large is split in two and each half
sent, as the Java producer does, so the limit holds per record.

Why not ``AIOKafkaProducer``: its accumulator takes the time a batch waited from its budget
once per other batch ahead of it (``MessageAccumulator.add_batch``), so concurrent sends to
one partition failed with a timeout long before ``producer.timeout``; it keeps one request
in flight per broker; and its background tasks outlive a cancelled close.

Idempotence (``producer.idempotent``): InitProducerId once, then ``Sequencer`` decides, for
each attempt, whether the batch may go and with which sequence, and what each answer means;
this module only does the I/O it asks for. A transactional producer has a sender of its
own (``transactional_id``): its requests carry the id, at the Produce versions its
transaction protocol needs (v12 adds the partition to the transaction under TV2), its
epochs come from the coordinator, and a ``check`` before every attempt stops a batch whose
transaction ended. The Go counterpart is sarama's ``produceSet`` and ``brokerProducer``.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import codec
from aiokafka.protocol.produce import (
    ProduceRequest,
    ProduceRequest_v3,
    ProduceRequest_v4,
    ProduceRequest_v5,
    ProduceRequest_v6,
    ProduceRequest_v7,
    ProduceRequest_v8,
)
from aiokafka.protocol.transaction import InitProducerIdRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from ...config import Acks, Compression, Config
from ...errors import BrokerUnavailable, ConfigError, UnknownTopic
from ...message import now_ms
from ..base import (
    ProduceRecord,
    ProduceResult,
    check_partition,
    check_record_sizes,
    check_records,
    check_topic,
)
from ._cluster import COORDINATION, Cluster, Retry
from ._errors import (
    MESSAGE_TOO_LARGE,
    RECORD_LIST_TOO_LARGE,
    RETRIABLE,
    RETRY_LEADER,
    error_for_code,
    map_errors,
    raise_for_code,
)
from ._protocol import PRODUCE_FLEXIBLE, TAGS
from ._sequences import Batch, Send, Sequencer, Verdict

__all__ = ["Sender", "rewrite_producer_state"]

_INT32_MAX = 2**31 - 1
_BATCH_OVERHEAD = 61  # bytes of a record batch's header (Kafka's RECORD_BATCH_OVERHEAD)
_MAGIC = 2
_NO_HEADERS: list[tuple[str, bytes | None]] = []  # shared, never mutated: read by the builder
_TOO_LARGE = frozenset({MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE})
_CODECS = {
    Compression.NONE: (0, lambda: True),
    Compression.GZIP: (1, codec.has_gzip),
    Compression.SNAPPY: (2, codec.has_snappy),
    Compression.LZ4: (3, codec.has_lz4),
    Compression.ZSTD: (4, codec.has_zstd),
}
_STATE = struct.Struct(">qhi")  # producer id, epoch, base sequence: bytes 43..56 of a batch
_STATE_AT = 43
_CRC_AT = 17
_CRC_FROM = 21


def rewrite_producer_state(raw: bytes | bytearray, state: Send) -> bytearray:
    """A built batch with another producer id, epoch and base sequence, its CRC redone.

    How the Java client moves a batch to a new epoch (``reopenAndRewriteProducerState``);
    works on compressed batches too, which cannot be built again.
    """
    out = bytearray(raw)
    _STATE.pack_into(out, _STATE_AT, *state)
    struct.pack_into(">I", out, _CRC_AT, calc_crc32c(bytes(out[_CRC_FROM:])))
    return out


PLAIN_VERSIONS = range(3, 9)
"""Produce versions of a producer outside transactions: aiokafka's v3-v8 (Kafka 4 refuses
v0-v2, KIP-896)."""


_AIOKAFKA_PRODUCE = {
    version.API_VERSION: version
    for version in (
        ProduceRequest_v3,
        ProduceRequest_v4,
        ProduceRequest_v5,
        ProduceRequest_v6,
        ProduceRequest_v7,
        ProduceRequest_v8,
    )
}


class _Produce(ProduceRequest):  # type: ignore[misc]
    """A ProduceRequest at the highest of ``versions`` the broker speaks: aiokafka's structs
    up to v8, ours (flexible) from v9. A ProduceRequest, so acks=0 awaits no answer."""

    def __init__(
        self,
        transactional_id: str | None,
        acks: int,
        timeout_ms: int,
        topic: str,
        partition: int,
        raw: bytes | bytearray,
        versions: Sequence[int] = PLAIN_VERSIONS,
    ) -> None:
        super().__init__(transactional_id, acks, timeout_ms, [(topic, [(partition, raw)])])
        self._versions = versions
        self._one = (topic, partition, raw)

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        low, high = versions.get(self.API_KEY, (3, 8))
        for version in reversed(self._versions):
            if low <= version <= high:
                if version < 9:
                    return self.build(_AIOKAFKA_PRODUCE[version])
                topic, partition, raw = self._one
                return PRODUCE_FLEXIBLE[version](
                    self._transactional_id,
                    self._required_acks,
                    self._timeout,
                    [(topic, [(partition, raw, TAGS)], TAGS)],
                    TAGS,
                )
        raise BrokerUnavailable(
            f"the broker speaks Produce v{low}-v{high}; "
            f"aiomq needs v{self._versions[0]}-v{self._versions[-1]}"
        )


class _Job:
    """One batch of a produce call: its records, the builder, and once sent, the bytes."""

    __slots__ = (
        "base_offset",
        "batch",
        "builder",
        "order",
        "raw",
        "records",
        "sent_as",
        "stamps",
        "time",
    )

    def __init__(
        self,
        records: Sequence[ProduceRecord],
        builder: DefaultRecordBatchBuilder,
        stamps: list[int],
        batch: Batch | None,
    ) -> None:
        self.records = records
        self.builder: DefaultRecordBatchBuilder | None = builder
        self.stamps = stamps
        self.batch = batch
        self.raw: bytes | bytearray = b""
        self.sent_as: Send | None = None
        self.base_offset = -1
        self.time = -1  # the broker's LogAppendTime, -1 under CreateTime
        self.order = -1  # its place among the partition's batches never sent, while it has one

    def wire(self, state: Send | None) -> bytes | bytearray:
        """The batch's bytes with ``state`` in its header: built the first time only."""
        if self.builder is not None:
            if state is not None:
                self.builder.set_producer_state(*state)
            with map_errors("building a record batch"):
                self.raw = self.builder.build()
            self.builder = None
            self.sent_as = state
        elif state is not None and state != self.sent_as:
            self.raw = rewrite_producer_state(self.raw, state)
            self.sent_as = state
        return self.raw


@dataclasses.dataclass(order=True, slots=True)
class _Waiter:
    rank: tuple[int, int]
    woken: asyncio.Future[None] = dataclasses.field(compare=False)


class Sender:
    """Sends record batches for one Kafka backend, or for one transactional producer
    (``transactional_id``: acknowledged by all replicas, idempotent, and ``refused`` maps the
    code of a batch refused for good to the error raised); see the module docstring."""

    def __init__(
        self,
        cluster: Cluster,
        config: Config,
        *,
        transactional_id: str | None = None,
        refused: Callable[[int, str, str | None], Exception] = error_for_code,
    ) -> None:
        settings = config.producer
        self._cluster = cluster
        self._transactional_id = transactional_id
        self._refused = refused
        acks = Acks.ALL if transactional_id is not None else settings.required_acks
        self._acks = int(acks)
        self._timeout = settings.timeout
        self._max_bytes = settings.max_message_bytes
        codec_id, available = _CODECS[settings.compression]
        if not available():
            raise ConfigError(
                "producer.compression",
                f"{settings.compression.value} needs the cramjam package (pip install cramjam)",
            )
        self._codec = codec_id
        self._transactional = int(transactional_id is not None)  # the batches' attribute bit
        self.versions: Sequence[int] = PLAIN_VERSIONS
        """The Produce versions to choose from (a transaction sets them per protocol)."""
        if transactional_id is not None:
            self._sequencer: Sequencer | None = Sequencer(transactional=True)
        else:
            self._sequencer = Sequencer() if settings.idempotent else None
        # Batches waiting for their turn, per partition, in the order they may go.
        self._waiting: dict[tuple[str, int], list[_Waiter]] = {}
        self._arrivals = 0
        # Batches of the produce calls under way never sent yet, per partition, in the order
        # of the calls: the first is the only one that may take the next sequence, so
        # concurrent calls of a partition land in the order they were made.
        self._unsent: dict[tuple[str, int], deque[_Job]] = {}
        self._initializing: asyncio.Task[None] | None = None
        self._init_failure = ""  # why the last InitProducerId attempt failed

    @property
    def sequencer(self) -> Sequencer | None:
        """The idempotent producer's state; None when ``producer.idempotent`` is off."""
        return self._sequencer

    def deadline(self) -> float:
        """The deadline of a produce call starting now (``producer.timeout``)."""
        return self._cluster.deadline(self._timeout)

    def _builder(self) -> DefaultRecordBatchBuilder:
        return DefaultRecordBatchBuilder(
            _MAGIC, self._codec, self._transactional, -1, -1, -1, self._max_bytes
        )

    async def send(
        self,
        topic: str,
        partition: int,
        records: Sequence[ProduceRecord],
        *,
        allow_create: bool,
        before: Callable[[float], Awaitable[None]] | None = None,
        check: Callable[[], None] | None = None,
    ) -> ProduceResult:
        """A whole produce call (``Backend.produce``), within ``producer.timeout``.

        Checks the arguments (``ConfigError``, ``MessageTooLarge``), looks the partition up
        (``UnknownTopic``; the topic is auto-created when ``allow_create`` and the broker
        agree), then awaits ``before(deadline)`` (a transaction adds the partition to itself)
        and sends. Nothing is sent, and ``before`` is not called, when any of the first
        steps fails or the batch is empty. ``check`` as in ``produce``. When idempotent,
        concurrent calls to one partition are written in the order they were made, whatever
        each waits for first (a leader, a connection, ``before``).
        """
        check_topic(topic)
        check_partition(partition)
        check_records(records)
        batches = self.batches(records) if records else []  # the size check too
        if self._sequencer is None or not batches:
            return await self._send(topic, partition, records, batches, allow_create, before, check)
        key = (topic, partition)
        line = self._unsent.get(key)
        if line is None:
            line = self._unsent[key] = deque()
        for job in batches:
            self._arrivals += 1
            job.order = self._arrivals
            line.append(job)
        try:
            return await self._send(topic, partition, records, batches, allow_create, before, check)
        finally:
            if batches[-1].order >= 0:  # some never went: let the next call's go
                self._leave(key, batches)

    async def _send(
        self,
        topic: str,
        partition: int,
        records: Sequence[ProduceRecord],
        batches: list[_Job],
        allow_create: bool,
        before: Callable[[float], Awaitable[None]] | None,
        check: Callable[[], None] | None,
    ) -> ProduceResult:
        cluster = self._cluster
        deadline = self.deadline()
        leaders = cluster.leaders.get(topic)
        if leaders is None or partition >= len(leaders):
            leaders = await cluster.topic_leaders(
                topic, allow_create=allow_create, deadline=deadline
            )
        if partition >= len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        if not records:
            await cluster.pause(0)  # a scheduling point, as a network call would be
            return ProduceResult(range(0), [])
        if before is not None:
            await before(deadline)
        return await self.produce(topic, partition, batches, deadline, check)

    def batches(self, records: Sequence[ProduceRecord]) -> list[_Job]:
        """The records (checked, not empty) as batches for ``produce``; no I/O.

        ``MessageTooLarge`` when a record does not fit ``producer.max_message_bytes`` alone
        (``base.check_record_sizes``). The builder measures every record as it appends it,
        in the same pass: the exact check runs only for a record that comes near the limit.
        """
        return self._jobs(records)

    def _jobs(self, records: Sequence[ProduceRecord]) -> list[_Job]:
        """The records as batches of at most ``producer.max_message_bytes`` each."""
        jobs: list[_Job] = []
        builder = self._builder()
        start = 0
        limit = self._max_bytes - _BATCH_OVERHEAD
        checked = False
        now = now_ms()  # for a record without a timestamp, as the Java producer stamps send()
        for i, (key, value, headers, timestamp) in enumerate(records):
            listed = list(headers) if headers else _NO_HEADERS
            stamp = now if timestamp is None else timestamp
            meta = builder.append(i - start, stamp, key, value, listed)
            if meta is None:  # full: the record starts the next batch
                jobs.append(self._job(records[start:i], builder, now))
                start, builder = i, self._builder()
                meta = builder.append(0, stamp, key, value, listed)
            # A record's size in a batch is at least its size alone: only one near the limit
            # needs the exact measure, which raises for the first record really over it.
            if meta.size > limit and not checked:
                check_record_sizes(records, self._max_bytes)
                checked = True
        jobs.append(self._job(records[start:], builder, now))
        return jobs

    def _job(
        self, records: Sequence[ProduceRecord], builder: DefaultRecordBatchBuilder, now: int
    ) -> _Job:
        batch = Batch(len(records)) if self._sequencer is not None else None
        stamps = [now if record[3] is None else record[3] for record in records]
        return _Job(records, builder, stamps, batch)

    async def produce(
        self,
        topic: str,
        partition: int,
        batches: list[_Job],
        deadline: float,
        check: Callable[[], None] | None = None,
    ) -> ProduceResult:
        """Append ``batches`` (from ``batches()``) to the partition by ``deadline``.

        The batches of one call go in order, each after the one before is acknowledged.
        ``check`` runs before every attempt and right before a batch is written: what it
        raises ends the call (a transaction that ended).
        """
        done: list[_Job] = []
        for job in batches:
            await self._deliver(topic, partition, job, deadline, done, check)
        stamps: list[int] = []
        if self._acks == int(Acks.NONE):  # the broker does not say where records went
            for job in done:
                stamps.extend(job.stamps)
            return ProduceResult([-1] * len(stamps), stamps)
        if len(done) == 1:
            job = done[0]
            offsets: Sequence[int] = range(job.base_offset, job.base_offset + len(job.records))
        else:
            offsets = [job.base_offset + i for job in done for i in range(len(job.records))]
        for job in done:
            stamps.extend([job.time] * len(job.records) if job.time != -1 else job.stamps)
        return ProduceResult(offsets, stamps)

    async def _deliver(
        self,
        topic: str,
        partition: int,
        job: _Job,
        deadline: float,
        done: list[_Job],
        check: Callable[[], None] | None,
    ) -> None:
        """Send one batch until the broker has it, retrying until ``deadline``.

        A batch refused as too large is split and its halves delivered in order; every
        finished batch is appended to ``done``.
        """
        cluster = self._cluster
        sequencer = self._sequencer
        context = f"produce to {topic}[{partition}]"
        halves: list[_Job] = []

        async def attempt(deadline: float) -> None:
            if check is not None:
                check()
            try:
                leader = await cluster.leader(topic, partition, deadline)
                conn = await cluster.connection(leader, deadline)
            except BrokerUnavailable as exc:
                cluster.forget_leader(topic)  # the leader died or moved: ask again
                raise Retry(str(exc)) from None
            state = await self._turn(topic, partition, job, deadline)
            if check is not None:
                try:
                    check()
                except BaseException:
                    if sequencer is not None and job.batch is not None:
                        sequencer.lost(topic, partition, job.batch)  # let out, never sent
                    raise
            timeout_ms = max(1, min(_INT32_MAX, int((deadline - cluster.deadline(0)) * 1000)))
            # Written to the socket before any await: requests leave in sequence order.
            request = _Produce(
                self._transactional_id,
                self._acks,
                timeout_ms,
                topic,
                partition,
                job.wire(state),
                self.versions,
            )
            at = f"broker {leader}"  # retrying() says what failed; this says where
            try:
                response = await cluster.request(
                    conn,
                    request,
                    deadline=deadline,
                    context=at,
                    expect_response=self._acks != int(Acks.NONE),
                )
            except BrokerUnavailable as exc:
                if sequencer is not None and job.batch is not None:
                    sequencer.lost(topic, partition, job.batch)
                    self._wake(topic, partition)
                cluster.forget_leader(topic)
                raise Retry(str(exc)) from None
            if self._acks == int(Acks.NONE):
                return
            ((_, parts, *_),) = response.topics
            _, code, offset, log_append_time, *rest = parts[0]
            if code in _TOO_LARGE and len(job.records) > 1:
                halves.extend(self._split(topic, partition, job))
                self._wake(topic, partition)
                return
            if sequencer is not None and job.batch is not None:
                verdict = sequencer.answered(topic, partition, job.batch, code)
                self._wake(topic, partition)
            elif code == 0:
                verdict = Verdict.DONE
            else:
                verdict = Verdict.RETRY if code in RETRIABLE else Verdict.FAIL
            if verdict is Verdict.DONE:
                job.base_offset, job.time = offset, log_append_time
                return
            if verdict is Verdict.RETRY:
                if code in RETRY_LEADER:
                    cluster.forget_leader(topic)
                raise Retry(str(error_for_code(code, at)))
            message = rest[2] if len(rest) > 2 else None
            raise self._refused(code, f"{context} at {at}", message)

        try:
            await cluster.retrying(context, attempt, deadline)
        except BaseException:
            if sequencer is not None and job.batch is not None:
                sequencer.abandoned(topic, partition, job.batch)
                self._wake(topic, partition)
            raise
        if not halves:
            done.append(job)
            return
        for half in halves:
            await self._deliver(topic, partition, half, deadline, done, check)

    def _split(self, topic: str, partition: int, job: _Job) -> list[_Job]:
        """Two jobs for the two halves of ``job``'s records (same sequences, if any)."""
        middle = len(job.records) // 2
        parts = (job.records[:middle], job.records[middle:])
        batches: tuple[Batch | None, Batch | None] = (None, None)
        if self._sequencer is not None and job.batch is not None:
            batches = self._sequencer.split(topic, partition, job.batch, middle)
        halves: list[_Job] = []
        for records, batch in zip(parts, batches, strict=True):
            (half,) = self._jobs(records)  # smaller than a batch that was built already
            half.batch = batch
            halves.append(half)
        return halves

    # -- idempotence ---------------------------------------------------------------------

    async def _turn(self, topic: str, partition: int, job: _Job, deadline: float) -> Send | None:
        """Wait until the sequencer lets ``job`` go; the producer state to send it with.

        A batch never sent goes only when it is first among those of its partition never
        sent (``_unsent``): sequences follow the order of the produce calls.
        """
        sequencer = self._sequencer
        batch = job.batch
        if sequencer is None or batch is None:
            return None
        key = (topic, partition)
        while True:
            if sequencer.needs_producer_id:
                # A transactional producer's id is its coordinator's: never asked for here.
                assert self._transactional_id is None, "a transaction without a producer id"
                await self._producer_id(deadline)
                continue
            first = job.order < 0 or self._unsent[key][0] is job
            state = sequencer.next_send(topic, partition, batch) if first else None
            if state is not None:
                if job.order >= 0:
                    self._unsent[key].popleft()
                    job.order = -1
                self._wake(topic, partition)  # the next in line may go too
                return state
            await self._queue(topic, partition, job, deadline)

    def _leave(self, key: tuple[str, int], jobs: list[_Job]) -> None:
        """A produce call ended with ``jobs`` never sent: take them out of ``_unsent``."""
        line = self._unsent[key]
        head = line[0]
        for job in jobs:
            if job.order >= 0:
                line.remove(job)
                job.order = -1
        if not line:
            del self._unsent[key]
        if not line or line[0] is not head:
            self._wake(*key)  # a new first: it may go now

    async def _queue(self, topic: str, partition: int, job: _Job, deadline: float) -> None:
        """Wait in line until the partition's state changes and this batch is first.

        The line is kept in the order the sequencer lets batches out (those sent before
        by sequence, then new ones in the order of their calls), so when the first cannot
        go, none behind it can: a change wakes one waiter, and each that goes wakes the next.
        """
        batch = job.batch
        assert batch is not None
        rank = (0, batch.sequence) if batch.sequence >= 0 else (1, job.order)
        waiter = _Waiter(rank, asyncio.get_running_loop().create_future())
        line = self._waiting.setdefault((topic, partition), [])
        bisect.insort(line, waiter)
        try:
            if not await self._cluster.wait(waiter.woken, deadline):
                raise Retry(f"{topic}[{partition}]: earlier batches still unacknowledged")
        except BaseException:
            if waiter in line:
                line.remove(waiter)
            elif waiter.woken.done():
                self._wake(topic, partition)  # woken but leaving: pass the turn on
            raise

    def _wake(self, topic: str, partition: int) -> None:
        """Wake the first batch waiting for ``topic[partition]``."""
        line = self._waiting.get((topic, partition))
        if line:
            waiter = line.pop(0)
            if not waiter.woken.done():
                waiter.woken.set_result(None)

    async def _producer_id(self, deadline: float) -> None:
        """InitProducerId, once for all callers (again when the epochs ran out)."""
        cluster = self._cluster
        if self._initializing is None or self._initializing.done():
            self._initializing = cluster.spawn(self._init_producer_id())
        task = self._initializing
        if not await cluster.wait(task, deadline):
            raise Retry(f"no producer id yet: {self._init_failure or 'no answer'}")
        await cluster.join(task, shared=True)  # its error, if it failed

    async def _init_producer_id(self) -> None:
        cluster = self._cluster
        sequencer = self._sequencer
        assert sequencer is not None

        async def attempt(deadline: float) -> None:
            node = cluster.any_broker()
            try:
                # An idempotent producer's id: no transactional id, any broker answers.
                # On the coordination connection: never queued behind produce requests.
                response = await cluster.send(
                    node,
                    InitProducerIdRequest(None, _INT32_MAX),
                    deadline=deadline,
                    context=f"init producer id at broker {node}",
                    group=COORDINATION,
                )
            except BrokerUnavailable as exc:
                self._init_failure = str(exc)
                raise Retry(str(exc)) from None
            if response.error_code in RETRIABLE:  # COORDINATOR_LOAD_IN_PROGRESS at start-up
                self._init_failure = str(error_for_code(response.error_code, "init producer id"))
                raise Retry(self._init_failure)
            raise_for_code(response.error_code, "init producer id")
            sequencer.set_producer(response.producer_id, response.producer_epoch)

        await cluster.ready()
        await cluster.retrying("init producer id", attempt)
        for topic, partition in list(self._waiting):
            self._wake(topic, partition)
