"""Weighted: FIFO token lending, context-bounded waits, and the cancellation corner cases."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import TaskGroup

from aiomq.concurrency.context import Context, background, with_cancel, with_timeout
from aiomq.concurrency.semaphore import Weighted, WeightedStats
from aiomq.errors import Canceled, DeadlineExceeded
from tests.concurrency._helpers import Task, task_group

pytestmark = pytest.mark.anyio


class Acquirer(Task[None]):
    """A task waiting in ``acquire(n, ctx)``; ``cancel()`` lands at once (see ``Task``)."""

    def __init__(self, sem: Weighted, n: int, ctx: Context | None) -> None:
        super().__init__(lambda: sem.acquire(n, ctx), catch=(Canceled, DeadlineExceeded))

    @property
    def outcome(self) -> str:
        """What became of it: acquired, the context's error (Canceled, DeadlineExceeded), or
        waiting (also after a cancel: it never got the tokens)."""
        if self.done:
            return "acquired"
        return "waiting" if self.error is None else type(self.error).__name__


async def start(tg: TaskGroup, sem: Weighted, n: int = 1, ctx: Context | None = None) -> Acquirer:
    acquirer = Acquirer(sem, n, ctx)
    await tg.start(acquirer.run)
    await anyio.wait_all_tasks_blocked()
    return acquirer


class TestWeighted:
    async def test_acquire_and_release(self) -> None:
        sem = Weighted(3)
        await sem.acquire(2)
        assert sem.stats() == WeightedStats(size=3, held=2, waiters=0)
        assert sem.try_acquire(1)
        assert not sem.try_acquire(1)
        sem.release(3)
        assert sem.stats().held == 0

    async def test_hold_releases_on_exit_and_on_error(self) -> None:
        sem = Weighted(2)
        async with sem.hold(2):
            assert sem.stats().held == 2
        with pytest.raises(KeyError):
            async with sem.hold(1):
                raise KeyError("x")
        assert sem.stats().held == 0

    async def test_release_grants_waiters_in_order_while_they_fit(self) -> None:
        sem = Weighted(4)
        await sem.acquire(4)
        async with task_group() as tg:
            a = await start(tg, sem, 2)
            b = await start(tg, sem, 1)
            c = await start(tg, sem, 2)
            sem.release(3)
            await anyio.wait_all_tasks_blocked()
            assert (a.outcome, b.outcome, c.outcome) == ("acquired", "acquired", "waiting")
            sem.release(2)
        assert c.outcome == "acquired"
        assert sem.stats() == WeightedStats(size=4, held=4, waiters=0)

    async def test_no_barging_while_anyone_waits(self) -> None:
        sem = Weighted(3)
        await sem.acquire(2)
        async with task_group() as tg:
            waiter = await start(tg, sem, 2)
            # One token is free, but a waiter is queued: newcomers queue behind it.
            assert not sem.try_acquire(1)
            late = await start(tg, sem, 1)
            assert late.outcome == "waiting"
            sem.release(2)
        assert (waiter.outcome, late.outcome) == ("acquired", "acquired")

    async def test_large_head_blocks_smaller_requests_behind_it(self) -> None:
        sem = Weighted(3)
        await sem.acquire(3)
        async with task_group() as tg:
            big = await start(tg, sem, 3)
            small = await start(tg, sem, 1)
            sem.release(1)
            await anyio.wait_all_tasks_blocked()
            assert (big.outcome, small.outcome) == ("waiting", "waiting")
            sem.release(2)
            await anyio.wait_all_tasks_blocked()
            assert (big.outcome, small.outcome) == ("acquired", "waiting")
            sem.release(3)
        assert small.outcome == "acquired"

    async def test_over_release_raises_and_changes_nothing(self) -> None:
        sem = Weighted(2)
        await sem.acquire(1)
        with pytest.raises(ValueError, match="released"):
            sem.release(2)
        assert sem.stats().held == 1

    async def test_negative_arguments_raise(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            Weighted(-1)
        sem = Weighted(1)
        with pytest.raises(ValueError, match="negative"):
            await sem.acquire(-1)
        with pytest.raises(ValueError, match="negative"):
            sem.try_acquire(-1)
        with pytest.raises(ValueError, match="negative"):
            sem.release(-1)

    async def test_zero_tokens(self) -> None:
        sem = Weighted(1)
        await sem.acquire(0)
        assert sem.try_acquire(0)
        assert sem.stats().held == 0

    async def test_request_larger_than_size_without_context_raises_at_once(self) -> None:
        sem = Weighted(2)
        with pytest.raises(ValueError, match="wait forever"):
            await sem.acquire(3)
        assert not sem.try_acquire(3)
        assert sem.stats() == WeightedStats(size=2, held=0, waiters=0)

    async def test_request_larger_than_size_waits_for_its_context(self) -> None:
        sem = Weighted(2)
        ctx, cancel = with_cancel(background())
        async with task_group() as tg:
            big = await start(tg, sem, 3, ctx)
            assert big.outcome == "waiting"
            cancel()
        assert big.outcome == "Canceled"
        assert sem.stats() == WeightedStats(size=2, held=0, waiters=0)

    async def test_ended_context_raises_even_when_tokens_are_free(self) -> None:
        sem = Weighted(1)
        ctx, cancel = with_cancel(background())
        cancel()
        with pytest.raises(Canceled):
            await sem.acquire(1, ctx)
        assert sem.stats().held == 0

    async def test_context_cancelled_while_waiting_leaves_semaphore_unchanged(self) -> None:
        sem = Weighted(2)
        await sem.acquire(2)
        ctx, cancel = with_cancel(background())
        async with task_group() as tg:
            waiter = await start(tg, sem, 1, ctx)
            cancel()
        assert waiter.outcome == "Canceled"
        assert sem.stats() == WeightedStats(size=2, held=2, waiters=0)

    async def test_deadline_raises_deadline_exceeded(self) -> None:
        sem = Weighted(1)
        await sem.acquire()
        ctx, _ = with_timeout(background(), 0.01)
        with anyio.fail_after(5), pytest.raises(DeadlineExceeded):
            await sem.acquire(1, ctx)
        assert sem.stats() == WeightedStats(size=1, held=1, waiters=0)

    async def test_acquire_with_live_context_succeeds(self) -> None:
        sem = Weighted(1)
        await sem.acquire()
        ctx, _ = with_cancel(background())
        async with task_group() as tg:
            waiter = await start(tg, sem, 1, ctx)
            sem.release()
        assert waiter.outcome == "acquired"
        assert sem.stats().held == 1

    async def test_hold_with_context(self) -> None:
        sem = Weighted(1)
        ctx, cancel = with_cancel(background())
        async with sem.hold(1, ctx):
            assert sem.stats().held == 1
        cancel()
        with pytest.raises(Canceled):
            async with sem.hold(1, ctx):
                pytest.fail("entered with an ended context")
        assert sem.stats().held == 0

    # -- regressions ---------------------------------------------------------------------

    async def test_cancelled_head_waiter_wakes_those_behind_it_go37852(self) -> None:
        # golang/go#37852: the head asked for more than was free; smaller requests queued
        # behind it although tokens were free. When the head gave up, nobody woke them.
        sem = Weighted(2)
        await sem.acquire(1)
        ctx, cancel = with_cancel(background())
        async with task_group() as tg:
            head = await start(tg, sem, 2, ctx)
            behind = await start(tg, sem, 1)
            assert behind.outcome == "waiting"
            cancel()
        assert (head.outcome, behind.outcome) == ("Canceled", "acquired")
        assert sem.stats() == WeightedStats(size=2, held=2, waiters=0)

    async def test_cancelled_head_waiter_wakes_others_on_plain_cancellation(self) -> None:
        sem = Weighted(2)
        await sem.acquire(1)
        async with task_group() as tg:
            head = await start(tg, sem, 2)
            behind = await start(tg, sem, 1)
            head.cancel()
        assert (head.outcome, behind.outcome) == ("waiting", "acquired")
        assert sem.stats().held == 2

    @pytest.mark.parametrize("order", ["release-then-cancel", "cancel-then-release"])
    async def test_granted_then_cancelled_waiter_does_not_leak_tokens(self, order: str) -> None:
        sem = Weighted(3)
        await sem.acquire(3)
        async with task_group() as tg:
            granted = await start(tg, sem, 2)
            # Both in one step: the waiter is granted, then cancelled before it runs.
            if order == "release-then-cancel":
                sem.release(3)
                granted.cancel()
            else:
                granted.cancel()
                sem.release(3)
        assert granted.outcome == "waiting"
        assert sem.stats() == WeightedStats(size=3, held=0, waiters=0)
        assert sem.try_acquire(3)

    async def test_granted_then_context_ended_gives_tokens_back(self) -> None:
        sem = Weighted(2)
        await sem.acquire(2)
        ctx, cancel = with_cancel(background())
        async with task_group() as tg:
            granted = await start(tg, sem, 2, ctx)
            behind = await start(tg, sem, 1)
            sem.release(2)  # grants `granted` ...
            cancel()  # ... whose context ends before it runs
        assert (granted.outcome, behind.outcome) == ("Canceled", "acquired")
        assert sem.stats() == WeightedStats(size=2, held=1, waiters=0)

    async def test_granted_then_cancelled_passes_tokens_to_the_next_waiter(self) -> None:
        sem = Weighted(1)
        await sem.acquire()
        async with task_group() as tg:
            first = await start(tg, sem, 1)
            second = await start(tg, sem, 1)
            sem.release()
            first.cancel()
        assert (first.outcome, second.outcome) == ("waiting", "acquired")
        assert sem.stats() == WeightedStats(size=1, held=1, waiters=0)
