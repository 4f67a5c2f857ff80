"""``TopicStream``: every partition of a topic, one fetch task each, as one stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import anyio
from anyio.abc import AsyncResource

from .._session import Session
from ..concurrency import (
    CancelFunc,
    Chan,
    ChanClosed,
    Context,
    ErrGroup,
    WouldBlock,
    background,
    with_cancel,
)
from ..config import Isolation, OffsetAt
from ..errors import AiomqError, ClosedError
from ..message import Message
from ._fetcher import FetchedBatch, PartitionFetcher
from ._offsets import reset_spec, resolve
from ._reader import CLOSE_WAIT, BatchReader, Claims, report, wait_closed

__all__ = ["TopicStream"]


class TopicStream(BatchReader, AsyncResource):
    """Every partition of a topic as one stream of messages; make one with
    ``consumer.consume(topic, offset, ctx=None)``.

    ``async with consumer.consume(topic) as stream: async for message in stream:`` runs one
    fetch task per partition under one ``ErrGroup`` and yields the messages of all of them
    as they arrive, each partition's in offset order (partitions interleave a fetch at a
    time). ``stream.batches()`` yields whole fetches instead. Every partition starts at
    ``offset``, checked as ``consume_partition`` checks it, when the block is entered (or at
    the first message of a bare ``async for``); the partitions are those the topic has then
    (``stream.partitions``).

    Ending: leaving the ``async with`` block or ``aclose()`` stops every task, and a loop
    running in another task ends at its next message. When ``ctx`` ends, the tasks stop and
    the loop ends once it has handed out the fetch it is on (a Go ``range`` over a channel
    drains it the same way; ``break`` stops at once); a loop that has ended has no task
    left behind. ``stream.ctx`` is derived from ``ctx`` and ends with the stream. A
    partition that fails for good (an offset out of range with no reset policy) stops the
    others and the loop raises its error once the messages before it are yielded. Passing
    errors go to ``errors``, as a ``PartitionConsumer``'s do. A bare ``async for`` (no
    ``async with``) runs until the stream, its consumer or its client is closed, or the
    context ends. No sarama counterpart (the seed merges a goroutine per
    ``ConsumePartition`` by hand).
    """

    __slots__ = (
        "_batches",
        "_cancel",
        "_claims",
        "_closed",
        "_ctx",
        "_failure",
        "_last_errors",
        "_offset",
        "_on_close",
        "_session",
        "_start_lock",
        "_supervisor",
        "errors",
        "partitions",
        "topic",
    )

    def __init__(
        self,
        session: Session,
        topic: str,
        offset: int | OffsetAt,
        ctx: Context | None,
        claims: Claims,
        on_close: Callable[[TopicStream], None],
    ) -> None:
        super().__init__()
        self._session = session
        self.topic = topic
        self._offset = offset
        self._ctx: Context
        self._cancel: CancelFunc
        self._ctx, self._cancel = with_cancel(background() if ctx is None else ctx)
        self._claims = claims
        self._on_close = on_close
        self.errors: Chan[BaseException] = Chan(max(1, session.config.channel_buffer_size))
        self.partitions: list[int] = []
        self._batches: Chan[list[Message]] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._last_errors: dict[int, BaseException] = {}
        self._closed = False
        self._start_lock = asyncio.Lock()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<TopicStream {self.topic!r}{state}>"

    @property
    def ctx(self) -> Context:
        """The stream's context: ends when the ``ctx`` given ends or the stream closes."""
        return self._ctx

    @property
    def closed(self) -> bool:
        """True once the stream, its consumer or its client is closed."""
        return self._closed or self._session.closed

    async def __aenter__(self) -> TopicStream:
        await self.start()
        return self

    async def start(self) -> None:
        """Find the partitions, resolve where each starts, start the fetch tasks; ``async
        with`` and the first message call it. Idempotent. Raises what ``consume_partition``
        raises for the same topic and offset, ``ClosedError`` once closed."""
        async with self._start_lock:
            self._check()
            if self._batches is not None:
                return
            session = self._session
            partitions = sorted(await session.partitions(self.topic))
            self._check()
            self._claims.take(self, self.topic, partitions)
            try:
                starts = await resolve(session, self.topic, partitions, self._offset)
                self._check()
            except BaseException:
                self._claims.give_back(self)
                raise
            consumer = session.config.consumer
            read_committed = consumer.isolation is Isolation.READ_COMMITTED
            reset = reset_spec(consumer.offsets)
            fetchers = []
            for p in partitions:
                fetcher = PartitionFetcher(
                    session,
                    self.topic,
                    p,
                    starts[p].position,
                    self._deliver,
                    self._reporter(p),
                    read_committed=read_committed,
                    reset=reset,
                )
                fetcher.high_watermark = starts[p].high_watermark
                fetchers.append(fetcher)
            self.partitions = partitions
            # One fetch of each partition can wait in the channel.
            self._batches = Chan(max(1, len(partitions)))
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(fetchers), name=f"aiomq topic stream {self.topic}"
            )

    # -- the tasks ---------------------------------------------------------------------------

    async def _supervise(self, fetchers: list[PartitionFetcher]) -> None:
        assert self._batches is not None
        try:
            async with ErrGroup(self._ctx) as group:
                for fetcher in fetchers:
                    await group.go(self._fetch, group.ctx, fetcher)
        except Exception as exc:
            self._failure = exc
        finally:
            with contextlib.suppress(ChanClosed):
                self._batches.close()

    async def _fetch(self, ctx: Context, fetcher: PartitionFetcher) -> None:
        with ctx.scope():
            await fetcher.run()
        if ctx.done() or self._closed or self._session.closed:
            return
        # The fetcher gave up on its own: an offset out of range with no reset policy.
        error = self._last_errors.get(fetcher.partition)
        raise error or AiomqError(f"{self.topic}[{fetcher.partition}] stopped fetching")

    async def _deliver(self, batch: FetchedBatch) -> None:
        assert self._batches is not None
        await self._batches.send(batch.messages)

    def _reporter(self, partition: int) -> Callable[[BaseException], None]:
        where = f"{self.topic}[{partition}]"

        def on_error(error: BaseException) -> None:
            self._last_errors[partition] = error
            report(self.errors, error, where)

        return on_error

    async def _next_batch(self) -> list[Message] | None:
        if self._closed:
            return None
        if self._batches is None:
            await self.start()  # a bare ``async for``
        batches = self._batches
        assert batches is not None
        if self._failure is None and self._ctx.done():
            await self._finished()
            return None
        try:
            return await batches.recv()
        except ChanClosed:
            await self._finished()
            if self._failure is not None and not self._closed:
                raise self._failure from None
            return None

    async def _finished(self) -> None:
        """Wait for the fetch tasks to end (they are ending): a loop that ends leaves none."""
        task = self._supervisor
        if task is not None and not task.done():
            with anyio.move_on_after(CLOSE_WAIT):
                await asyncio.wait({task})

    # -- closing -----------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(f"{self!r} is closed")
        self._session.check()

    async def aclose(self) -> None:
        """Stop every fetch task and release the partitions; a running loop ends. ``errors``
        is closed (what it holds stays readable). Idempotent; finishes when cancelled too,
        within ``CLOSE_WAIT`` seconds."""
        if self._closed:
            return
        self._closed = True
        self._cancel()
        task = self._supervisor
        try:
            if task is not None and not task.done():
                await wait_closed(task, self)
        finally:
            if self._batches is not None:
                with contextlib.suppress(WouldBlock, ChanClosed):
                    while True:
                        self._batches.recv_nowait()
                with contextlib.suppress(ChanClosed):
                    self._batches.close()
            self._drop_fetched()
            with contextlib.suppress(ChanClosed):
                self.errors.close()
            self._claims.give_back(self)
            self._on_close(self)
