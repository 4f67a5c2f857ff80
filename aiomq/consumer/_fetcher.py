"""One partition's fetch loop: the piece under every consumer.

A ``PartitionFetcher`` long-polls its partition from its position, turns the records of each
fetch into ``Message``s (decoded by the client's codecs) once, and hands them on as one
``FetchedBatch``: whole batches travel between tasks, never single records. ``deliver`` is
awaited, so a consumer that does not keep up holds the fetcher back (bounded memory).

A record whose key or value cannot be decoded is not delivered and not skipped silently: it
goes to ``on_error`` as a ``DecodeError`` carrying its topic, partition, offset and raw
bytes, and the fetcher goes on after it. Passing failures (the leader moving, a broker
restarting) are reported and retried with backoff; an offset out of range either follows the
reset policy or stops the fetcher with the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from .._session import Session
from ..backends.base import EARLIEST, LATEST, FetchResult
from ..codecs import BytesCodec
from ..errors import (
    AiomqError,
    BrokerUnavailable,
    ClosedError,
    DecodeError,
    OffsetOutOfRange,
)
from ..message import Message

__all__ = ["FetchedBatch", "PartitionFetcher", "RecordDecodeError"]

log = logging.getLogger("aiomq")

_BACKOFF = 0.1
_MAX_BACKOFF = 2.0


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """The messages one fetch brought, in offset order, and where the partition stands:
    ``next_offset`` (where the next fetch starts) and ``high_watermark``."""

    topic: str
    partition: int
    messages: list[Message]
    next_offset: int
    high_watermark: int


class RecordDecodeError(DecodeError):
    """A record could not be decoded; it is reported with its raw bytes, never skipped
    silently. ``topic``, ``partition``, ``offset``, ``key`` and ``value`` (bytes) say which."""

    def __init__(
        self,
        message: str,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
    ) -> None:
        super().__init__(message)
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value


class PartitionFetcher:
    """Fetches ``topic``'s ``partition`` from ``position`` until stopped; see the module
    docstring. ``reset`` is where to go when the position falls out of the log: ``EARLIEST``,
    ``LATEST``, or None to stop with ``OffsetOutOfRange`` (reported on ``on_error``)."""

    __slots__ = (
        "_deliver",
        "_on_error",
        "_paused",
        "_read_committed",
        "_resumed",
        "_session",
        "_stop",
        "_stopped",
        "high_watermark",
        "partition",
        "position",
        "reset",
        "topic",
    )

    def __init__(
        self,
        session: Session,
        topic: str,
        partition: int,
        position: int,
        deliver: Callable[[FetchedBatch], Awaitable[None]],
        on_error: Callable[[BaseException], None],
        *,
        read_committed: bool = False,
        reset: int | None = None,
    ) -> None:
        self._session = session
        self.topic = topic
        self.partition = partition
        self.position = position
        self.high_watermark = -1
        self.reset = reset
        self._deliver = deliver
        self._on_error = on_error
        self._read_committed = read_committed
        self._paused = False
        self._resumed = asyncio.Event()
        self._stopped = False
        self._stop = asyncio.Event()  # cuts a backoff short; _resumed may be set already

    def __repr__(self) -> str:
        return f"<PartitionFetcher {self.topic}[{self.partition}] at {self.position}>"

    def pause(self) -> None:
        """Stop fetching after the fetch under way (its records are still delivered)."""
        self._paused = True
        self._resumed.clear()

    def resume(self) -> None:
        """Fetch again after ``pause()``."""
        self._paused = False
        self._resumed.set()

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return self._paused

    def stop(self) -> None:
        """Stop after the fetch under way; ``run()`` then returns."""
        self._stopped = True
        self._resumed.set()
        self._stop.set()

    async def run(self) -> None:
        """Fetch and deliver until ``stop()``, a closed client, or an offset out of range
        with no reset policy."""
        settings = self._session.config.consumer
        backoff = _BACKOFF
        while not self._stopped:
            if self._paused:
                await self._resumed.wait()
                continue
            position = self.position
            try:
                result = await self._session.backend.fetch(
                    self.topic,
                    self.partition,
                    position,
                    max_wait=settings.max_wait,
                    min_bytes=settings.fetch.min,
                    max_bytes=settings.fetch.default,
                    read_committed=self._read_committed,
                )
            except ClosedError:
                return
            except OffsetOutOfRange as exc:
                if self.reset is None:
                    self._on_error(exc)
                    return
                try:
                    await self._reset(position)
                except ClosedError:
                    return
                except AiomqError as failed:  # passing, as a fetch's: try again later
                    if self._session.closed:
                        return
                    backoff = await self._retry_later(failed, backoff)
                continue
            except (BrokerUnavailable, AiomqError) as exc:
                if self._session.closed:
                    return
                backoff = await self._retry_later(exc, backoff)
                continue
            backoff = _BACKOFF
            if self._stopped or self.position != position:
                continue  # stopped, or seek()ed while the fetch was in flight: drop it
            self.high_watermark = result.high_watermark
            batch = self._batch(result)
            self.position = result.next_offset
            if batch.messages:
                await self._deliver(batch)

    async def _retry_later(self, error: AiomqError, backoff: float) -> float:
        """Report ``error``, wait ``backoff`` seconds (or until ``stop()``); the next
        backoff."""
        self._on_error(error)
        with anyio.move_on_after(backoff):
            await self._stop.wait()
        return min(backoff * 2, _MAX_BACKOFF)

    async def _reset(self, position: int) -> None:
        spec = EARLIEST if self.reset == EARLIEST else LATEST
        found = await self._session.backend.list_offsets(self.topic, {self.partition: spec})
        offset = found.get(self.partition)
        if offset is not None and self.position == position:
            log.info(
                "aiomq: %s[%d]: offset %d out of range, reset to %d",
                self.topic,
                self.partition,
                position,
                offset,
            )
            self.position = offset

    def seek(self, offset: int) -> None:
        """Fetch from ``offset`` next; records of a fetch under way are dropped."""
        self.position = offset

    def _batch(self, result: FetchResult) -> FetchedBatch:
        session = self._session
        # The bytes codec hands its input back: skip the call per record.
        key_codec, value_codec = session.key_codec, session.value_codec
        decode_key = None if type(key_codec) is BytesCodec else key_codec.decode
        decode_value = None if type(value_codec) is BytesCodec else value_codec.decode
        topic, partition = self.topic, self.partition
        kind = result.timestamp_type
        messages: list[Message] = []
        keep = messages.append
        new = tuple.__new__  # Message's own __new__, without its Python-level wrapper
        for offset, timestamp, key, value, headers in result.records:
            try:
                k = key if decode_key is None or key is None else decode_key(key)
                v = value if decode_value is None or value is None else decode_value(value)
            except Exception as exc:  # a codec's failure, typed or not: report the record
                self._on_error(
                    RecordDecodeError(
                        f"{topic}[{partition}] offset {offset}: {exc}",
                        topic=topic,
                        partition=partition,
                        offset=offset,
                        key=key,
                        value=value,
                    )
                )
                continue
            keep(new(Message, (topic, partition, offset, k, v, headers, timestamp, kind)))
        return FetchedBatch(topic, partition, messages, result.next_offset, result.high_watermark)
