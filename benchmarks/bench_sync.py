"""Mutex, Weighted and SingleFlight against asyncio's own primitives, measured in one run.

    python benchmarks/bench_sync.py

Prints the time per operation and the ratio to the asyncio baseline (speed: > 1 is faster
than asyncio). Targets: Mutex >= 0.5x asyncio.Lock, uncontended and contended; Weighted >=
0.5x asyncio.Semaphore with 1,000 contending tasks; SingleFlight runs one call for 10,000
concurrent identical callers. anyio.Lock is shown for reference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio

from aiomq.concurrency.semaphore import Weighted
from aiomq.concurrency.singleflight import SingleFlight
from aiomq.concurrency.sync import Mutex

REPEATS = 3


AsyncLock = AbstractAsyncContextManager[Any]


def best(fn: Callable[[], Awaitable[None]], ops: int) -> float:
    """Seconds per operation, best of REPEATS runs, each in a fresh event loop."""
    times = []
    for _ in range(REPEATS):

        async def timed() -> float:
            start = time.perf_counter()
            await fn()
            return time.perf_counter() - start

        times.append(asyncio.run(timed()))
    return min(times) / ops


# -- Mutex -----------------------------------------------------------------------------------

UNCONTENDED = 200_000


def uncontended(make: Callable[[], AsyncLock]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        lock = make()
        for _ in range(UNCONTENDED):
            async with lock:
                pass

    return run


def contended(
    make: Callable[[], AsyncLock], tasks: int, rounds: int
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        lock = make()

        async def worker() -> None:
            for _ in range(rounds):
                async with lock:
                    await asyncio.sleep(0)  # hold it across a switch: everyone queues

        await asyncio.gather(*(worker() for _ in range(tasks)))

    return run


# -- Weighted --------------------------------------------------------------------------------

SEM_TASKS, SEM_ROUNDS, SEM_SIZE = 1_000, 20, 10


def semaphore(
    make: Callable[[int], Weighted | asyncio.Semaphore],
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        sem = make(SEM_SIZE)

        async def worker() -> None:
            for _ in range(SEM_ROUNDS):
                await sem.acquire()
                await asyncio.sleep(0)
                sem.release()

        await asyncio.gather(*(worker() for _ in range(SEM_TASKS)))

    return run


# -- SingleFlight ----------------------------------------------------------------------------

CALLERS = 10_000


def singleflight(calls: list[int]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        sf = SingleFlight()

        async def lookup() -> str:
            calls.append(1)
            await asyncio.sleep(0)
            return "value"

        results = await asyncio.gather(*(sf.do("key", lookup) for _ in range(CALLERS)))
        assert all(r == ("value", True) for r in results)

    return run


def shared_event() -> Callable[[], Awaitable[None]]:
    """The floor for a fan-out: every caller awaits one event that one task sets."""

    async def run() -> None:
        event = asyncio.Event()

        async def caller() -> str:
            await event.wait()
            return "value"

        async def setter() -> None:
            await asyncio.sleep(0)
            event.set()

        await asyncio.gather(setter(), *(caller() for _ in range(CALLERS)))

    return run


# -- report ----------------------------------------------------------------------------------


def row(name: str, seconds: float, baseline: float) -> None:
    print(f"{name:<44} {seconds * 1e6:9.3f} us/op {baseline / seconds:7.2f}x")


def main() -> None:
    print(f"{'benchmark':<44} {'time':>15} {'speed vs asyncio':>17}")

    base = best(uncontended(asyncio.Lock), UNCONTENDED)
    row("uncontended: asyncio.Lock", base, base)
    row("uncontended: aiomq Mutex", best(uncontended(Mutex), UNCONTENDED), base)
    row("uncontended: anyio.Lock", best(uncontended(anyio.Lock), UNCONTENDED), base)

    tasks, rounds = 100, 1_000
    ops = tasks * rounds
    base = best(contended(asyncio.Lock, tasks, rounds), ops)
    row(f"contended {tasks}x{rounds}: asyncio.Lock", base, base)
    row(
        f"contended {tasks}x{rounds}: aiomq Mutex", best(contended(Mutex, tasks, rounds), ops), base
    )
    # anyio.Lock is slow enough that a tenth of the work tells the same story.
    anyio_ops = tasks * rounds // 10
    row(
        f"contended {tasks}x{rounds // 10}: anyio.Lock",
        best(contended(anyio.Lock, tasks, rounds // 10), anyio_ops),
        base,
    )

    ops = SEM_TASKS * SEM_ROUNDS
    base = best(semaphore(asyncio.Semaphore), ops)
    row(f"{SEM_TASKS} tasks, size {SEM_SIZE}: asyncio.Semaphore", base, base)
    row(f"{SEM_TASKS} tasks, size {SEM_SIZE}: aiomq Weighted", best(semaphore(Weighted), ops), base)

    calls: list[int] = []
    base = best(shared_event(), CALLERS)
    row(f"{CALLERS} callers: one asyncio.Event (floor)", base, base)
    row(f"{CALLERS} callers: SingleFlight.do", best(singleflight(calls), CALLERS), base)
    assert len(calls) == REPEATS, f"expected one call per run, got {len(calls)} in {REPEATS}"
    print(f"SingleFlight: {len(calls) // REPEATS} call for {CALLERS} concurrent callers")


if __name__ == "__main__":
    main()
