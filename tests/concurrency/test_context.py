"""aiomq.concurrency.context: cancellation, deadlines, values, waiting, scopes and after_func."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

from aiomq.concurrency.context import (
    Context,
    after_func,
    background,
    with_cancel,
    with_deadline,
    with_timeout,
    with_value,
)
from aiomq.concurrency.sync import WaitGroup
from aiomq.errors import Canceled, DeadlineExceeded
from tests.concurrency._helpers import task_group

pytestmark = pytest.mark.anyio


def registered(ctx: Context) -> int:
    """How many children and callbacks a context still holds (leak checks)."""
    owner = ctx._owner()
    return len(owner._children or ()) + len(owner._callbacks or ())


class TestBackground:
    async def test_never_ends(self) -> None:
        bg = background()
        assert bg is background()
        assert bg.err() is None
        assert bg.cause() is None
        assert bg.deadline() is None
        assert bg.value("anything") is None
        assert not bg.done()

    async def test_children_of_background_are_not_registered(self) -> None:
        _, cancel = with_cancel(background())
        assert registered(background()) == 0
        cancel()


class TestCancel:
    async def test_cancel_sets_err(self) -> None:
        ctx, cancel = with_cancel(background())
        assert ctx.err() is None
        assert ctx.cause() is None
        cancel()
        err = ctx.err()
        assert isinstance(err, Canceled)
        assert not isinstance(err, asyncio.CancelledError)
        assert ctx.done()
        assert ctx.cause() is err  # no cause given: the cause is err() itself

    async def test_cancel_is_idempotent_and_first_cause_wins(self) -> None:
        ctx, cancel = with_cancel(background())
        first, second = RuntimeError("first"), RuntimeError("second")
        cancel(first)
        err = ctx.err()
        cancel(second)
        cancel()
        assert ctx.err() is err
        assert ctx.cause() is first

    async def test_cancel_reaches_every_descendant(self) -> None:
        root, cancel = with_cancel(background())
        child, _ = with_cancel(root)
        valued = with_value(child, "k", 1)
        grandchild, _ = with_timeout(valued, 3600)
        great, _ = with_cancel(grandchild)
        cause = ValueError("stop")
        cancel(cause)
        for ctx in (root, child, valued, grandchild, great):
            assert isinstance(ctx.err(), Canceled)
            assert ctx.cause() is cause

    async def test_cancel_never_reaches_parent_or_siblings(self) -> None:
        parent, cancel_parent = with_cancel(background())
        child, cancel_child = with_cancel(parent)
        sibling, cancel_sibling = with_cancel(parent)
        grandchild, _ = with_cancel(child)
        cancel_child()
        assert isinstance(child.err(), Canceled)
        assert isinstance(grandchild.err(), Canceled)
        assert parent.err() is None
        assert sibling.err() is None
        cancel_sibling()
        cancel_parent()

    async def test_child_cause_is_the_parents(self) -> None:
        parent, cancel = with_cancel(background())
        child, _ = with_cancel(parent)
        cancel()  # without a cause the parent's cause is its err
        assert child.cause() is parent.cause()
        assert child.cause() is parent.err()
        assert child.err() is not parent.err()  # each context raises its own instance

    async def test_child_of_ended_parent_is_born_ended(self) -> None:
        parent, cancel = with_cancel(background())
        cause = KeyError("gone")
        cancel(cause)
        child, cancel_child = with_cancel(parent)
        assert isinstance(child.err(), Canceled)
        assert child.cause() is cause
        cancel_child(RuntimeError("late"))
        assert child.cause() is cause

    async def test_parent_end_beats_child_cancel_later(self) -> None:
        parent, cancel_parent = with_cancel(background())
        child, cancel_child = with_cancel(parent)
        cause = RuntimeError("parent")
        cancel_parent(cause)
        cancel_child(RuntimeError("child"))
        assert child.cause() is cause

    async def test_ended_child_leaves_its_parent(self) -> None:
        # Regression: cancelled children stayed registered with a live parent.
        parent, cancel_parent = with_cancel(background())
        for _ in range(100):
            _, cancel = with_cancel(with_value(parent, "k", "v"))
            cancel()
        past, _ = with_deadline(parent, anyio.current_time() - 1)
        assert isinstance(past.err(), DeadlineExceeded)
        assert registered(parent) == 0
        cancel_parent()

    async def test_deep_chain_cancels_without_recursion(self) -> None:
        # Regression: cancellation recursed once per level and overflowed the stack.
        root, cancel = with_cancel(background())
        ctx = root
        for i in range(5000):
            ctx = with_value(ctx, i, i) if i % 2 else with_cancel(ctx)[0]
        cancel()
        assert isinstance(ctx.err(), Canceled)
        assert ctx.value(1) == 1

    async def test_callbacks_see_the_whole_subtree_ended(self) -> None:
        root, cancel = with_cancel(background())
        leaf, _ = with_cancel(with_cancel(root)[0])
        seen: list[Any] = []
        root._subscribe(lambda: seen.append(leaf.err()))
        cancel()
        assert len(seen) == 1
        assert isinstance(seen[0], Canceled)


class TestValue:
    async def test_lookup_through_the_chain(self) -> None:
        ctx = with_value(background(), "user", "ada")
        ctx, cancel = with_cancel(ctx)
        ctx, _ = with_timeout(ctx, 3600)
        ctx = with_value(ctx, "request", 7)
        assert ctx.value("user") == "ada"
        assert ctx.value("request") == 7
        cancel()

    async def test_nearest_binding_shadows(self) -> None:
        outer = with_value(background(), "k", "outer")
        inner = with_value(outer, "k", "inner")
        assert inner.value("k") == "inner"
        assert outer.value("k") == "outer"

    async def test_absent_key_is_none(self) -> None:
        ctx = with_value(background(), "k", 1)
        assert ctx.value("other") is None
        assert ctx.value(object()) is None

    async def test_private_key_objects_do_not_collide(self) -> None:
        key_a, key_b = object(), object()
        ctx = with_value(with_value(background(), key_a, "a"), key_b, "b")
        assert (ctx.value(key_a), ctx.value(key_b)) == ("a", "b")

    async def test_none_key_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            with_value(background(), None, 1)

    async def test_value_context_ends_with_its_parent(self) -> None:
        parent, cancel = with_cancel(background())
        ctx = with_value(parent, "k", 1)
        assert ctx.err() is None
        cause = RuntimeError("x")
        cancel(cause)
        assert ctx.err() is parent.err()
        assert ctx.cause() is cause


class TestWait:
    async def test_returns_at_once_when_ended(self) -> None:
        ctx, cancel = with_cancel(background())
        cause = RuntimeError("done")
        cancel(cause)
        with anyio.fail_after(1):  # nothing could wake it: were it to park, it would stay
            await ctx.wait()
        assert isinstance(ctx.err(), Canceled)
        assert ctx.cause() is cause
        assert registered(ctx) == 0  # it left nothing subscribed behind

    async def test_ended_wait_is_still_a_checkpoint(self) -> None:
        ctx, cancel = with_cancel(background())
        cancel()
        with anyio.CancelScope() as cs:
            cs.cancel()
            await ctx.wait()
        assert cs.cancelled_caught

    async def test_wakes_every_waiter_on_cancel(self) -> None:
        ctx, cancel = with_cancel(background())
        woken = WaitGroup()
        woken.add(10)

        async def waiter() -> None:
            await ctx.wait()
            woken.done()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(waiter)
                await anyio.wait_all_tasks_blocked()
                assert len(woken) == 10
                cancel()
                await woken.wait()
        assert registered(ctx) == 0

    async def test_wakes_on_an_ancestors_cancel(self) -> None:
        root, cancel = with_cancel(background())
        middle, _ = with_cancel(root)
        ctx = with_value(middle, "k", 1)
        cause = RuntimeError("shutdown")
        seen: list[tuple[BaseException | None, BaseException | None]] = []

        async def waiter() -> None:
            await ctx.wait()
            seen.append((ctx.err(), ctx.cause()))

        async with task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert seen == []
            assert ctx.err() is None
            cancel(cause)
        [(err, got_cause)] = seen
        assert isinstance(err, Canceled)
        assert err is middle.err()  # a value context reports its parent's end
        assert got_cause is cause  # the root's cause, two levels up
        assert registered(ctx) == 0

    async def test_cancelled_wait_unsubscribes(self) -> None:
        ctx, cancel = with_cancel(background())
        with anyio.CancelScope() as cs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ctx.wait)
                await anyio.wait_all_tasks_blocked()
                assert registered(ctx) == 1
                cs.cancel()
        assert registered(ctx) == 0
        assert ctx.err() is None
        cancel()

    async def test_background_waits_until_cancelled(self) -> None:
        with anyio.move_on_after(0) as cs:
            await background().wait()
        assert cs.cancelled_caught


class TestScope:
    async def test_body_cancelled_when_ctx_ends_and_execution_continues(self) -> None:
        ctx, cancel = with_cancel(background())
        reached: list[str] = []

        async def body() -> None:
            with ctx.scope() as cs:
                reached.append("body")
                await anyio.sleep_forever()
            reached.append("after")
            assert cs.cancelled_caught

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(body)
                await anyio.wait_all_tasks_blocked()
                cancel()
        assert reached == ["body", "after"]

    async def test_body_that_finishes_is_untouched(self) -> None:
        ctx, cancel = with_cancel(background())
        with ctx.scope() as cs:
            await anyio.lowlevel.checkpoint()
        assert not cs.cancelled_caught
        assert registered(ctx) == 0
        cancel()

    async def test_ended_ctx_cancels_at_the_first_checkpoint(self) -> None:
        ctx, cancel = with_cancel(background())
        cancel()
        reached: list[str] = []
        with ctx.scope() as cs:
            reached.append("before")
            await anyio.lowlevel.checkpoint()
            reached.append("after checkpoint")
        assert reached == ["before"]
        assert cs.cancelled_caught

    async def test_outside_cancellation_propagates(self) -> None:
        ctx, cancel = with_cancel(background())
        reached: list[str] = []
        with anyio.CancelScope() as outer:
            outer.cancel()
            with ctx.scope() as inner:
                await anyio.lowlevel.checkpoint()
            reached.append("after inner")
        assert outer.cancelled_caught
        assert not inner.cancelled_caught
        assert reached == []
        assert registered(ctx) == 0
        cancel()

    async def test_background_scope_never_cancels(self) -> None:
        with background().scope() as cs:
            await anyio.lowlevel.checkpoint()
        assert not cs.cancelled_caught


class TestAfterFunc:
    async def test_runs_once_in_its_own_task_when_ctx_ends(self) -> None:
        ctx, cancel = with_cancel(background())
        ran = anyio.Event()
        tasks: list[int] = []

        def fn() -> None:
            tasks.append(anyio.get_current_task().id)
            ran.set()

        after_func(ctx, fn)
        cancel()
        cancel()
        with anyio.fail_after(5):
            await ran.wait()
        await anyio.wait_all_tasks_blocked()
        assert len(tasks) == 1
        assert tasks[0] != anyio.get_current_task().id

    async def test_async_fn(self) -> None:
        ctx, cancel = with_cancel(background())
        ran = anyio.Event()

        async def fn() -> None:
            await anyio.lowlevel.checkpoint()
            ran.set()

        after_func(ctx, fn)
        cancel()
        with anyio.fail_after(5):
            await ran.wait()

    async def test_stop_before_end_prevents_fn(self) -> None:
        ctx, cancel = with_cancel(background())
        calls: list[int] = []
        stop = after_func(ctx, lambda: calls.append(1))
        assert stop() is True
        assert stop() is False
        cancel()
        await anyio.wait_all_tasks_blocked()
        assert calls == []

    async def test_stop_after_end_is_false_and_fn_runs(self) -> None:
        ctx, cancel = with_cancel(background())
        ran = anyio.Event()
        stop = after_func(ctx, ran.set)
        cancel()
        assert stop() is False
        with anyio.fail_after(5):
            await ran.wait()
        assert stop() is False

    async def test_already_ended_ctx_runs_fn(self) -> None:
        ctx, cancel = with_cancel(background())
        cancel()
        ran = anyio.Event()
        after_func(ctx, ran.set)
        with anyio.fail_after(5):
            await ran.wait()

    async def test_never_runs_for_background(self) -> None:
        before = asyncio.all_tasks() if _on_asyncio() else set()
        calls: list[int] = []
        stop = after_func(with_value(background(), "k", 1), lambda: calls.append(1))
        if _on_asyncio():
            assert asyncio.all_tasks() == before  # no task is held for it
        await anyio.wait_all_tasks_blocked()
        assert calls == []
        assert stop() is True
        assert stop() is False

    async def test_exception_in_fn_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        ctx, cancel = with_cancel(background())
        done = anyio.Event()

        async def fn() -> None:
            done.set()
            raise RuntimeError("boom")

        after_func(ctx, fn)
        with caplog.at_level(logging.ERROR, logger="aiomq"):
            cancel()
            with anyio.fail_after(5):
                await done.wait()
            await anyio.wait_all_tasks_blocked()
        assert "boom" in caplog.text


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    # Deadline tests: trio runs them on a mock clock that jumps to the next deadline at once;
    # asyncio has no mock clock, so its deadlines below are short real ones.
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return "asyncio"


class TestDeadline:
    async def test_deadline_is_on_anyio_clock(self) -> None:
        when = anyio.current_time() + 30
        ctx, cancel = with_deadline(background(), when)
        assert ctx.deadline() == when
        assert ctx.err() is None
        cancel()

    async def test_timeout_ends_with_deadline_exceeded(self) -> None:
        start = anyio.current_time()
        ctx, cancel = with_timeout(background(), 0.05)
        assert ctx.err() is None
        with anyio.fail_after(5):
            await ctx.wait()
        assert anyio.current_time() - start >= 0.05
        err = ctx.err()
        assert isinstance(err, DeadlineExceeded)
        assert isinstance(err, TimeoutError)
        assert ctx.cause() is err
        cancel(RuntimeError("late"))
        assert ctx.err() is err  # a late cancel changes nothing

    async def test_passed_deadline_wins_over_a_late_cancel(self) -> None:
        ctx, cancel = with_timeout(background(), 0.01)
        await anyio.sleep(0.02)  # the deadline is the subject: let it pass unobserved
        cancel()
        assert isinstance(ctx.err(), DeadlineExceeded)

    async def test_deadline_in_the_past_has_ended(self) -> None:
        ctx, _ = with_deadline(background(), anyio.current_time() - 1)
        assert isinstance(ctx.err(), DeadlineExceeded)
        ctx2, _ = with_timeout(background(), -1)
        assert isinstance(ctx2.err(), DeadlineExceeded)

    async def test_cancel_before_deadline_stays_canceled(self) -> None:
        ctx, cancel = with_timeout(background(), 0.02)
        cancel()
        await anyio.sleep(0.03)
        assert isinstance(ctx.err(), Canceled)

    async def test_child_deadline_never_later_than_parents(self) -> None:
        parent, cancel = with_timeout(background(), 10)
        later, _ = with_timeout(parent, 100)
        earlier, _ = with_timeout(parent, 1)
        plain, _ = with_cancel(parent)
        valued = with_value(parent, "k", 1)
        assert later.deadline() == parent.deadline()
        assert plain.deadline() == parent.deadline()
        assert valued.deadline() == parent.deadline()
        assert earlier.deadline() is not None
        assert parent.deadline() is not None
        assert earlier.deadline() < parent.deadline()  # type: ignore[operator]
        cancel()

    async def test_parent_deadline_ends_children(self) -> None:
        parent, _ = with_timeout(background(), 0.05)
        child, _ = with_cancel(parent)
        grandchild = with_value(with_timeout(child, 3600)[0], "k", 1)
        with anyio.fail_after(5):
            await grandchild.wait()
        assert isinstance(grandchild.err(), DeadlineExceeded)
        assert isinstance(child.err(), DeadlineExceeded)
        assert isinstance(parent.err(), DeadlineExceeded)

    async def test_child_deadline_leaves_parent_live(self) -> None:
        parent, cancel = with_cancel(background())
        child, _ = with_timeout(parent, 0.02)
        with anyio.fail_after(5):
            await child.wait()
        assert isinstance(child.err(), DeadlineExceeded)
        assert parent.err() is None
        assert registered(parent) == 0
        cancel()

    async def test_scope_cancels_body_at_deadline(self) -> None:
        ctx, _ = with_timeout(background(), 0.05)
        with anyio.fail_after(5), ctx.scope() as cs:
            await anyio.sleep_forever()
        assert cs.cancelled_caught
        assert isinstance(ctx.err(), DeadlineExceeded)

    async def test_after_func_runs_at_deadline(self) -> None:
        ctx, _ = with_timeout(background(), 0.02)
        ran = anyio.Event()
        stop = after_func(ctx, ran.set)
        with anyio.fail_after(5):
            await ran.wait()
        assert isinstance(ctx.err(), DeadlineExceeded)
        assert stop() is False

    async def test_nan_deadline_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="NaN"):
            with_deadline(background(), float("nan"))


class TestTree:
    """A root context over a tree of 1,110 tasks, each waiting on its own derived context."""

    FANOUT, DEPTH = 10, 3  # 10 + 100 + 1000 tasks

    async def run_tree(
        self, root: Context, end: Callable[[], object] | None, expected: type[Exception]
    ) -> None:
        """Start the tree under ``root`` and wait until every task has seen its context end.

        With ``end`` (a cancel), first check that every task is parked and none has finished,
        then call it. Without, the root's deadline ends the tree; when that happens depends
        on the machine's speed (the tree may still be growing), so what is checked is only
        that no task woke before the deadline, on the clock the deadline is on.
        """
        before = set(asyncio.all_tasks()) if _on_asyncio() else set()
        parked, finished = WaitGroup(), WaitGroup()
        errors: list[BaseException | None] = []
        woke: list[float] = []
        kinds = ("cancel", "value", "timeout")

        async def node(parent: Context, depth: int, index: int) -> None:
            kind = kinds[(depth + index) % 3]
            if kind == "cancel":
                ctx, cancel = with_cancel(parent)
            elif kind == "value":
                ctx, cancel = with_value(parent, depth, index), None
            else:
                ctx, cancel = with_timeout(parent, 3600)
            if depth < self.DEPTH:
                parked.add(self.FANOUT)
                finished.add(self.FANOUT)
                for i in range(self.FANOUT):
                    tg.start_soon(node, ctx, depth + 1, i)
            parked.done()
            await ctx.wait()
            woke.append(anyio.current_time())
            errors.append(ctx.err())
            assert ctx.value(depth) == (index if kind == "value" else None)
            if cancel is not None:
                cancel()
            finished.done()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                parked.add(self.FANOUT)
                finished.add(self.FANOUT)
                for i in range(self.FANOUT):
                    tg.start_soon(node, root, 1, i)
                if end is not None:
                    await parked.wait()
                    await anyio.wait_all_tasks_blocked()
                    assert len(finished) == 1110  # nothing but end() ends the tree
                    end()
                await finished.wait()
        assert len(errors) == 1110
        assert all(isinstance(err, expected) for err in errors)
        deadline = root.deadline()
        if deadline is not None:
            assert min(woke) >= deadline
        assert registered(root) == 0
        if _on_asyncio():
            assert set(asyncio.all_tasks()) == before

    async def test_cancel_stops_every_task(self) -> None:
        root, cancel = with_cancel(background())
        await self.run_tree(root, lambda: cancel(RuntimeError("shutdown")), Canceled)

    async def test_deadline_stops_every_task(self) -> None:
        root, cancel = with_timeout(background(), 0.2)
        await self.run_tree(root, None, DeadlineExceeded)
        cancel()


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
