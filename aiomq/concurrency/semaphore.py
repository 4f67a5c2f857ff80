"""A weighted semaphore: tasks borrow ``n`` of ``size`` tokens and give them back, in strict
FIFO order. Go's ``golang.org/x/sync/semaphore``; where the two differ: docs/concurrency.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ._park import LIBRARY, Parker, current, discard, trio_checkpoint_if_cancelled
from .context import Context

__all__ = ["Weighted", "WeightedStats"]


@dataclass(frozen=True, slots=True)
class WeightedStats:
    """A snapshot of a ``Weighted``: its size, the tokens held and the tasks waiting."""

    size: int
    held: int
    waiters: int


class _Waiter:
    """A parked ``acquire``: how many tokens it asked for, and its parker."""

    __slots__ = ("n", "parker")

    def __init__(self, n: int) -> None:
        self.n = n
        self.parker: Parker[None] = current().parker()


class Weighted:
    """A semaphore of ``size`` tokens, borrowed ``n`` at a time (Go's ``semaphore.Weighted``).

    ``await acquire(n=1, ctx=None)``, ``try_acquire(n=1) -> bool``, ``release(n=1)``,
    ``async with sem.hold(n)``. Waiters are served in strict FIFO order with no barging:
    while anyone waits, ``try_acquire`` fails and ``acquire`` queues, even if enough tokens
    are free for the newcomer; a large request at the head holds back the smaller ones
    behind it, so it cannot starve.
    """

    __slots__ = ("_cur", "_size", "_waiters")

    # Invariant: 0 <= _cur <= _size. _waiters non-empty implies the head asks for more than
    # is free (_size - _cur < _waiters[0].n): every release grants from the head at once.

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"semaphore: negative size {size}")
        self._size = size
        self._cur = 0
        self._waiters: deque[_Waiter] = deque()

    async def acquire(self, n: int = 1, ctx: Context | None = None) -> None:
        """Wait for ``n`` tokens and take them.

        If ``ctx`` ends first (or has ended already), raises ``ctx.err()`` and leaves the
        semaphore unchanged. A request larger than ``size`` can never be granted: it waits
        for ``ctx`` to end, and without a context raises ``ValueError`` at once instead of
        waiting forever. Cancelled, the task leaves without the tokens (given back if they
        had just been granted). Takes free tokens without yielding when nobody waits.
        """
        if n < 0:
            raise ValueError(f"semaphore: negative request {n}")
        if ctx is not None and (err := ctx.err()) is not None:
            raise err.with_traceback(None)
        if n <= self._size - self._cur and not self._waiters:
            if LIBRARY.name == "trio":  # trio: a pending cancellation still lands
                await trio_checkpoint_if_cancelled()
            self._cur += n
            return
        if n > self._size:
            if ctx is None:
                raise ValueError(
                    f"semaphore: acquire({n}) on a semaphore of size {self._size} "
                    "would wait forever; pass a context to bound the wait"
                )
            await ctx.wait()
            raise _ended(ctx)
        waiter = _Waiter(n)
        self._waiters.append(waiter)
        try:
            if ctx is None:
                await waiter.parker.park(late_cancel=True)
                return
            with ctx.scope():
                await waiter.parker.park(late_cancel=True)
        except BaseException:
            self._leave(waiter)
            raise
        # Here park returned (granted) or the context's scope swallowed its cancellation.
        if waiter.parker.woken and ctx.err() is None:
            return
        self._leave(waiter)
        raise _ended(ctx)

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are free and nobody waits; never waits, never yields."""
        if n < 0:
            raise ValueError(f"semaphore: negative request {n}")
        if n <= self._size - self._cur and not self._waiters:
            self._cur += n
            return True
        return False

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and grant waiters from the head of the queue.

        Releasing more than is held raises ``ValueError`` and changes nothing.
        """
        if n < 0:
            raise ValueError(f"semaphore: negative release {n}")
        if n > self._cur:
            raise ValueError(f"semaphore: released {n} tokens with only {self._cur} held")
        self._cur -= n
        if self._waiters:
            self._notify()

    def hold(self, n: int = 1, ctx: Context | None = None) -> _Hold:
        """``async with sem.hold(n):`` holds ``n`` tokens for the block (see ``acquire``)."""
        return _Hold(self, n, ctx)

    def stats(self) -> WeightedStats:
        """A snapshot of the semaphore's state."""
        return WeightedStats(self._size, self._cur, len(self._waiters))

    def _notify(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters[0]
            if self._size - self._cur < waiter.n:
                # Not enough for the head. Serving a smaller request behind it would be
                # faster now but could starve a large one for ever (Go makes the same call).
                break
            waiters.popleft()
            self._cur += waiter.n
            if not waiter.parker.wake(None):
                self._cur -= waiter.n  # it had left already

    def _leave(self, waiter: _Waiter) -> None:
        """Undo a waiter that will not hold its tokens: give back a grant, or leave the queue."""
        if waiter.parker.woken:
            # Granted, then cancelled before running: pretend it never happened.
            self._cur -= waiter.n
            self._notify()
            return
        head = bool(self._waiters) and self._waiters[0] is waiter
        discard(self._waiters, waiter)
        if head:
            # A cancelled head may have been all that held back smaller requests behind it
            # while tokens were free; without this they would wait for an unrelated release
            # (golang/go#37852).
            self._notify()

    def __repr__(self) -> str:
        return f"<Weighted size={self._size} held={self._cur} waiters={len(self._waiters)}>"


def _ended(ctx: Context) -> BaseException:
    err = ctx.err()
    assert err is not None
    return err.with_traceback(None)


class _Hold:
    __slots__ = ("_ctx", "_n", "_sem")

    def __init__(self, sem: Weighted, n: int, ctx: Context | None) -> None:
        self._sem = sem
        self._n = n
        self._ctx = ctx

    async def __aenter__(self) -> None:
        await self._sem.acquire(self._n, self._ctx)

    async def __aexit__(self, *exc_info: object) -> None:
        self._sem.release(self._n)
