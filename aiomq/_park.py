"""Park one task and wake it from another: the one wait every aiomq primitive is built on.

Go's runtime parks a goroutine on a ``sudog`` and readies it with a value; a ``Parker`` is
that, for asyncio (a bare future, the fast path) and trio (``wait_task_rescheduled``). anyio's
own primitives cost several times more per wait on asyncio, which is why aiomq has this.

A waker calls ``wake(value)``; it returns False when the parked task has already been woken by
someone else or has left (cancelled), so one parker can sit in several queues at once (Go's
``select``) and the first waker wins.

Cancellation: if the task is cancelled before anyone wakes it, ``park`` raises the
cancellation and ``woken`` stays False (the caller removes the parker from its queues). If it
is woken first, ``park`` returns the value and the cancellation is delivered at the task's
next checkpoint (trio's own rule), so a value handed over is never lost. Callers that must
instead give back what they were handed (a semaphore's tokens) pass ``late_cancel=True``:
``park`` then raises with ``woken`` True and the caller undoes the hand-over.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_WAITING, _WOKEN, _LEFT = 0, 1, 2


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under trio (or anything else)."""
    return asyncio._get_running_loop()


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
            self._fut: asyncio.Future[Any] | None = loop.create_future()
            self._task: Any = None
        else:
            import trio  # raises RuntimeError below when not in trio either

            self._fut = None
            self._task = trio.lowlevel.current_task()

    @property
    def woken(self) -> bool:
        """True once a waker handed this parker its value."""
        return self._state == _WOKEN

    @property
    def waiting(self) -> bool:
        """True while nobody has woken the parker and its task has not left."""
        return self._state == _WAITING

    def wake(self, value: T) -> bool:
        """Hand ``value`` to the parked task. False if it was woken already or has left."""
        if self._state != _WAITING:
            return False
        self._state = _WOKEN
        self._value = value
        if self._fut is not None:
            self._fut.set_result(None)
        elif self._task is not None and self._parked:
            import outcome
            import trio

            trio.lowlevel.reschedule(self._task, outcome.Value(None))
        return True

    async def park(self, *, late_cancel: bool = False) -> T:
        """Wait for ``wake``; see the module docstring for what cancellation does."""
        if self._fut is not None:
            return await self._park_asyncio(self._fut, late_cancel)
        return await self._park_trio(late_cancel)

    async def _park_asyncio(self, fut: asyncio.Future[Any], late_cancel: bool) -> T:
        try:
            await fut
        except asyncio.CancelledError as exc:
            if self._state == _WAITING:
                self._state = _LEFT
                raise
            if late_cancel:
                raise
            # Woken, then cancelled before running: keep the value and re-arm the same
            # cancellation (same message, same cancel count) for the next checkpoint.
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            task.cancel(exc.args[0] if exc.args else None)
        return self._value  # type: ignore[no-any-return]

    async def _park_trio(self, late_cancel: bool) -> T:
        import trio

        if self._state == _WAITING:

            def abort(_: Any) -> trio.lowlevel.Abort:
                # Only called while not yet rescheduled, i.e. still waiting.
                self._state = _LEFT
                return trio.lowlevel.Abort.SUCCEEDED

            self._parked = True
            await trio.lowlevel.wait_task_rescheduled(abort)
        if late_cancel:
            await trio.lowlevel.checkpoint_if_cancelled()
        return self._value  # type: ignore[no-any-return]


async def checkpoint() -> None:
    """Yield to the scheduler once and raise a pending cancellation (any backend)."""
    if current_loop() is not None:
        await asyncio.sleep(0)
    else:
        import trio

        await trio.lowlevel.checkpoint()
