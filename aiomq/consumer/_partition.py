"""``PartitionConsumer``: one partition read from a chosen offset, by one fetch task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from anyio.abc import AsyncResource

from .._session import Session
from ..concurrency import Chan, ChanClosed, WouldBlock
from ..config import Isolation
from ..errors import AiomqError, ClosedError
from ..message import Message
from ._fetcher import FetchedBatch, PartitionFetcher
from ._offsets import OffsetLike, Start, check_start, reset_spec, resolve
from ._reader import BatchReader, report, wait_closed

__all__ = ["PartitionConsumer"]

AHEAD = 2
"""Fetches a reader's channel holds: the fetch task works on the next one while the reader
is still on the current one, and stops there (bounded memory)."""


class PartitionConsumer(BatchReader, AsyncResource):
    """Reads one partition from the offset it was opened at (sarama's ``PartitionConsumer``).

    ``async for message in pc`` yields the partition's messages in offset order, waiting for
    new ones at the end of the log; ``pc.batches()`` yields them a fetch at a time. A task
    of its own fetches ahead (up to two fetches) while the loop works, and waits when the
    loop does not keep up. Make one with ``await consumer.consume_partition(topic,
    partition, offset)``; ``aclose()`` (or ``async with``) stops it, and a running loop then
    ends without the messages fetched but not yet yielded.

    ``errors`` is a channel of what went wrong on the way, the partition going on after
    each: a record whose key or value the codec cannot decode (a ``RecordDecodeError`` with
    its raw bytes; the record is skipped), a broker that could not be reached (retried with
    backoff). It never holds the fetch task back: when nobody drains it and it is full
    (``channel_buffer_size`` errors), the oldest error is dropped and logged. An offset that
    falls out of the log (retention) moves to ``consumer.offsets.initial`` when
    ``consumer.offsets.reset`` is on; otherwise the partition consumer stops, the
    ``OffsetOutOfRange`` goes to ``errors`` and the loop raises it once the messages before
    it are yielded; ``seek()`` starts it again. ``config.consumer.isolation`` set to
    ``READ_COMMITTED`` hides the records of aborted and open transactions.
    """

    __slots__ = (
        "_batches",
        "_closed",
        "_epoch",
        "_failure",
        "_fetcher",
        "_last_error",
        "_on_close",
        "_session",
        "_task",
        "errors",
        "partition",
        "topic",
    )

    # Invariants: _epoch counts seeks; a batch in _batches tagged with an older epoch was
    # fetched before the latest seek and is dropped unread. _task is None before _start()
    # and is never replaced while it runs. _failure is set only once _task has ended on its
    # own (an offset out of range, an unexpected error), and cleared by a seek restarting it.

    def __init__(
        self,
        session: Session,
        topic: str,
        partition: int,
        on_close: Callable[[PartitionConsumer], None],
    ) -> None:
        super().__init__()
        self._session = session
        self.topic = topic
        self.partition = partition
        self._on_close = on_close
        self.errors: Chan[BaseException] = Chan(max(1, session.config.channel_buffer_size))
        self._batches: Chan[tuple[int, list[Message]]] = Chan(AHEAD)
        self._epoch = 0
        self._failure: BaseException | None = None
        self._last_error: BaseException | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        consumer = session.config.consumer
        self._fetcher = PartitionFetcher(
            session,
            topic,
            partition,
            -1,
            self._deliver,
            self._report,
            read_committed=consumer.isolation is Isolation.READ_COMMITTED,
            reset=reset_spec(consumer.offsets),
        )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<PartitionConsumer {self.topic}[{self.partition}] at {self.position}{state}>"

    def _start(self, start: Start) -> None:
        """Start fetching at ``start`` (the consumer calls it once it has resolved the
        starting offset; a seek calls it again after the task stopped on its own)."""
        fetcher = self._fetcher
        fetcher.seek(start.position)
        fetcher.high_watermark = start.high_watermark
        self._failure = self._last_error = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"aiomq consumer {self.topic}[{self.partition}]"
        )

    # -- the fetch task ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._fetcher.run()
            if not self._closed and not self._session.closed:
                # The fetcher gave up on its own: an offset out of range with no reset policy,
                # which it reported last.
                self._failure = self._last_error or AiomqError(f"{self!r} stopped fetching")
        except Exception as exc:
            self._failure = exc
            self._report(exc)
        finally:
            if not self._closed:
                self._batches.close()

    async def _deliver(self, batch: FetchedBatch) -> None:
        await self._batches.send((self._epoch, batch.messages))

    def _report(self, error: BaseException) -> None:
        self._last_error = error
        report(self.errors, error, f"{self.topic}[{self.partition}]")

    async def _next_batch(self) -> list[Message] | None:
        while True:
            try:
                epoch, messages = await self._batches.recv()
            except ChanClosed:
                if self._failure is not None and not self._closed:
                    raise self._failure from None
                return None
            if epoch == self._epoch:
                return messages

    # -- control -----------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The offset the next fetch starts at (past what was fetched, not what was yielded)."""
        return self._fetcher.position

    @property
    def high_water_mark(self) -> int:
        """The partition's end as of the latest fetch: the offset the next record produced
        will get (sarama's ``HighWaterMarkOffset``)."""
        return self._fetcher.high_watermark

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return self._fetcher.paused

    @property
    def closed(self) -> bool:
        """True once the partition consumer, its consumer or its client is closed."""
        return self._closed or self._session.closed

    def pause(self) -> None:
        """Stop fetching (sarama's ``Pause``). A fetch under way still delivers, and what was
        fetched is still yielded; nothing more is fetched until ``resume()``."""
        self._check()
        self._fetcher.pause()

    def resume(self) -> None:
        """Fetch again after ``pause()`` (sarama's ``Resume``)."""
        self._check()
        self._fetcher.resume()

    async def seek(self, offset: OffsetLike) -> None:
        """Read from ``offset`` next: ``Offset.NEWEST``, ``Offset.OLDEST``, an offset or
        ``Offset.at(timestamp)``, checked as ``consume_partition`` checks it
        (``OffsetOutOfRange``, or ``consumer.offsets.reset``). Once it returns, the next
        message yielded is at the new position: what was fetched before is dropped, the
        running loop included. A partition consumer stopped by an error starts again. Java's
        ``KafkaConsumer.seek``; sarama has none."""
        self._check()
        start = check_start(offset)
        found = await resolve(self._session, self.topic, [self.partition], start)
        self._check()
        self._epoch += 1
        self._discard_buffered()
        self._drop_fetched()
        task = self._task
        if task is not None and task.done():
            self._batches = Chan(AHEAD)  # the old one was closed when the task ended
            self._start(found[self.partition])
        else:
            self._fetcher.seek(found[self.partition].position)

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(f"{self!r} is closed")
        self._session.check()

    def _discard_buffered(self) -> None:
        # Taking everything also takes the value of a fetch task waiting to send.
        with contextlib.suppress(WouldBlock, ChanClosed):
            while True:
                self._batches.recv_nowait()

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop fetching and release the partition (sarama's ``Close``). A running loop ends;
        ``errors`` is closed (what it holds stays readable). Idempotent; finishes when
        cancelled too (within ``CLOSE_WAIT`` seconds)."""
        if self._closed:
            return
        self._closed = True
        self._fetcher.stop()
        task = self._task
        try:
            if task is not None and not task.done():
                task.cancel()  # a long poll ends now, not at max_wait
                await wait_closed(task, self)
        finally:
            self._discard_buffered()
            self._drop_fetched()
            with contextlib.suppress(ChanClosed):
                self._batches.close()
            with contextlib.suppress(ChanClosed):
                self.errors.close()
            self._on_close(self)
