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
from collections.abc import Awaitable, Callable

import trio
from _common import best_rate, compare

from aiomq.concurrency.chan import Chan

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


async def _produce(ch: Chan[int], n: int) -> None:
    for i in range(n):
        await ch.send(i)
    ch.close()


def _asyncio_chan(capacity: int) -> Bench:
    async def run(n: int) -> None:
        ch: Chan[int] = Chan(capacity)
        task = asyncio.create_task(_produce(ch, n))
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
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_produce, ch, n)
            async for _ in ch:
                pass

    return run


def _rate(backend: str, bench: Bench, n: int, repeat: int) -> float:
    if backend == "asyncio":
        return best_rate(lambda: asyncio.run(bench(n)), n, repeat)  # type: ignore[arg-type]
    return best_rate(lambda: trio.run(bench, n), n, repeat)


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
    compare(
        rows,
        lambda backend, bench: _rate(backend, bench, n, repeat),
        header="aiomq",
        unit="items/s",
        name_width=12,
        base_width=22,
        rate_width=12,
    )


if __name__ == "__main__":
    main()
