"""WaitGroup, Once, Mutex, RWMutex and Cond for tasks of one event loop (asyncio or trio).

An operation that can complete at once (an uncontended ``lock()``, ``Once.do`` after the
first call) does not yield; a task cancelled while waiting leaves without the lock, and one
cancelled just after being handed it hands it on. Go's ``sync`` package; where the two
differ: docs/concurrency.md.
"""

# Waits park on aiomq.concurrency._park rather than on anyio's primitives, which cost several
# times more per wait on asyncio (benchmarks/bench_sync.py).

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

import anyio

from ._park import (
    LIBRARY,
    Parker,
    checkpoint,
    current,
    discard,
    trio_checkpoint_if_cancelled,
    wake_all,
    wake_first,
)

__all__ = [
    "Cond",
    "CondStats",
    "Locker",
    "Mutex",
    "MutexStats",
    "Once",
    "RWMutex",
    "RWMutexStats",
    "WaitGroup",
    "once_func",
    "once_value",
]

T = TypeVar("T")


class Locker(Protocol):
    """What ``Cond`` needs of its lock (Go's ``sync.Locker``): a ``Mutex`` or ``rw.rlocker()``."""

    async def lock(self) -> None:
        """Wait for the lock and take it."""
        ...

    def unlock(self) -> None:
        """Release the lock."""
        ...


class WaitGroup:
    """Waits for a collection of tasks to finish (Go's ``sync.WaitGroup``).

    ``add(n)`` before starting work, ``done()`` when a piece ends, ``await wait()`` until the
    counter is zero. A counter that would go negative raises ``ValueError`` and is left as it
    was. ``wait()`` at zero returns at once (after a checkpoint). A WaitGroup is reusable: once
    the counter reaches zero and the waiters are released, ``add`` may start a new round.
    ``add`` while ``wait`` is in progress is allowed; the waiters then wait for the new work
    too.
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
            wake_all(self._waiters, None)

    def done(self) -> None:
        """Decrement the counter by one."""
        self.add(-1)

    async def wait(self) -> None:
        """Wait until the counter is zero."""
        if self._count == 0:
            await checkpoint()
            return
        waiter: Parker[None] = current().parker()
        self._waiters.append(waiter)
        try:
            await waiter.park()
        except BaseException:
            if not waiter.woken:
                # add() may have dropped it already: on asyncio a waiter whose cancellation
                # is in flight is no longer woken, and the queue was swapped out.
                discard(self._waiters, waiter)
            raise

    def __len__(self) -> int:
        """The current counter."""
        return self._count

    def __repr__(self) -> str:
        return f"<WaitGroup count={self._count} waiters={len(self._waiters)}>"


# -- Once ------------------------------------------------------------------------------------


class Once:
    """Runs a function exactly once (Go's ``sync.Once``).

    ``await once.do(fn)`` calls ``fn()`` (a plain or an async function) on the first call
    only. Callers that arrive while it runs wait for it to finish; later callers return at
    once, without yielding. If ``fn`` raises, the first caller gets the exception and the Once
    is still done: ``fn`` is never called again. If the task running ``fn`` is cancelled, the
    Once is *not* done and the next waiting (or later) caller runs ``fn`` afresh.
    """

    __slots__ = ("_done", "_running", "_waiters")

    # Invariant: _waiters is empty unless _running.

    def __init__(self) -> None:
        self._done = False
        self._running = False
        self._waiters: deque[Parker[None]] = deque()

    async def do(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` if no call of this Once has completed; see the class docstring."""
        if self._done:
            if LIBRARY.name == "trio":
                await trio_checkpoint_if_cancelled()
            return
        while self._running:
            waiter: Parker[None] = current().parker()
            self._waiters.append(waiter)
            try:
                await waiter.park(late_cancel=True)
            except BaseException:
                # Every waiter is woken when the call ends, so one leaving never strands a
                # takeover: another woken waiter (or a later caller) runs fn.
                if not waiter.woken:
                    discard(self._waiters, waiter)
                raise
            if self._done:
                return
        self._running = True
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
            self._done = True
        except Exception:
            self._done = True  # Go: "if f panics, Do considers it to have returned"
            raise
        finally:
            self._running = False
            wake_all(self._waiters, None)

    def done(self) -> bool:
        """True once a call of ``fn`` has completed (returned or raised)."""
        return self._done

    def __repr__(self) -> str:
        state = "done" if self._done else "running" if self._running else "new"
        return f"<Once {state}>"


def once_func(fn: Callable[[], object]) -> Callable[[], Awaitable[None]]:
    """An async function that calls ``fn()`` only once (Go's ``sync.OnceFunc``).

    ``fn`` may be plain or async. Concurrent callers wait for the first call. If ``fn``
    raises, every call (the first and all later ones) raises that same exception. It is
    ``once_value`` over a function whose value is None.
    """

    async def call() -> None:
        result = fn()
        if inspect.isawaitable(result):
            await result

    return once_value(call)


def once_value(fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """An async function that awaits ``fn()`` once and returns its value on every call.

    Go's ``sync.OnceValue``. Concurrent callers wait for the first call. If ``fn`` raises,
    every call raises that same exception. A cancelled first call does not count (see
    ``Once``).
    """
    once = Once()
    value: T | None = None
    failure: tuple[Exception, TracebackType | None] | None = None

    async def run() -> None:
        nonlocal value, failure
        try:
            value = await fn()
        except Exception as exc:
            failure = (exc, exc.__traceback__)

    async def call() -> T:
        await once.do(run)
        if failure is not None:
            # Reset the traceback so that raising the same exception again and again does
            # not grow it without end.
            raise failure[0].with_traceback(failure[1])
        return value  # type: ignore[return-value]  # set by run() whenever failure is None

    return call


# -- Mutex -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MutexStats:
    """A snapshot of a ``Mutex``: whether it is held and how many tasks wait for it."""

    locked: bool
    waiters: int


class Mutex:
    """A mutual exclusion lock (Go's ``sync.Mutex``), always handed over in FIFO order.

    ``await lock()``, ``unlock()``, ``try_lock() -> bool``, ``async with mu``. ``unlock()``
    hands the lock straight to the longest waiter (Go's starvation mode, always on), so
    ``try_lock()`` fails while anyone waits, and nobody can starve. Uncontended ``lock()``
    does not yield. The lock has no owner: any task may unlock it. Unlocking an unlocked
    Mutex raises ``RuntimeError``.
    """

    __slots__ = ("_locked", "_waiters")

    # Invariant: _waiters non-empty implies _locked (unlock hands the lock to the head
    # waiter without ever clearing _locked).

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[Parker[None]] = deque()

    async def lock(self) -> None:
        """Wait for the lock and take it. Cancelled while waiting, it leaves without it."""
        if not self._locked:
            if LIBRARY.name == "trio":  # trio: a pending cancellation still lands
                await trio_checkpoint_if_cancelled()
            self._locked = True
            return
        waiter: Parker[None] = current().parker()
        self._waiters.append(waiter)
        try:
            await waiter.park(late_cancel=True)
        except BaseException:
            if waiter.woken:
                self.unlock()  # handed the lock as it was being cancelled: pass it on
            else:
                discard(self._waiters, waiter)
            raise

    def try_lock(self) -> bool:
        """Take the lock if it is free and nobody waits; never waits, never yields."""
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        """Release the lock, handing it to the longest waiter if there is one."""
        if not self._locked:
            raise RuntimeError("sync: unlock of unlocked mutex")
        if wake_first(self._waiters, None) is None:
            self._locked = False  # else ownership passed on: _locked stays True

    def locked(self) -> bool:
        """True while some task holds the lock."""
        return self._locked

    def stats(self) -> MutexStats:
        """A snapshot of the lock's state."""
        return MutexStats(self._locked, len(self._waiters))

    async def __aenter__(self) -> None:
        if self._locked:
            await self.lock()
        else:  # lock()'s fast path, inlined: one coroutine less
            if LIBRARY.name == "trio":
                await trio_checkpoint_if_cancelled()
            self._locked = True

    async def __aexit__(self, *exc_info: object) -> None:
        self.unlock()

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<Mutex {state} waiters={len(self._waiters)}>"


# -- RWMutex ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RWMutexStats:
    """A snapshot of an ``RWMutex``: holders and waiters on each side."""

    readers: int
    writer: bool
    read_waiters: int
    write_waiters: int


class RWMutex:
    """A reader/writer lock (Go's ``sync.RWMutex``).

    Any number of readers or one writer: ``async with rw.read()`` / ``async with rw.write()``,
    or ``rlock``/``runlock``, ``lock``/``unlock``, ``try_rlock``, ``try_lock``. As in Go, a
    waiting writer blocks new readers (so readers cannot starve it), and readers that queued
    while a writer held or waited go before the next writer (so writers cannot starve them):
    under load, readers and writers alternate. Writers are served in FIFO order. The lock has
    no owner; unlocking a side that is not held raises ``RuntimeError``. Uncontended
    operations do not yield.
    """

    __slots__ = (
        "_read_guard",
        "_read_waiters",
        "_readers",
        "_rlocker",
        "_write_guard",
        "_write_waiters",
        "_writer",
    )

    # Invariants: _writer implies _readers == 0. _read_waiters non-empty implies _writer or
    # _write_waiters non-empty (readers only queue behind a writer). _write_waiters non-empty
    # implies _writer or _readers > 0 (a free lock is handed to the head writer at once).

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._read_waiters: deque[Parker[None]] = deque()
        self._write_waiters: deque[Parker[None]] = deque()
        self._read_guard = _Guard(self.rlock, self.runlock)
        self._write_guard = _Guard(self.lock, self.unlock)
        self._rlocker = _RLocker(self)

    # -- writers

    async def lock(self) -> None:
        """Wait until no reader or writer holds the lock, then hold it for writing."""
        if not self._writer and self._readers == 0 and not self._write_waiters:
            if LIBRARY.name == "trio":
                await trio_checkpoint_if_cancelled()
            self._writer = True
            return
        waiter: Parker[None] = current().parker()
        self._write_waiters.append(waiter)
        try:
            await waiter.park(late_cancel=True)
        except BaseException:
            if waiter.woken:
                # Handed the lock as it was being cancelled: give it back as if this writer
                # had never queued. Not unlock(): that would let the readers queued behind
                # it go before the writers it was ahead of.
                self._writer = False
                self._grant()
            else:
                discard(self._write_waiters, waiter)
                # A writer that gives up may have been all that held back queued readers.
                if not self._writer:
                    self._grant()
            raise

    def try_lock(self) -> bool:
        """Hold the lock for writing if it is free and nobody waits; never waits."""
        if self._writer or self._readers or self._write_waiters:
            return False
        self._writer = True
        return True

    def unlock(self) -> None:
        """Release the write lock: queued readers go first, then the next writer."""
        if not self._writer:
            raise RuntimeError("sync: unlock of unlocked RWMutex")
        self._writer = False
        # Readers that queued during this write go before the next writer (Go's rule).
        self._readers += wake_all(self._read_waiters, None)
        self._grant()

    # -- readers

    async def rlock(self) -> None:
        """Wait until no writer holds or waits for the lock, then hold it for reading."""
        if not self._writer and not self._write_waiters:
            if LIBRARY.name == "trio":
                await trio_checkpoint_if_cancelled()
            self._readers += 1
            return
        waiter: Parker[None] = current().parker()
        self._read_waiters.append(waiter)
        try:
            await waiter.park(late_cancel=True)
        except BaseException:
            if waiter.woken:
                self.runlock()
            else:
                discard(self._read_waiters, waiter)
            raise

    def try_rlock(self) -> bool:
        """Hold the lock for reading if no writer holds or waits; never waits."""
        if self._writer or self._write_waiters:
            return False
        self._readers += 1
        return True

    def runlock(self) -> None:
        """Release one read lock; the last reader out lets the next writer in."""
        if self._readers == 0:
            raise RuntimeError("sync: runlock of unlocked RWMutex")
        self._readers -= 1
        if self._readers == 0:
            self._grant()

    def _grant(self) -> None:
        """With no writer holding: let the head writer in if no reader holds, or, if no
        writer waits any more, every queued reader."""
        if self._readers == 0 and wake_first(self._write_waiters, None) is not None:
            self._writer = True
            return
        if not self._write_waiters:
            self._readers += wake_all(self._read_waiters, None)

    # -- helpers

    def read(self) -> _Guard:
        """``async with rw.read():`` holds a read lock for the block."""
        return self._read_guard

    def write(self) -> _Guard:
        """``async with rw.write():`` holds the write lock for the block."""
        return self._write_guard

    def rlocker(self) -> _RLocker:
        """A ``Locker`` whose ``lock``/``unlock`` are this lock's ``rlock``/``runlock``."""
        return self._rlocker

    def stats(self) -> RWMutexStats:
        """A snapshot of the lock's state."""
        return RWMutexStats(
            self._readers, self._writer, len(self._read_waiters), len(self._write_waiters)
        )

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"<RWMutex readers={s.readers} writer={s.writer} "
            f"read_waiters={s.read_waiters} write_waiters={s.write_waiters}>"
        )


class _Guard:
    """``async with`` around an acquire/release pair; stateless, so one serves every task."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, acquire: Callable[[], Awaitable[None]], release: Callable[[], None]):
        self._acquire = acquire
        self._release = release

    async def __aenter__(self) -> None:
        await self._acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()


class _RLocker:
    """The read side of an ``RWMutex`` seen as a ``Locker`` (Go's ``RWMutex.RLocker``)."""

    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    async def lock(self) -> None:
        """``rw.rlock()``."""
        await self._rw.rlock()

    def unlock(self) -> None:
        """``rw.runlock()``."""
        self._rw.runlock()

    def try_lock(self) -> bool:
        """``rw.try_rlock()``."""
        return self._rw.try_rlock()

    async def __aenter__(self) -> None:
        await self._rw.rlock()

    async def __aexit__(self, *exc_info: object) -> None:
        self._rw.runlock()


# -- Cond ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CondStats:
    """A snapshot of a ``Cond``: how many tasks wait on it."""

    waiters: int


class Cond:
    """A condition variable (Go's ``sync.Cond``): tasks wait for a signal under a lock.

    ``lock`` is a ``Mutex`` or ``rw.rlocker()`` (any ``Locker``). ``await wait()`` must be
    called holding the lock: it releases the lock, waits for ``signal()`` or ``broadcast()``,
    and takes the lock again before returning. As in Go, a woken waiter should re-check its
    condition in a loop. ``signal()`` wakes the longest waiter, ``broadcast()`` all of them;
    both are plain calls, legal without holding the lock, and do nothing when nobody waits.
    A cancelled ``wait()`` still takes the lock back before the cancellation leaves it, and a
    signal it had already consumed is passed on to the next waiter, so no signal is lost.
    """

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: Locker) -> None:
        self._lock = lock
        self._waiters: deque[Parker[None]] = deque()

    @property
    def lock(self) -> Locker:
        """The lock this Cond releases and re-takes around each wait (Go's ``L``)."""
        return self._lock

    async def wait(self) -> None:
        """Release the lock, wait for a signal, take the lock again."""
        waiter: Parker[None] = current().parker()
        self._waiters.append(waiter)
        try:
            self._lock.unlock()
        except BaseException:
            discard(self._waiters, waiter)
            raise
        try:
            try:
                await waiter.park(late_cancel=True)
            finally:
                if not waiter.woken:
                    discard(self._waiters, waiter)
                await _relock(self._lock)
        except BaseException:
            if waiter.woken:
                self.signal()  # this waiter will not act on the signal: pass it on
            raise

    def signal(self) -> None:
        """Wake the longest-waiting task, if any."""
        wake_first(self._waiters, None)

    def broadcast(self) -> None:
        """Wake every waiting task."""
        wake_all(self._waiters, None)

    def stats(self) -> CondStats:
        """A snapshot of the Cond's state."""
        return CondStats(len(self._waiters))

    def __repr__(self) -> str:
        return f"<Cond waiters={len(self._waiters)}>"


async def _relock(lock: Locker) -> None:
    """Take ``lock`` even while being cancelled, then re-raise the cancellation.

    The shield covers trio and anyio cancel scopes; a bare asyncio ``task.cancel()`` still
    gets through it, hence the loop.
    """
    cancelled: BaseException | None = None
    while True:
        try:
            with anyio.CancelScope(shield=True):
                await lock.lock()
        except anyio.get_cancelled_exc_class() as exc:
            cancelled = exc
        else:
            break
    if cancelled is not None:
        raise cancelled
