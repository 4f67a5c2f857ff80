"""Library-owned background tasks: kept alive by a strong reference, reaped, never silent.

A singleflight call, ``after_func`` and a producer's sender run in tasks that belong to aiomq,
not to a caller's task group. On asyncio they are plain tasks held in a set until they end; on
trio they are system tasks with every exception caught (an escaping one would crash the run).
An exception a background task raises is logged, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._park import TRIO, current

log = logging.getLogger("aiomq")

_live: set[asyncio.Task[Any]] = set()


class Background:
    """A handle on a library-owned task; its one operation is ``cancel()``.

    The task is reaped by aiomq when it ends, so the handle offers no way to await it.
    """

    __slots__ = ("_scope", "_task")

    def __init__(self, task: asyncio.Task[Any] | None, scope: Any) -> None:
        self._task = task
        self._scope = scope

    def cancel(self) -> None:
        """Ask the task to stop; it ends at its next checkpoint."""
        if self._task is not None:
            self._task.cancel()
        else:
            self._scope.cancel()


def spawn(fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None) -> Background:
    """Start ``fn(*args)`` as a task owned by aiomq, on the running backend."""
    if current() is not TRIO:
        task = asyncio.get_running_loop().create_task(_logged(fn, *args), name=name)
        _live.add(task)
        task.add_done_callback(_live.discard)
        return Background(task, None)

    import trio

    scope = trio.CancelScope()

    async def run() -> None:
        with scope:
            await _logged(fn, *args)

    trio.lowlevel.spawn_system_task(run, name=name or getattr(fn, "__name__", None))
    return Background(None, scope)


async def _logged(fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    try:
        await fn(*args)
    except Exception:
        log.exception("aiomq background task %r failed", getattr(fn, "__qualname__", fn))
