"""Park one task and wake it from another: the one wait every aiomq primitive is built on.

Go's runtime parks a goroutine on a ``sudog`` and readies it with a value; a ``Parker`` is
that, for asyncio (a bare future, the fast path) and trio (``wait_task_rescheduled``). anyio's
own primitives cost several times more per wait on asyncio, which is why aiomq has this.

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
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "Parker",
    "checkpoint",
    "checkpoint_if_cancelled",
    "current_loop",
    "discard",
    "wake_all",
    "wake_first",
]

T = TypeVar("T")

_WAITING, _WOKEN, _LEFT = 0, 1, 2

current_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop
"""The running asyncio loop, or None under trio (or anything else).

It is the C function behind ``asyncio.get_running_loop``, without the exception: one call
per operation picks the asyncio path (no cancellation check on a fast path) or the trio one.
"""

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
    """One task waiting for one value. Create it in the task that will park."""

    __slots__ = ("_fut", "_parked", "_state", "_task", "_value")

    # Invariant: _state leaves _WAITING exactly once; _value is set iff _state == _WOKEN.

    def __init__(self) -> None:
        self._state = _WAITING
        self._value: Any = None
        self._parked = False
        loop = current_loop()
        if loop is not None:
            self._fut: asyncio.Future[None] | None = loop.create_future()
            self._task: Any = None
        else:
            self._fut = None
            self._task = _trio().current_task()  # RuntimeError when not in trio either

    @property
    def woken(self) -> bool:
        """True once a waker handed this parker its value."""
        return self._state == _WOKEN

    @property
    def waiting(self) -> bool:
        """True while nobody has woken the parker and its task has not left.

        When True, ``wake`` called right away (no await in between) returns True.
        """
        if self._state == _WAITING and self._fut is not None and self._fut.cancelled():
            self._state = _LEFT
        return self._state == _WAITING

    def wake(self, value: T) -> bool:
        """Hand ``value`` to the parked task. False if it was woken already or has left."""
        if self._state != _WAITING:
            return False
        fut = self._fut
        if fut is not None:
            if fut.cancelled():
                # The task was cancelled while parked and has not run since: it is leaving.
                self._state = _LEFT
                return False
            fut.set_result(None)
        elif self._parked:
            _lowlevel.reschedule(self._task, _Value(None))
        self._state = _WOKEN
        self._value = value
        return True

    async def park(self, *, late_cancel: bool = False) -> T:
        """Wait for ``wake`` and return its value; see the module docstring for cancellation.

        ``late_cancel`` matters on trio only: asyncio always raises a cancellation that
        arrives after the wake.
        """
        fut = self._fut
        if fut is None:
            return await self._park_trio(late_cancel)
        try:
            await fut
        except asyncio.CancelledError:
            if self._state != _WOKEN:
                self._state = _LEFT
            raise
        return self._value  # type: ignore[no-any-return]

    async def _park_trio(self, late_cancel: bool) -> T:
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

    def __repr__(self) -> str:
        state = ("waiting", "woken", "left")[self._state]
        return f"<Parker {state}>"


async def checkpoint() -> None:
    """Yield to the scheduler once and raise a pending cancellation (any backend)."""
    if current_loop() is not None:
        await asyncio.sleep(0)
    else:
        await _trio().checkpoint()


async def checkpoint_if_cancelled() -> None:
    """On trio, raise a pending cancellation (yielding only then); on asyncio, nothing.

    asyncio has no way to ask whether a cancellation is pending without yielding, so there an
    operation that completes at once neither yields nor raises, as ``asyncio.Queue`` does.
    """
    if current_loop() is None:
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
