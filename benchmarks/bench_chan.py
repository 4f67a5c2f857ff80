"""Throughput of ``aiomq.Chan`` against the standard queues, one producer and one consumer.

Run ``python benchmarks/bench_chan.py [--items N] [--rounds R]``. Each row moves N items from
a producer task to a consumer task (the consumer reads until the producer is done) and
prints items per second and the ratio against its baseline (higher is better for aiomq):

- asyncio ``Chan(1000)`` vs ``asyncio.Queue(1000)``: both complete an operation without
  yielding when it can (a free slot, a buffered item) and park the task when it cannot.
- asyncio ``Chan()`` vs ``asyncio.Queue(1)``: asyncio has no rendezvous queue; ``Queue(1)``
  is the nearest, and lets the producer run one item ahead of the consumer.
- trio ``Chan(1000)`` and ``Chan()`` against trio's memory channel used two ways:
  ``await send()`` / ``async for``, which yield to the scheduler on every operation (trio's
  rule that every await is a checkpoint); and ``send_nowait()`` / ``receive_nowait()``
  first, awaiting only on ``WouldBlock``, which skips the scheduler when the operation can
  complete at once, as ``Chan`` does. ``Chan(1000)`` is also compared with the nowait-first
  loop that calls ``trio.lowlevel.checkpoint_if_cancelled()`` before each operation, as
  ``Chan`` does on trio (a pending cancellation is raised, nothing yields otherwise): that
  baseline is the same work as ``Chan``'s; the awaiting one measures what trio's checkpoint
  on every operation costs.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

import trio
from _common import Row, header, run_rows

from aiomq.concurrency.chan import Chan

Bench = Callable[[int], Awaitable[None]]


def _asyncio_queue(capacity: int) -> Bench:
    async def run(n: int) -> None:
        q: asyncio.Queue[int | None] = asyncio.Queue(capacity)

        async def produce() -> None:
            for i in range(n):
                await q.put(i)
            await q.put(None)  # the end, as Chan's close()

        task = asyncio.create_task(produce())
        while await q.get() is not None:
            pass
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
    """trio's memory channel, awaiting every operation (each one a checkpoint)."""

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


def _trio_memory_nowait_first(capacity: int, check_cancel: bool = False) -> Bench:
    """trio's memory channel, awaiting only when the operation cannot complete at once;
    with ``check_cancel``, raising a pending cancellation before each operation first."""

    async def run(n: int) -> None:
        tx, rx = trio.open_memory_channel[int](capacity)
        checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled

        async def produce() -> None:
            async with tx:
                for i in range(n):
                    if check_cancel:
                        await checkpoint_if_cancelled()
                    try:
                        tx.send_nowait(i)
                    except trio.WouldBlock:
                        await tx.send(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            while True:
                if check_cancel:
                    await checkpoint_if_cancelled()
                try:
                    rx.receive_nowait()
                except trio.WouldBlock:
                    try:
                        await rx.receive()
                    except trio.EndOfChannel:
                        break
                except trio.EndOfChannel:
                    break

    return run


def _trio_chan(capacity: int) -> Bench:
    async def run(n: int) -> None:
        ch: Chan[int] = Chan(capacity)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_produce, ch, n)
            async for _ in ch:
                pass

    return run


def _on(backend: str, bench: Bench, n: int) -> Callable[[], object]:
    if backend == "asyncio":
        return lambda: asyncio.run(bench(n))  # type: ignore[arg-type]
    return lambda: trio.run(bench, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=200_000, help="items per run")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved runs per row")
    parser.add_argument("--backend", choices=["asyncio", "trio"], help="only this one's rows")
    args = parser.parse_args()
    n = args.items
    table = [
        ("asyncio", "Chan(1000)", _asyncio_chan(1000), "asyncio.Queue(1000)", _asyncio_queue(1000)),
        ("asyncio", "Chan()", _asyncio_chan(0), "asyncio.Queue(1)", _asyncio_queue(1)),
        ("trio", "Chan(1000)", _trio_chan(1000), "memory_channel(1000) await", _trio_memory(1000)),
        (
            "trio",
            "Chan(1000)",
            _trio_chan(1000),
            "memory_channel(1000) nowait",
            _trio_memory_nowait_first(1000),
        ),
        (
            "trio",
            "Chan(1000)",
            _trio_chan(1000),
            "memory_channel(1000) nowait+cancel",
            _trio_memory_nowait_first(1000, check_cancel=True),
        ),
        ("trio", "Chan()", _trio_chan(0), "memory_channel(0) await", _trio_memory(0)),
        ("trio", "Chan()", _trio_chan(0), "memory_channel(0) nowait", _trio_memory_nowait_first(0)),
    ]
    rows = [
        Row(backend, name, _on(backend, ours, n), base, _on(backend, theirs, n), n)
        for backend, name, ours, base, theirs in table
        if args.backend in (None, backend)
    ]
    header(f"{n:,} items, one producer task, one consumer task", args.rounds)
    run_rows(rows, args.rounds, unit="items/s")


if __name__ == "__main__":
    main()
