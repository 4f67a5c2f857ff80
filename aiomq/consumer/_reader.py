"""What a partition consumer and a topic stream share: handing out fetched batches message by
message, the partitions a consumer has handed out, and an errors channel that never blocks."""

# The hot path. A fetcher builds each Message once and hands its whole fetch over as one list;
# iteration is an async generator looping over that list, so a message costs one resumption
# of the generator and nothing else: no task switch, no channel operation, no await. The
# list iterator lives on the reader, not in the generator, so a loop left with ``break`` and
# a new ``async for`` go on from the next message, and ``_drop_fetched`` (a seek, a close)
# empties the list the running loop is reading.

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import anyio

from ..concurrency import Chan, ChanClosed, WouldBlock
from ..errors import ConfigError
from ..message import Message

__all__ = ["CLOSE_WAIT", "BatchReader", "Claims", "report", "wait_closed"]

log = logging.getLogger("aiomq")

CLOSE_WAIT = 10.0
"""Seconds closing waits for a cancelled task to finish (it finishes at its next await; the
bound is for a backend that would not)."""


class BatchReader:
    """``async for message in reader`` and ``reader.batches()`` over the lists that
    ``_next_batch()`` returns (None: the end)."""

    __slots__ = ("_current", "_it")

    def __init__(self) -> None:
        self._current: list[Message] = []
        self._it: Iterator[Message] = iter(self._current)

    async def _next_batch(self) -> list[Message] | None:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            for message in self._it:
                yield message
            batch = await self._next_batch()
            if batch is None:
                return
            self._current = batch
            self._it = iter(batch)

    async def batches(self) -> AsyncIterator[list[Message]]:
        """Yield whole fetches: each list holds one partition's messages of one fetch, in
        offset order (what is left of a fetch a message loop had begun comes first). The
        lists are the caller's to keep."""
        rest = list(self._it)
        if rest:
            yield rest
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            yield batch

    def _drop_fetched(self) -> None:
        """Forget the messages of the fetch being handed out (a running loop ends it)."""
        self._current.clear()


class Claims:
    """The partitions a consumer's children are reading: one reader per partition at once."""

    __slots__ = ("_owners",)

    def __init__(self) -> None:
        self._owners: dict[tuple[str, int], object] = {}

    def take(self, owner: object, topic: str, partitions: Iterable[int]) -> None:
        """Give ``partitions`` of ``topic`` to ``owner``, all or none: ``ConfigError`` when
        another reader of this consumer has one of them (sarama's "That topic/partition is
        already being consumed")."""
        wanted = [(topic, p) for p in partitions]
        for key in wanted:
            holder = self._owners.get(key)
            if holder is not None and holder is not owner:
                raise ConfigError(
                    "partition",
                    f"{topic}[{key[1]}] is already being consumed by this consumer "
                    f"({holder!r}): close that reader first",
                )
        for key in wanted:
            self._owners[key] = owner

    def give_back(self, owner: object) -> None:
        """Free every partition ``owner`` holds."""
        for key in [k for k, holder in self._owners.items() if holder is owner]:
            del self._owners[key]


def report(errors: Chan[BaseException], error: BaseException, where: str) -> None:
    """Put ``error`` on ``errors`` without waiting: when the channel is full (nobody drains
    it), the oldest error is dropped and logged to make room. Never blocks a fetcher."""
    try:
        errors.send_nowait(error)
        return
    except ChanClosed:
        log.warning("aiomq: %s: %r after its errors channel closed", where, error)
        return
    except WouldBlock:
        pass
    try:
        dropped: BaseException | None = errors.recv_nowait()
    except WouldBlock:
        dropped = None
    log.warning("aiomq: %s: errors channel full (not drained): dropped %r", where, dropped)
    try:
        errors.send_nowait(error)
    except WouldBlock:  # capacity 0 with nobody receiving: there is nowhere to put it
        log.warning("aiomq: %s: dropped %r", where, error)


async def wait_closed(task: asyncio.Task[Any], what: object) -> None:
    """Wait until ``task`` (cancelled or told to stop) has finished, at most ``CLOSE_WAIT``
    seconds, also when the caller is cancelled meanwhile: the cancellation is raised once
    the task has finished, so closing never leaves it behind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_WAIT
    interrupted: BaseException | None = None
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("aiomq: %r: its task did not stop within %s s", what, CLOSE_WAIT)
            break
        try:
            # The shield holds against a cancel scope; a native Task.cancel() still lands
            # here, once: keep waiting, and raise it afterwards.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=remaining)
        except asyncio.CancelledError as exc:
            interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted
