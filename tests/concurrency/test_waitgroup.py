"""aiomq.concurrency.sync.WaitGroup: counter rules, waiting at zero, reuse, many waiters."""

from __future__ import annotations

import anyio
import pytest

from aiomq.concurrency.sync import WaitGroup

pytestmark = pytest.mark.anyio


class TestWaitGroup:
    async def test_negative_counter_is_a_value_error_and_changes_nothing(self) -> None:
        wg = WaitGroup()
        with pytest.raises(ValueError, match="negative"):
            wg.done()
        wg.add(2)
        with pytest.raises(ValueError, match="negative"):
            wg.add(-3)
        assert len(wg) == 2

    async def test_wait_at_zero_returns_at_once(self) -> None:
        wg = WaitGroup()
        with anyio.fail_after(1):  # nothing could wake it: were it to park, it would stay
            await wg.wait()
            wg.add(2)
            wg.done()
            wg.done()
            await wg.wait()  # back at zero: at once again
        assert len(wg) == 0
        assert "waiters=0" in repr(wg)  # it did not queue

    async def test_wait_at_zero_is_a_checkpoint(self) -> None:
        with anyio.CancelScope() as cs:
            cs.cancel()
            await WaitGroup().wait()
        assert cs.cancelled_caught

    async def test_waits_for_every_done(self) -> None:
        wg = WaitGroup()
        finished: list[int] = []

        async def work(i: int, go: anyio.Event) -> None:
            await go.wait()
            finished.append(i)
            wg.done()

        events = [anyio.Event() for _ in range(3)]
        async with anyio.create_task_group() as tg:
            for i, event in enumerate(events):
                wg.add()
                tg.start_soon(work, i, event)
            waiter_done = anyio.Event()

            async def waiter() -> None:
                await wg.wait()
                assert len(finished) == 3
                waiter_done.set()

            tg.start_soon(waiter)
            for event in events:
                await anyio.wait_all_tasks_blocked()
                assert not waiter_done.is_set()
                event.set()
            with anyio.fail_after(5):
                await waiter_done.wait()

    async def test_many_waiters_are_released_together(self) -> None:
        wg = WaitGroup()
        wg.add(1)
        released = 0

        async def waiter() -> None:
            nonlocal released
            await wg.wait()
            released += 1

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(waiter)
                await anyio.wait_all_tasks_blocked()
                assert released == 0
                wg.done()
        assert released == 100

    async def test_reusable_after_reaching_zero(self) -> None:
        wg = WaitGroup()
        for round_ in range(3):
            wg.add(2)

            async def work() -> None:
                await anyio.lowlevel.checkpoint()
                wg.done()

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(work)
                    tg.start_soon(work)
                    await wg.wait()
            assert len(wg) == 0, round_

    async def test_add_while_waiting_extends_the_wait(self) -> None:
        wg = WaitGroup()
        wg.add(1)
        waited = anyio.Event()

        async def waiter() -> None:
            await wg.wait()
            waited.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            wg.add(1)
            wg.done()
            await anyio.wait_all_tasks_blocked()
            assert not waited.is_set()
            wg.done()
            with anyio.fail_after(5):
                await waited.wait()

    async def test_cancelled_waiter_leaves_and_others_still_wake(self) -> None:
        wg = WaitGroup()
        wg.add(1)
        woken = anyio.Event()

        async def waiter() -> None:
            await wg.wait()
            woken.set()

        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as cs:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(wg.wait)
                    await anyio.wait_all_tasks_blocked()
                    cs.cancel()
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert "waiters=1" in repr(wg)
            wg.done()
            with anyio.fail_after(5):
                await woken.wait()

    async def test_waiter_cancelled_in_the_step_the_count_reaches_zero(self) -> None:
        # A waiter cancelled in the same step as the counter reaches zero has been dropped
        # from the queue by the waker; leaving must not try to remove it again.
        wg = WaitGroup()
        wg.add(1)

        async def cancel_and_finish(cs: anyio.CancelScope) -> None:
            await anyio.wait_all_tasks_blocked()
            cs.cancel()
            wg.done()

        with anyio.CancelScope() as cs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_and_finish, cs)
                await wg.wait()
        assert cs.cancelled_caught
        assert len(wg) == 0
        assert "waiters=0" in repr(wg)
        await wg.wait()
