"""Property tests for Chan and select: a deque model, FIFO order, no value lost or duplicated.

Each test is synchronous and runs its scenario with ``anyio.run`` on the backend given by
``parametrize``, so hypothesis drives both asyncio and trio.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from aiomq.concurrency.chan import Chan, WouldBlock, recv_ok_case, select, send_case
from aiomq.errors import ChanClosed
from tests.concurrency._helpers import EXAMPLE_BOUND, bounded

T = TypeVar("T")
_Value = tuple[int, int]  # (producer, sequence number)

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
SETTINGS = settings(max_examples=100, deadline=None)

# One step of the model test: (operation, value, waits) where `waits` picks the awaiting
# form (send/recv/select) over the *_nowait one; awaiting forms run only when they cannot
# block, since the test has a single task.
_op = st.tuples(
    st.sampled_from(["send", "recv", "recv_ok", "select_send", "select_recv", "close"]),
    st.integers(0, 1000),
    st.booleans(),
)


def _exchange_strategies(min_consumers: int) -> dict[str, st.SearchStrategy[Any]]:
    """The arguments of ``_exchange`` and ``_native_exchange``: how many producers and
    consumers, values per producer, channel capacity and how often the chaos task cancels."""
    return {
        "seed": st.integers(0, 2**32 - 1),
        "producers": st.integers(1, 3),
        "consumers": st.integers(min_consumers, 3),
        "per_producer": st.integers(0, 15),
        "capacity": st.integers(0, 3),
        "cancel_rate": st.sampled_from([0.0, 0.1, 0.3, 0.6]),
    }


async def _bounded(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``await fn(*args)``, failing the example if it is still running after the bound."""
    with bounded(EXAMPLE_BOUND):
        return await fn(*args)


def _nth(pauses: list[int], i: int) -> int:
    """How many times to yield before step ``i`` (the list repeats; empty: never)."""
    return pauses[i % len(pauses)] if pauses else 0


async def _send_somehow(ch: Chan[int], value: int, name: str, waits: bool) -> None:
    if name == "select_send":
        await select(send_case(ch, value), default=None)
    elif waits:
        await ch.send(value)
    else:
        ch.send_nowait(value)


async def _check_against_model(capacity: int, ops: list[tuple[str, int, bool]]) -> None:
    ch: Chan[int] = Chan(capacity)
    model: deque[int] = deque()
    closed = False
    for name, value, waits in ops:
        can_send = not closed and len(model) < capacity
        if name in ("send", "select_send"):
            if closed:
                with pytest.raises(ChanClosed):
                    await _send_somehow(ch, value, name, waits)
            elif name == "select_send":
                result = await select(send_case(ch, value), default="full")
                assert result == ((0, None) if can_send else (-1, "full"))
                if can_send:
                    model.append(value)
            elif can_send:
                if waits:
                    await ch.send(value)
                else:
                    ch.send_nowait(value)
                model.append(value)
            else:
                with pytest.raises(WouldBlock):
                    ch.send_nowait(value)
        elif name in ("recv", "recv_ok", "select_recv"):
            expected: tuple[Any, bool] | None = (
                (model.popleft(), True) if model else (None, False) if closed else None
            )
            if name == "select_recv":
                got = await select(recv_ok_case(ch), default="empty")
                assert got == ((-1, "empty") if expected is None else (0, expected))
            elif expected is None:
                with pytest.raises(WouldBlock):
                    ch.recv_nowait()
            elif name == "recv_ok" and waits:
                assert await ch.recv_ok() == expected
            elif not expected[1]:
                with pytest.raises(ChanClosed):
                    await ch.recv() if waits else ch.recv_nowait()
            else:
                assert (await ch.recv() if waits else ch.recv_nowait()) == expected[0]
        else:
            if closed:
                with pytest.raises(ChanClosed):
                    ch.close()
            else:
                ch.close()
                closed = True
        assert len(ch) == len(model)
        assert ch.closed == closed


class TestChanProperties:
    @BACKENDS
    @SETTINGS
    @given(capacity=st.integers(0, 5), ops=st.lists(_op, max_size=60))
    def test_single_task_operations_match_a_deque(
        self, backend: str, capacity: int, ops: list[tuple[str, int, bool]]
    ) -> None:
        anyio.run(_bounded, _check_against_model, capacity, ops, backend=backend)

    @BACKENDS
    @SETTINGS
    @given(
        capacity=st.integers(0, 4),
        values=st.lists(st.integers(), max_size=40),
        producer_yields=st.lists(st.integers(0, 3), max_size=40),
        consumer_yields=st.lists(st.integers(0, 3), max_size=40),
    )
    def test_fifo_across_interleavings(
        self,
        backend: str,
        capacity: int,
        values: list[int],
        producer_yields: list[int],
        consumer_yields: list[int],
    ) -> None:
        async def main() -> list[int]:
            ch: Chan[int] = Chan(capacity)
            got: list[int] = []

            async def produce() -> None:
                for i, v in enumerate(values):
                    for _ in range(_nth(producer_yields, i)):
                        await anyio.lowlevel.checkpoint()
                    await ch.send(v)
                ch.close()

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                async for v in ch:
                    got.append(v)
                    for _ in range(_nth(consumer_yields, len(got))):
                        await anyio.lowlevel.checkpoint()
            return got

        assert anyio.run(_bounded, main, backend=backend) == values

    @BACKENDS
    @SETTINGS
    @given(**_exchange_strategies(min_consumers=0))
    def test_no_value_lost_or_duplicated_under_cancellation(
        self,
        backend: str,
        seed: int,
        producers: int,
        consumers: int,
        per_producer: int,
        capacity: int,
        cancel_rate: float,
    ) -> None:
        delivered, received, left, cancelled = anyio.run(
            _bounded,
            _exchange,
            seed,
            producers,
            consumers,
            per_producer,
            capacity,
            cancel_rate,
            backend=backend,
        )
        assert len(set(received)) == len(received)
        assert Counter(received) == Counter(delivered)
        assert left == 0
        target(cancelled, label="operations cancelled")  # steer towards more cancellations

    @SETTINGS
    @given(**_exchange_strategies(min_consumers=0))
    def test_native_asyncio_cancellation_loses_nothing(
        self,
        seed: int,
        producers: int,
        consumers: int,
        per_producer: int,
        capacity: int,
        cancel_rate: float,
    ) -> None:
        delivered, cancelled_sends, received, forms = asyncio.run(
            _bounded(
                _native_exchange, seed, producers, consumers, per_producer, capacity, cancel_rate
            )
        )
        assert len(set(received)) == len(received)
        # A send that returned was received; a send cancelled late may have been delivered.
        assert set(delivered) <= set(received) <= set(delivered) | set(cancelled_sends)
        # Steer towards examples where every way of receiving was cancelled natively.
        target(len(forms), label="receive forms cancelled")


async def _native_exchange(
    seed: int,
    producers: int,
    consumers: int,
    per_producer: int,
    capacity: int,
    cancel_rate: float,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]], set[str]]:
    """Every operation runs in its own asyncio task, which a chaos loop cancels with plain
    ``Task.cancel()``: the race anyio's cancel scopes never produce, where the cancellation
    lands after the hand-over but before the task resumes.

    Each channel keeps a plain receiver, which receives with ``recv``, ``recv_ok`` or a whole
    ``async for`` loop (picked at random each time), so a plain send always finds one;
    ``consumers`` more receive through ``select`` on both channels. Returns what was
    delivered, the sends cancelled (maybe delivered), what was received, and which forms of
    receiving were cancelled at least once.
    """
    rng = random.Random(seed)
    chans: list[Chan[_Value]] = [Chan(capacity), Chan(capacity)]
    delivered: list[_Value] = []
    cancelled_sends: list[_Value] = []
    received: list[_Value] = []
    forms_cancelled: set[str] = set()
    pending: dict[asyncio.Future[Any], None] = {}  # a set, in a reproducible order
    stop = False

    async def run(op: Awaitable[Any]) -> asyncio.Future[Any]:
        task: asyncio.Future[Any] = asyncio.ensure_future(op)
        pending[task] = None
        await asyncio.wait({task})
        del pending[task]
        return task

    async def produce(p: int) -> None:
        for k in range(per_producer):
            value = (p, k)
            a, b = rng.sample(chans, 2)
            op = (
                a.send(value)
                if rng.random() < 0.5
                else select(send_case(a, value), send_case(b, value))
            )
            task = await run(op)
            (cancelled_sends if task.cancelled() else delivered).append(value)

    async def iterate(ch: Chan[_Value]) -> None:
        async for value in ch:
            received.append(value)

    async def consume_one(ch: Chan[_Value]) -> None:
        while True:
            form = rng.choice(["recv", "recv_ok", "async for"])
            if form == "recv":
                task = await run(ch.recv())
            elif form == "recv_ok":
                task = await run(ch.recv_ok())
            else:
                task = await run(iterate(ch))
            if task.cancelled():
                forms_cancelled.add(form)
                continue
            if form == "recv":
                if isinstance(task.exception(), ChanClosed):
                    return
                received.append(task.result())
            elif form == "recv_ok":
                value, ok = task.result()
                if not ok:
                    return
                received.append(value)
            else:
                return  # the loop ran until the channel was closed and drained

    async def consume_both() -> None:
        open_chans: list[Chan[_Value] | None] = list(chans)
        while any(ch is not None for ch in open_chans):
            task = await run(select(*(recv_ok_case(ch) for ch in open_chans)))
            if task.cancelled():
                forms_cancelled.add("select")
                continue
            index, (value, ok) = task.result()
            if ok:
                received.append(value)
            else:
                open_chans[index] = None

    async def chaos() -> None:
        while not stop:
            await asyncio.sleep(0)
            for task in list(pending):
                if rng.random() < cancel_rate:
                    task.cancel()

    chaos_task = asyncio.ensure_future(chaos())
    workers = [asyncio.ensure_future(consume_one(ch)) for ch in chans]
    workers += [asyncio.ensure_future(consume_both()) for _ in range(consumers)]
    try:
        await asyncio.gather(*(produce(p) for p in range(producers)))
        for ch in chans:
            ch.close()
        await asyncio.gather(*workers)
    finally:
        stop = True
        for worker in workers:
            worker.cancel()  # only if the bound cut the example short
        await chaos_task
    for ch in chans:
        # A value given back after the last receiver saw the channel closed stays buffered.
        received.extend([v async for v in ch])
    return delivered, cancelled_sends, received, forms_cancelled


async def _exchange(
    seed: int,
    producers: int,
    consumers: int,
    per_producer: int,
    capacity: int,
    cancel_rate: float,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int, int]:
    """Producers send over two channels (plain send or a two-way select); one plain receiver
    per channel and ``consumers`` selecting receivers take the values, while a chaos task
    cancels operations at random.

    A send that returned counts as delivered, a receive that returned as received; a
    cancelled one must have done nothing.
    """
    rng = random.Random(seed)
    chans: list[Chan[tuple[int, int]]] = [Chan(capacity), Chan(capacity)]
    delivered: list[tuple[int, int]] = []
    received: list[tuple[int, int]] = []
    active: list[anyio.CancelScope] = []
    cancelled = 0
    stop = False

    async def produce(p: int) -> None:
        nonlocal cancelled
        for k in range(per_producer):
            value = (p, k)
            a, b = rng.sample(chans, 2)
            with anyio.CancelScope() as scope:
                active.append(scope)
                try:
                    if rng.random() < 0.5:
                        await a.send(value)
                    else:
                        await select(send_case(a, value), send_case(b, value))
                    delivered.append(value)
                finally:
                    active.remove(scope)
            cancelled += scope.cancelled_caught

    async def consume_one(ch: Chan[tuple[int, int]]) -> None:
        nonlocal cancelled
        # Every channel keeps a plain receiver, so a plain send always finds one.
        while True:
            with anyio.CancelScope() as scope:
                active.append(scope)
                try:
                    if ch is chans[0]:
                        value, ok = await ch.recv_ok()
                        if not ok:
                            return
                    else:
                        try:
                            value = await ch.recv()
                        except ChanClosed:
                            return
                    assert value is not None
                    received.append(value)
                finally:
                    active.remove(scope)
            cancelled += scope.cancelled_caught

    async def consume_both() -> None:
        nonlocal cancelled
        open_chans: list[Chan[tuple[int, int]] | None] = list(chans)
        while any(ch is not None for ch in open_chans):
            with anyio.CancelScope() as scope:
                active.append(scope)
                try:
                    index, (value, ok) = await select(*(recv_ok_case(ch) for ch in open_chans))
                    if ok:
                        assert value is not None
                        received.append(value)
                    else:
                        open_chans[index] = None  # Go's "set the channel to nil"
                finally:
                    active.remove(scope)
            cancelled += scope.cancelled_caught

    async def chaos() -> None:
        while not stop:
            await anyio.lowlevel.checkpoint()
            for scope in active:
                if rng.random() < cancel_rate:
                    scope.cancel()

    async with anyio.create_task_group() as outer:
        outer.start_soon(chaos)
        async with anyio.create_task_group() as tg:
            for ch in chans:
                tg.start_soon(consume_one, ch)
            for _ in range(consumers):
                tg.start_soon(consume_both)
            async with anyio.create_task_group() as senders:
                for p in range(producers):
                    senders.start_soon(produce, p)
            for ch in chans:
                ch.close()
        stop = True
    return delivered, received, sum(len(ch) for ch in chans), cancelled
