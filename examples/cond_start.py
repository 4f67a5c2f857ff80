"""Decide when coroutines start with a Cond: all at once (broadcast) or one by one (signal).

Run ``python examples/cond_start.py [--backend asyncio|trio]`` (about a second). A context
decides when work ends; a condition variable can decide when it starts. Runners line up at
the start under a Mutex and wait on a Cond; a starter then:

1. ``broadcast()``: every runner starts at the same instant;
2. ``signal()`` every 0.1 s: one runner starts at a time, in the order they lined up
   (``signal`` wakes the longest waiter).

Each runner re-checks its condition in a loop around ``wait()``, as Go's documentation asks.
The Go version: ``c := sync.NewCond(&mu)``, ``c.Wait()``, ``c.Broadcast()``, ``c.Signal()``.
"""

from __future__ import annotations

import argparse

import anyio

from aiomq.concurrency.sync import Cond, Mutex

RUNNERS = 5


class StartLine:
    """Runners wait here until the starter lets them go."""

    def __init__(self) -> None:
        self.mu = Mutex()
        self.go = Cond(self.mu)  # runners wait for the start
        self.lined_up = Cond(self.mu)  # the starter waits for the runners
        self.waiting = 0
        self.released = 0  # how many runners may start so far
        self.started: list[tuple[str, float]] = []
        self.t0 = 0.0

    async def runner(self, name: str) -> None:
        async with self.mu:
            ticket = self.waiting  # place in the line
            self.waiting += 1
            self.lined_up.signal()
            while self.released <= ticket:
                await self.go.wait()
        self.started.append((name, anyio.current_time() - self.t0))

    async def wait_for_runners(self) -> None:
        async with self.mu:
            while self.waiting < RUNNERS:
                await self.lined_up.wait()
        self.t0 = anyio.current_time()

    async def all_at_once(self) -> None:
        await self.wait_for_runners()
        async with self.mu:
            self.released = RUNNERS
        self.go.broadcast()

    async def one_by_one(self) -> None:
        await self.wait_for_runners()
        for _ in range(RUNNERS):
            await anyio.sleep(0.1)
            async with self.mu:
                self.released += 1
            self.go.signal()


async def race(title: str, how: str) -> None:
    line = StartLine()
    async with anyio.create_task_group() as tg:
        for i in range(RUNNERS):
            tg.start_soon(line.runner, f"runner-{i}")
            await anyio.sleep(0.01)  # they arrive one after another
        tg.start_soon(line.all_at_once if how == "broadcast" else line.one_by_one)
    print(title)
    for name, at in line.started:
        print(f"  {name} started at {at * 1000:6.1f} ms")


async def main() -> None:
    await race("-- broadcast(): everyone starts together", "broadcast")
    await race("-- signal() every 0.1 s: one at a time, in line order", "signal")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    anyio.run(main, backend=parser.parse_args().backend)
