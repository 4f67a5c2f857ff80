"""Random scripts of operations against Weighted and RWMutex, checked against small models.

Each example runs a script inside ``anyio.run`` on one backend: tasks queue, holders release,
waiters are cancelled (also in the same step as a release, the "granted, then cancelled"
case). After every step the real lock must match the model exactly, and its invariants must
hold: never more than ``size`` tokens held, never a reader while a writer holds. At the end
everything still waiting must get through as the holders let go (no lost wake-up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiomq.concurrency.semaphore import Weighted, WeightedStats
from aiomq.concurrency.sync import RWMutex, RWMutexStats
from tests.concurrency._helpers import EXAMPLE_BOUND, Task, bounded

BACKENDS = ["asyncio", "trio"]
SIZE = 2

index = st.integers(min_value=0, max_value=50)
Step = tuple[str, int, bool]


def worker(ident: int, acquire: Callable[[], Awaitable[None]], holders: set[int]) -> Task[None]:
    """A task waiting in ``acquire``; on success it records itself in ``holders``.

    Its ``cancel()`` lands at once, even right after a grant (see ``Task``).
    """

    async def take() -> None:
        await acquire()
        holders.add(ident)

    return Task(take)


# -- Weighted --------------------------------------------------------------------------------


@dataclass
class WeightedModel:
    """FIFO, no barging, head-of-line blocking: the contract of ``Weighted``."""

    free: int = SIZE
    queue: list[tuple[int, int]] = field(default_factory=list)  # (ident, n)
    holders: dict[int, int] = field(default_factory=dict)

    def fast(self, n: int) -> bool:
        return n <= self.free and not self.queue

    def grant(self) -> None:
        while self.queue and self.queue[0][1] <= self.free:
            ident, n = self.queue.pop(0)
            self.holders[ident] = n
            self.free -= n

    def release(self, ident: int) -> int:
        n = self.holders.pop(ident)
        self.free += n
        self.grant()
        return n

    def cancel(self, ident: int) -> None:
        self.queue = [(i, n) for i, n in self.queue if i != ident]
        self.grant()


weighted_step = st.one_of(
    st.tuples(st.just("acquire"), st.integers(0, SIZE), st.booleans()),
    st.tuples(st.just("try"), st.integers(0, SIZE), st.booleans()),
    st.tuples(st.just("release"), index, st.booleans()),
    st.tuples(st.just("cancel"), index, st.booleans()),
    st.tuples(st.just("release+cancel"), index, st.booleans()),
)


async def run_weighted(script: list[Step]) -> None:
    sem = Weighted(SIZE)
    model = WeightedModel()
    holders: set[int] = set()
    workers: dict[int, Task[None]] = {}
    ident = 0

    def check() -> None:
        assert holders == set(model.holders)
        stats = sem.stats()
        assert stats == WeightedStats(SIZE, SIZE - model.free, len(model.queue))
        assert 0 <= stats.held <= SIZE

    with bounded(EXAMPLE_BOUND):
        async with anyio.create_task_group() as tg:
            for op, arg, flag in script:
                if op == "acquire":
                    ident += 1
                    n = arg

                    def acquire(n: int = n) -> Awaitable[None]:
                        return sem.acquire(n)

                    if model.fast(n):
                        model.holders[ident] = n
                        model.free -= n
                    else:
                        model.queue.append((ident, n))
                    workers[ident] = worker(ident, acquire, holders)
                    await tg.start(workers[ident].run)
                elif op == "try":
                    ident += 1
                    expected = model.fast(arg)
                    assert sem.try_acquire(arg) == expected
                    if expected:
                        model.holders[ident] = arg
                        model.free -= arg
                        holders.add(ident)
                elif op == "release" and model.holders:
                    victim = sorted(model.holders)[arg % len(model.holders)]
                    holders.discard(victim)
                    sem.release(model.release(victim))
                elif op == "cancel" and model.queue:
                    victim = model.queue[arg % len(model.queue)][0]
                    model.cancel(victim)
                    workers[victim].cancel()
                elif op == "release+cancel" and model.holders and model.queue:
                    # One step: a release that may grant the head, and the head's cancel.
                    head = model.queue[0][0]
                    victim = sorted(model.holders)[arg % len(model.holders)]
                    holders.discard(victim)
                    model.cancel(head)
                    n = model.release(victim)
                    if flag:
                        sem.release(n)
                        workers[head].cancel()
                    else:
                        workers[head].cancel()
                        sem.release(n)
                await anyio.wait_all_tasks_blocked()
                check()

            # Drain: letting every holder go must get every waiter through.
            while model.holders:
                victim = min(model.holders)
                holders.discard(victim)
                sem.release(model.release(victim))
                await anyio.wait_all_tasks_blocked()
                check()
            assert not model.queue


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(script=st.lists(weighted_step, max_size=30))
def test_weighted_follows_the_fifo_model(backend: str, script: list[Step]) -> None:
    anyio.run(run_weighted, script, backend=backend)


# -- RWMutex ---------------------------------------------------------------------------------


@dataclass
class RWModel:
    """Writer preference, readers queued behind a writer go before the next writer."""

    readers: set[int] = field(default_factory=set)
    writer: int | None = None
    read_queue: list[int] = field(default_factory=list)
    write_queue: list[int] = field(default_factory=list)

    def can_read(self) -> bool:
        return self.writer is None and not self.write_queue

    def can_write(self) -> bool:
        return self.writer is None and not self.readers and not self.write_queue

    def grant(self) -> None:
        if self.writer is not None:
            return
        if not self.readers and self.write_queue:
            self.writer = self.write_queue.pop(0)
        elif not self.write_queue and self.read_queue:
            self.readers.update(self.read_queue)
            self.read_queue.clear()

    def release(self, ident: int) -> None:
        if ident == self.writer:
            self.writer = None
            self.readers.update(self.read_queue)
            self.read_queue.clear()
        else:
            self.readers.remove(ident)
        self.grant()

    def cancel(self, ident: int) -> None:
        if ident in self.read_queue:
            self.read_queue.remove(ident)
        else:
            self.write_queue.remove(ident)
        self.grant()

    def holders(self) -> set[int]:
        return self.readers | ({self.writer} if self.writer is not None else set())

    def waiting(self) -> list[int]:
        return self.read_queue + self.write_queue


rw_step = st.one_of(
    st.tuples(st.sampled_from(["read", "write", "try_read", "try_write"]), index, st.booleans()),
    st.tuples(st.sampled_from(["release", "cancel", "release+cancel"]), index, st.booleans()),
)


async def run_rw(script: list[Step]) -> None:
    rw = RWMutex()
    model = RWModel()
    holders: set[int] = set()
    workers: dict[int, Task[None]] = {}
    ident = 0

    def check() -> None:
        assert holders == model.holders()
        stats = rw.stats()
        assert stats == RWMutexStats(
            len(model.readers),
            model.writer is not None,
            len(model.read_queue),
            len(model.write_queue),
        )
        assert not (stats.writer and stats.readers), "a reader while a writer holds"

    def unlock(victim: int) -> None:
        if victim == model.writer:
            rw.unlock()
        else:
            rw.runlock()

    def release(victim: int) -> None:
        holders.discard(victim)
        unlock(victim)
        model.release(victim)

    with bounded(EXAMPLE_BOUND):
        async with anyio.create_task_group() as tg:
            for op, arg, flag in script:
                if op in ("read", "write"):
                    ident += 1
                    if op == "read":
                        if model.can_read():
                            model.readers.add(ident)
                        else:
                            model.read_queue.append(ident)
                        workers[ident] = worker(ident, rw.rlock, holders)
                    else:
                        if model.can_write():
                            model.writer = ident
                        else:
                            model.write_queue.append(ident)
                        workers[ident] = worker(ident, rw.lock, holders)
                    await tg.start(workers[ident].run)
                elif op == "try_read":
                    ident += 1
                    expected = model.can_read()
                    assert rw.try_rlock() == expected
                    if expected:
                        model.readers.add(ident)
                        holders.add(ident)
                elif op == "try_write":
                    ident += 1
                    expected = model.can_write()
                    assert rw.try_lock() == expected
                    if expected:
                        model.writer = ident
                        holders.add(ident)
                elif op == "release" and model.holders():
                    release(sorted(model.holders())[arg % len(model.holders())])
                elif op == "cancel" and model.waiting():
                    victim = model.waiting()[arg % len(model.waiting())]
                    model.cancel(victim)
                    workers[victim].cancel()
                elif op == "release+cancel" and model.holders() and model.waiting():
                    victim = sorted(model.holders())[arg % len(model.holders())]
                    # Cancel whoever this release is likely to let in: the queued readers
                    # after a writer, else the head writer.
                    if victim == model.writer and model.read_queue:
                        cancelled = model.read_queue[(arg // 2) % len(model.read_queue)]
                    else:
                        cancelled = model.waiting()[(arg // 2) % len(model.waiting())]
                        if model.write_queue and not flag:
                            cancelled = model.write_queue[0]
                    model.cancel(cancelled)  # the model: as if it had never queued
                    holders.discard(victim)
                    if flag:
                        unlock(victim)
                        workers[cancelled].cancel()
                    else:
                        workers[cancelled].cancel()
                        unlock(victim)
                    model.release(victim)
                await anyio.wait_all_tasks_blocked()
                check()

            while model.holders():
                release(min(model.holders()))
                await anyio.wait_all_tasks_blocked()
                check()
            assert not model.waiting()


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(script=st.lists(rw_step, max_size=30))
def test_rwmutex_follows_its_model(backend: str, script: list[Step]) -> None:
    anyio.run(run_rw, script, backend=backend)
