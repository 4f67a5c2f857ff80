"""``SyncProducer``: send a record, get back where it landed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import partial
from itertools import repeat
from typing import Any

import anyio
from anyio.abc import AsyncResource

from .._session import Session
from ..backends.base import CommittedOffset, Membership, ProduceResult, TopicPartition
from ..errors import ClosedError, ProducerError, ProducerErrors, RebalanceInProgress
from ..message import HeadersLike, ProducerMessage, RecordMetadata, now_ms
from ._engine import Batch, Engine
from ._transaction import Transactions

__all__ = ["SyncProducer"]

# RecordMetadata from a (topic, partition, offset, timestamp) tuple, without a call into
# Python (``_make`` checks the length in Python): for send_many, one per record.
_metadata = partial(tuple.__new__, RecordMetadata)


class SyncProducer(AsyncResource):
    """Sends records and waits for each to be acknowledged (sarama's ``SyncProducer``).

    ``await send(topic, value, key=..., headers=..., partition=..., timestamp=...)`` returns
    the record's ``RecordMetadata`` once the broker acknowledged it as
    ``producer.required_acks`` asks; ``await send_many(messages)`` sends several and returns
    their metadata in order. Concurrent sends share batches: many tasks sending at once cost
    one request per partition, not one per record. Records of one partition are delivered in
    the order their sends were called. Make one with ``client.sync_producer()``; ``async
    with`` or ``aclose()`` delivers what was sent, then closes. ``send`` raises the typed
    error of what went wrong (``ConfigError``, ``EncodeError``, ``MessageTooLarge``,
    ``UnknownTopic``, ``BrokerUnavailable``, ``ClosedError``, ...); a send is bounded: the
    record is delivered or fails within ``producer.timeout`` of its batch being sent, and a
    batch waits for its turn at most ``producer.timeout`` too.
    """

    __slots__ = ("_closed", "_engine", "_session", "_transactions")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._engine = Engine(session, self._batch_done)
        self._transactions = Transactions(session, self._engine)
        self._closed = False

    def _batch_done(self, batch: Batch) -> None:
        self._transactions.batch_done(batch)

    def __repr__(self) -> str:
        return f"<SyncProducer {self._session.url!r}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True once the producer or its client is closed."""
        return self._closed or self._session.closed

    def _check(self) -> None:
        if self._closed:
            raise ClosedError("producer is closed")
        self._session.check()

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """``async with producer.transaction():`` sends in the block form one transaction:
        on leaving it every record is delivered and the transaction committed, records and
        offsets (``send_offsets``) visible at once to ``read_committed`` consumers; an
        exception in the block, or a record that failed, aborts it (``TransactionError``).
        Needs ``producer.transactional_id``; a producer with one sends only inside a
        transaction. ``ProducerFenced`` when a newer producer took the id over. sarama's
        ``BeginTxn`` / ``CommitTxn`` / ``AbortTxn``."""
        return self._transactions.transaction()

    async def send_offsets(
        self,
        offsets: Mapping[TopicPartition, int | CommittedOffset],
        membership: Membership | None,
    ) -> None:
        """Commit a group's ``offsets`` (each the next offset to read) in the open
        transaction, for ``membership`` (``group.metadata()``): they take effect only if
        the transaction commits, and are refused (``StaleMember``) if the member is no
        longer current (KIP-447). sarama's ``AddOffsetsToTxn``."""
        if membership is None:
            raise RebalanceInProgress(
                "the group's member is rejoining: no membership to commit for"
            )
        await self._transactions.send_offsets(offsets, membership)

    async def send(
        self,
        topic: str,
        value: Any,
        *,
        key: Any = None,
        headers: HeadersLike | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> RecordMetadata:
        """Send one record and wait for its acknowledgement (sarama's ``SendMessage``).

        ``value`` and ``key`` go through the client's codecs (None stays None); ``partition``
        None lets the partitioner choose; ``timestamp`` in milliseconds, None for now.
        """
        self._check()
        self._transactions.check_send()
        message = ProducerMessage(topic, value, key, headers, partition, None, timestamp)
        batch = await self._engine.put(message, {})
        index = len(batch.records) - 1
        result = await self._outcome(batch)
        return RecordMetadata(
            topic, batch.partition, result.offsets[index], result.timestamps[index]
        )

    async def send_many(self, messages: Iterable[ProducerMessage]) -> list[RecordMetadata]:
        """Send ``messages`` and wait for all of them (sarama's ``SendMessages``).

        Returns their metadata in input order and sets each message's ``partition``,
        ``offset`` and ``timestamp``. If any fails, the others are still sent and
        ``ProducerErrors`` is raised with a ``ProducerError(message, cause)`` for each one
        that failed.
        """
        self._check()
        self._transactions.check_send()
        engine = self._engine
        todo = messages if isinstance(messages, list) else list(messages)
        refused: list[tuple[ProducerMessage, Exception]] = []
        # Where the messages went: [batch, index of the run's first record there, index of
        # its first message, index after its last] per run of consecutive records of one
        # batch, a few per call rather than an entry per message.
        runs: list[list[Any]] = []
        counts: dict[str, int] = {}  # partitions per topic: looked up once per call
        i = 0
        while True:
            i = engine.put_nowait(todo, i, now_ms(), counts, refused, runs)
            if i >= len(todo):
                break
            message = todo[i]  # it needs a wait: for its topic's partitions, or for room
            try:
                batch = await engine.put(message, counts)
            except ClosedError:
                raise
            except Exception as exc:
                refused.append((message, exc))
            else:
                runs.append([batch, len(batch.records) - 1, i, i + 1])
            i += 1
        # Each run's results are made as soon as its batch is done, while later batches are
        # still on their way.
        outcomes: dict[Batch, ProduceResult | BaseException] = {}
        failed = [ProducerError(message, cause) for message, cause in refused]
        out: list[RecordMetadata] = []
        for batch, first, begin, end in runs:
            outcome = outcomes.get(batch)
            if outcome is None:
                try:
                    outcome = outcomes[batch] = await self._outcome(batch)
                except Exception as exc:
                    outcome = outcomes[batch] = exc
            placed = todo[begin:end]
            if isinstance(outcome, BaseException):
                failed.extend([ProducerError(message, outcome) for message in placed])
                continue
            n = end - begin
            offsets = outcome.offsets[first : first + n]
            timestamps = outcome.timestamps[first : first + n]
            for message, offset, timestamp in zip(placed, offsets, timestamps, strict=True):
                message.offset = offset
                message.timestamp = timestamp
            out += map(
                _metadata, zip(repeat(batch.topic), repeat(batch.partition), offsets, timestamps)
            )
        if failed:
            raise ProducerErrors(failed)
        return out

    async def _outcome(self, batch: Batch) -> ProduceResult:
        # asyncio.wait, not the future itself: one caller giving up must not cancel the batch
        # everybody in it waits for. Bounded: the batch waits its turn at most
        # producer.timeout and is then delivered or failed within producer.timeout; the
        # margin covers linger and the scheduling.
        future = batch.future
        if not future.done():  # else it finished while an earlier batch was awaited
            settings = self._session.config.producer
            bound = 2 * settings.timeout + settings.linger + 1
            await asyncio.wait((future,), timeout=bound)
            if not future.done():
                raise TimeoutError(f"{batch!r} had no outcome in {bound} s")
        return future.result()

    async def flush(self) -> None:
        """Send every record sent so far without lingering, and wait until each is delivered
        or failed."""
        self._check()
        await self._engine.flush()

    async def aclose(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Deliver what was sent (within ``timeout``, default ``producer.timeout``), then
        close. Idempotent; records still undelivered then fail with ``ClosedError``. Finishes
        when cancelled too."""
        if self._closed:
            return
        self._closed = True
        try:
            wait = self._session.config.producer.timeout if timeout is None else timeout
            await self._engine.aclose(wait)
            with anyio.CancelScope(shield=True):
                await self._transactions.aclose()
        finally:
            self._session.release(self)
