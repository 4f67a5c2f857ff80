"""Throughput of ``aiomq.Chan`` against the standard queues, one producer and one consumer.

Run ``python benchmarks/bench_chan.py [--items N]``. Each row moves N items from a producer
task to a consumer task and prints items per second and the ratio against the baseline
measured in the same run (higher is better for aiomq):

- asyncio: ``Chan(1000)`` vs ``asyncio.Queue(1000)``; rendezvous ``Chan()`` vs
  ``asyncio.Queue(1)`` (the nearest asyncio has to a rendezvous).
- trio: ``Chan(1000)`` vs ``trio.open_memory_channel(1000)``; ``Chan()`` vs
  ``trio.open_memory_channel(0)``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import trio

from aiomq.chan import Chan

Bench = Callable[[int], Awaitable[None]]


def _asyncio_queue(capacity: int) -> Bench:
    async def run(n: int) -> None:
        q: asyncio.Queue[int] = asyncio.Queue(capacity)

        async def produce() -> None:
            for i in range(n):
                await q.put(i)

        task = asyncio.create_task(produce())
        for _ in range(n):
            await q.get()
        await task

    return run


def _asyncio_chan(capacity: int) -> Bench:
    async def run(n: int) -> None:
        ch: Chan[int] = Chan(capacity)

        async def produce() -> None:
            for i in range(n):
                await ch.send(i)
            ch.close()

        task = asyncio.create_task(produce())
        async for _ in ch:
            pass
        await task

    return run


def _trio_memory(capacity: int) -> Bench:
    async def run(n: int) -> None:
        tx, rx = trio.open_memory_channel[int](capacity)

        async def produce() -> None:
            async with tx:
                for i in range(n):
                    await tx.send(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for _ in rx:
                pass

    return run


def _trio_chan(capacity: int) -> Bench:
    async def run(n: int) -> None:
        ch: Chan[int] = Chan(capacity)

        async def produce() -> None:
            for i in range(n):
                await ch.send(i)
            ch.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for _ in ch:
                pass

    return run


def _rate(backend: str, bench: Bench, n: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        if backend == "asyncio":
            asyncio.run(bench(n))  # type: ignore[arg-type]
        else:
            trio.run(bench, n)
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=1_000_000, help="items per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (best kept)")
    args = parser.parse_args()
    n, repeat = args.items, args.repeat
    rows = [
        ("asyncio", "Chan(1000)", _asyncio_chan(1000), "asyncio.Queue(1000)", _asyncio_queue(1000)),
        ("asyncio", "Chan(0)", _asyncio_chan(0), "asyncio.Queue(1)", _asyncio_queue(1)),
        ("trio", "Chan(1000)", _trio_chan(1000), "memory_channel(1000)", _trio_memory(1000)),
        ("trio", "Chan(0)", _trio_chan(0), "memory_channel(0)", _trio_memory(0)),
    ]
    print(f"{n:,} items, one producer, one consumer, best of {repeat}")
    print(f"{'backend':8} {'aiomq':12} {'items/s':>12}  {'baseline':22} {'items/s':>12}  ratio")
    for backend, name, bench, base_name, base in rows:
        ours = _rate(backend, bench, n, repeat)
        theirs = _rate(backend, base, n, repeat)
        print(
            f"{backend:8} {name:12} {ours:12,.0f}  {base_name:22} {theirs:12,.0f}"
            f"  {ours / theirs:5.2f}x"
        )


if __name__ == "__main__":
    main()
