"""What the concurrency tests share: a bound that fails a stuck test by name, a task group
under that bound, and a task whose cancellation lands at once on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

import anyio
import pytest
from anyio.abc import TaskGroup, TaskStatus

from aiomq.concurrency._park import ASYNCIO, current

__all__ = ["BOUND", "EXAMPLE_BOUND", "Task", "bounded", "start", "task_group"]

T = TypeVar("T")

BOUND = 5.0
"""Seconds a concurrency test may run: the slowest takes well under one on a loaded machine."""

EXAMPLE_BOUND = 2.0
"""Seconds one hypothesis example may run (they take milliseconds). Kept short because
hypothesis re-runs a failing example many times while it shrinks it."""


@contextmanager
def bounded(seconds: float = BOUND) -> Iterator[anyio.CancelScope]:
    """Cancel the block after ``seconds`` and then fail the test, whatever the block did.

    A bare ``anyio.fail_after`` raises ``TimeoutError`` only if its cancellation comes back
    out of the block, and often it does not: an ErrGroup raises its first error instead (the
    error wins over a cancellation from outside), a ``pytest.raises`` around it then passes,
    and a task that catches the cancellation finishes normally. Here the test fails in every
    case, and the failure shows the chain of awaits the task was stuck in at the deadline.
    """
    deadline = anyio.current_time() + seconds
    where: list[str] = []
    stop_watching = _watch(deadline, where)
    with anyio.CancelScope(deadline=deadline) as scope:
        try:
            yield scope
        finally:
            stop_watching()
            if scope.cancel_called:
                stuck = where[0] if where else "  (not captured)"
                pytest.fail(
                    f"still running after {seconds} s, a deadlock or a lost wake-up; "
                    f"at the deadline it was waiting in:\n{stuck}"
                )


def _watch(deadline: float, where: list[str]) -> Callable[[], object]:
    """At ``deadline``, append the calling task's chain of awaits to ``where`` (the stack
    the cancellation will unwind, before anything can swallow it); returns the cancel."""
    if current() is ASYNCIO:
        task = asyncio.current_task()
        assert task is not None
        handle = asyncio.get_running_loop().call_at(
            deadline, lambda: where.append(_awaits(task.get_coro()))
        )
        return handle.cancel
    import trio

    trio_task = trio.lowlevel.current_task()
    watcher = trio.CancelScope()

    async def watch() -> None:
        with watcher:
            # A little early: at the deadline itself the test task may run first and unwind.
            await trio.sleep_until(deadline - 0.01)
            where.append(_awaits(trio_task.coro))

    trio.lowlevel.spawn_system_task(watch)
    return watcher.cancel


def _awaits(coro: Any) -> str:
    """The frames of a suspended coroutine and of everything it awaits, outermost first."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "\n".join(lines)


@asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """A task group that fails the test instead of hanging it when something deadlocks."""
    with bounded():
        async with anyio.create_task_group() as tg:
            yield tg


class Task(Generic[T]):
    """A task running ``fn()`` (start it with ``tg.start(task.run)`` or ``start``).

    It records how ``fn`` ended: ``done`` with its ``result``; ``error``, for an exception of
    one of the ``catch`` types (others fail the task group); or ``cancelled``.

    ``cancel()`` lands at once on both backends, even on a task that was just woken. An
    anyio scope's cancel waits for a woken asyncio task's next checkpoint; asyncio's own
    ``task.cancel()`` (what ``asyncio.timeout`` and ``wait_for`` use) lands right away, and
    is what ``cancel()`` uses there.
    """

    def __init__(
        self, fn: Callable[[], Awaitable[T]], catch: tuple[type[Exception], ...] = ()
    ) -> None:
        self.fn = fn
        self.catch = catch
        self.scope = anyio.CancelScope()
        self.task: asyncio.Task[object] | None = None
        self.result: T | None = None
        self.error: Exception | None = None
        self.done = False
        self.cancelled = False

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if current() is ASYNCIO:
            self.task = asyncio.current_task()
        task_status.started()
        try:
            with self.scope:
                try:
                    self.result = await self.fn()
                    self.done = True
                except self.catch as exc:
                    self.error = exc
        except asyncio.CancelledError:
            pass  # the native cancel of cancel(); an anyio scope's is caught by the scope
        self.cancelled = not self.done and self.error is None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        else:
            self.scope.cancel()


async def start(
    tg: TaskGroup, fn: Callable[[], Awaitable[T]], catch: tuple[type[Exception], ...] = ()
) -> Task[T]:
    """Start a ``Task`` running ``fn`` in ``tg``; return once every task is blocked."""
    task = Task(fn, catch)
    await tg.start(task.run)
    await anyio.wait_all_tasks_blocked()
    return task
