"""Go's ``sync`` package for coroutines: WaitGroup, Once, Mutex, RWMutex, Cond.

Every primitive here runs on asyncio and trio; waits park on ``aiomq._park`` rather than on
anyio's primitives, which cost several times more per wait on asyncio.
"""

from __future__ import annotations

from collections import deque

from ._park import Parker, checkpoint

__all__ = ["WaitGroup"]


class WaitGroup:
    """Waits for a collection of tasks to finish (Go's ``sync.WaitGroup``).

    ``add(n)`` before starting work, ``done()`` when a piece ends, ``await wait()`` until the
    counter is zero. A counter that would go negative raises ``ValueError`` and is left as it
    was. ``wait()`` at zero returns at once (after a checkpoint). A WaitGroup is reusable: once
    the counter reaches zero and the waiters are released, ``add`` may start a new round.
    Unlike Go, ``add`` while ``wait`` is in progress is allowed; the waiters then wait for the
    new work too.
    """

    __slots__ = ("_count", "_waiters")

    # Invariant: _waiters is empty whenever _count == 0.

    def __init__(self) -> None:
        self._count = 0
        self._waiters: deque[Parker[None]] = deque()

    def add(self, n: int = 1) -> None:
        """Add ``n`` (which may be negative) to the counter."""
        count = self._count + n
        if count < 0:
            raise ValueError("sync: negative WaitGroup counter")
        self._count = count
        if count == 0:
            waiters, self._waiters = self._waiters, deque()
            for waiter in waiters:
                waiter.wake(None)

    def done(self) -> None:
        """Decrement the counter by one."""
        self.add(-1)

    async def wait(self) -> None:
        """Wait until the counter is zero."""
        if self._count == 0:
            await checkpoint()
            return
        waiter: Parker[None] = Parker()
        self._waiters.append(waiter)
        try:
            await waiter.park()
        except BaseException:
            if not waiter.woken:
                self._waiters.remove(waiter)
            raise

    def __len__(self) -> int:
        """The current counter."""
        return self._count

    def __repr__(self) -> str:
        return f"<WaitGroup count={self._count} waiters={len(self._waiters)}>"
