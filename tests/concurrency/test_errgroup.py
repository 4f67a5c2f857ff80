"""ErrGroup: first error, contexts, limits, cancellation from outside, nesting."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

import anyio
import pytest

from aiomq.concurrency.context import background, with_cancel, with_value
from aiomq.concurrency.errgroup import ErrGroup
from aiomq.concurrency.sync import WaitGroup
from aiomq.errors import Canceled
from tests.concurrency._helpers import task_group

pytestmark = pytest.mark.anyio

Body = Callable[[ErrGroup], Awaitable[None]]


async def run(g: ErrGroup, body: Body) -> None:
    """``async with g: await body(g)`` as one awaitable, for ``pytest.raises``."""
    async with g:
        await body(g)


async def fail(exc: BaseException) -> None:
    raise exc


class Tracker:
    """Counts running, finished and cancelled tasks, and the most running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.cancelled = 0
        self.finished = 0

    async def hold(self, release: anyio.Event) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await release.wait()
            self.finished += 1
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.running -= 1

    async def forever(self) -> None:
        await self.hold(anyio.Event())


class TestErrGroup:
    async def test_waits_for_every_task(self) -> None:
        done: list[int] = []

        async def work(i: int) -> None:
            await anyio.lowlevel.checkpoint()
            done.append(i)

        async with ErrGroup() as g:
            for i in range(100):
                await g.go(work, i)
        assert sorted(done) == list(range(100))

    async def test_many_trivial_tasks(self) -> None:
        count = 0

        async def bump() -> None:
            nonlocal count
            count += 1

        async with ErrGroup() as g:
            for _ in range(10_000):
                await g.go(bump)
        assert count == 10_000

    async def test_first_error_is_raised_as_itself_and_cancels_the_others(self) -> None:
        tracker = Tracker()
        error = ValueError("boom")

        async def body(g: ErrGroup) -> None:
            await g.go(tracker.forever)
            await g.go(tracker.forever)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, error)

        with pytest.raises(ValueError, match="boom") as info:
            await run(ErrGroup(), body)
        assert info.value is error
        assert tracker.cancelled == 2
        assert tracker.running == 0

    async def test_first_error_cancels_the_body(self) -> None:
        reached: list[str] = []

        async def body(g: ErrGroup) -> None:
            await g.go(fail, KeyError("k"))
            reached.append("before")
            await anyio.sleep_forever()
            reached.append("after")  # pragma: no cover

        with pytest.raises(KeyError):
            await run(ErrGroup(), body)
        assert reached == ["before"]

    async def test_body_cancellation_respects_shields(self) -> None:
        release = anyio.Event()
        reached: list[str] = []

        async def release_later() -> None:
            await anyio.lowlevel.checkpoint()
            release.set()

        async def body(g: ErrGroup) -> None:
            await g.go(fail, KeyError("k"))
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(release_later)
                    await release.wait()
                reached.append("shielded")
            await anyio.lowlevel.checkpoint()
            reached.append("unshielded")  # pragma: no cover

        with pytest.raises(KeyError):
            await run(ErrGroup(), body)
        assert reached == ["shielded"]

    async def test_shields_in_tasks_hold_on_trio_but_not_on_asyncio(
        self, anyio_backend: str
    ) -> None:
        # Documented: on asyncio the group cancels a task with Task.cancel(), which anyio's
        # shields do not stop; trio's nursery respects them.
        release = anyio.Event()
        reached: list[str] = []
        g = ErrGroup()

        async def careful() -> None:
            with anyio.CancelScope(shield=True):
                try:
                    await release.wait()
                    reached.append("shielded")
                except asyncio.CancelledError:
                    reached.append("cut")
                    raise

        async def release_once_failed() -> None:
            await g.ctx.wait()
            release.set()

        async def body(g: ErrGroup) -> None:
            await g.go(careful)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, KeyError("k"))

        async with task_group() as tg:
            tg.start_soon(release_once_failed)
            with pytest.raises(KeyError):
                await run(g, body)
        assert reached == (["shielded"] if anyio_backend == "trio" else ["cut"])

    async def test_later_errors_are_dropped(self) -> None:
        async def fail_while_cancelled() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                raise KeyError("second")

        async def body(g: ErrGroup) -> None:
            await g.go(fail_while_cancelled)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, ValueError("first"))

        with pytest.raises(ValueError, match="first"):
            await run(ErrGroup(), body)

    async def test_error_keeps_its_own_cause_and_context(self) -> None:
        async def chained() -> None:
            try:
                raise KeyError("inner")
            except KeyError as exc:
                raise RuntimeError("outer") from exc

        async def body(g: ErrGroup) -> None:
            await g.go(chained)
            await anyio.sleep_forever()

        with pytest.raises(RuntimeError, match="outer") as info:
            await run(ErrGroup(), body)
        assert isinstance(info.value.__cause__, KeyError)
        assert isinstance(info.value.__context__, KeyError)

    async def test_error_cancels_ctx_with_cause_before_the_tasks(self) -> None:
        error = ValueError("boom")
        seen: list[BaseException | None] = []

        async def watcher(g: ErrGroup) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                seen.append(g.ctx.cause())  # a cancelled task's cleanup sees why

        async def body(g: ErrGroup) -> None:
            await g.go(watcher, g)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, error)

        g = ErrGroup()
        with pytest.raises(ValueError, match="boom"):
            await run(g, body)
        assert seen == [error]
        assert isinstance(g.ctx.err(), Canceled)
        assert g.ctx.cause() is error

    async def test_ctx_is_cancelled_after_a_clean_exit(self) -> None:
        async with ErrGroup() as g:
            await g.go(anyio.lowlevel.checkpoint)
            assert g.ctx.err() is None
        assert isinstance(g.ctx.err(), Canceled)
        assert g.ctx.cause() is g.ctx.err()

    async def test_parent_ctx_cancel_cancels_g_ctx_but_not_the_tasks(self) -> None:
        parent, cancel = with_cancel(with_value(background(), "k", 1))
        cause = RuntimeError("parent")
        async with ErrGroup(ctx=parent) as g:
            assert g.ctx.value("k") == 1
            await g.go(g.ctx.wait)  # the task watches g.ctx, as in Go
            await anyio.wait_all_tasks_blocked()
            cancel(cause)
        assert g.ctx.cause() is cause

    async def test_errors_raised_in_the_body(self) -> None:
        tracker = Tracker()
        error = LookupError("body")

        async def body(g: ErrGroup) -> None:
            await g.go(tracker.forever)
            await anyio.wait_all_tasks_blocked()
            raise error

        g = ErrGroup()
        with pytest.raises(LookupError) as info:
            await run(g, body)
        assert info.value is error
        assert tracker.cancelled == 1
        assert g.ctx.cause() is error

    async def test_task_error_beats_a_later_body_error(self) -> None:
        async def body(g: ErrGroup) -> None:
            await g.go(fail, ValueError("task"))
            try:
                await anyio.sleep_forever()
            finally:
                raise KeyError("body")

        with pytest.raises(ValueError, match="task"):
            await run(ErrGroup(), body)


class TestOutsideCancellation:
    async def test_cancel_scope_cancels_tasks_and_propagates(self) -> None:
        tracker = Tracker()
        reached: list[str] = []
        with anyio.CancelScope() as cs:
            async with ErrGroup() as g:
                await g.go(tracker.forever)
                await g.go(tracker.forever)
                await anyio.wait_all_tasks_blocked()
                cs.cancel()
                await anyio.sleep_forever()
            reached.append("after group")  # pragma: no cover
        assert cs.cancelled_caught
        assert reached == []
        assert tracker.cancelled == 2
        assert tracker.running == 0
        assert g.ctx.err() is not None

    async def test_move_on_after_while_waiting_for_tasks(self) -> None:
        tracker = Tracker()
        with anyio.move_on_after(0.01) as cs:  # the deadline is the subject
            async with ErrGroup() as g:
                await g.go(tracker.forever)
                await g.go(tracker.forever)
            pytest.fail("the block must not complete")  # pragma: no cover
        assert cs.cancelled_caught
        assert tracker.cancelled == 2

    async def test_cancelled_from_another_task_while_exiting(self) -> None:
        tracker = Tracker()
        exited = anyio.Event()

        async def run_group(scope: anyio.CancelScope) -> None:
            with scope:
                async with ErrGroup() as g:
                    await g.go(tracker.forever)
            exited.set()

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_group, scope)
            await anyio.wait_all_tasks_blocked()
            assert tracker.running == 1
            scope.cancel()
        assert exited.is_set()
        assert scope.cancelled_caught
        assert tracker.cancelled == 1

    async def test_error_wins_over_outside_cancellation(self) -> None:
        async def fail_when_cancelled() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                raise ValueError("cleanup failed")

        async def cancelled_group() -> None:
            with anyio.CancelScope() as cs:
                async with ErrGroup() as g:
                    await g.go(fail_when_cancelled)
                    await anyio.wait_all_tasks_blocked()
                    cs.cancel()

        with pytest.raises(ValueError, match="cleanup failed"):
            await cancelled_group()

    @pytest.mark.parametrize("anyio_backend", ["asyncio"])
    async def test_native_asyncio_cancel_propagates(self) -> None:
        tracker = Tracker()

        async def run_group() -> None:
            async with ErrGroup() as g:
                await g.go(tracker.forever)

        task = asyncio.get_running_loop().create_task(run_group())
        await anyio.wait_all_tasks_blocked()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert tracker.cancelled == 1

    @pytest.mark.parametrize("anyio_backend", ["asyncio"])
    async def test_asyncio_timeout_around_the_group(self) -> None:
        tracker = Tracker()

        async def timed_out() -> None:
            async with asyncio.timeout(0.01):  # the deadline is the subject
                async with ErrGroup() as g:
                    await g.go(tracker.forever)

        with pytest.raises(TimeoutError):
            await timed_out()
        assert tracker.cancelled == 1
        current = asyncio.current_task()
        assert current is not None
        assert current.cancelling() == 0  # no cancellation request left behind


class TestLimit:
    async def test_never_more_than_limit_running(self) -> None:
        tracker = Tracker()
        releases = [anyio.Event() for _ in range(10)]
        started = [anyio.Event() for _ in range(10)]

        async def task(i: int) -> None:
            started[i].set()
            await tracker.hold(releases[i])

        async with ErrGroup(limit=3) as g:

            async def spawn_all() -> None:
                for i in range(10):
                    await g.go(task, i)

            async with anyio.create_task_group() as tg:
                tg.start_soon(spawn_all)
                for i in range(10):
                    # With tasks 0..i-1 finished, task i + 2 is the last that may start.
                    await started[min(i + 2, 9)].wait()
                    await anyio.wait_all_tasks_blocked()
                    assert tracker.running == min(3, 10 - i)
                    assert not any(event.is_set() for event in started[i + 3 :])
                    releases[i].set()
        assert tracker.most == 3
        assert tracker.finished == 10

    async def test_go_blocks_while_full(self) -> None:
        release = anyio.Event()
        started: list[str] = []
        async with ErrGroup(limit=1) as g:
            await g.go(release.wait)

            async def second() -> None:
                await g.go(anyio.lowlevel.checkpoint)
                started.append("second")

            async with anyio.create_task_group() as tg:
                tg.start_soon(second)
                await anyio.wait_all_tasks_blocked()
                assert started == []
                release.set()
        assert started == ["second"]

    async def test_try_go(self) -> None:
        releases = [anyio.Event(), anyio.Event()]
        async with ErrGroup(limit=2) as g:
            assert g.try_go(releases[0].wait)
            assert g.try_go(releases[1].wait)
            assert not g.try_go(anyio.sleep_forever)
            releases[0].set()
            await anyio.wait_all_tasks_blocked()
            assert g.try_go(anyio.lowlevel.checkpoint)
            releases[1].set()

    async def test_try_go_without_limit(self) -> None:
        async with ErrGroup() as g:
            assert all(g.try_go(anyio.lowlevel.checkpoint) for _ in range(100))

    async def test_waiters_get_slots_first_come_first_served_without_barging(self) -> None:
        order: list[int] = []
        recorded = WaitGroup()
        recorded.add(3)
        release = anyio.Event()

        async def record(i: int) -> None:
            order.append(i)
            recorded.done()

        async with ErrGroup(limit=1) as g:
            await g.go(release.wait)
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(g.go, record, i)
                    await anyio.wait_all_tasks_blocked()
                g.set_limit(2)  # hands the new slot to the first waiter...
                assert not g.try_go(record, 99)  # ...so try_go cannot take it
                # One slot, so the three run one after the other. (Were two released at
                # once, their tasks would start in order but trio may run them in either.)
                await recorded.wait()
                release.set()
        assert order == [0, 1, 2]

    async def test_zero_limit_starts_nothing_until_raised(self) -> None:
        ran: list[str] = []

        async def record() -> None:
            ran.append("ran")

        async with ErrGroup(limit=0) as g:
            assert not g.try_go(record)
            async with anyio.create_task_group() as tg:
                tg.start_soon(g.go, record)
                await anyio.wait_all_tasks_blocked()
                assert ran == []
                g.set_limit(None)
        assert ran == ["ran"]

    async def test_cancelled_waiter_passes_its_slot_on(self) -> None:
        release = anyio.Event()
        ran: list[int] = []

        async def record(i: int) -> None:
            ran.append(i)

        async with ErrGroup(limit=1) as g:
            await g.go(release.wait)
            async with anyio.create_task_group() as tg:
                with anyio.CancelScope() as cs:
                    async with anyio.create_task_group() as waiters:
                        waiters.start_soon(g.go, record, 1)
                        await anyio.wait_all_tasks_blocked()
                        cs.cancel()
                tg.start_soon(g.go, record, 2)
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert ran == [2]

    async def test_waiter_cancelled_as_a_slot_frees(self) -> None:
        # Regression: a waiter cancelled in the same step as a slot freed was dropped from
        # the queue by the waker and then removed a second time, raising ValueError.
        release = anyio.Event()
        ran: list[int] = []

        async def record(i: int) -> None:
            ran.append(i)

        async def cancel_and_free_a_slot(g: ErrGroup, cs: anyio.CancelScope) -> None:
            await anyio.wait_all_tasks_blocked()
            cs.cancel()
            g.set_limit(2)

        async with ErrGroup(limit=1) as g:
            await g.go(release.wait)
            with anyio.CancelScope() as cs:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(cancel_and_free_a_slot, g, cs)
                    await g.go(record, 1)
            assert cs.cancelled_caught
            assert g.try_go(record, 2)  # the freed slot was not lost with the waiter
            release.set()
        assert ran == [2]

    async def test_bad_arguments_after_waiting_for_a_slot_do_not_lose_it(self) -> None:
        # Regression: a go() handed a slot gave it up for good when fn(*args) raised, and
        # the next go() waited forever.
        release = anyio.Event()
        ran: list[int] = []
        errors: list[TypeError] = []
        g = ErrGroup(limit=1)

        async def record(i: int) -> None:
            ran.append(i)

        async def go_with_a_missing_argument() -> None:
            try:
                await g.go(record)  # type: ignore[arg-type]
            except TypeError as exc:
                errors.append(exc)

        with anyio.fail_after(5):
            async with g:
                await g.go(release.wait)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(go_with_a_missing_argument)
                    await anyio.wait_all_tasks_blocked()
                    tg.start_soon(g.go, record, 2)
                    await anyio.wait_all_tasks_blocked()
                    release.set()
        assert len(errors) == 1  # raised in the caller, as without a wait
        assert ran == [2]

    async def test_slot_handed_to_a_go_outside_the_group_as_the_block_exits(self) -> None:
        # Regression: the block's exit stopped waiting once no task ran, although a slot had
        # just been handed to a go() parked outside the group (not one of its tasks, not the
        # body). On asyncio that task then ran after the block; on trio go() raised "Nursery
        # is closed to new arrivals" and the coroutine was never awaited.
        release = anyio.Event()
        log: list[str] = []
        g = ErrGroup(limit=1)

        async def record() -> None:
            await anyio.lowlevel.checkpoint()
            log.append("ran")

        async def outsider() -> None:
            await g.go(record)
            log.append("go returned")

        async with task_group() as outer:
            async with g:
                await g.go(release.wait)
                outer.start_soon(outsider)
                await anyio.wait_all_tasks_blocked()
                release.set()
            log.append("block left")
        assert sorted(log) == ["block left", "go returned", "ran"]
        assert log.index("ran") < log.index("block left")  # the block waited for the task

    async def test_task_started_for_a_waiting_go_sees_the_callers_context_variables(
        self,
    ) -> None:
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
        seen: list[str] = []
        release = anyio.Event()

        async def record() -> None:
            seen.append(var.get())

        async with ErrGroup(limit=1) as g:
            await g.go(release.wait)

            async def caller() -> None:
                var.set("caller's")
                await g.go(record)  # started by release.wait's task as it ends

            async with anyio.create_task_group() as tg:
                tg.start_soon(caller)
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert seen == ["caller's"]

    async def test_negative_limit_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="limit"):
            ErrGroup(limit=-1)
        async with ErrGroup() as g:
            with pytest.raises(ValueError, match="limit"):
                g.set_limit(-5)

    async def test_error_starts_no_waiting_task(self) -> None:
        started: list[int] = []

        async def record(i: int) -> None:
            started.append(i)

        async def fail_once_all_wait() -> None:
            await anyio.wait_all_tasks_blocked()
            raise ValueError("stop")

        async def body(g: ErrGroup) -> None:
            await g.go(fail_once_all_wait)
            await g.go(g.go, record, 1)  # a task waiting for a slot
            await g.go(record, 0)  # and the body waiting for one

        with pytest.raises(ValueError, match="stop"):
            await run(ErrGroup(limit=2), body)
        assert started == []


class TestLifecycle:
    async def test_go_outside_the_block_is_an_error(self) -> None:
        g = ErrGroup()
        with pytest.raises(RuntimeError, match="new"):
            await g.go(anyio.lowlevel.checkpoint)
        async with g:
            pass
        with pytest.raises(RuntimeError, match="closed"):
            g.try_go(anyio.lowlevel.checkpoint)
        with pytest.raises(RuntimeError, match="once"):
            await g.__aenter__()

    async def test_nothing_starts_once_stopping(self) -> None:
        results: list[bool] = []
        ran: list[str] = []

        async def late() -> None:
            ran.append("late")

        async def try_late(g: ErrGroup) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                results.append(g.try_go(late))

        async def body(g: ErrGroup) -> None:
            await g.go(try_late, g)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, KeyError("k"))

        with pytest.raises(KeyError):
            await run(ErrGroup(), body)
        assert results == [False]
        assert ran == []

    async def test_bad_arguments_raise_in_the_caller(self) -> None:
        async def one(x: int) -> None:
            pass

        async with ErrGroup() as g:
            with pytest.raises(TypeError):
                await g.go(one)  # type: ignore[arg-type]


class TestNested:
    async def test_inner_error_reaches_the_outer_group(self) -> None:
        tracker = Tracker()

        async def inner() -> None:
            async with ErrGroup() as g:
                await g.go(tracker.forever)
                await anyio.wait_all_tasks_blocked()
                await g.go(fail, ValueError("inner"))

        async def body(outer: ErrGroup) -> None:
            await outer.go(tracker.forever)
            await outer.go(inner)

        with pytest.raises(ValueError, match="inner"):
            await run(ErrGroup(), body)
        assert tracker.cancelled == 2

    async def test_outer_error_cancels_inner_groups(self) -> None:
        tracker = Tracker()
        inner_groups: list[ErrGroup] = []
        parked = WaitGroup()
        parked.add(3)

        async def inner(outer: ErrGroup) -> None:
            async with ErrGroup(ctx=outer.ctx) as g:
                inner_groups.append(g)
                for _ in range(2):
                    await g.go(tracker.forever)
                parked.done()
                await anyio.sleep_forever()

        async def body(outer: ErrGroup) -> None:
            for _ in range(3):
                await outer.go(inner, outer)
            await parked.wait()
            await anyio.wait_all_tasks_blocked()
            await outer.go(fail, KeyError("outer"))

        with pytest.raises(KeyError):
            await run(ErrGroup(), body)
        assert tracker.cancelled == 6
        assert all(isinstance(g.ctx.cause(), KeyError) for g in inner_groups)

    async def test_nested_in_the_body(self) -> None:
        outer = ErrGroup()

        async def body(outer: ErrGroup) -> None:
            async with ErrGroup(ctx=outer.ctx) as inner:
                await inner.go(fail, ValueError("x"))
                await anyio.sleep_forever()

        with pytest.raises(ValueError, match="x"):
            await run(outer, body)
        assert isinstance(outer.ctx.err(), Canceled)
        assert isinstance(outer.ctx.cause(), ValueError)

    async def test_anyio_task_groups_inside_tasks_are_cancelled(self) -> None:
        tracker = Tracker()

        async def with_task_group() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(tracker.forever)
                tg.start_soon(tracker.forever)

        async def body(g: ErrGroup) -> None:
            await g.go(with_task_group)
            await anyio.wait_all_tasks_blocked()
            await g.go(fail, ValueError("x"))

        with pytest.raises(ValueError, match="x"):
            await run(ErrGroup(), body)
        assert tracker.cancelled == 2

    async def test_inside_an_anyio_task_group_cancelled_from_outside(self) -> None:
        tracker = Tracker()

        async def group() -> None:
            async with ErrGroup() as g:
                await g.go(tracker.forever)
                await g.go(tracker.forever)

        async with anyio.create_task_group() as tg:
            tg.start_soon(group)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        assert tracker.cancelled == 2
