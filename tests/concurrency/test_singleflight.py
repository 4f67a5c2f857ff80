"""SingleFlight: one execution per key in flight, shared by every caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio.abc import TaskGroup

from aiomq.concurrency.singleflight import SingleFlight, SingleFlightResult
from tests.concurrency._helpers import Task, start, task_group

pytestmark = pytest.mark.anyio


async def call(
    tg: TaskGroup, sf: SingleFlight, key: str, fn: Callable[[], Awaitable[str]]
) -> Task[tuple[str, bool]]:
    """A task calling ``sf.do(key, fn)``; keeps what it got, value or exception."""
    return await start(tg, lambda: sf.do(key, fn), catch=(Exception,))


class Slow:
    """A lookup that blocks until ``release`` is set and counts its executions."""

    def __init__(self, value: str = "v") -> None:
        self.value = value
        self.calls = 0
        self.release = anyio.Event()
        self.finished = anyio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        self.finished.set()
        return self.value


class TestSingleFlight:
    async def test_concurrent_calls_share_one_execution(self) -> None:
        sf = SingleFlight()
        slow = Slow("value")
        async with task_group() as tg:
            callers = [await call(tg, sf, "k", slow) for _ in range(10)]
            assert len(sf) == 1
            slow.release.set()
        assert slow.calls == 1
        # Every caller, the first included, sees shared=True.
        assert [c.result for c in callers] == [("value", True)] * 10
        assert len(sf) == 0

    async def test_lone_caller_is_not_shared(self) -> None:
        sf = SingleFlight()

        async def fetch(x: int, y: int) -> int:
            return x + y

        assert await sf.do("k", fetch, 1, 2) == (3, False)

    async def test_results_are_shared_not_cached(self) -> None:
        sf = SingleFlight()
        calls = 0

        async def fetch() -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await sf.do("k", fetch) == (1, False)
        assert await sf.do("k", fetch) == (2, False)

    async def test_different_keys_run_separately(self) -> None:
        sf = SingleFlight()
        a, b = Slow("a"), Slow("b")
        async with task_group() as tg:
            ca = await call(tg, sf, "a", a)
            cb = await call(tg, sf, "b", b)
            assert len(sf) == 2
            b.release.set()
            await b.finished.wait()
            a.release.set()
        assert (ca.result, cb.result) == (("a", False), ("b", False))

    async def test_exception_reaches_every_caller(self) -> None:
        sf = SingleFlight()
        release = anyio.Event()

        async def fail() -> str:
            await release.wait()
            raise LookupError("not found")

        async with task_group() as tg:
            callers = [await call(tg, sf, "k", fail) for _ in range(3)]
            release.set()
        errors = [c.error for c in callers]
        assert isinstance(errors[0], LookupError)
        assert all(e is errors[0] for e in errors)
        assert len(sf) == 0

    async def test_cancelled_first_caller_neither_cancels_nor_spoils_the_call(self) -> None:
        sf = SingleFlight()
        slow = Slow("value")
        async with task_group() as tg:
            first = await call(tg, sf, "k", slow)
            second = await call(tg, sf, "k", slow)
            first.cancel()
            await anyio.wait_all_tasks_blocked()
            slow.release.set()
        assert first.result is None
        assert second.result == ("value", True)
        assert slow.calls == 1
        # The key is free again and a later call works normally.
        assert await sf.do("k", slow) == ("value", False)

    async def test_call_runs_to_its_end_when_every_caller_is_cancelled(self) -> None:
        sf = SingleFlight()
        slow = Slow("value")
        async with task_group() as tg:
            callers = [await call(tg, sf, "k", slow) for _ in range(3)]
            for c in callers:
                c.cancel()
        assert all(c.result is None for c in callers)
        assert len(sf) == 1  # still in flight: a new caller would join it
        slow.release.set()
        with anyio.fail_after(5):
            await slow.finished.wait()
            while len(sf):
                await anyio.lowlevel.checkpoint()
        assert slow.calls == 1

    async def test_forget_starts_a_fresh_call(self) -> None:
        sf = SingleFlight()
        old, new = Slow("old"), Slow("new")
        async with task_group() as tg:
            before = await call(tg, sf, "k", old)
            sf.forget("k")
            after = await call(tg, sf, "k", new)
            assert (old.calls, new.calls) == (1, 1)
            old.release.set()
            new.release.set()
        assert before.result == ("old", False)
        assert after.result == ("new", False)

    async def test_forgotten_call_end_does_not_remove_the_new_call_go31420(self) -> None:
        # golang/go#31420: after Forget, the old call's completion deleted the key again,
        # so a third caller started yet another execution instead of joining the new one.
        sf = SingleFlight()
        old, new = Slow("old"), Slow("new")
        async with task_group() as tg:
            await call(tg, sf, "k", old)
            sf.forget("k")
            second = await call(tg, sf, "k", new)
            old.release.set()
            await old.finished.wait()
            await anyio.wait_all_tasks_blocked()
            assert len(sf) == 1
            third = await call(tg, sf, "k", Slow("third"))
            new.release.set()
        assert second.result == third.result == ("new", True)

    async def test_do_chan_delivers_a_result(self) -> None:
        sf = SingleFlight()
        slow = Slow("value")
        ch = sf.do_chan("k", slow)
        async with task_group() as tg:
            caller = await call(tg, sf, "k", slow)
            slow.release.set()
        with anyio.fail_after(5):
            result = await ch.recv()
        assert result == SingleFlightResult("value", None, True)
        assert caller.result == ("value", True)
        assert len(ch) == 0
        assert not ch.closed

    async def test_do_chan_delivers_an_exception_as_a_value(self) -> None:
        sf = SingleFlight()

        async def fail() -> str:
            raise LookupError("not found")

        ch = sf.do_chan("k", fail)
        with anyio.fail_after(5):
            result = await ch.recv()
        assert result.value is None
        assert isinstance(result.error, LookupError)
        assert result.shared is False
