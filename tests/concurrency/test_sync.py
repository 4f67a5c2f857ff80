"""Once, once_func, once_value, Mutex, RWMutex and Cond (the lock contract is in
test_locks_contract.py; this file holds what is particular to each type)."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Awaitable, Callable

import anyio
import pytest

import aiomq.concurrency.semaphore
import aiomq.concurrency.singleflight
import aiomq.concurrency.sync
from aiomq.concurrency.sync import (
    Cond,
    CondStats,
    Mutex,
    MutexStats,
    Once,
    RWMutex,
    RWMutexStats,
    once_func,
    once_value,
)
from tests.concurrency._helpers import start, task_group

pytestmark = pytest.mark.anyio


class Gate:
    """A function for the Once tests: counts its calls, and each waits until ``release``."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = anyio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        await self.release.wait()


# -- Once ------------------------------------------------------------------------------------


class TestOnce:
    async def test_runs_async_and_plain_functions_once(self) -> None:
        calls: list[str] = []

        async def setup() -> None:
            calls.append("async")

        once = Once()
        for _ in range(3):
            await once.do(setup)
        plain = Once()
        for _ in range(3):
            await plain.do(lambda: calls.append("plain"))
        assert calls == ["async", "plain"]
        assert once.done()

    async def test_concurrent_callers_wait_for_the_first(self) -> None:
        setup = Gate()
        once = Once()
        async with task_group() as tg:
            callers = [await start(tg, lambda: once.do(setup)) for _ in range(4)]
            assert [c.done for c in callers] == [False] * 4
            setup.release.set()
        assert setup.calls == 1
        assert all(c.done for c in callers)

    async def test_raising_function_still_counts_as_done(self) -> None:
        gate = Gate()

        async def setup() -> None:
            await gate()
            raise OSError("setup failed")

        once = Once()
        errors: list[BaseException] = []

        async def first() -> None:
            try:
                await once.do(setup)
            except OSError as exc:
                errors.append(exc)

        async with task_group() as tg:
            await start(tg, first)
            waiter = await start(tg, lambda: once.do(setup))
            gate.release.set()
        assert len(errors) == 1  # only the caller that ran fn sees its exception
        assert waiter.done
        assert once.done()
        await once.do(setup)
        assert gate.calls == 1

    async def test_cancelled_first_call_lets_a_waiter_take_over(self) -> None:
        started = anyio.Event()
        calls = 0

        async def setup() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                started.set()
                await anyio.sleep_forever()

        once = Once()
        async with task_group() as tg:
            first = await start(tg, lambda: once.do(setup))
            second = await start(tg, lambda: once.do(setup))
            first.cancel()
        assert (first.cancelled, second.done) == (True, True)
        assert calls == 2
        assert once.done()


class TestOnceFunc:
    async def test_calls_once(self) -> None:
        calls = 0

        def setup() -> None:
            nonlocal calls
            calls += 1

        call = once_func(setup)
        await call()
        await call()
        assert calls == 1

    async def test_every_call_raises_the_same_exception(self) -> None:
        async def setup() -> None:
            raise OSError("no")

        call = once_func(setup)
        raised = []
        for _ in range(3):
            with pytest.raises(OSError, match="no") as info:
                await call()
            raised.append(info.value)
        assert raised[0] is raised[1] is raised[2]


class TestOnceValue:
    async def test_value_is_computed_once(self) -> None:
        gate = Gate()

        async def load() -> int:
            await gate()
            return 42

        get = once_value(load)
        results: list[int] = []

        async def caller() -> None:
            results.append(await get())

        async with task_group() as tg:
            for _ in range(3):
                await start(tg, caller)
            gate.release.set()
        assert results == [42, 42, 42]
        assert await get() == 42
        assert gate.calls == 1

    async def test_same_exception_every_call_without_a_growing_traceback(self) -> None:
        async def load() -> int:
            raise KeyError("missing")

        get = once_value(load)
        raised: list[BaseException] = []
        depths: list[int] = []
        for _ in range(5):
            with pytest.raises(KeyError) as info:
                await get()
            raised.append(info.value)
            depths.append(len(traceback.extract_tb(info.value.__traceback__)))
        assert all(exc is raised[0] for exc in raised)
        assert len(set(depths)) == 1


# -- Mutex -----------------------------------------------------------------------------------


class TestMutex:
    async def test_stats_and_locked(self) -> None:
        mu = Mutex()
        assert mu.stats() == MutexStats(locked=False, waiters=0)
        await mu.lock()
        async with task_group() as tg:
            await start(tg, mu.lock)
            assert mu.stats() == MutexStats(locked=True, waiters=1)
            mu.unlock()
        assert mu.locked()
        mu.unlock()
        assert not mu.locked()

    async def test_unlock_from_another_task(self) -> None:
        mu = Mutex()
        await mu.lock()

        async def other() -> None:
            mu.unlock()

        async with task_group() as tg:
            tg.start_soon(other)
        assert not mu.locked()

    async def test_unlock_of_unlocked_mutex_raises_runtime_error(self) -> None:
        with pytest.raises(RuntimeError, match="unlocked mutex"):
            Mutex().unlock()

    async def test_uncontended_lock_honours_a_pending_cancel_on_trio(
        self, anyio_backend: str
    ) -> None:
        mu = Mutex()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await mu.lock()
        # asyncio cannot ask about a pending cancel without yielding: the lock is taken.
        assert mu.locked() == (anyio_backend == "asyncio")


# -- RWMutex ---------------------------------------------------------------------------------


class TestRWMutex:
    async def test_readers_share(self) -> None:
        rw = RWMutex()
        async with rw.read(), rw.read():
            assert rw.stats() == RWMutexStats(2, False, 0, 0)
            assert rw.try_rlock()
            assert not rw.try_lock()
            rw.runlock()
        assert rw.try_lock()
        assert not rw.try_rlock()
        assert not rw.try_lock()
        rw.unlock()

    async def test_writer_excludes_readers_until_it_unlocks(self) -> None:
        rw = RWMutex()
        log: list[str] = []

        async def reader() -> None:
            async with rw.read():
                log.append("read")

        async with task_group() as tg:
            await rw.lock()
            await start(tg, reader)
            assert log == []
            assert rw.stats() == RWMutexStats(0, True, 1, 0)
            rw.unlock()
        assert log == ["read"]

    async def test_waiting_writer_blocks_new_readers(self) -> None:
        rw = RWMutex()
        log: list[str] = []

        async def writer() -> None:
            async with rw.write():
                log.append("write")

        async def reader() -> None:
            async with rw.read():
                log.append("late read")

        await rw.rlock()
        async with task_group() as tg:
            await start(tg, writer)
            assert not rw.try_rlock()  # a writer waits: no new reader gets in
            await start(tg, reader)
            assert rw.stats() == RWMutexStats(1, False, 1, 1)
            rw.runlock()
        assert log == ["write", "late read"]

    async def test_readers_queued_during_a_write_go_before_the_next_writer(self) -> None:
        rw = RWMutex()
        log: list[str] = []
        release_readers = anyio.Event()

        async def reader(name: str) -> None:
            async with rw.read():
                log.append(name)
                await release_readers.wait()

        async def writer(name: str) -> None:
            async with rw.write():
                log.append(name)

        await rw.lock()
        async with task_group() as tg:
            await start(tg, lambda: reader("r1"))
            await start(tg, lambda: writer("w2"))
            await start(tg, lambda: reader("r2"))  # arrived after w2, still before it
            rw.unlock()
            await anyio.wait_all_tasks_blocked()
            assert sorted(log) == ["r1", "r2"]  # woken together, run in either order
            assert rw.stats() == RWMutexStats(2, False, 0, 1)
            release_readers.set()
        assert log[2:] == ["w2"]

    async def test_writers_are_fifo(self) -> None:
        rw = RWMutex()
        log: list[int] = []

        def writer(i: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                async with rw.write():
                    log.append(i)

            return run

        await rw.lock()
        async with task_group() as tg:
            for i in range(5):
                await start(tg, writer(i))
            rw.unlock()
        assert log == [0, 1, 2, 3, 4]

    async def test_cancelled_writer_lets_the_readers_behind_it_in(self) -> None:
        rw = RWMutex()
        log: list[str] = []

        async def reader() -> None:
            await rw.rlock()
            log.append("read")

        await rw.rlock()
        async with task_group() as tg:
            writer = await start(tg, rw.lock)
            await start(tg, reader)
            assert log == []
            writer.cancel()
        assert writer.cancelled
        assert log == ["read"]
        assert rw.stats() == RWMutexStats(2, False, 0, 0)

    async def test_granted_then_cancelled_reader_gives_its_share_back(self) -> None:
        rw = RWMutex()
        await rw.lock()
        async with task_group() as tg:
            first = await start(tg, rw.rlock)
            second = await start(tg, rw.rlock)
            await start(tg, rw.lock)  # a writer waiting behind the readers
            rw.unlock()
            first.cancel()
            await anyio.wait_all_tasks_blocked()
            assert (first.cancelled, second.done) == (True, True)
            assert rw.stats() == RWMutexStats(1, False, 0, 1)
            rw.runlock()
        assert rw.stats() == RWMutexStats(0, True, 0, 0)

    async def test_granted_then_cancelled_writer_leaves_no_trace(self) -> None:
        # Found by test_sync_properties: giving the lock back through unlock() let the
        # readers queued behind the cancelled writer go before the writer queued ahead of
        # them. It must be as if the cancelled writer had never queued.
        rw = RWMutex()
        log: list[str] = []

        def take(
            name: str, acquire: Callable[[], Awaitable[None]]
        ) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                await acquire()
                log.append(name)

            return run

        await rw.rlock()
        async with task_group() as tg:
            cancelled = await start(tg, take("w1", rw.lock))
            await start(tg, take("w2", rw.lock))
            await start(tg, take("r", rw.rlock))  # queued behind the writers
            rw.runlock()  # hands the lock to w1 ...
            cancelled.cancel()  # ... cancelled before it runs
            await anyio.wait_all_tasks_blocked()
            assert log == ["w2"]
            assert rw.stats() == RWMutexStats(0, True, 1, 0)
            rw.unlock()
        assert log == ["w2", "r"]

    async def test_unlocking_what_is_not_held_raises(self) -> None:
        rw = RWMutex()
        with pytest.raises(RuntimeError, match="unlock"):
            rw.unlock()
        with pytest.raises(RuntimeError, match="runlock"):
            rw.runlock()
        await rw.rlock()
        with pytest.raises(RuntimeError):
            rw.unlock()

    async def test_rlocker_is_the_read_side(self) -> None:
        rw = RWMutex()
        locker = rw.rlocker()
        await locker.lock()
        async with locker:
            assert rw.stats().readers == 2
        locker.unlock()
        assert rw.try_lock()


# -- Cond ------------------------------------------------------------------------------------


class TestCond:
    async def test_signal_wakes_one_waiter_in_fifo_order(self) -> None:
        mu = Mutex()
        cond = Cond(mu)
        log: list[int] = []

        def waiter(i: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                async with mu:
                    await cond.wait()
                    log.append(i)

            return run

        async with task_group() as tg:
            for i in range(3):
                await start(tg, waiter(i))
            assert cond.stats() == CondStats(waiters=3)
            for expected in ([0], [0, 1], [0, 1, 2]):
                cond.signal()
                await anyio.wait_all_tasks_blocked()
                assert log == expected

    async def test_broadcast_wakes_everyone(self) -> None:
        mu = Mutex()
        cond = Cond(mu)
        woken = 0

        async def waiter() -> None:
            nonlocal woken
            async with mu:
                await cond.wait()
                assert mu.locked()
                woken += 1

        async with task_group() as tg:
            for _ in range(5):
                await start(tg, waiter)
            async with mu:  # legal with or without the lock
                cond.broadcast()
        assert woken == 5
        assert cond.stats() == CondStats(waiters=0)

    async def test_signal_and_broadcast_without_waiters_do_nothing(self) -> None:
        cond = Cond(Mutex())
        cond.signal()
        cond.broadcast()
        assert cond.stats() == CondStats(waiters=0)

    async def test_wait_without_the_lock_raises(self) -> None:
        cond = Cond(Mutex())
        with pytest.raises(RuntimeError):
            await cond.wait()
        assert cond.stats() == CondStats(waiters=0)

    async def test_cancelled_waiter_retakes_the_lock_before_leaving(self) -> None:
        mu = Mutex()
        cond = Cond(mu)
        held_when_leaving: list[bool] = []

        async def waiter() -> None:
            await mu.lock()
            try:
                await cond.wait()
            finally:
                held_when_leaving.append(mu.locked())
                mu.unlock()

        async with task_group() as tg:
            task = await start(tg, waiter)
            await mu.lock()
            task.cancel()
            await anyio.wait_all_tasks_blocked()
            assert held_when_leaving == []  # still waiting for the lock we hold
            mu.unlock()
        assert task.cancelled
        assert held_when_leaving == [True]
        assert not mu.locked()
        assert cond.stats() == CondStats(waiters=0)

    async def test_cancelled_waiter_passes_on_the_signal_it_consumed(self) -> None:
        mu = Mutex()
        cond = Cond(mu)

        async def waiter() -> None:
            async with mu:
                await cond.wait()

        async with task_group() as tg:
            first = await start(tg, waiter)
            second = await start(tg, waiter)
            cond.signal()  # hands the signal to `first` ...
            first.cancel()  # ... which is cancelled before it runs
        assert (first.cancelled, second.done) == (True, True)
        assert not mu.locked()

    async def test_with_rlocker_readers_wait_together(self) -> None:
        rw = RWMutex()
        cond = Cond(rw.rlocker())
        ready = False
        woken = 0

        async def reader() -> None:
            nonlocal woken
            async with rw.read():
                while not ready:
                    await cond.wait()
                woken += 1

        async with task_group() as tg:
            for _ in range(3):
                await start(tg, reader)
            assert rw.stats().readers == 0
            async with rw.write():
                ready = True
            cond.broadcast()
        assert woken == 3
        assert rw.stats() == RWMutexStats(0, False, 0, 0)


# -- public API ------------------------------------------------------------------------------


class TestPublicApi:
    @pytest.mark.parametrize(
        "module",
        [aiomq.concurrency.sync, aiomq.concurrency.semaphore, aiomq.concurrency.singleflight],
    )
    def test_every_public_name_exists_and_is_documented(self, module: object) -> None:
        for name in module.__all__:  # type: ignore[attr-defined]
            obj = getattr(module, name)
            doc = inspect.getdoc(obj)
            assert doc, f"{name} has no docstring"
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member):
                        assert inspect.getdoc(member), f"{name}.{attr} has no docstring"
