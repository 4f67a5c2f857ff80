"""Park one task and wake it from another: the one wait every aiomq primitive is built on.

Go's runtime parks a goroutine on a ``sudog`` and readies it with a value; a ``Parker`` is
that, for asyncio (a bare future, the fast path) and trio (``wait_task_rescheduled``). anyio's
own primitives cost several times more per wait on asyncio, which is why aiomq has this.

The event loop's implementation is picked once per operation, as anyio picks its backend:
``current()`` returns the running ``Runtime`` (``ASYNCIO`` or ``TRIO``), and the operation
then calls it (``rt.parker()``, ``rt.checkpoint_if_cancelled()``) without asking again. The
running library is what sniffio reports, not "an asyncio loop is running": trio in guest mode
on an asyncio host runs trio tasks while an asyncio loop is running.

A waker calls ``wake(value)``; it returns False when the parked task has already been woken by
someone else or has left (cancelled), so one parker can sit in several queues at once (Go's
``select``) and the first waker wins.

Cancellation: if the task is cancelled before anyone wakes it, ``park`` raises the
cancellation and ``woken`` stays False (the caller removes the parker from its queues). If it
is woken first and then cancelled before it runs again:

- on trio, ``park`` returns the value and the cancellation is delivered at the task's next
  checkpoint (trio's own rule); with ``late_cancel=True`` it raises at once instead;
- on asyncio, ``park`` always raises, with ``woken`` True. A native ``Task.cancel()`` (from
  ``asyncio.timeout`` or ``wait_for``) cannot be deferred safely: re-arming it for a later
  checkpoint lets it escape the ``asyncio.timeout`` block that sent it.

So a caller that was handed something (a channel value, a semaphore's tokens) catches the
cancellation, sees ``woken``, and gives it back or passes it on before re-raising.

On asyncio a task counts as gone from the moment it is cancelled (its future is cancelled),
even before it runs again: ``wake`` then returns False, as it does on trio, where the
cancellation aborts the wait at once.

Primitives keep their parkers in FIFO queues (deques); ``wake_first``, ``wake_all`` and
``discard`` are the three ways such a queue is served, shared by every primitive.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Generator
from contextlib import suppress
from typing import Any, Generic, Protocol, TypeVar

from sniffio import thread_local as _sniffio

__all__ = [
    "ASYNCIO",
    "TRIO",
    "Parker",
    "LIBRARY",
    "Runtime",
    "current",
    "discard",
    "wake_all",
    "trio_checkpoint_if_cancelled",
    "wake_first",
]

T = TypeVar("T")

_WAITING, _WOKEN, _LEFT = 0, 1, 2

# trio.lowlevel and outcome.Value, imported on first use so asyncio users never import trio.
_lowlevel: Any = None
_Value: Any = None


def _trio() -> Any:
    global _lowlevel, _Value
    if _lowlevel is None:
        import outcome
        import trio

        _Value = outcome.Value
        _lowlevel = trio.lowlevel
    return _lowlevel


class Parker(Generic[T]):
    """One task waiting for one value. Make it with ``current().parker()`` in the task that
    will park; the subclass is the running event loop's."""

    __slots__ = ("_state", "_value")

    # Invariant: _state leaves _WAITING exactly once; _value is set iff _state == _WOKEN.

    _state: int
    _value: Any

    @property
    def woken(self) -> bool:
        """True once a waker handed this parker its value."""
        return self._state == _WOKEN

    @property
    def waiting(self) -> bool:
        """True while nobody has woken the parker and its task has not left.

        When True, ``wake`` called right away (no await in between) returns True.
        """
        return self._state == _WAITING

    def wake(self, value: T) -> bool:
        """Hand ``value`` to the parked task. False if it was woken already or has left."""
        raise NotImplementedError

    async def park(self, *, late_cancel: bool = False) -> T:
        """Wait for ``wake`` and return its value; see the module docstring for cancellation.

        ``late_cancel`` matters on trio only: asyncio always raises a cancellation that
        arrives after the wake.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        state = ("waiting", "woken", "left")[self._state]
        return f"<Parker {state}>"


class _AsyncioParker(Parker[T]):
    __slots__ = ("_fut",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._state = _WAITING
        self._value = None
        self._fut: asyncio.Future[None] = loop.create_future()

    @property
    def waiting(self) -> bool:
        if self._state == _WAITING and self._fut.cancelled():
            self._state = _LEFT
        return self._state == _WAITING

    def wake(self, value: T) -> bool:
        if self._state != _WAITING:
            return False
        fut = self._fut
        if fut.cancelled():
            # The task was cancelled while parked and has not run since: it is leaving.
            self._state = _LEFT
            return False
        fut.set_result(None)
        self._state = _WOKEN
        self._value = value
        return True

    async def park(self, *, late_cancel: bool = False) -> T:
        try:
            await self._fut
        except asyncio.CancelledError:
            if self._state != _WOKEN:
                self._state = _LEFT
            raise
        return self._value  # type: ignore[no-any-return]


class _TrioParker(Parker[T]):
    __slots__ = ("_parked", "_task")

    def __init__(self) -> None:
        self._state = _WAITING
        self._value = None
        self._parked = False
        self._task = _trio().current_task()

    def wake(self, value: T) -> bool:
        if self._state != _WAITING:
            return False
        if self._parked:
            _lowlevel.reschedule(self._task, _Value(None))
        self._state = _WOKEN
        self._value = value
        return True

    async def park(self, *, late_cancel: bool = False) -> T:
        if self._state == _WAITING:

            def abort(_: Any) -> Any:
                # Only called while not yet rescheduled, i.e. still waiting.
                self._state = _LEFT
                return _lowlevel.Abort.SUCCEEDED

            self._parked = True
            await _lowlevel.wait_task_rescheduled(abort)
        if late_cancel:
            await _lowlevel.checkpoint_if_cancelled()
        return self._value  # type: ignore[no-any-return]


class _Ready:
    """An awaitable that completes at once without yielding: asyncio's "nothing to check"."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]


_READY = _Ready()


class Runtime:
    """The running event loop's implementation of what aiomq's primitives need.

    ``ASYNCIO`` and ``TRIO`` are the two; ``current()`` says which one runs the calling task.
    """

    __slots__ = ()

    name: str
    """``"asyncio"`` or ``"trio"``, as sniffio names them."""

    def parker(self) -> Parker[Any]:
        """A new parker for the calling task."""
        raise NotImplementedError

    def checkpoint(self) -> Awaitable[None]:
        """Yield to the scheduler once and raise a pending cancellation."""
        raise NotImplementedError

    def checkpoint_if_cancelled(self) -> Awaitable[None]:
        """On trio, raise a pending cancellation (yielding only then); on asyncio, nothing.

        asyncio has no way to ask whether a cancellation is pending without yielding, so there
        an operation that completes at once neither yields nor raises, as ``asyncio.Queue``
        does.
        """
        raise NotImplementedError

    async def park_until(self, parker: Parker[Any], deadline: float, expired: Any) -> Any:
        """``parker.park()``, or ``expired`` once ``anyio.current_time()`` reaches
        ``deadline`` (``math.inf``: no deadline). A wake at the deadline may win."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Runtime {self.name}>"


class _AsyncioRuntime(Runtime):
    __slots__ = ()
    name = "asyncio"

    def parker(self) -> Parker[Any]:
        return _AsyncioParker(asyncio.get_running_loop())

    def checkpoint(self) -> Awaitable[None]:
        return asyncio.sleep(0)

    def checkpoint_if_cancelled(self) -> Awaitable[None]:
        return _READY

    async def park_until(self, parker: Parker[Any], deadline: float, expired: Any) -> Any:
        if deadline == math.inf:
            return await parker.park()
        # Deadlines are not events (see context.py): a timer wakes the parker.
        timer = asyncio.get_running_loop().call_at(deadline, parker.wake, expired)
        try:
            return await parker.park()
        finally:
            timer.cancel()


class _TrioRuntime(Runtime):
    __slots__ = ()
    name = "trio"

    def parker(self) -> Parker[Any]:
        return _TrioParker()

    def checkpoint(self) -> Awaitable[None]:
        return _trio().checkpoint()  # type: ignore[no-any-return]

    def checkpoint_if_cancelled(self) -> Awaitable[None]:
        return _trio().checkpoint_if_cancelled()  # type: ignore[no-any-return]

    async def park_until(self, parker: Parker[Any], deadline: float, expired: Any) -> Any:
        import trio

        with trio.CancelScope(deadline=deadline):
            return await parker.park()
        return expired


ASYNCIO: Runtime = _AsyncioRuntime()
TRIO: Runtime = _TrioRuntime()


def current() -> Runtime:
    """The runtime of the calling task: ``TRIO`` when sniffio's thread-local says trio (trio
    sets it while its tasks run, in guest mode too), else ``ASYNCIO``.

    One attribute read: cheap enough for every channel operation. Outside any event loop
    the asyncio runtime's ``parker()`` raises ``RuntimeError`` (no running event loop).
    """
    return TRIO if _sniffio.name == "trio" else ASYNCIO


async def checkpoint() -> None:
    """Yield to the scheduler once and raise a pending cancellation (any runtime)."""
    await current().checkpoint()


LIBRARY = _sniffio
"""sniffio's thread-local: ``LIBRARY.name == "trio"`` while trio runs the calling task.

The primitives' fast paths ask exactly this before completing at once, and await
``trio_checkpoint_if_cancelled()`` only on trio: asyncio has no cancellation to check
without yielding, and not awaiting at all is measurably cheaper than awaiting a no-op (a
buffered channel operation costs a few hundred nanoseconds in all; this made ``Chan(1000)``
go from 0.88x to 1.45x ``asyncio.Queue(1000)`` in benchmarks/bench_chan.py).
"""


async def trio_checkpoint_if_cancelled() -> None:
    """trio's ``checkpoint_if_cancelled``: raise a pending cancellation, yield only then."""
    await _trio().checkpoint_if_cancelled()


class _Wakeable(Protocol):
    """What a primitive's queue holds: a ``Parker``, or an object that wakes one."""

    def wake(self, value: Any, /) -> bool: ...


W = TypeVar("W", bound=_Wakeable)


def wake_first(queue: deque[W], value: object) -> W | None:
    """Pop waiters from the head of ``queue`` until one takes ``value``; return it, or None.

    Waiters that were woken elsewhere (a select sits in several queues) or have left
    (cancelled, not yet out of the queue) are dropped on the way.
    """
    while queue:
        waiter = queue.popleft()
        if waiter.wake(value):
            return waiter
    return None


def wake_all(queue: deque[W] | set[W], value: object) -> int:
    """Empty ``queue``, waking every waiter in it with ``value``; how many took it.

    A deque is woken in FIFO order. ``wake`` runs no code of the woken task, so nobody joins
    the queue while it empties.
    """
    waiters = list(queue)
    queue.clear()
    return sum(1 for waiter in waiters if waiter.wake(value))


def discard(queue: deque[Any], waiter: object) -> None:
    """Remove ``waiter`` from ``queue``, unless a waker has popped it already.

    For a waiter leaving without being woken (cancelled): a waker drops one that has left
    when it meets it, so it may be gone already.
    """
    with suppress(ValueError):
        queue.remove(waiter)
