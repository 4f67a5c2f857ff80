"""Task spawning rate of ``aiomq.ErrGroup`` against the task groups it stands in for.

Run ``python benchmarks/bench_errgroup.py [--tasks N] [--rounds R]``. Each row starts N
trivial tasks in one group, waits for them all, and prints tasks per second and the ratio
against its baseline (higher is better for aiomq). Each run includes starting and closing
the event loop, on both sides.

- ``ErrGroup`` (no limit) and anyio's task group against ``asyncio.TaskGroup`` and against
  a plain ``trio`` nursery: every task is created at once and all N are alive together.
- ``ErrGroup(limit=100)`` against the same group with an ``asyncio.Semaphore(100)`` (on
  trio, a ``trio.Semaphore(100)``): before creating a task the spawner takes a slot, waiting
  if none is free, and the task gives it back as it ends, so at most 100 tasks are alive, as
  with the limit. On trio the spawner tries ``acquire_nowait()`` first and awaits
  ``acquire()`` only when no slot is free, because ``go()`` does not yield when a slot is
  free either (trio's ``acquire()`` always does).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

import anyio
import trio
from _common import Row, header, run_rows

from aiomq.concurrency.errgroup import ErrGroup

Bench = Callable[[int], Awaitable[None]]
LIMIT = 100


async def _nop() -> None:
    pass


async def _asyncio_taskgroup(n: int) -> None:
    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(_nop())


async def _asyncio_taskgroup_semaphore(n: int) -> None:
    slots = asyncio.Semaphore(LIMIT)

    async def task() -> None:
        try:
            await _nop()
        finally:
            slots.release()

    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            await slots.acquire()  # no yield while a slot is free, as go()
            tg.create_task(task())


async def _trio_nursery(n: int) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(_nop)


async def _trio_nursery_semaphore(n: int) -> None:
    slots = trio.Semaphore(LIMIT)

    async def task() -> None:
        try:
            await _nop()
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            try:
                slots.acquire_nowait()
            except trio.WouldBlock:
                await slots.acquire()
            nursery.start_soon(task)


def _errgroup(limit: int | None) -> Bench:
    async def run(n: int) -> None:
        async with ErrGroup(limit=limit) as g:
            for _ in range(n):
                await g.go(_nop)

    return run


async def _anyio_taskgroup(n: int) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(_nop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per run")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved runs per row")
    parser.add_argument("--backend", choices=["asyncio", "trio"], help="only this one's rows")
    args = parser.parse_args()
    n = args.tasks
    limited = f"ErrGroup(limit={LIMIT})"
    table: list[tuple[str, str, Bench, str, Bench]] = [
        ("asyncio", "ErrGroup", _errgroup(None), "asyncio.TaskGroup", _asyncio_taskgroup),
        (
            "asyncio",
            limited,
            _errgroup(LIMIT),
            f"TaskGroup + Semaphore({LIMIT})",
            _asyncio_taskgroup_semaphore,
        ),
        ("asyncio", "anyio task group", _anyio_taskgroup, "asyncio.TaskGroup", _asyncio_taskgroup),
        ("trio", "ErrGroup", _errgroup(None), "trio nursery", _trio_nursery),
        (
            "trio",
            limited,
            _errgroup(LIMIT),
            f"nursery + Semaphore({LIMIT})",
            _trio_nursery_semaphore,
        ),
        ("trio", "anyio task group", _anyio_taskgroup, "trio nursery", _trio_nursery),
    ]

    def on(backend: str, bench: Bench) -> Callable[[], object]:
        return lambda: anyio.run(bench, n, backend=backend)

    rows = [
        Row(backend, name, on(backend, ours), base, on(backend, theirs), n)
        for backend, name, ours, base, theirs in table
        if args.backend in (None, backend)
    ]
    header(f"{n:,} trivial tasks in one group", args.rounds)
    run_rows(rows, args.rounds, unit="tasks/s")


if __name__ == "__main__":
    main()
