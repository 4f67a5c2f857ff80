"""Task spawning rate of ``aiomq.ErrGroup`` against the task groups it stands in for.

Run ``python benchmarks/bench_errgroup.py [--tasks N] [--repeat R]``. Each row starts N
trivial tasks in one group, waits for them all, and prints tasks per second and the ratio
against the baseline measured in the same run (higher is better for aiomq):

- asyncio: ``ErrGroup`` (no limit, and a limit of 100) and anyio's task group, each against
  ``asyncio.TaskGroup``.
- trio: ``ErrGroup`` and anyio's task group, each against a plain ``trio`` nursery.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

import anyio
import trio
from _common import best_rate, compare

from aiomq.concurrency.errgroup import ErrGroup

Bench = Callable[[int], Awaitable[None]]


async def _nop() -> None:
    pass


async def _asyncio_taskgroup(n: int) -> None:
    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(_nop())


async def _trio_nursery(n: int) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(_nop)


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
    parser.add_argument("--repeat", type=int, default=2, help="runs per row (best kept)")
    args = parser.parse_args()
    n, repeat = args.tasks, args.repeat
    rows: list[tuple[str, str, Bench, str, Bench]] = [
        ("asyncio", "ErrGroup", _errgroup(None), "asyncio.TaskGroup", _asyncio_taskgroup),
        ("asyncio", "ErrGroup(limit=100)", _errgroup(100), "asyncio.TaskGroup", _asyncio_taskgroup),
        ("asyncio", "anyio task group", _anyio_taskgroup, "asyncio.TaskGroup", _asyncio_taskgroup),
        ("trio", "ErrGroup", _errgroup(None), "trio nursery", _trio_nursery),
        ("trio", "anyio task group", _anyio_taskgroup, "trio nursery", _trio_nursery),
    ]
    print(f"{n:,} trivial tasks in one group, best of {repeat}")
    compare(
        rows,
        lambda backend, bench: best_rate(lambda: anyio.run(bench, n, backend=backend), n, repeat),
        header="group",
        unit="tasks/s",
        name_width=20,
        base_width=18,
        rate_width=10,
    )


if __name__ == "__main__":
    main()
