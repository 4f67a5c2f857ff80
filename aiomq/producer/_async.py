"""``AsyncProducer``: an input channel drained to the broker by the producer's own tasks,
with the outcome of every message on a successes or an errors channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from anyio.abc import AsyncResource

from .._session import Session
from ..backends.base import CommittedOffset, Membership, TopicPartition
from ..concurrency import Chan, ChanClosed
from ..errors import ClosedError, ProducerError, ProducerErrors, RebalanceInProgress
from ..message import HeadersLike, ProducerMessage, now_ms
from ._engine import Batch, Engine
from ._transaction import Transactions

__all__ = ["AsyncProducer"]

log = logging.getLogger("aiomq")


def _input_full(limit: float) -> TimeoutError:
    return TimeoutError(
        f"the producer's input stayed full for {limit} s (producer.block_timeout): "
        "the broker is slow or unreachable, or successes/errors are not drained"
    )


class AsyncProducer(AsyncResource):
    """Produces the messages sent to ``input`` in the background (sarama's ``AsyncProducer``).

    ``await p.input.send(msg)`` or ``await p.send(topic, value, ...)`` hands over a
    ``ProducerMessage`` and returns once it is accepted; the producer's own tasks encode,
    batch and deliver it. Each delivered message comes back on ``successes`` with its
    ``partition``, ``offset`` and ``timestamp`` set (only with ``producer.return_successes``;
    else ``successes`` is None), each failed one on ``errors`` as a ``ProducerError``
    carrying the message and the cause. No message is dropped silently.

    It never deadlocks: when nobody drains ``successes`` or ``errors`` (both hold
    ``channel_buffer_size`` results), the producer stops taking input, so ``input.send``
    waits and memory stays bounded; ``send()`` waits at most ``producer.block_timeout`` and
    then raises ``ProducerError`` saying so. ``async with`` or ``aclose()`` stops the input,
    delivers what was accepted, then closes ``successes`` and ``errors`` (results already in
    them stay readable; failures that did not fit ``errors`` are raised by ``aclose`` as
    ``ProducerErrors``; successes that did not fit are logged and let go). Make one with
    ``client.async_producer()``.
    """

    __slots__ = (
        "_backlog",
        "_closed",
        "_engine",
        "_flushes",
        "_idle",
        "_moved",
        "_pump",
        "_reader",
        "_session",
        "_transactions",
        "errors",
        "input",
        "successes",
    )

    def __init__(self, session: Session) -> None:
        size = session.config.channel_buffer_size
        self._session = session
        self._engine = Engine(session, self._delivered)
        self.input: Chan[ProducerMessage] = Chan(size)
        self.successes: Chan[ProducerMessage] | None = (
            Chan(size) if session.config.producer.return_successes else None
        )
        self.errors: Chan[ProducerError] = Chan(size)
        # Results that did not fit their channel, in order; the pump moves them in as the
        # channels are drained, and while any wait here the reader takes no more input.
        self._backlog: deque[tuple[Chan[Any], Any]] = deque()
        self._moved = asyncio.Event()
        # True while the reader waits for input with nothing left to append; flush() waits
        # on a future the reader resolves once it gets there.
        self._idle = True
        self._flushes: list[asyncio.Future[None]] = []
        self._transactions = Transactions(session, self._engine)
        self._closed = False
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read(), name="aiomq async producer input")
        self._pump: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<AsyncProducer {self._session.url!r}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True once the producer or its client is closed."""
        return self._closed or self._session.closed

    async def send(
        self,
        topic: str,
        value: Any,
        *,
        key: Any = None,
        headers: HeadersLike | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        metadata: Any = None,
    ) -> ProducerMessage:
        """Hand a message to the producer; return it once accepted (not yet delivered).

        Waits for room in ``input`` at most ``producer.block_timeout``, then raises
        ``ProducerError`` (the input is full: the broker is slow, or the successes and errors
        are not being drained). ``ClosedError`` after close.
        """
        if self._closed:
            raise ClosedError("producer is closed")
        message = ProducerMessage(topic, value, key, headers, partition, metadata, timestamp)
        limit = self._session.config.producer.block_timeout
        with anyio.move_on_after(limit):
            try:
                await self.input.send(message)
            except ChanClosed:
                raise ClosedError("producer is closed") from None
            return message
        raise ProducerError(message, _input_full(limit))

    async def send_many(self, messages: Iterable[ProducerMessage]) -> None:
        """Hand ``messages`` to the producer, in order; return once all are accepted (not
        yet delivered). What ``input.send`` does for each, at the cost of one call.

        Waits for room in ``input`` at most ``producer.block_timeout`` in all, then raises
        ``ProducerErrors`` with a ``ProducerError`` for each message not accepted; those
        accepted before it come back on ``successes`` or ``errors`` as any do. Cancelled,
        a first part of the messages was accepted, and only that part comes back.
        ``ClosedError`` once closed.
        """
        if self._closed:
            raise ClosedError("producer is closed")
        batch = messages if isinstance(messages, list) else list(messages)
        total = len(batch)
        chan = self.input
        limit = self._session.config.producer.block_timeout
        sent = 0
        with anyio.move_on_after(limit):
            try:
                while sent < total:
                    sent += chan.send_many_nowait(batch[sent:] if sent else batch)
                    if sent < total:  # full: wait for room for the next one
                        await chan.send(batch[sent])
                        sent += 1
            except ChanClosed:
                raise ClosedError("producer is closed") from None
            return
        cause = _input_full(limit)
        raise ProducerErrors([ProducerError(message, cause) for message in batch[sent:]])

    # -- the producer's own tasks -----------------------------------------------------------

    async def _read(self) -> None:
        """Take messages from ``input`` and append them to their batches, until it closes.

        What is buffered in ``input`` is taken at once and appended without a pause unless
        one is needed (partitions to look up, room to wait for). Cancelled (a close that ran
        out of time), the messages taken and not appended fail onto ``errors``.
        """
        chan = self.input
        limit = max(1, chan.cap)
        engine = self._engine
        transactions = self._transactions
        transactional = transactions.enabled
        # Partitions per topic, looked up once per run of input taken without a pause.
        counts: dict[str, int] = {}
        while True:
            await self._results_drained()
            try:
                first = await chan.recv()
            except ChanClosed:
                break
            taken = [first]
            taken += chan.recv_many_nowait(limit)
            self._idle = False
            i = 0
            try:
                while i < len(taken):
                    await self._results_drained()
                    refused: list[tuple[ProducerMessage, Exception]] = []
                    try:
                        if transactional:
                            transactions.check_send()
                        i = engine.put_nowait(taken, i, now_ms(), counts, refused, keep=True)
                        if i < len(taken):  # it needs a wait
                            await engine.put(taken[i], counts, keep=True)
                            i += 1
                    except Exception as exc:  # every failure goes to errors, with its message
                        refused.append((taken[i], exc))
                        i += 1
                    for message, cause in refused:
                        self._put(self.errors, ProducerError(message, cause))
                        transactions.record_failed(cause)
            except BaseException:
                for message in taken[i:]:
                    self._put(self.errors, ProducerError(message, ClosedError("producer closed")))
                raise
            if len(chan) == 0:
                counts.clear()
                self._release_flushes()
        self._release_flushes()

    async def _results_drained(self) -> None:
        """Results are not being drained: take no more input until they are, or until the
        producer closes (then everything accepted is delivered, whether or not its result
        fits)."""
        while self._backlog and not self._closed:
            self._moved.clear()
            await self._moved.wait()

    def _release_flushes(self) -> None:
        """The reader has appended everything it was given: let waiting flushes go on."""
        self._idle = True
        for waiter in self._flushes:
            if not waiter.done():
                waiter.set_result(None)
        self._flushes.clear()

    async def flush(self) -> None:
        """Wait until every message accepted so far is delivered or failed (its result is on
        ``successes`` or ``errors``)."""
        if not (self._idle and len(self.input) == 0) and not self._reader.done():
            waiter = asyncio.get_running_loop().create_future()
            self._flushes.append(waiter)
            await waiter
        await self._engine.flush()

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """``async with producer.transaction():`` messages accepted in the block form one
        transaction, committed on leaving once each is delivered, aborted when the block
        raises or a message failed (``TransactionError``); see ``SyncProducer.transaction``.
        Outside a transaction a transactional producer fails every message (to ``errors``).
        """
        return self._transactions.transaction(self.flush)

    async def send_offsets(
        self,
        offsets: Mapping[TopicPartition, int | CommittedOffset],
        membership: Membership | None,
    ) -> None:
        """Commit a group's ``offsets`` in the open transaction (``SyncProducer.send_offsets``)."""
        if membership is None:
            raise RebalanceInProgress("the group member is rejoining: no membership to commit")
        await self._transactions.send_offsets(offsets, membership)

    def _delivered(self, batch: Batch) -> None:
        """The engine's hook: route each message of a finished batch to its channel."""
        self._transactions.batch_done(batch)
        future = batch.future
        if future.cancelled() or future.exception() is not None:
            error = future.exception() if not future.cancelled() else ClosedError("cancelled")
            assert error is not None
            for message in batch.messages:
                self._put(self.errors, ProducerError(message, error))
            return
        result = future.result()
        successes = self.successes
        messages = batch.messages
        for message, offset, timestamp in zip(
            messages, result.offsets, result.timestamps, strict=False
        ):
            message.offset = offset
            message.timestamp = timestamp
        if successes is not None:
            self._put_all(successes, messages)

    def _put(self, chan: Chan[Any], item: Any) -> None:
        self._put_all(chan, (item,))

    def _put_all(self, chan: Chan[Any], items: Sequence[Any]) -> None:
        """Put ``items`` on ``chan`` in order, after any backlog: what does not fit now waits
        in the backlog for the pump."""
        sent = 0
        if not self._backlog:
            with contextlib.suppress(ChanClosed):
                sent = chan.send_many_nowait(items)
            if sent == len(items):
                return
        self._backlog.extend([(chan, item) for item in items[sent:]])
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(
                self._drain_backlog(), name="aiomq async producer results"
            )

    async def _drain_backlog(self) -> None:
        while self._backlog:
            chan, item = self._backlog[0]
            await chan.send(item)
            self._backlog.popleft()
            self._moved.set()
        self._moved.set()

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Stop the input, deliver what was accepted, close ``successes`` and ``errors``.

        Bounded by ``timeout`` (default ``producer.timeout``): messages not delivered by then
        fail with ``ClosedError`` and go to ``errors``. Results that could not be put on
        their channel because nobody drained it are reported here: the failed messages among
        them are raised as ``ProducerErrors``. Idempotent; finishes when cancelled too.
        """
        if self._closed:
            return
        self._closed = True
        self._moved.set()
        wait = self._session.config.producer.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            with contextlib.suppress(ChanClosed):
                self.input.close()
            with anyio.move_on_after(wait):
                await asyncio.shield(self._reader)
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish(max(0.0, deadline - loop.time()))
        undelivered = [item for chan, item in self._backlog if chan is self.errors]
        unreported = len(self._backlog) - len(undelivered)
        self._backlog.clear()
        if unreported:
            log.warning(
                "aiomq: %d delivered message(s) did not fit the undrained successes channel",
                unreported,
            )
        if undelivered:
            raise ProducerErrors(undelivered)

    async def _finish(self, remaining: float) -> None:
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._release_flushes()
        # Messages still in input (the reader was cut short) were accepted: they fail.
        while True:
            try:
                message = self.input.recv_nowait()
            except Exception:
                break
            self._put(self.errors, ProducerError(message, ClosedError("producer closed")))
        await self._engine.aclose(remaining)
        await self._transactions.aclose()
        if self._pump is not None and not self._pump.done():
            with anyio.move_on_after(max(0.0, remaining)):
                await asyncio.shield(self._pump)
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.successes is not None:
            self.successes.close()
        self.errors.close()
        self._session.release(self)
