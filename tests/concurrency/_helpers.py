"""What the concurrency tests share: a task group that cannot hang a test, and a task whose
cancellation lands at once on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from aiomq.concurrency._park import ASYNCIO, current

__all__ = ["Task", "start", "task_group"]

T = TypeVar("T")


@asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """A task group that fails the test instead of hanging it when something deadlocks."""
    with anyio.fail_after(5):
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
