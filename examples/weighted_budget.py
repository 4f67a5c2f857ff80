"""Lend a budget with a weighted semaphore: borrowers queue in order, loans are paid back.

Run ``python examples/weighted_budget.py [--backend asyncio|trio]`` (about a second). A fund
of 100 lends to borrowers as Go's ``semaphore.Weighted`` does:

1. loans are granted in arrival order: a small request that would fit waits behind a larger
   one queued before it (no barging), so a large request is never starved;
2. a borrower with a deadline gives up when it passes, leaving the fund unchanged, and the
   borrowers queued behind it go ahead at once;
3. ``try_acquire`` lends only what is free right now with nobody queued; asking for more
   than the whole fund with no deadline is an error, not an endless wait.

The Go version: ``semaphore.NewWeighted(100)``, ``sem.Acquire(ctx, n)``, ``sem.Release(n)``.
"""

from __future__ import annotations

import argparse

import anyio

from aiomq.concurrency.context import background, with_timeout
from aiomq.concurrency.semaphore import Weighted
from aiomq.errors import DeadlineExceeded

FUND = 100


class Bank:
    def __init__(self) -> None:
        self.fund = Weighted(FUND)
        self.start = anyio.current_time()

    def log(self, message: str, state: bool = False) -> None:
        """Print ``message``; with ``state``, the fund as it is at this very moment.

        Only after a release or a give-up: both grant queued loans at once, inside the call,
        so the state printed there includes them (a borrower's own line comes later, when its
        task runs, and shows no state that may have moved on since).
        """
        at = anyio.current_time() - self.start
        stats = self.fund.stats()
        tail = f"-> lent {stats.held:3}/{FUND}, {stats.waiters} queued" if state else ""
        print(f"{at:5.2f}s  {message:<30} {tail}".rstrip())

    async def borrow(
        self, name: str, amount: int, arrive: float, keep: float, patience: float | None = None
    ) -> None:
        """Ask for ``amount`` at ``arrive``, repay it ``keep`` seconds after getting it;
        with a ``patience``, give up after waiting that long."""
        await anyio.sleep(arrive)
        ctx = None if patience is None else with_timeout(background(), patience)[0]
        wait = "" if patience is None else f" (waits {patience} s at most)"
        self.log(f"{name} asks for {amount}{wait}")
        try:
            await self.fund.acquire(amount, ctx)
        except DeadlineExceeded:
            self.log(f"{name} gives up", state=True)
            return
        self.log(f"{name} borrows {amount}")
        await anyio.sleep(keep)
        self.fund.release(amount)  # a release grants queued loans at once, in order
        self.log(f"{name} pays back {amount}", state=True)


async def main() -> None:
    bank = Bank()
    print("-- loans in arrival order, no barging; a deadline gives up cleanly")
    async with anyio.create_task_group() as tg:
        tg.start_soon(bank.borrow, "alice", 60, 0.0, 0.3)
        tg.start_soon(bank.borrow, "bob", 50, 0.05, 0.45)  # 40 free: waits
        tg.start_soon(bank.borrow, "carol", 10, 0.1, 0.1)  # would fit, but bob came first
        # dave needs 80 and gives up after 0.15 s; erin's 30 would fit, but she queues
        # behind him, and goes the moment he leaves.
        tg.start_soon(bank.borrow, "dave", 80, 0.35, 0.1, 0.15)
        tg.start_soon(bank.borrow, "erin", 30, 0.4, 0.1)
    assert bank.fund.stats().held == 0

    print("-- instant loans")
    fund = bank.fund
    print("try_acquire(70):", fund.try_acquire(70))
    print("try_acquire(40) with 30 left:", fund.try_acquire(40))
    fund.release(70)
    try:
        await fund.acquire(FUND + 1)
    except ValueError as exc:
        print("acquire(101) without a deadline:", exc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    anyio.run(main, backend=parser.parse_args().backend)
