"""``Consumer``: the factory of partition consumers and topic streams, outside any group."""

from __future__ import annotations

import logging

import anyio
from anyio.abc import AsyncResource

from .._session import Session
from ..backends.base import check_topic
from ..concurrency import Context
from ..config import Offset
from ..errors import ClosedError, ConfigError
from ._offsets import OffsetLike, check_start, check_topic_partition, resolve
from ._partition import PartitionConsumer
from ._reader import Claims
from ._stream import TopicStream

__all__ = ["Consumer"]

log = logging.getLogger("aiomq")


class Consumer(AsyncResource):
    """Reads partitions chosen by the caller, with no group and no committed offsets
    (sarama's ``Consumer``); make one with ``client.consumer()``.

    ``await consumer.partitions(topic)`` lists a topic's partitions; ``await
    consumer.consume_partition(topic, partition, offset)`` opens a ``PartitionConsumer``;
    ``consumer.consume(topic, offset)`` a ``TopicStream`` over every partition of a topic.
    One consumer reads a partition through one of them at a time (``ConfigError``
    otherwise). ``aclose()`` (or ``async with``, or closing the client) closes all of them.
    After close every method raises ``ClosedError``.
    """

    __slots__ = ("_children", "_claims", "_closed", "_session")

    # Invariant: _children holds the partition consumers and streams made and not closed; a
    # closing child removes itself (and gives back its partitions) through _forget.

    def __init__(self, session: Session) -> None:
        self._session = session
        self._claims = Claims()
        self._children: dict[PartitionConsumer | TopicStream, None] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<Consumer {self._session.url!r}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True once the consumer or its client is closed."""
        return self._closed or self._session.closed

    def _check(self) -> None:
        if self._closed:
            raise ClosedError("consumer is closed")
        self._session.check()

    async def topics(self) -> list[str]:
        """The names of the topics, sorted, without Kafka's internal ones (sarama's
        ``Consumer.Topics``)."""
        self._check()
        return await self._session.backend.list_topics()

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic`` (sarama's ``Consumer.Partitions``). ``UnknownTopic``
        when it does not exist (unless the backend creates topics on first use),
        ``ConfigError`` for an illegal name."""
        self._check()
        check_topic(topic)
        return list(await self._session.partitions(topic))

    async def consume_partition(
        self, topic: str, partition: int, offset: OffsetLike = Offset.NEWEST
    ) -> PartitionConsumer:
        """Start reading ``topic``'s ``partition`` at ``offset`` (sarama's
        ``ConsumePartition``).

        ``offset`` is ``Offset.NEWEST`` (the next record produced, the default),
        ``Offset.OLDEST`` (the first record still held), an offset, or
        ``Offset.at(timestamp)`` (the first record at or after that time, in milliseconds;
        the next record produced when none is that recent). It is checked here: an offset
        before the log's start or past its end raises ``OffsetOutOfRange``, or starts at
        ``consumer.offsets.initial`` when ``consumer.offsets.reset`` is on. ``ConfigError``
        for an illegal topic name, partition number or offset, and for a partition this
        consumer is already reading; ``UnknownTopic`` for a topic or partition that does not
        exist.
        """
        self._check()
        start = check_start(offset)
        await check_topic_partition(self._session, topic, partition)
        self._check()
        child = PartitionConsumer(self._session, topic, partition, self._forget)
        self._claims.take(child, topic, [partition])
        self._children[child] = None
        try:
            found = await resolve(self._session, topic, [partition], start)
            self._check()
            child._start(found[partition])
        except BaseException:
            self._forget(child)
            raise
        return child

    def consume(
        self, topic: str, offset: OffsetLike = Offset.NEWEST, *, ctx: Context | None = None
    ) -> TopicStream:
        """A ``TopicStream`` over every partition of ``topic``, each starting at ``offset``
        (as in ``consume_partition``); it starts when its ``async with`` block is entered,
        or at the first message of a bare ``async for``, and stops when the block is left
        or ``ctx`` ends. The topic name and the offset are checked here (``ConfigError``);
        the rest when it starts."""
        self._check()
        check_topic(topic)
        start = check_start(offset)
        if ctx is not None and not isinstance(ctx, Context):
            raise ConfigError("ctx", f"must be an aiomq Context or None, not {ctx!r}")
        stream = TopicStream(self._session, topic, start, ctx, self._claims, self._forget)
        self._children[stream] = None
        return stream

    def _forget(self, child: PartitionConsumer | TopicStream) -> None:
        self._claims.give_back(child)
        self._children.pop(child, None)

    async def aclose(self) -> None:
        """Close every partition consumer and stream made, newest first (sarama's ``Close``).
        Idempotent. If cancelled, the rest is still closed, shielded, before the
        cancellation propagates; the first error of a child is raised at the end."""
        if self._closed:
            return
        self._closed = True
        first: Exception | None = None
        interrupted: BaseException | None = None
        try:
            while self._children:
                child = next(reversed(self._children))
                try:
                    if interrupted is None:
                        await child.aclose()
                    else:
                        with anyio.CancelScope(shield=True):
                            await child.aclose()
                except Exception as exc:
                    log.exception("aiomq: closing %r failed", child)
                    first = first or exc
                except BaseException as exc:  # cancellation: finish closing, then re-raise
                    interrupted = interrupted or exc
                self._forget(child)
        finally:
            self._session.release(self)
        if interrupted is not None:
            raise interrupted
        if first is not None:
            raise first
