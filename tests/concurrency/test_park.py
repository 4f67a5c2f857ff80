"""Parker: the park/wake primitive under aiomq's channels and sync primitives."""

from __future__ import annotations

import asyncio
from collections import deque

import anyio
import pytest

from aiomq.concurrency._park import (
    ASYNCIO,
    TRIO,
    Parker,
    checkpoint,
    current,
    discard,
    wake_all,
    wake_first,
)

pytestmark = pytest.mark.anyio


async def parked_then_cancelled() -> Parker[int]:
    """A parker whose task parked on it and was then cancelled (it left without a value)."""
    parkers: list[Parker[int]] = []

    async def waiter() -> None:
        parker: Parker[int] = current().parker()
        parkers.append(parker)
        await parker.park()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    return parkers[0]


class TestParker:
    async def test_wake_hands_value_to_parked_task(self) -> None:
        parkers: list[Parker[int]] = []
        got: list[int] = []

        async def waiter() -> None:
            parker: Parker[int] = current().parker()
            parkers.append(parker)
            got.append(await parker.park())

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert parkers[0].waiting
            assert parkers[0].wake(7)
            assert not parkers[0].wake(8)  # the first waker wins
        assert got == [7]
        assert parkers[0].woken

    async def test_wake_before_park_returns_at_once(self) -> None:
        parker: Parker[str] = current().parker()
        assert parker.wake("x")
        assert await parker.park() == "x"

    async def test_cancelled_waiter_is_gone(self) -> None:
        parker = await parked_then_cancelled()
        assert not parker.woken
        assert not parker.waiting
        assert not parker.wake(1)

    async def test_woken_then_cancelled_returns_value_and_cancels_at_next_checkpoint(
        self,
    ) -> None:
        parkers: list[Parker[int]] = []
        got: list[int] = []
        reached_after_checkpoint = False

        async def waiter(scope: anyio.CancelScope) -> None:
            nonlocal reached_after_checkpoint
            with scope:
                parker: Parker[int] = current().parker()
                parkers.append(parker)
                got.append(await parker.park())
                await checkpoint()
                reached_after_checkpoint = True

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, scope)
            await anyio.wait_all_tasks_blocked()
            assert parkers[0].wake(5)
            scope.cancel()
        assert got == [5]
        assert not reached_after_checkpoint
        assert scope.cancelled_caught

    async def test_late_cancel_raises_with_woken_set(self) -> None:
        parkers: list[Parker[int]] = []
        raised = False

        async def waiter(scope: anyio.CancelScope) -> None:
            nonlocal raised
            with scope:
                parker: Parker[int] = current().parker()
                parkers.append(parker)
                try:
                    await parker.park(late_cancel=True)
                except anyio.get_cancelled_exc_class():
                    raised = True
                    raise

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, scope)
            await anyio.wait_all_tasks_blocked()
            assert parkers[0].wake(5)
            scope.cancel()
        # On asyncio anyio delivers the scope's cancellation only once the task has run, so
        # the park has returned by then; trio raises it at the late-cancel checkpoint.
        assert parkers[0].woken
        assert raised == (anyio.get_cancelled_exc_class() is not asyncio.CancelledError)

    async def test_checkpoint_if_cancelled_raises_on_trio_only(self, anyio_backend: str) -> None:
        await current().checkpoint_if_cancelled()  # not cancelled: a no-op on both
        reached = False
        with anyio.CancelScope() as scope:
            scope.cancel()
            await current().checkpoint_if_cancelled()
            reached = True
            await checkpoint()
        assert scope.cancelled_caught
        # asyncio cannot see a pending cancellation without yielding.
        assert reached == (anyio_backend == "asyncio")


class TestRuntime:
    async def test_current_names_the_running_library(self, anyio_backend: str) -> None:
        assert current() is (ASYNCIO if anyio_backend == "asyncio" else TRIO)
        assert current().name == anyio_backend


class TestQueues:
    """``wake_first``, ``wake_all`` and ``discard``: how every primitive serves its queue."""

    async def test_wake_first_skips_parkers_woken_elsewhere_or_gone(self) -> None:
        left = await parked_then_cancelled()
        woken, waiting, behind = current().parker(), current().parker(), current().parker()
        woken.wake(0)  # say, a select woken through another of its queues
        queue = deque([woken, left, waiting, behind])
        assert wake_first(queue, 1) is waiting
        assert list(queue) == [behind]  # the dead ones were dropped on the way
        assert await waiting.park() == 1
        assert wake_first(queue, 2) is behind
        assert wake_first(queue, 3) is None

    async def test_wake_all_empties_the_queue_and_counts_who_took_the_value(self) -> None:
        parkers = [current().parker() for _ in range(3)]
        parkers[1].wake(0)
        queue = deque(parkers)
        assert wake_all(queue, 7) == 2
        assert not queue
        assert [await parkers[0].park(), await parkers[2].park()] == [7, 7]

    async def test_discard_tolerates_a_parker_already_popped(self) -> None:
        parker: Parker[int] = current().parker()
        queue = deque([parker])
        discard(queue, parker)
        assert not queue
        discard(queue, parker)  # a waker got there first: nothing to do


class TestParkerAsyncioNative:
    """Plain ``Task.cancel()`` races that anyio's cancel scopes never produce."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    async def test_wake_after_cancel_request_returns_false(self) -> None:
        # Regression: wake() used to call set_result on the future the cancellation had
        # already cancelled, raising InvalidStateError in the waker.
        parker: Parker[int] = current().parker()
        task = asyncio.ensure_future(parker.park())
        await asyncio.sleep(0)
        task.cancel()
        assert not parker.waiting
        assert not parker.wake(1)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not parker.woken

    @pytest.mark.parametrize("late_cancel", [False, True])
    async def test_cancel_after_wake_raises_with_woken_set(self, late_cancel: bool) -> None:
        # A native cancel cannot be deferred: re-arming it would let it escape the
        # asyncio.timeout() that sent it. park() raises; the caller sees woken and gives
        # back what it was handed.
        parker: Parker[int] = current().parker()
        task = asyncio.ensure_future(parker.park(late_cancel=late_cancel))
        await asyncio.sleep(0)
        assert parker.wake(3)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError, match="stop"):
            await task
        assert parker.woken


class TestTrioGuestMode:
    """trio running as a guest on an asyncio host: an asyncio loop is running, but the tasks
    are trio's, and every primitive must take trio's path (sniffio decides, not the loop)."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    async def test_channel_select_and_lock_work_in_a_trio_guest(self) -> None:
        import trio
        import trio.testing

        from aiomq.concurrency import Chan, ErrGroup, Mutex, recv_case, select

        async def trio_main() -> list[object]:
            assert current() is TRIO
            ch: Chan[int] = Chan()
            mu = Mutex()
            got: list[object] = []

            async def receiver() -> None:
                got.append(await ch.recv())  # parks: the path that used to fail
                got.append(await select(recv_case(ch)))

            async with ErrGroup() as g:
                await g.go(receiver)
                await trio.testing.wait_all_tasks_blocked()
                await ch.send(1)
                await ch.send(2)
                async with mu:
                    got.append("locked")
            return got

        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=done.set_result,
        )
        with anyio.fail_after(5):
            outcome = await done
        assert outcome.unwrap() == [1, (0, 2), "locked"]  # type: ignore[attr-defined]
