"""A pipeline of stages connected by channels, bounded by a context timeout.

Go's pipeline pattern (https://go.dev/blog/pipelines) with aiomq: a generator feeds numbers
into a channel, several workers square them (fan-out) into a results channel, which the
main task reads (fan-in) with ``select`` against the context, so a timeout stops every stage
cleanly. Each stage closes the channel it owns when it is done; ``select`` on the context
keeps a stage from blocking forever on a send nobody will receive.

    python examples/chan_pipeline.py                  # finishes: sum of squares
    python examples/chan_pipeline.py --timeout 0.01   # the context ends first
    python examples/chan_pipeline.py --backend trio
"""

from __future__ import annotations

import argparse

import anyio

from aiomq.concurrency.chan import Chan, recv_ok_case, select, send_case
from aiomq.concurrency.context import Context, background, with_timeout
from aiomq.concurrency.sync import WaitGroup


async def generate(ctx: Context, count: int, out: Chan[int]) -> None:
    """Send 1..count on ``out``, then close it; stop early when ``ctx`` ends."""
    try:
        for n in range(1, count + 1):
            index, _ = await select(send_case(out, n), ctx)
            if index == 1:
                return
    finally:
        out.close()


async def square(ctx: Context, delay: float, numbers: Chan[int], out: Chan[int]) -> None:
    """Square each number from ``numbers`` (a slow stage) and send it on ``out``."""
    async for n in numbers:
        await anyio.sleep(delay)  # stands for real work
        index, _ = await select(send_case(out, n * n), ctx)
        if index == 1:
            return


async def main(count: int, workers: int, delay: float, seconds: float) -> None:
    ctx, cancel = with_timeout(background(), seconds)
    numbers: Chan[int] = Chan()  # rendezvous: the generator runs at the workers' pace
    results: Chan[int] = Chan(workers)
    running = WaitGroup()

    async def worker() -> None:
        try:
            await square(ctx, delay, numbers, results)
        finally:
            running.done()

    async def close_results() -> None:
        await running.wait()
        results.close()  # the last worker is done: no more results

    total = received = 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(generate, ctx, count, numbers)
        running.add(workers)
        for _ in range(workers):
            tg.start_soon(worker)
        tg.start_soon(close_results)
        while True:
            index, value = await select(recv_ok_case(results), ctx)
            if index == 1:
                print(f"stopped: {value} after {received} of {count} results")
                break
            square_value, ok = value
            if not ok:
                print(f"done: sum of the first {count} squares is {total}")
                break
            total += square_value
            received += 1
        cancel()  # stops every stage that is still running (Go's defer cancel())


def run() -> None:
    parser = argparse.ArgumentParser(description="Channel pipeline with a context timeout.")
    parser.add_argument("--count", type=int, default=100, help="numbers to square")
    parser.add_argument("--workers", type=int, default=4, help="squaring stages")
    parser.add_argument("--delay", type=float, default=0.001, help="seconds of work per item")
    parser.add_argument("--timeout", type=float, default=5.0, help="context timeout")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.count, args.workers, args.delay, args.timeout, backend=args.backend)


if __name__ == "__main__":
    run()
