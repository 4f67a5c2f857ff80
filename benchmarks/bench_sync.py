"""Mutex, Weighted and SingleFlight against asyncio's and anyio's primitives, on asyncio.

Run ``python benchmarks/bench_sync.py [--rounds R]``. Each row prints operations per second
of both sides and their ratio (higher is better for aiomq); each run is a fresh event loop.

- Uncontended: one task takes and releases the lock 200,000 times. ``Mutex`` completes a
  free acquire without yielding, as ``asyncio.Lock`` and ``anyio.Lock(fast_acquire=True)``
  do: those are the baselines doing the same work. Plain ``anyio.Lock()`` yields to the
  scheduler on every acquire (anyio's checkpoint rule); that row measures that rule's cost.
- Contended: 100 tasks each take the lock 200 times and hold it across one
  ``asyncio.sleep(0)``, so every acquire but the first queues and is handed the lock. The
  same work on every side.
- ``Weighted(10)`` vs ``asyncio.Semaphore(10)``: 1,000 tasks, 20 acquire/sleep/release each.
- ``SingleFlight.do`` by 10,000 concurrent callers of one key (one call made, asserted)
  against the floor of any fan-out: 10,000 tasks awaiting one ``asyncio.Event`` that one
  task sets.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from _common import Row, header, run_rows

from aiomq.concurrency.semaphore import Weighted
from aiomq.concurrency.singleflight import SingleFlight
from aiomq.concurrency.sync import Mutex

AsyncLock = AbstractAsyncContextManager[Any]
Bench = Callable[[], Awaitable[None]]

# -- Mutex -----------------------------------------------------------------------------------

UNCONTENDED = 200_000
LOCK_TASKS, LOCK_ROUNDS = 100, 200


def uncontended(make: Callable[[], AsyncLock]) -> Bench:
    async def run() -> None:
        lock = make()
        for _ in range(UNCONTENDED):
            async with lock:
                pass

    return run


def contended(make: Callable[[], AsyncLock]) -> Bench:
    async def run() -> None:
        lock = make()

        async def worker() -> None:
            for _ in range(LOCK_ROUNDS):
                async with lock:
                    await asyncio.sleep(0)  # hold it across a switch: everyone queues

        await asyncio.gather(*(worker() for _ in range(LOCK_TASKS)))

    return run


def fast_anyio_lock() -> AsyncLock:
    return anyio.Lock(fast_acquire=True)


# -- Weighted --------------------------------------------------------------------------------

SEM_TASKS, SEM_ROUNDS, SEM_SIZE = 1_000, 20, 10


def semaphore(make: Callable[[int], Weighted | asyncio.Semaphore]) -> Bench:
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


def singleflight() -> Bench:
    async def run() -> None:
        sf = SingleFlight()
        calls = 0

        async def lookup() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            return "value"

        results = await asyncio.gather(*(sf.do("key", lookup) for _ in range(CALLERS)))
        assert all(r == ("value", True) for r in results)
        assert calls == 1, f"expected one call, got {calls}"

    return run


def shared_event() -> Bench:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved runs per row")
    args = parser.parse_args()
    locked = LOCK_TASKS * LOCK_ROUNDS
    table: list[tuple[str, Bench, str, Bench, int]] = [
        ("uncontended Mutex", uncontended(Mutex), "asyncio.Lock", uncontended(asyncio.Lock), 0),
        (
            "uncontended Mutex",
            uncontended(Mutex),
            "anyio.Lock(fast_acquire=True)",
            uncontended(fast_anyio_lock),
            0,
        ),
        ("uncontended Mutex", uncontended(Mutex), "anyio.Lock()", uncontended(anyio.Lock), 0),
        ("contended Mutex", contended(Mutex), "asyncio.Lock", contended(asyncio.Lock), locked),
        (
            "contended Mutex",
            contended(Mutex),
            "anyio.Lock(fast_acquire=True)",
            contended(fast_anyio_lock),
            locked,
        ),
        (
            "Weighted(10)",
            semaphore(Weighted),
            "asyncio.Semaphore(10)",
            semaphore(asyncio.Semaphore),
            SEM_TASKS * SEM_ROUNDS,
        ),
        ("SingleFlight.do", singleflight(), "one asyncio.Event", shared_event(), CALLERS),
    ]
    rows = [
        Row(
            "asyncio",
            name,
            lambda ours=ours: asyncio.run(ours()),  # type: ignore[misc]
            base,
            lambda theirs=theirs: asyncio.run(theirs()),  # type: ignore[misc]
            ops or UNCONTENDED,
        )
        for name, ours, base, theirs, ops in table
    ]
    header(
        f"locks: {UNCONTENDED:,} uncontended, {LOCK_TASKS} tasks x {LOCK_ROUNDS} contended; "
        f"semaphores: {SEM_TASKS} tasks x {SEM_ROUNDS}; singleflight: {CALLERS:,} callers",
        args.rounds,
    )
    run_rows(rows, args.rounds, unit="ops/s")


if __name__ == "__main__":
    main()
