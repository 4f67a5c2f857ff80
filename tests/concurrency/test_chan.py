"""Chan and select: Go's channel semantics on asyncio and trio."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from aiomq.concurrency.chan import (
    Chan,
    RecvCase,
    SendCase,
    WouldBlock,
    recv_case,
    recv_ok_case,
    select,
    send_case,
)
from aiomq.concurrency.context import background, with_cancel, with_deadline, with_timeout
from aiomq.errors import AiomqError, Canceled, ChanClosed, DeadlineExceeded

pytestmark = pytest.mark.anyio

ASYNCIO_ONLY = pytest.mark.parametrize("anyio_backend", ["asyncio"])


async def _recv(ch: Chan[int], got: list[int]) -> None:
    got.append(await ch.recv())


async def _recv_ok(ch: Chan[int], got: list[int]) -> None:
    value, ok = await ch.recv_ok()
    assert ok
    assert value is not None
    got.append(value)


async def _iterate(ch: Chan[int], got: list[int]) -> None:
    async for value in ch:
        got.append(value)


RECEIVE: dict[str, Callable[[Chan[int], list[int]], Awaitable[None]]] = {
    "recv": _recv,
    "recv_ok": _recv_ok,
    "async_for": _iterate,
}
"""The three plain ways to receive, each appending what it got to a list."""


class Recorder:
    """Runs an operation in a task and records how it ended."""

    def __init__(self) -> None:
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.scope = anyio.CancelScope()

    async def run(self, op: Callable[[], Awaitable[Any]]) -> None:
        with self.scope:
            try:
                self.result = await op()
            except Exception as exc:
                self.error = exc
            self.done = True


class TestChan:
    async def test_capacity_validated(self) -> None:
        with pytest.raises(ValueError, match=">= 0"):
            Chan(-1)
        with pytest.raises(TypeError):
            Chan(1.5)  # type: ignore[arg-type]
        assert Chan().cap == 0
        assert Chan(3).cap == 3

    async def test_buffered_fifo_len_and_cap(self) -> None:
        ch: Chan[int] = Chan(3)
        for i in range(3):
            await ch.send(i)
        assert len(ch) == 3
        assert [await ch.recv() for _ in range(3)] == [0, 1, 2]
        assert len(ch) == 0

    async def test_send_nowait_full_raises_would_block(self) -> None:
        ch: Chan[int] = Chan(1)
        ch.send_nowait(1)
        with pytest.raises(WouldBlock):
            ch.send_nowait(2)
        assert len(ch) == 1

    async def test_would_block_is_aiomq_and_anyio_error(self) -> None:
        assert issubclass(WouldBlock, AiomqError)
        assert issubclass(WouldBlock, anyio.WouldBlock)

    async def test_recv_nowait_empty_raises_would_block(self) -> None:
        with pytest.raises(WouldBlock):
            Chan[int](1).recv_nowait()
        with pytest.raises(WouldBlock):
            Chan[int]().recv_nowait()

    async def test_blocked_sender_value_moves_into_buffer_in_order(self) -> None:
        ch: Chan[int] = Chan(2)
        ch.send_nowait(1)
        ch.send_nowait(2)
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(3))
            await anyio.wait_all_tasks_blocked()
            assert not sender.done
            assert ch.recv_nowait() == 1
            assert len(ch) == 2  # the waiting sender's value took the free slot
        assert sender.done
        assert [ch.recv_nowait(), ch.recv_nowait()] == [2, 3]

    async def test_waiting_receivers_served_fifo(self) -> None:
        ch: Chan[int] = Chan(5)
        receivers = [Recorder() for _ in range(3)]
        async with anyio.create_task_group() as tg:
            for r in receivers:
                tg.start_soon(r.run, ch.recv)
                await anyio.wait_all_tasks_blocked()
            for i in range(3):
                await ch.send(i)
        assert [r.result for r in receivers] == [0, 1, 2]


class TestMany:
    async def test_send_many_nowait_fills_waiting_receivers_then_the_buffer(self) -> None:
        ch: Chan[int] = Chan(2)
        receivers = [Recorder() for _ in range(2)]
        async with anyio.create_task_group() as tg:
            for r in receivers:
                tg.start_soon(r.run, ch.recv)
                await anyio.wait_all_tasks_blocked()
            assert ch.send_many_nowait([0, 1, 2, 3, 4, 5]) == 4  # 2 handed over, 2 buffered
        assert [r.result for r in receivers] == [0, 1]
        assert ch.recv_many_nowait(10) == [2, 3]
        assert ch.send_many_nowait([]) == 0

    async def test_send_many_nowait_on_a_closed_channel_raises(self) -> None:
        ch: Chan[int] = Chan(2)
        ch.close()
        with pytest.raises(ChanClosed):
            ch.send_many_nowait([1])

    async def test_recv_many_nowait_takes_at_most_limit_in_order(self) -> None:
        ch: Chan[int] = Chan(4)
        assert ch.send_many_nowait([1, 2, 3]) == 3
        assert ch.recv_many_nowait(2) == [1, 2]
        assert ch.recv_many_nowait(2) == [3]
        assert ch.recv_many_nowait(2) == []
        ch.close()
        assert ch.recv_many_nowait(2) == []  # closed and drained: nothing, no error

    async def test_recv_many_nowait_lets_waiting_senders_in_as_room_frees(self) -> None:
        ch: Chan[int] = Chan(1)
        ch.send_nowait(0)
        senders = [Recorder() for _ in range(2)]
        async with anyio.create_task_group() as tg:
            for i, sender in enumerate(senders, 1):
                tg.start_soon(sender.run, lambda i=i: ch.send(i))
                await anyio.wait_all_tasks_blocked()
            assert ch.recv_many_nowait(5) == [0, 1, 2]
        assert all(s.done and s.error is None for s in senders)
        assert len(ch) == 0

    async def test_recv_many_nowait_from_a_rendezvous_takes_the_waiting_senders(self) -> None:
        ch: Chan[int] = Chan()
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(7))
            await anyio.wait_all_tasks_blocked()
            assert ch.recv_many_nowait(3) == [7]
        assert sender.done


class TestRecvMany:
    async def test_takes_what_is_ready_up_to_limit(self) -> None:
        ch: Chan[int] = Chan(5)
        assert ch.send_many_nowait([1, 2, 3]) == 3
        assert await ch.recv_many(2) == [1, 2]
        assert await ch.recv_many(5) == [3]

    async def test_waits_for_the_first_then_takes_what_came_with_it(self) -> None:
        ch: Chan[int] = Chan(3)
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, lambda: ch.recv_many(10))
            await anyio.wait_all_tasks_blocked()
            assert not receiver.done
            assert ch.send_many_nowait([1, 2, 3]) == 3  # 1 handed over, 2 and 3 buffered
        assert receiver.result == [1, 2, 3]

    async def test_closed_and_drained_raises(self) -> None:
        ch: Chan[int] = Chan(2)
        ch.send_nowait(1)
        ch.close()
        assert await ch.recv_many(5) == [1]
        with pytest.raises(ChanClosed):
            await ch.recv_many(5)

    async def test_limit_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match=">= 1"):
            await Chan[int](1).recv_many(0)

    async def test_cancelled_while_waiting_takes_nothing(self) -> None:
        ch: Chan[int] = Chan(2)
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, lambda: ch.recv_many(2))
            await anyio.wait_all_tasks_blocked()
            receiver.scope.cancel()
        assert not receiver.done
        await ch.send(1)
        assert ch.recv_nowait() == 1


class TestRendezvous:
    async def test_send_blocks_until_a_receiver_takes_the_value(self) -> None:
        ch: Chan[str] = Chan()
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send("v"))
            await anyio.wait_all_tasks_blocked()
            assert not sender.done
            assert len(ch) == 0
            assert await ch.recv() == "v"
        assert sender.done
        assert sender.error is None

    async def test_recv_blocks_until_a_sender_comes(self) -> None:
        ch: Chan[str] = Chan()
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, ch.recv)
            await anyio.wait_all_tasks_blocked()
            assert not receiver.done
            await ch.send("v")  # a receiver waits: completes without blocking
        assert receiver.result == "v"

    async def test_send_nowait_needs_a_waiting_receiver(self) -> None:
        ch: Chan[int] = Chan()
        with pytest.raises(WouldBlock):
            ch.send_nowait(1)
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, ch.recv)
            await anyio.wait_all_tasks_blocked()
            ch.send_nowait(1)
        assert receiver.result == 1

    async def test_recv_nowait_takes_from_waiting_sender(self) -> None:
        ch: Chan[int] = Chan()
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(4))
            await anyio.wait_all_tasks_blocked()
            assert ch.recv_nowait() == 4
        assert sender.done


class TestClose:
    async def test_send_on_closed_raises(self) -> None:
        ch: Chan[int] = Chan(1)
        ch.close()
        with pytest.raises(ChanClosed):
            await ch.send(1)
        with pytest.raises(ChanClosed):
            ch.send_nowait(1)
        assert ch.closed

    async def test_double_close_raises(self) -> None:
        ch: Chan[int] = Chan()
        ch.close()
        with pytest.raises(ChanClosed):
            ch.close()

    async def test_buffered_values_drain_then_recv_raises(self) -> None:
        ch: Chan[int] = Chan(3)
        await ch.send(1)
        await ch.send(2)
        ch.close()
        assert len(ch) == 2
        assert await ch.recv() == 1
        assert await ch.recv_ok() == (2, True)
        with pytest.raises(ChanClosed):
            await ch.recv()
        assert await ch.recv_ok() == (None, False)
        with pytest.raises(ChanClosed):
            ch.recv_nowait()

    async def test_iteration_drains_then_ends(self) -> None:
        ch: Chan[int] = Chan(5)
        for i in range(4):
            ch.send_nowait(i)
        ch.close()
        assert [v async for v in ch] == [0, 1, 2, 3]
        assert [v async for v in ch] == []

    async def test_iteration_follows_a_producer(self) -> None:
        ch: Chan[int] = Chan()
        got: list[int] = []

        async def produce() -> None:
            for i in range(10):
                await ch.send(i)
            ch.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            async for v in ch:
                got.append(v)
        assert got == list(range(10))

    async def test_close_wakes_blocked_receivers(self) -> None:
        ch: Chan[int] = Chan(1)
        plain, with_ok, iterating = Recorder(), Recorder(), Recorder()

        async def iterate() -> list[int]:
            return [v async for v in ch]

        async with anyio.create_task_group() as tg:
            tg.start_soon(plain.run, ch.recv)
            tg.start_soon(with_ok.run, ch.recv_ok)
            tg.start_soon(iterating.run, iterate)
            await anyio.wait_all_tasks_blocked()
            ch.close()
            await anyio.wait_all_tasks_blocked()
            # Woken by the close, none left waiting:
            assert [plain.done, with_ok.done, iterating.done] == [True, True, True]
        assert isinstance(plain.error, ChanClosed)
        assert with_ok.result == (None, False)
        assert iterating.result == []

    async def test_close_wakes_blocked_senders_with_chan_closed(self) -> None:
        ch: Chan[int] = Chan(1)
        ch.send_nowait(1)
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(2))
            await anyio.wait_all_tasks_blocked()
            ch.close()
            await anyio.wait_all_tasks_blocked()
            assert sender.done  # woken by the close, not left waiting
        assert isinstance(sender.error, ChanClosed)
        assert [v async for v in ch] == [1]  # the failed send left nothing behind

    async def test_close_wakes_blocked_rendezvous_sender(self) -> None:
        ch: Chan[int] = Chan()
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(2))
            await anyio.wait_all_tasks_blocked()
            ch.close()
            await anyio.wait_all_tasks_blocked()
            assert sender.done  # woken by the close, not left waiting
        assert isinstance(sender.error, ChanClosed)
        assert await ch.recv_ok() == (None, False)


class TestCancellation:
    async def test_cancelled_recv_consumes_nothing(self) -> None:
        ch: Chan[int] = Chan(1)
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, ch.recv)
            await anyio.wait_all_tasks_blocked()
            receiver.scope.cancel()
        assert not receiver.done
        await ch.send(9)
        assert len(ch) == 1  # no stale receiver took it
        assert ch.recv_nowait() == 9

    async def test_cancelled_rendezvous_recv_leaves_no_stale_receiver(self) -> None:
        ch: Chan[int] = Chan()
        receiver = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receiver.run, ch.recv)
            await anyio.wait_all_tasks_blocked()
            receiver.scope.cancel()
        with pytest.raises(WouldBlock):
            ch.send_nowait(1)

    @pytest.mark.parametrize("capacity", [0, 1])
    async def test_cancelled_send_delivers_nothing(self, capacity: int) -> None:
        ch: Chan[int] = Chan(capacity)
        if capacity:
            ch.send_nowait(1)
        sender = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender.run, lambda: ch.send(2))
            await anyio.wait_all_tasks_blocked()
            sender.scope.cancel()
        assert not sender.done
        ch.close()
        assert [v async for v in ch] == ([1] if capacity else [])

    async def test_value_handed_to_a_receiver_being_cancelled_is_returned(self) -> None:
        ch: Chan[int] = Chan(1)
        got: list[int] = []
        reached_next_checkpoint = False

        async def receive(scope: anyio.CancelScope) -> None:
            nonlocal reached_next_checkpoint
            with scope:
                got.append(await ch.recv())
                await anyio.lowlevel.checkpoint()
                reached_next_checkpoint = True

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive, scope)
            await anyio.wait_all_tasks_blocked()
            ch.send_nowait(5)  # handed straight to the waiting receiver...
            scope.cancel()  # ...which is cancelled before it runs again
        assert got == [5]
        assert len(ch) == 0
        assert scope.cancelled_caught
        assert not reached_next_checkpoint

    # asyncio's Task.cancel() lands even when the task's wait already completed, and raises
    # CancelledError at that await: the tests below make that race happen on purpose.

    @ASYNCIO_ONLY
    @pytest.mark.parametrize("form", list(RECEIVE))
    @pytest.mark.parametrize("capacity", [0, 1])
    async def test_native_cancel_after_hand_over_gives_the_value_back(
        self, capacity: int, form: str
    ) -> None:
        # Regression: the value used to be returned with the cancellation re-armed, so a task
        # ending there (wait_for's inner task, this one) dropped it, and asyncio.timeout let
        # the cancellation escape.
        ch: Chan[int] = Chan(capacity)
        got: list[int] = []
        task = asyncio.ensure_future(RECEIVE[form](ch, got))
        await asyncio.sleep(0)
        ch.send_nowait(5)  # handed to the waiting receiver...
        if capacity:
            ch.send_nowait(6)
        task.cancel()  # ...which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await task
        assert got == []
        assert len(ch) == 1 + capacity  # back at the front, over capacity briefly
        assert [ch.recv_nowait() for _ in range(1 + capacity)] == [5, 6][: 1 + capacity]

    @ASYNCIO_ONLY
    @pytest.mark.parametrize("form", list(RECEIVE))
    async def test_native_cancel_after_hand_over_passes_the_value_to_the_next_receiver(
        self, form: str
    ) -> None:
        ch: Chan[int] = Chan()
        got: list[int] = []
        first = asyncio.ensure_future(RECEIVE[form](ch, got))
        second = asyncio.ensure_future(ch.recv())
        await asyncio.sleep(0)
        ch.send_nowait(5)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == 5
        assert got == []
        assert len(ch) == 0

    @ASYNCIO_ONLY
    async def test_native_cancel_after_hand_over_to_select_gives_the_value_back(self) -> None:
        a: Chan[int] = Chan()
        b: Chan[int] = Chan()
        task = asyncio.ensure_future(select(recv_case(a), recv_case(b)))
        await asyncio.sleep(0)
        b.send_nowait(5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert b.recv_nowait() == 5
        with pytest.raises(WouldBlock):
            a.send_nowait(1)  # no waiter left behind

    @ASYNCIO_ONLY
    async def test_native_cancel_after_the_value_was_taken_raises_but_delivered(self) -> None:
        ch: Chan[int] = Chan()
        task = asyncio.ensure_future(ch.send(5))
        await asyncio.sleep(0)
        assert ch.recv_nowait() == 5
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(ch) == 0  # delivered once, not put back

    @ASYNCIO_ONLY
    @pytest.mark.parametrize("form", list(RECEIVE))
    async def test_cancel_requested_before_a_value_arrives_takes_nothing(self, form: str) -> None:
        # The task has been cancelled but not run yet: the value goes to the next receiver.
        ch: Chan[int] = Chan(1)
        got: list[int] = []
        task = asyncio.ensure_future(RECEIVE[form](ch, got))
        await asyncio.sleep(0)
        task.cancel()
        ch.send_nowait(5)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert got == []
        assert ch.recv_nowait() == 5

    async def test_fast_path_on_trio_raises_pending_cancellation(self, anyio_backend: str) -> None:
        ch: Chan[int] = Chan(1)
        ch.send_nowait(1)
        got: list[int] = []
        with anyio.CancelScope() as scope:
            scope.cancel()
            got.append(await ch.recv())
            await anyio.lowlevel.checkpoint()
        assert scope.cancelled_caught
        if anyio_backend == "trio":
            assert (got, len(ch)) == ([], 1)  # raised before taking anything
        else:
            assert (got, len(ch)) == ([1], 0)  # asyncio cannot see it without yielding


class TestSelect:
    async def test_ready_recv_fires(self) -> None:
        a: Chan[str] = Chan(1)
        b: Chan[str] = Chan(1)
        b.send_nowait("b")
        assert await select(recv_case(a), recv_case(b)) == (1, "b")
        assert len(b) == 0

    async def test_ready_send_fires(self) -> None:
        a: Chan[str] = Chan()
        b: Chan[str] = Chan(1)
        assert await select(send_case(a, "x"), send_case(b, "y")) == (1, None)
        assert b.recv_nowait() == "y"

    async def test_exactly_one_ready_case_fires(self) -> None:
        a: Chan[int] = Chan(1)
        b: Chan[int] = Chan(1)
        c: Chan[int] = Chan(1)
        a.send_nowait(1)
        b.send_nowait(2)
        index, _ = await select(recv_case(a), recv_case(b), send_case(c, 3))
        changed = [len(a) == 0, len(b) == 0, len(c) == 1]
        assert changed.count(True) == 1
        assert changed[index]

    async def test_ready_cases_are_chosen_at_random(self) -> None:
        # Each of two always-ready cases wins with probability 1/2 per select: over 200
        # selects, one never winning has probability 2**-199.
        a: Chan[int] = Chan(1)
        b: Chan[int] = Chan(1)
        wins = [0, 0]
        for _ in range(200):
            if not len(a):
                a.send_nowait(0)
            if not len(b):
                b.send_nowait(1)
            index, value = await select(recv_case(a), recv_case(b))
            assert value == index
            wins[index] += 1
        assert wins[0] > 0
        assert wins[1] > 0

    async def test_default_when_nothing_ready(self) -> None:
        a: Chan[int] = Chan()
        b: Chan[int] = Chan(1)
        b.send_nowait(1)  # full: send not ready
        assert await select(recv_case(a), send_case(b, 2), default="idle") == (-1, "idle")
        assert await select(recv_case(a), default=None) == (-1, None)
        assert len(b) == 1
        assert await select(recv_case(b), default="idle") == (0, 1)

    async def test_blocks_until_a_case_is_ready_and_leaves_no_stale_waiter(self) -> None:
        a: Chan[int] = Chan()
        b: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(recv_case(a), recv_case(b)))
            await anyio.wait_all_tasks_blocked()
            assert not selector.done
            await b.send(7)
        assert selector.result == (1, 7)
        with pytest.raises(WouldBlock):
            a.send_nowait(1)  # the select's waiter on `a` is gone

    async def test_blocked_send_case_delivers_to_a_later_receiver(self) -> None:
        a: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(send_case(a, 3), recv_case(Chan[int]())))
            await anyio.wait_all_tasks_blocked()
            assert await a.recv() == 3
        assert selector.result == (0, None)

    async def test_select_does_not_match_itself(self) -> None:
        a: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(send_case(a, 1), recv_case(a)))
            await anyio.wait_all_tasks_blocked()
            assert not selector.done
            assert await a.recv() == 1
        assert selector.result == (0, None)

    async def test_same_channel_twice_fires_once(self) -> None:
        a: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(recv_case(a), recv_case(a)))
            await anyio.wait_all_tasks_blocked()
            a.send_nowait(1)
        assert selector.result == (0, 1)
        with pytest.raises(WouldBlock):
            a.send_nowait(2)

    async def test_context_case_fires_when_cancelled(self) -> None:
        ctx, cancel = with_cancel(background())
        a: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(recv_case(a), ctx))
            await anyio.wait_all_tasks_blocked()
            cancel()
        index, err = selector.result
        assert index == 1
        assert isinstance(err, Canceled)
        with pytest.raises(WouldBlock):
            a.send_nowait(1)

    async def test_context_case_fires_at_deadline(self) -> None:
        ctx, cancel = with_timeout(background(), 0.01)
        index, err = await select(recv_case(Chan[int]()), ctx)
        assert index == 1
        assert isinstance(err, DeadlineExceeded)
        assert ctx.err() is err
        cancel()

    async def test_ended_context_is_ready(self) -> None:
        ctx, cancel = with_cancel(background())
        cancel()
        index, err = await select(recv_case(Chan[int]()), ctx)
        assert (index, type(err)) == (1, Canceled)

    async def test_recv_on_closed_channel_raises(self) -> None:
        a: Chan[int] = Chan()
        a.close()
        with pytest.raises(ChanClosed):
            await select(recv_case(a))

    async def test_recv_ok_case_reports_closure(self) -> None:
        a: Chan[int] = Chan(1)
        a.send_nowait(1)
        a.close()
        assert await select(recv_ok_case(a)) == (0, (1, True))
        assert await select(recv_ok_case(a)) == (0, (None, False))

    async def test_close_wakes_a_waiting_select(self) -> None:
        a: Chan[int] = Chan()
        b: Chan[int] = Chan()
        with_ok, plain, sending = Recorder(), Recorder(), Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(with_ok.run, lambda: select(recv_ok_case(a), recv_case(Chan[int]())))
            tg.start_soon(plain.run, lambda: select(recv_case(a)))
            tg.start_soon(sending.run, lambda: select(send_case(b, 1)))
            await anyio.wait_all_tasks_blocked()
            a.close()
            b.close()
            await anyio.wait_all_tasks_blocked()
            # Woken by the close, none left waiting:
            assert [with_ok.done, plain.done, sending.done] == [True, True, True]
        assert with_ok.result == (0, (None, False))
        assert isinstance(plain.error, ChanClosed)
        assert isinstance(sending.error, ChanClosed)

    async def test_send_case_on_closed_channel_raises(self) -> None:
        a: Chan[int] = Chan(1)
        a.close()
        with pytest.raises(ChanClosed):
            await select(send_case(a, 1))

    async def test_none_cases_never_fire(self) -> None:
        assert await select(None, recv_case(None), send_case(None, 1), default=0) == (-1, 0)
        a: Chan[int] = Chan(1)
        a.send_nowait(1)
        assert await select(None, recv_case(a)) == (1, 1)

    async def test_bad_case_raises_type_error(self) -> None:
        with pytest.raises(TypeError, match="select case"):
            await select(Chan[int]())  # type: ignore[arg-type]

    async def test_case_constructors(self) -> None:
        a: Chan[int] = Chan()
        assert isinstance(recv_case(a), RecvCase)
        assert isinstance(send_case(a, 1), SendCase)

    async def test_cancelled_select_consumes_and_delivers_nothing(self) -> None:
        a: Chan[int] = Chan(1)
        b: Chan[int] = Chan()
        selector = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selector.run, lambda: select(recv_case(a), send_case(b, 1)))
            await anyio.wait_all_tasks_blocked()
            selector.scope.cancel()
        assert not selector.done
        a.send_nowait(2)
        assert a.recv_nowait() == 2  # still in the channel
        with pytest.raises(WouldBlock):
            b.recv_nowait()  # the send case left with the select

    async def test_value_handed_to_a_select_being_cancelled_is_returned(self) -> None:
        a: Chan[int] = Chan()
        got: list[tuple[int, Any]] = []

        async def selecting(scope: anyio.CancelScope) -> None:
            with scope:
                got.append(await select(recv_case(a), recv_case(Chan[int]())))
                await anyio.lowlevel.checkpoint()

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(selecting, scope)
            await anyio.wait_all_tasks_blocked()
            a.send_nowait(5)
            scope.cancel()
        assert got == [(0, 5)]
        assert scope.cancelled_caught

    async def select_as_a_deadline_passes_unnoticed(
        self, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> tuple[tuple[int, Any], list[str]]:
        """Run ``select(send_case(ch, "x") or recv_case(ch), ctx)`` where a peer waits on ``ch``
        inside ``ctx.scope()`` and ``ctx``'s deadline has passed with nobody looking (a busy loop):
        the select is the first to ask ``ctx.err()``, which ends ``ctx`` and so cancels the
        peer the channel case depends on. Returns the select's result and what the peer did.
        """
        ch: Chan[str] = Chan()
        now = anyio.current_time()
        ctx, cancel = with_deadline(background(), now + 3600)
        peer_did: list[str] = []

        async def peer() -> None:
            with ctx.scope():
                if kind == "send":
                    peer_did.append(await ch.recv())
                else:
                    await ch.send("v")
                    peer_did.append("sent")

        async with anyio.create_task_group() as tg:
            tg.start_soon(peer)
            await anyio.wait_all_tasks_blocked()
            with monkeypatch.context() as patch:
                patch.setattr(anyio, "current_time", lambda: now + 7200)  # the deadline passed
                patch.setattr(random, "choice", min)  # the channel case, if both look ready
                case = send_case(ch, "x") if kind == "send" else recv_case(ch)
                result = await select(case, ctx)
        cancel()
        with pytest.raises(WouldBlock):
            ch.send_nowait("y")  # no waiter left behind on either side
        with pytest.raises(WouldBlock):
            ch.recv_nowait()
        return result, peer_did

    # Regressions: the send case was counted ready on the peer, then polling the context
    # cancelled that peer, and select returned (0, None) for a send that never happened; the
    # same race on a receive case returned chan's private "empty" marker as the value received.
    @pytest.mark.parametrize(
        "kind",
        [
            pytest.param("send", id="never_reports_a_send_it_did_not_make"),
            pytest.param("recv", id="never_returns_an_internal_marker_as_a_value"),
        ],
    )
    async def test_select_as_the_deadline_passes(
        self, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        (index, value), peer_did = await self.select_as_a_deadline_passes_unnoticed(
            monkeypatch, kind
        )
        assert index == 1
        assert isinstance(value, DeadlineExceeded)
        assert peer_did == []
