"""ErrGroup: run tasks together, wait for all of them, and let the first error stop the rest.

``async with ErrGroup(ctx, limit) as g: await g.go(fn, *args)``; leaving the block waits for
every task and raises the first error itself; that error cancels ``g.ctx``, the other tasks
and the body. Go's ``golang.org/x/sync/errgroup``; where the two differ (including how
cancelling the tasks differs between asyncio and trio): docs/concurrency.md.
"""

# On asyncio the tasks are plain asyncio tasks counted by a done-callback (anyio's task group
# costs several times more per task); on trio they run in a nursery. The body is cancelled
# through an anyio cancel scope on both. On asyncio the group calls each task's cancel() once,
# as asyncio.TaskGroup does, which cuts through an anyio shield inside the task; running each
# task in a cancel scope of its own would respect shields but triples the cost of a task
# (benchmarks/bench_errgroup.py).

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable, Coroutine
from functools import partial
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVarTuple

import anyio

from ._park import ASYNCIO, Parker, checkpoint, current, discard, wake_all
from .context import Context, background, with_cancel

__all__ = ["ErrGroup"]

Ts = TypeVarTuple("Ts")

_NEW, _OPEN, _CLOSED = "new", "open", "closed"

# What a parked go() is woken with, besides None (its task was started) or the exception
# that calling fn(*args) raised.
_STOPPING: Any = object()
_FINISHED: Any = object()


class _SlotWaiter:
    """A ``go()`` parked for a slot, with the call it starts when a slot is handed to it."""

    __slots__ = ("args", "context", "fn", "parker")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.parker: Parker[Any] = current().parker()
        self.fn = fn
        self.args = args
        # The task is started by whoever frees the slot; it still inherits the context
        # variables of the go() caller, as a task it started itself would.
        self.context = contextvars.copy_context()

    def wake(self, value: object) -> bool:
        return self.parker.wake(value)


class ErrGroup:
    """A group of tasks whose first error cancels the others (Go's ``errgroup.Group``).

    ``async with ErrGroup(ctx=None, limit=None) as g:`` then ``await g.go(fn, *args)``.
    ``g.ctx`` is derived from ``ctx`` (default ``background()``): it ends when ``ctx`` does,
    when a task or the body raises (with that error as its cause), and when the block is
    left. ``ctx`` ending does not by itself cancel the tasks; as in Go they watch ``g.ctx``
    (``await g.ctx.wait()``, ``with g.ctx.scope():``).

    Leaving the block waits for every task. Then the first error, from a task or from the
    body, is raised as itself; the others are dropped. A cancellation from outside (an
    enclosing cancel scope, a cancelled task) cancels the tasks and propagates once they
    have finished; an error, if there was one, is raised instead. On asyncio a task is
    cancelled with ``Task.cancel()``, which an anyio shield inside it does not stop (see the
    module docstring); on trio shields hold.

    ``limit`` bounds how many tasks run at once: ``go`` waits, first come first served, for
    a free slot, and ``try_go`` returns False. A limit of zero starts nothing until it is
    raised with ``set_limit``. The group cannot be entered twice, and is finished once the
    block is leaving and no task is left.
    """

    __slots__ = (
        "_cancel",
        "_ctx",
        "_error",
        "_exiting",
        "_idle",
        "_limit",
        "_loop",
        "_nursery",
        "_nursery_cm",
        "_running",
        "_scope",
        "_slot_waiters",
        "_state",
        "_stopping",
        "_tasks",
    )

    # Invariants: _running counts started tasks not yet finished. Under a limit, a go()
    # still waiting in _slot_waiters implies _running >= limit: whoever frees a slot starts
    # the head waiter's task at once. _stopping is set once (first error or outside
    # cancellation); from then on nothing new starts and nobody waits for a slot. The state
    # turns _CLOSED as soon as _exiting and _running == 0.

    def __init__(self, ctx: Context | None = None, limit: int | None = None) -> None:
        self._ctx, self._cancel = with_cancel(background() if ctx is None else ctx)
        self._limit = _check_limit(limit)
        self._state = _NEW
        self._exiting = False
        self._error: BaseException | None = None
        self._stopping = False
        self._running = 0
        self._slot_waiters: deque[_SlotWaiter] = deque()
        self._idle: Parker[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scope: anyio.CancelScope | None = None
        self._nursery: Any = None
        self._nursery_cm: Any = None

    @property
    def ctx(self) -> Context:
        """The group's context: ended by the first error, the parent, or leaving the block."""
        return self._ctx

    def set_limit(self, limit: int | None) -> None:
        """Allow at most ``limit`` tasks at once (None: no limit; negative: ``ValueError``).

        Raising the limit starts waiting ``go`` calls at once; lowering it stops no running
        task, new ones wait until enough have finished.
        """
        self._limit = _check_limit(limit)
        self._hand_off()

    async def go(self, fn: Callable[[*Ts], Coroutine[Any, Any, Any]], *args: *Ts) -> None:
        """Start ``fn(*args)`` in a new task of the group (Go's ``Go``).

        Under a limit, waits for a free slot first; the task is started the moment a slot
        is handed over, so a caller cancelled after that (only a native asyncio cancel can
        land there) raises although the task runs. Once the group is stopping (after its
        first error) it starts nothing: ``fn`` is not even called, and ``go`` returns after
        a checkpoint, where the caller, normally cancelled by then, sees its cancellation.
        Arguments that do not fit ``fn`` raise in the caller. Outside the block (before
        ``async with``, or once it is finished) raises ``RuntimeError``.
        """
        if self._state is _OPEN and not self._stopping and self._limit is None:
            self._start(fn(*args))  # the fast path: no limit, nothing to check
            return
        self._check_open()
        if not self._stopping:
            if self._slot_free():
                self._start(fn(*args))
                return
            if await self._wait_for_slot(fn, args):
                return
        await checkpoint()

    def try_go(self, fn: Callable[[*Ts], Coroutine[Any, Any, Any]], *args: *Ts) -> bool:
        """Start ``fn(*args)`` if a slot is free now (Go's ``TryGo``); True if it started.

        False when the limit is reached, when ``go`` calls are waiting for a slot (they come
        first), and once the group is stopping. Outside the block raises ``RuntimeError``.
        """
        self._check_open()
        if self._stopping or not self._slot_free():
            return False
        self._start(fn(*args))
        return True

    def __repr__(self) -> str:
        return f"<ErrGroup {self._state} running={self._running} limit={self._limit}>"

    # -- slots ---------------------------------------------------------------------------

    def _slot_free(self) -> bool:
        # Parked go() calls come first: no barging past them.
        limit = self._limit
        return limit is None or (not self._slot_waiters and self._running < limit)

    async def _wait_for_slot(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Park until ``_hand_off`` starts ``fn(*args)`` (True) or the group stops (False)."""
        waiter = _SlotWaiter(fn, args)
        self._slot_waiters.append(waiter)
        try:
            outcome = await waiter.parker.park()
        except BaseException:
            # Not woken: it held no slot, and _hand_off skips a waiter that has left. Woken:
            # its task started (asyncio raises a native cancel that follows a wake).
            if not waiter.parker.woken:
                discard(self._slot_waiters, waiter)
            raise
        if outcome is None:
            return True
        if outcome is _STOPPING:
            return False
        if outcome is _FINISHED:
            raise RuntimeError("ErrGroup finished while go() waited for a slot")
        raise outcome  # calling fn(*args) failed: the caller's mistake, raised in the caller

    def _hand_off(self) -> None:
        """Start parked ``go`` calls, first come first served, while slots are free.

        The task is started here rather than by the caller when it resumes: by then the
        block may have been left (and trio's nursery closed), and whoever freed the slot is
        the one who knows the group is still open.
        """
        waiters = self._slot_waiters
        while (
            waiters
            and self._state is _OPEN
            and (self._limit is None or self._running < self._limit)
        ):
            waiter = waiters.popleft()
            if not waiter.parker.waiting:
                continue  # cancelled while parked: it is leaving
            try:
                self._start(waiter.context.run(waiter.fn, *waiter.args), waiter.context)
            except Exception as exc:  # e.g. arguments that do not fit: the slot stays free
                waiter.wake(exc)
            else:
                waiter.wake(None)

    # -- tasks ---------------------------------------------------------------------------

    def _start(
        self, coro: Coroutine[Any, Any, Any], context: contextvars.Context | None = None
    ) -> None:
        loop = self._loop
        if loop is not None:
            task = loop.create_task(coro, context=context)  # TypeError for a non-coroutine
            self._tasks.add(task)
            task.add_done_callback(self._on_done)
        else:
            if not isinstance(coro, Coroutine):
                raise TypeError(f"go() needs an async function, got {coro!r}")
            name = getattr(coro, "__qualname__", None)
            if context is None:
                self._nursery.start_soon(_run_trio, self, coro, name=name)
            else:  # trio's task inherits the context that start_soon runs in
                context.run(partial(self._nursery.start_soon, name=name), _run_trio, self, coro)
        self._running += 1

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)
        self._finished()

    def _finished(self) -> None:
        self._running -= 1
        if self._slot_waiters:
            self._hand_off()
        if self._running == 0:
            if self._exiting:
                self._state = _CLOSED  # nothing left to wait for: no more arrivals
            if self._idle is not None:
                self._idle.wake(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
            self._cancel(error)
        self._stop()

    def _stop(self) -> None:
        """Cancel every task and the body; start nothing new."""
        if self._stopping:
            return
        self._stopping = True
        wake_all(self._slot_waiters, _STOPPING)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            return
        for task in self._tasks:
            task.cancel()  # not through shields: see the module docstring
        if self._scope is not None:
            self._scope.cancel()

    # -- the block -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            raise RuntimeError(f"ErrGroup is {self._state}: use go() inside 'async with'")

    async def __aenter__(self) -> Self:
        if self._state is not _NEW:
            raise RuntimeError("an ErrGroup can be entered only once")
        # The asyncio loop when the group runs on asyncio; None on trio (guest mode too).
        self._loop = asyncio.get_running_loop() if current() is ASYNCIO else None
        if self._loop is not None:
            # The body runs in a cancel scope of its own so that the first error cancels
            # it with anyio's semantics (shields, nested scopes) rather than a raw cancel.
            self._scope = _asyncio_scope()
            self._scope.__enter__()
        else:
            import trio

            self._nursery_cm = trio.open_nursery(strict_exception_groups=True)
            self._nursery = await self._nursery_cm.__aenter__()
        self._state = _OPEN
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._exiting = True
        if self._running == 0:
            self._state = _CLOSED  # see _finished
        try:
            if self._loop is not None:
                suppress, outside = await self._exit_asyncio(et, exc, tb)
            else:
                suppress, outside = await self._exit_trio(exc)
        finally:
            self._state = _CLOSED
            wake_all(self._slot_waiters, _FINISHED)
            self._cancel(self._error)  # Go's Wait cancels the context too
        error = self._error
        self._error = None  # the group no longer needs it; g.ctx.cause() still holds it
        if error is not None:
            if error is exc:
                return False  # the body's own error: let it go on as it is
            _reraise(error)
        if outside is not None and outside is not exc:
            _reraise(outside)
        return suppress

    async def _exit_asyncio(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> tuple[bool, BaseException | None]:
        scope, self._scope = self._scope, None
        assert scope is not None
        try:
            suppress = scope.__exit__(et, exc, tb)  # True: it was our own cancellation
        except BaseException as raised:  # the scope kept only part of an exception group
            suppress, exc = False, raised
        outside = None
        if exc is not None and not suppress:
            if isinstance(exc, asyncio.CancelledError):
                outside = exc
                self._stop()
            else:
                self._fail(exc)
        while self._running:
            self._idle = current().parker()
            try:
                await self._idle.park()
            except asyncio.CancelledError as cancelled:
                # Cancelled while waiting: stop the tasks, keep waiting, raise it after.
                outside = cancelled
                self._stop()
        self._idle = None
        return suppress, outside

    async def _exit_trio(self, exc: BaseException | None) -> tuple[bool, BaseException | None]:
        import trio

        if exc is not None and not _is_cancellation(exc, trio.Cancelled):
            self._fail(exc)  # the body's error counts as a task's; the nursery needn't see it
            exc = None
        try:
            suppress = bool(
                await self._nursery_cm.__aexit__(
                    type(exc) if exc else None, exc, exc.__traceback__ if exc else None
                )
            )
        except BaseException as raised:
            if not _is_cancellation(raised, trio.Cancelled):
                raise
            # Only cancellations: raise one, as itself, rather than a group of them.
            while isinstance(raised, BaseExceptionGroup):
                raised = raised.exceptions[0]
            return False, raised
        return suppress, None


_AsyncioScope: type[anyio.CancelScope] | None = None


def _asyncio_scope() -> anyio.CancelScope:
    # anyio.CancelScope() looks the backend up on every call, a third of a small group's
    # cost; the backend's class, found once, builds the very same scope directly.
    global _AsyncioScope
    if _AsyncioScope is None:
        _AsyncioScope = type(anyio.CancelScope())
    return _AsyncioScope()


async def _run_trio(group: ErrGroup, coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except Exception as exc:
        group._fail(exc)  # kept from the nursery: the group raises it itself
    finally:
        group._finished()


def _is_cancellation(exc: BaseException, cancelled: type[BaseException]) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancellation(e, cancelled) for e in exc.exceptions)
    return isinstance(exc, cancelled)


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise ValueError(f"ErrGroup limit must be None or >= 0, not {limit}")
    return limit


def _reraise(error: BaseException) -> NoReturn:
    # Raising inside __aexit__ would set the error's __context__ to whatever the block was
    # unwinding with; keep the context the error came with instead.
    context = error.__context__
    try:
        raise error
    finally:
        error.__context__ = context
