"""The machinery under both producers: records gathered into per-partition batches, and one
task per partition draining its batches to the backend in order.

A record is appended to its partition's open batch, which closes when it reaches
``producer.batch_size`` bytes, counted as Kafka's record batch counts them (one header, then
each record with its offset and time deltas), or, with ``producer.linger`` > 0, when the
linger time since its first record runs out. With ``linger`` 0 (the default) a batch is sent
as soon as the partition has room in flight, and records that arrive meanwhile gather in the
next one: batches grow with the load, as in the Java producer.

An idempotent producer (not a transactional one) keeps up to ``MAX_IN_FLIGHT`` batches per
partition in flight, as the Java producer does (``max.in.flight.requests.per.connection``):
each is handed to the backend in its own task, in order, and the backend keeps concurrent
produce calls of a partition in call order (Kafka: sequence numbers, so retries neither
reorder nor duplicate; memory: the append happens at the call). Any other producer keeps
one batch per partition in flight, so a retry cannot overtake an earlier batch. Either way
batches complete (futures resolved, ``on_done`` called) in the order they were appended.
``producer.buffer_bytes`` bounds the bytes accepted and not yet delivered; an append waits
for room at most ``producer.block_timeout``.

Batches complete through one future each (not one per record); ``Batch.result`` then holds
the backend's ``ProduceResult`` and a record's offset is ``result.offsets[index]``. The
drain tasks run in an ``ErrGroup`` owned by one library task per producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from .._session import Session
from ..backends.base import CheckedRecords, ProduceRecord, ProduceResult, check_partition
from ..concurrency import ErrGroup
from ..errors import AiomqError, ClosedError, ProducerError
from ..message import RECORD_BATCH_OVERHEAD, ProducerMessage, record_size, validate_topic
from ..partitioner import checked_choice, select_partition
from ._encode import Encoder

__all__ = ["MAX_IN_FLIGHT", "Batch", "Engine"]

log = logging.getLogger("aiomq")

MAX_IN_FLIGHT = 5
"""Batches of one partition an idempotent producer keeps in flight: Kafka's broker
de-duplicates the last five of each producer and partition."""

_Outcome = tuple[ProduceResult | None, BaseException | None]

# What a record adds to a batch but the batch header its size alone (``record_size``)
# counts: its offset and time deltas take a byte each there, and in a batch of up to 8,191
# records stamped within 8 s, two.
_IN_BATCH = 2 - RECORD_BATCH_OVERHEAD


class Batch:
    """Records bound for one partition, sent in one ``backend.produce`` call.

    ``messages[i]`` is what the caller wants back for ``records[i]``: an AsyncProducer's
    ``ProducerMessage``, which it appends with each record; the sync producer passes none and
    ``messages`` stays empty. ``future`` resolves to the
    ``ProduceResult`` or the exception that failed the whole batch.
    """

    __slots__ = (
        "deadline",
        "fill",
        "future",
        "messages",
        "outcome",
        "partition",
        "records",
        "size",
        "topic",
    )

    def __init__(self, topic: str, partition: int, deadline: float) -> None:
        self.topic = topic
        self.partition = partition
        self.records = CheckedRecords()  # each made by the producer's Encoder
        self.messages: list[Any] = []
        self.size = 0  # the records' sizes: what the batch holds of producer.buffer_bytes
        self.fill = RECORD_BATCH_OVERHEAD  # its bytes as a record batch, at most
        self.deadline = deadline  # when a lingering batch must go
        self.future: asyncio.Future[ProduceResult] = asyncio.get_running_loop().create_future()
        self.outcome: _Outcome | None = None  # once sent, until completed in its turn

    def __repr__(self) -> str:
        return f"<Batch {self.topic}[{self.partition}] {len(self.records)} records>"


class _Partition:
    """One partition's queue: closed batches waiting, the open one, the batches in flight
    (oldest first) and its drain task."""

    __slots__ = ("closed", "draining", "open", "sending", "wake")

    def __init__(self) -> None:
        self.closed: deque[Batch] = deque()
        self.open: Batch | None = None
        self.sending: deque[Batch] = deque()  # handed to the backend, not completed yet
        self.draining = False
        self.wake: asyncio.Event | None = None  # set when a waiting drain should look again


class Engine:
    """Batches records per partition and drains them to the backend; see the module docstring.

    ``on_done(batch)`` runs (synchronously) once each batch has its outcome: the async
    producer routes the results to its channels from there.
    """

    __slots__ = (
        "_batch_size",
        "_block_timeout",
        "_buffer_bytes",
        "_buffered",
        "_choose",
        "_closing",
        "_error",
        "_group",
        "_idle",
        "_in_flight",
        "_keyless",
        "_linger",
        "_on_done",
        "_partitioner",
        "_partitions",
        "_room",
        "_runner",
        "_session",
        "_started",
        "_sticky_placed",
        "_sticky_room",
        "_stop",
        "encode",
        "produce",
    )

    def __init__(self, session: Session, on_done: Callable[[Batch], None] | None = None) -> None:
        settings = session.config.producer
        self._session = session
        self.encode = Encoder(session)  # what every record appended is made with
        self._on_done = on_done
        self._partitioner = partitioner = session.partitioner
        self._choose = partitioner.partition
        # A partitioner that keeps key-less records sticky until a batch's worth went to a
        # partition (HashPartitioner) is told each one's size as it places it.
        self._keyless: Callable[[str, int, int], int] | None = getattr(
            partitioner, "place_keyless", None
        )
        # Such a partitioner may also lease the room its sticky partition has left, so that
        # a run of records placed within it costs one call (``room`` and ``placed``).
        self._sticky_room: Callable[[str, int], tuple[int, int] | None] | None = getattr(
            partitioner, "room", None
        )
        self._sticky_placed: Callable[[str, int, int], None] | None = getattr(
            partitioner, "placed", None
        )
        self._linger = settings.linger
        self._batch_size = settings.batch_size
        self._buffer_bytes = settings.buffer_bytes
        self._block_timeout = settings.block_timeout
        pipelined = settings.idempotent and settings.transactional_id is None
        self._in_flight = MAX_IN_FLIGHT if pipelined else 1
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._buffered = 0
        self._room: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._group: ErrGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._started: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._closing = False
        self._error: BaseException | None = None
        # Where batches go: the backend's produce, or a transactional producer's.
        self.produce: (
            Callable[[str, int, Sequence[ProduceRecord]], Awaitable[ProduceResult]] | None
        ) = None

    # -- appending ------------------------------------------------------------------------

    def place(
        self, topic: str, key: bytes | None, partition: int | None, size: int, partitions: int
    ) -> int:
        """The partition a record of ``size`` bytes goes to, the topic having ``partitions``:
        ``partition`` if given (checked), else the partitioner's (told of each key-less record
        it placed, for sticky partitioning)."""
        if partition is not None:
            check_partition(partition)
            return select_partition(self._partitioner, topic, key, partitions, partition)
        if partitions < 1:
            return select_partition(self._partitioner, topic, key, partitions)  # raises
        if key is None and self._keyless is not None:
            chosen = self._keyless(topic, partitions, size)
        else:
            chosen = self._choose(topic, key, partitions)
        if chosen.__class__ is not int or not 0 <= chosen < partitions:
            chosen = checked_choice(self._partitioner, topic, partitions, chosen)
        return chosen

    async def append(
        self, topic: str, partition: int, record: ProduceRecord, size: int, message: Any = None
    ) -> Batch:
        """Add ``record`` (of ``size`` bytes, ``record_size``) to its partition's open batch;
        that batch, whose last record it is on return (index ``len(batch.records) - 1``).

        Waits for buffer room (``producer.buffer_bytes``) at most ``producer.block_timeout``,
        then raises ``ProducerError`` saying so. ``ClosedError`` once the producer closes.
        """
        if self._buffered + size > self._buffer_bytes and self._buffered:
            await self._wait_for_room(size)
        self._check()
        await self._ensure_running()
        return self._add(topic, partition, record, size, message)

    def put_nowait(
        self,
        messages: Sequence[ProducerMessage],
        start: int,
        now: int,
        counts: dict[str, int],
        failed: list[tuple[ProducerMessage, Exception]],
        runs: list[list[Any]] | None = None,
        *,
        keep: bool = False,
    ) -> int:
        """Encode, place and append ``messages[start:]``, in order, while none needs a wait;
        the index of the first that does (its topic's partition count is not in ``counts``,
        the buffer has no room for it, the drain tasks have not started), else
        ``len(messages)``. Hand that one to ``put``.

        Each message appended gets its ``partition``; with ``keep`` it rides along in its
        batch (``Batch.messages``). One refused (a typed error from its encoding or its
        placement) goes to ``failed`` with the cause, and the rest go on. ``now`` stamps
        the messages without a timestamp. ``runs``, when given, gets ``[batch, index of the
        run's first record in it, index of its first message, index after its last]`` for
        each run of messages appended as consecutive records of one batch. Raises
        ``ClosedError`` once the producer closes.
        """
        if self._closing or self._error is not None:
            self._check()  # raises
        if self._group is None:
            return start
        encode = self.encode
        plain = encode.raw_values
        limit = encode.limit
        place = self.place
        keyless = self._keyless
        report = self._sticky_placed
        lease = self._sticky_room if keyless is not None and report is not None else None
        add = self._add
        queues = self._partitions
        batch_size = self._batch_size
        buffer_bytes = self._buffer_bytes
        valid: str | None = None  # the topic of the message before, found valid
        count = 0  # its partitions
        # The sticky partition's room leased for the topic (see HashPartitioner.room): the
        # key-less records that fit go there, their bytes reported once at the end.
        leased: str | None = None
        leased_partition = room = used = 0  # used > 0 only while a room is leased
        # The partition of the record before, and its queue.
        last: tuple[str, int] | None = None
        queue: _Partition | None = None
        run: list[Any] | None = None
        current: Batch | None = None
        end = len(messages)
        i = start
        try:
            while i < end:
                message = messages[i]
                try:
                    topic = message.topic
                    if topic is not valid:
                        validate_topic(topic)
                        known = counts.get(topic)
                        if known is None:
                            break
                        valid, count = topic, known
                    key = message.key
                    value = message.value
                    headers = message.headers
                    timestamp = message.timestamp
                    # A bytes value, nothing else: the Encoder's answer, without the call.
                    if key is None and value.__class__ is bytes and plain and not headers:
                        size = record_size(None, value)
                        if timestamp is not None or size > limit:
                            key, record, size = encode(topic, value, None, headers, timestamp, now)
                        else:
                            record = (None, value, (), now)
                    else:
                        key, record, size = encode(topic, value, key, headers, timestamp, now)
                    if self._buffered + size > buffer_bytes and self._buffered:
                        break
                    partition = message.partition
                    if partition is not None or key is not None or keyless is None or count < 1:
                        chosen = place(topic, key, partition, size, count)
                    elif topic is leased and size < room:
                        chosen = leased_partition
                        room -= size
                        used += size
                    else:  # place's key-less case, in line, then a lease for what follows
                        if used and report is not None and leased is not None:
                            report(leased, leased_partition, used)
                            used = 0
                        chosen = keyless(topic, count, size)
                        if chosen.__class__ is not int or not 0 <= chosen < count:
                            chosen = checked_choice(self._partitioner, topic, count, chosen)
                        got = lease(topic, count) if lease is not None else None
                        if got is None:
                            leased = None
                        else:
                            leased = topic
                            leased_partition, room = got
                except ClosedError:
                    raise
                except Exception as exc:
                    failed.append((message, exc))
                    if run is not None:  # the run ends here: the next message starts another
                        run[3] = i
                        run = current = None
                    i += 1
                    continue
                if last is None or chosen != last[1] or topic is not last[0]:
                    last = (topic, chosen)
                    queue = queues.get(last)
                # _add's common case, in line: the record joins an open batch it does not
                # fill, of a partition already draining. Anything else is _add's.
                grow = size + _IN_BATCH
                if (
                    queue is not None
                    and queue.draining
                    and (batch := queue.open) is not None
                    and batch.fill + grow < batch_size
                ):
                    batch.records.append(record)
                    if keep:
                        batch.messages.append(message)
                    batch.size += size
                    batch.fill += grow
                    self._buffered += size
                else:
                    batch = add(topic, chosen, record, size, message if keep else None)
                    queue = queues[last]
                message.partition = chosen
                if runs is not None and batch is not current:
                    if run is not None:
                        run[3] = i
                    current = batch
                    run = [batch, len(batch.records) - 1, i, end]
                    runs.append(run)
                i += 1
        finally:
            if used and report is not None and leased is not None:
                report(leased, leased_partition, used)
        if run is not None:
            run[3] = i
        return i

    async def put(
        self, message: ProducerMessage, counts: dict[str, int], *, keep: bool = False
    ) -> Batch:
        """``put_nowait`` for one message, waiting as it needs: its topic's partitions looked
        up (into ``counts``), room in the buffer (``append``), the drains started. The batch
        it went to, as its last record; its typed error when it is refused."""
        topic = message.topic
        key, record, size = self.encode(
            topic, message.value, message.key, message.headers, message.timestamp
        )
        count = counts.get(topic)
        if count is None:
            if message.partition is not None:
                check_partition(message.partition)  # refused before any look-up
            count = counts[topic] = len(await self._session.partitions(topic))
        chosen = self.place(topic, key, message.partition, size, count)
        batch = await self.append(topic, chosen, record, size, message if keep else None)
        message.partition = chosen
        return batch

    def _add(
        self, topic: str, partition: int, record: ProduceRecord, size: int, message: Any
    ) -> Batch:
        queue = self._partitions.get((topic, partition))
        if queue is None:
            queue = self._partitions[(topic, partition)] = _Partition()
        batch = queue.open
        grow = size + _IN_BATCH
        if batch is None or (batch.fill + grow > self._batch_size and batch.records):
            if batch is not None:
                self._close_open(queue, batch)
            batch = queue.open = Batch(
                topic, partition, asyncio.get_running_loop().time() + self._linger
            )
        index = len(batch.records)
        batch.records.append(record)
        if message is not None:
            batch.messages.append(message)
        batch.size += size
        batch.fill += grow
        self._buffered += size
        if batch.fill >= self._batch_size:
            self._close_open(queue, batch)
        if not queue.draining:
            queue.draining = True
            assert self._group is not None
            self._group.try_go(self._drain, queue)
        elif queue.wake is not None and (queue.closed or index == 0):
            queue.wake.set()  # a batch to send, or a new open one to linger on
        return batch

    def _close_open(self, queue: _Partition, batch: Batch) -> None:
        queue.closed.append(batch)
        queue.open = None

    async def _wait_for_room(self, size: int) -> None:
        with anyio.move_on_after(self._block_timeout):
            while self._buffered + size > self._buffer_bytes and self._buffered:
                self._check()
                if self._room is None:
                    self._room = asyncio.Event()
                await self._room.wait()
            return
        raise ProducerError(
            None,
            TimeoutError(
                f"the producer's buffer ({self._buffer_bytes} bytes, producer.buffer_bytes) "
                f"stayed full for {self._block_timeout} s (producer.block_timeout): the "
                "broker is slow or unreachable, or the producer's results are not drained"
            ),
        )

    def _check(self) -> None:
        if self._closing:
            raise ClosedError("producer is closed")
        if self._error is not None:
            raise ClosedError(f"producer stopped after an internal error: {self._error!r}")

    # -- draining ---------------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        if self._group is not None:
            return
        if self._runner is None:
            self._started = asyncio.Event()
            self._stop = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(
                self._run(self._started), name="aiomq producer"
            )
        assert self._started is not None
        await self._started.wait()
        if self._group is None:
            raise ClosedError(f"producer stopped: {self._error!r}")

    async def _run(self, started: asyncio.Event) -> None:
        assert self._stop is not None
        try:
            async with ErrGroup() as group:
                self._group = group
                started.set()
                await self._stop.wait()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.exception("aiomq: the producer's drain tasks failed")
                self._error = exc
            raise
        finally:
            self._group = None
            started.set()

    async def _drain(self, queue: _Partition) -> None:
        """Send the partition's batches, oldest first, at most ``_in_flight`` at a time,
        until none is left and none is in flight."""
        loop = asyncio.get_running_loop()
        limit = self._in_flight
        try:
            while True:
                batch = None
                wait: float | None = None  # None: until woken (a batch closed or completed)
                if len(queue.sending) < limit:
                    if queue.closed:
                        batch = queue.closed.popleft()
                    elif queue.open is not None and queue.open.records:
                        wait = queue.open.deadline - loop.time()
                        if wait <= 0 or self._closing:
                            batch, queue.open = queue.open, None
                    elif not queue.sending:
                        return
                if batch is None:
                    queue.wake = wake = asyncio.Event()
                    if wait is None:
                        await wake.wait()
                    else:
                        with anyio.move_on_after(wait):
                            await wake.wait()
                    queue.wake = None
                    continue
                if limit == 1:
                    await self._send(batch)
                    continue
                queue.sending.append(batch)
                assert self._group is not None
                if not self._group.try_go(self._send_in_flight, queue, batch):
                    batch.outcome = (None, ClosedError("producer closed before sending"))
                    self._settle(queue)
        finally:
            queue.draining = False
            # Cancelled (the producer closing for good): what is left cannot be delivered.
            leftover = [*queue.closed, *([queue.open] if queue.open else [])]
            queue.closed.clear()
            queue.open = None
            for batch in leftover:
                if batch.records:
                    batch.outcome = (None, ClosedError("producer closed before sending"))
                    queue.sending.append(batch)  # completed after those in flight, in order
            self._settle(queue)
            self._maybe_idle()

    async def _produce(self, batch: Batch) -> _Outcome:
        produce = self.produce or self._session.backend.produce
        try:
            return await produce(batch.topic, batch.partition, batch.records), None
        except AiomqError as exc:
            return None, exc
        except Exception as exc:  # a bug below us: report it on the batch, keep draining
            log.exception("aiomq: unexpected error producing %r", batch)
            return None, exc

    async def _send(self, batch: Batch) -> None:
        try:
            result, error = await self._produce(batch)
        except asyncio.CancelledError:
            self._complete(batch, None, ClosedError("producer closed while sending"))
            raise
        self._complete(batch, result, error)

    async def _send_in_flight(self, queue: _Partition, batch: Batch) -> None:
        """Send one of the partition's pipelined batches; complete what is due in order."""
        try:
            batch.outcome = await self._produce(batch)
        except asyncio.CancelledError:
            batch.outcome = (None, ClosedError("producer closed while sending"))
            raise
        finally:
            self._settle(queue)
            if queue.wake is not None:
                queue.wake.set()

    def _settle(self, queue: _Partition) -> None:
        """Complete the partition's sent batches that have their outcome, oldest first,
        up to the first still awaiting its own."""
        sending = queue.sending
        while sending and sending[0].outcome is not None:
            batch = sending.popleft()
            result, error = batch.outcome  # type: ignore[misc]
            self._complete(batch, result, error)

    def _complete(
        self, batch: Batch, result: ProduceResult | None, error: BaseException | None
    ) -> None:
        self._buffered -= batch.size
        if self._room is not None:
            self._room.set()
            self._room = None
        if not batch.future.done():
            if error is None:
                assert result is not None
                batch.future.set_result(result)
            else:
                batch.future.set_exception(error)
                batch.future.exception()  # retrieved: a caller that left must not leave a warning
        if self._on_done is not None:
            try:
                self._on_done(batch)
            except Exception:
                log.exception("aiomq: delivering the results of %r failed", batch)

    # -- flushing and closing ---------------------------------------------------------------

    def _busy(self) -> bool:
        return any(q.draining or q.sending for q in self._partitions.values())

    def _maybe_idle(self) -> None:
        if self._idle is not None and not self._busy():
            self._idle.set()

    async def flush(self) -> None:
        """Send every open batch now (no more lingering) and wait until all are delivered."""
        for queue in self._partitions.values():
            if queue.open is not None and queue.open.records:
                queue.open.deadline = 0.0
                if queue.wake is not None:
                    queue.wake.set()
        while self._busy():
            self._idle = asyncio.Event()
            await self._idle.wait()

    async def aclose(self, timeout: float) -> None:  # noqa: ASYNC109
        """Stop accepting records, deliver what was accepted within ``timeout``, then stop.

        Batches not delivered by then fail with ``ClosedError``. Finishes when cancelled too
        (the rest of the close is shielded), then re-raises the cancellation.
        """
        self._closing = True
        if self._room is not None:
            self._room.set()
        try:
            with anyio.move_on_after(timeout):
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop_runner()

    async def _stop_runner(self) -> None:
        runner = self._runner
        if runner is None:
            return
        if self._busy():
            runner.cancel()  # the flush ran out of time: the drains stop and fail what is left
        assert self._stop is not None
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner

    @property
    def buffered(self) -> int:
        """Bytes of records accepted and not yet delivered (or failed)."""
        return self._buffered
