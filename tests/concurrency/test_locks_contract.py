"""One contract for every lock-like type: Mutex, Weighted(1), and RWMutex's write side."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import anyio
import pytest
from anyio.abc import TaskGroup

from aiomq.concurrency.semaphore import Weighted
from aiomq.concurrency.sync import Mutex, RWMutex
from tests.concurrency._helpers import Task, start, task_group

pytestmark = pytest.mark.anyio


@dataclass
class Lock:
    """The lock-like surface the contract exercises, adapted from each type."""

    lock: Callable[[], Awaitable[None]]
    unlock: Callable[[], None]
    try_lock: Callable[[], bool]
    hold: Callable[[], AbstractAsyncContextManager[None]]
    unlock_error: type[Exception]


def _mutex() -> Lock:
    mu = Mutex()
    return Lock(mu.lock, mu.unlock, mu.try_lock, lambda: mu, RuntimeError)


def _weighted() -> Lock:
    sem = Weighted(1)
    return Lock(sem.acquire, sem.release, sem.try_acquire, lambda: sem.hold(1), ValueError)


def _rw_write() -> Lock:
    rw = RWMutex()
    return Lock(rw.lock, rw.unlock, rw.try_lock, rw.write, RuntimeError)


@pytest.fixture(params=[_mutex, _weighted, _rw_write], ids=["Mutex", "Weighted(1)", "RWMutex"])
def lock(request: pytest.FixtureRequest) -> Lock:
    factory: Callable[[], Lock] = request.param
    return factory()


async def start_waiter(tg: TaskGroup, lock: Lock, log: list[str], name: str) -> Task[None]:
    """Start a task that queues for ``lock``; once it gets it, it logs ``name`` and unlocks."""

    async def take() -> None:
        await lock.lock()
        log.append(name)
        lock.unlock()

    return await start(tg, take)


class TestLockContract:
    async def test_mutual_exclusion(self, lock: Lock) -> None:
        inside = 0
        most = 0

        async def worker() -> None:
            nonlocal inside, most
            for _ in range(5):
                async with lock.hold():
                    inside += 1
                    most = max(most, inside)
                    await anyio.lowlevel.checkpoint()
                    await anyio.lowlevel.checkpoint()
                    inside -= 1

        async with task_group() as tg:
            for _ in range(10):
                tg.start_soon(worker)
        assert most == 1

    async def test_hand_off_is_fifo(self, lock: Lock) -> None:
        log: list[str] = []
        await lock.lock()
        async with task_group() as tg:
            for i in range(6):
                await start_waiter(tg, lock, log, str(i))
            lock.unlock()
        assert log == ["0", "1", "2", "3", "4", "5"]
        assert lock.try_lock()

    async def test_try_lock_fails_while_held(self, lock: Lock) -> None:
        assert lock.try_lock()
        assert not lock.try_lock()
        lock.unlock()
        assert lock.try_lock()

    async def test_no_barging_past_a_woken_waiter(self, lock: Lock) -> None:
        log: list[str] = []
        await lock.lock()
        async with task_group() as tg:
            await start_waiter(tg, lock, log, "waiter")
            lock.unlock()
            # The waiter has not run yet, but the lock is already its own.
            assert not lock.try_lock()
        assert log == ["waiter"]
        assert lock.try_lock()

    async def test_uncontended_lock_does_not_wait(self, lock: Lock) -> None:
        with anyio.fail_after(1):
            await lock.lock()
        lock.unlock()

    async def test_cancelled_waiter_leaves_the_queue(self, lock: Lock) -> None:
        log: list[str] = []
        await lock.lock()
        async with task_group() as tg:
            first = await start_waiter(tg, lock, log, "first")
            await start_waiter(tg, lock, log, "second")
            first.cancel()
            await anyio.wait_all_tasks_blocked()
            lock.unlock()
        assert log == ["second"]
        assert lock.try_lock()

    @pytest.mark.parametrize("order", ["unlock-then-cancel", "cancel-then-unlock"])
    async def test_cancel_after_grant_passes_the_lock_on(self, lock: Lock, order: str) -> None:
        log: list[str] = []
        await lock.lock()
        async with task_group() as tg:
            first = await start_waiter(tg, lock, log, "first")
            await start_waiter(tg, lock, log, "second")
            # Both in the same step: the first waiter is handed the lock and cancelled
            # before it runs.
            if order == "unlock-then-cancel":
                lock.unlock()
                first.cancel()
            else:
                first.cancel()
                lock.unlock()
        assert log == ["second"]
        assert lock.try_lock()

    async def test_cancel_after_grant_with_nobody_behind(self, lock: Lock) -> None:
        log: list[str] = []
        await lock.lock()
        async with task_group() as tg:
            waiter = await start_waiter(tg, lock, log, "waiter")
            lock.unlock()
            waiter.cancel()
        assert log == []
        assert lock.try_lock()

    async def test_async_with_releases_on_error(self, lock: Lock) -> None:
        with pytest.raises(KeyError):
            async with lock.hold():
                raise KeyError("boom")
        assert lock.try_lock()

    async def test_unlock_of_unlocked_raises(self, lock: Lock) -> None:
        with pytest.raises(lock.unlock_error):
            lock.unlock()
        assert lock.try_lock()
