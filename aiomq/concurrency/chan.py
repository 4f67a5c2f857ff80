"""Channels between tasks: ``Chan[T]``, ``close``, ``async for`` and ``select``.

A channel is a FIFO between tasks of one event loop (asyncio or trio): capacity 0 is a
rendezvous, a closed channel drains and then reports closure, ``select`` fires exactly one
ready case, chosen at random, and no value is ever lost to a cancellation (see ``Chan``).
Go's ``chan T`` and ``select``; where the two differ: docs/concurrency.md.
"""

# Cancellation and the hand-off. A value handed to a parked receiver whose cancel scope
# (trio's or anyio's) is cancelled before it resumes is returned, and the cancellation lands
# at the task's next checkpoint. On asyncio a native Task.cancel() (asyncio.timeout,
# wait_for) can land in that gap too and asyncio raises CancelledError whatever the code
# does: the value then goes back to the head of the channel for the next receiver
# (_unreceive). A send (or a select whose send case fired) cancelled that way raises
# although its value was delivered, as any asyncio operation cancelled after taking effect.

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any, Generic, TypeVar

import anyio

from ._park import (
    LIBRARY,
    Parker,
    Runtime,
    current,
    discard,
    trio_checkpoint_if_cancelled,
    wake_all,
    wake_first,
)
from .context import Context
from .errors import AiomqError, ChanClosed

__all__ = [
    "Chan",
    "RecvCase",
    "SendCase",
    "WouldBlock",
    "recv_case",
    "recv_ok_case",
    "select",
    "send_case",
]

T = TypeVar("T")


class WouldBlock(AiomqError, anyio.WouldBlock):
    """``send_nowait`` or ``recv_nowait`` could not complete without waiting.

    Go has no counterpart (it uses ``select`` with ``default``). It is also an
    ``anyio.WouldBlock``, so code written against anyio's streams catches it too.
    """


class _Waiter:
    """One task's place in one channel's queue (Go's ``sudog``).

    A select enqueues one waiter per case, all sharing its one parker; the first waker wins
    and the parker's value is the waiter that fired. ``value`` is the value to send (send
    waiters) or the value received (receive waiters); ``ok`` becomes True when the exchange
    happened and stays False when the channel was closed instead.
    """

    __slots__ = ("index", "ok", "parker", "value")

    def __init__(self, parker: Parker[Any], index: int, value: Any) -> None:
        self.parker = parker
        self.index = index
        self.value = value
        self.ok = False

    def wake(self, ok: bool) -> bool:
        """Fire this waiter: ``ok`` True for an exchange, False for a close. False if its
        parker was woken through another case already or its task has left."""
        if self.parker.wake(self):
            self.ok = ok
            return True
        return False


def _has_live(queue: deque[_Waiter]) -> bool:
    """Whether ``queue`` holds a waiter that is still waiting (drops dead ones at its head)."""
    while queue:
        if queue[0].parker.waiting:
            return True
        queue.popleft()
    return False


_EMPTY: Any = object()  # _take(): nothing to receive right now
_CLOSED: Any = object()  # _take(): closed and drained


class Chan(Generic[T]):
    """A channel of values of type ``T`` (Go's ``chan T``), for tasks of one event loop.

    ``capacity`` is the buffer size: 0 (the default) makes a rendezvous channel, where a send
    completes only when a receiver takes the value. ``await send(v)``, ``await recv()``,
    ``await recv_ok()``, ``send_nowait``, ``recv_nowait``, ``close()``, ``async for v in ch``,
    ``len(ch)`` (values buffered) and ``cap``. Waiting senders and receivers are served in
    FIFO order. Operations that can complete at once do not yield (on trio they still raise
    a pending cancellation); one that waits is a full checkpoint. A cancelled ``send``,
    ``recv`` or ``select`` consumes and delivers nothing, and no value is ever lost: one
    already handed to a receiver is returned, or on asyncio, when a native ``Task.cancel()``
    lands after the hand-off, put back at the head of the channel. For the tasks of one
    event loop: not safe to share between threads or event loops.
    """

    __slots__ = ("_buf", "_cap", "_closed", "_recvq", "_sendq")

    # Invariants, counting only waiters whose parker is still waiting (wakers drop the rest):
    # a waiting receiver implies an empty buffer; a waiting sender implies a full buffer,
    # len(_buf) >= _cap (always true at capacity 0); receivers and senders never both wait;
    # once closed, nobody waits. The buffer holds at most _cap values, except right after
    # _unreceive put one back at its head.

    def __init__(self, capacity: int = 0) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool):
            raise TypeError(f"Chan capacity must be an int, not {type(capacity).__name__}")
        if capacity < 0:
            raise ValueError(f"Chan capacity must be >= 0, not {capacity}")
        self._cap = capacity
        self._buf: deque[T] = deque()
        self._recvq: deque[_Waiter] = deque()
        self._sendq: deque[_Waiter] = deque()
        self._closed = False

    # -- state ---------------------------------------------------------------------------

    @property
    def cap(self) -> int:
        """The buffer size given at construction (Go's ``cap(ch)``)."""
        return self._cap

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (values may still be buffered)."""
        return self._closed

    def __len__(self) -> int:
        """The number of buffered values (Go's ``len(ch)``); 0 at capacity 0."""
        return len(self._buf)

    def __bool__(self) -> bool:
        """Always True: an empty channel is still a channel (``if ch:`` tests for None, as
        in Go's nil-channel idiom), although ``len(ch)`` may be 0."""
        return True

    def __repr__(self) -> str:
        closed = " closed" if self._closed else ""
        return f"<Chan len={len(self._buf)} cap={self._cap}{closed}>"

    # -- sending -------------------------------------------------------------------------

    def _offer(self, value: T) -> bool:
        """Send without waiting if possible; False if the send would block."""
        if self._closed:
            raise ChanClosed("send on closed channel")
        receiver = wake_first(self._recvq, True)
        if receiver is not None:
            receiver.value = value  # set before it runs: nothing runs in between
            return True
        buf = self._buf
        if len(buf) < self._cap:
            buf.append(value)
            return True
        return False

    def send_nowait(self, value: T) -> None:
        """Send ``value`` if that needs no waiting, else raise ``WouldBlock``.

        It succeeds when a receiver is waiting or the buffer has room. Raises ``ChanClosed``
        on a closed channel.
        """
        if not self._offer(value):
            raise WouldBlock("send would block: channel full and no receiver waiting")

    def send_many_nowait(self, values: Sequence[T]) -> int:
        """Send ``values`` in order for as long as that needs no waiting; how many were sent.

        The first ones go to waiting receivers, the next to the buffer's room; the rest
        (``values[sent:]``) are not sent. Raises ``ChanClosed`` on a closed channel. Go has
        none: a loop of ``select`` sends with a ``default``, at the cost of one call.
        """
        if self._closed:
            raise ChanClosed("send on closed channel")
        total = len(values)
        sent = 0
        recvq = self._recvq
        while recvq and sent < total:
            receiver = wake_first(recvq, True)
            if receiver is None:
                break
            receiver.value = values[sent]  # set before it runs: nothing runs in between
            sent += 1
        room = min(self._cap - len(self._buf), total - sent)
        if room > 0:
            self._buf.extend(values[sent : sent + room])
            sent += room
        return sent

    async def send(self, value: T) -> None:
        """Send ``value``, waiting for buffer room or, at capacity 0, for a receiver.

        Raises ``ChanClosed`` if the channel is closed, before or while waiting (Go panics).
        A send cancelled while waiting delivers nothing (see the module docstring for a
        cancellation that arrives as the value is taken).
        """
        if LIBRARY.name == "trio":
            await trio_checkpoint_if_cancelled()
        buf = self._buf
        if self._recvq or self._closed or len(buf) >= self._cap:
            await self._send_slow(value)
        else:
            buf.append(value)  # the fast path, inlined: no receiver waits, room in the buffer

    async def _send_slow(self, value: T) -> None:
        if self._offer(value):
            return
        parker: Parker[_Waiter] = current().parker()
        waiter = _Waiter(parker, 0, value)
        self._sendq.append(waiter)
        try:
            await parker.park()
        except BaseException:
            # Cancelled while waiting: nothing was delivered. (On asyncio a native
            # Task.cancel() landing after a receiver took the value also ends up here; that
            # value has been delivered, as with any asyncio operation cancelled late.)
            if not parker.woken:
                discard(self._sendq, waiter)
            raise
        if not waiter.ok:
            raise ChanClosed("send on closed channel")

    # -- receiving -----------------------------------------------------------------------

    def _take(self) -> Any:
        """Receive without waiting: a value, ``_EMPTY`` if it would block, or ``_CLOSED``."""
        buf = self._buf
        if buf:
            value = buf.popleft()
            if self._sendq and len(buf) < self._cap:
                # The buffer was full: the first waiting sender's value takes the free slot
                # and its send completes (Go's recv on a full buffered channel).
                sender = wake_first(self._sendq, True)
                if sender is not None:
                    buf.append(sender.value)
            return value
        if self._sendq:
            sender = wake_first(self._sendq, True)
            if sender is not None:
                return sender.value
        return _CLOSED if self._closed else _EMPTY

    async def _recv_slow(self) -> Any:
        """Receive, waiting if needed: a value, or ``_CLOSED`` once closed and drained."""
        value = self._take()
        if value is not _EMPTY:
            return value
        parker: Parker[_Waiter] = current().parker()
        waiter = _Waiter(parker, 0, None)
        self._recvq.append(waiter)
        try:
            await parker.park()
        except BaseException:
            if waiter.ok:
                self._unreceive(waiter.value)
            else:
                discard(self._recvq, waiter)
            raise
        return waiter.value if waiter.ok else _CLOSED

    def _unreceive(self, value: Any) -> None:
        """Give back a value handed to a receiver that asyncio cancelled before it resumed.

        Only a native ``Task.cancel()`` lands between the hand-over and the receiver's
        resumption (anyio's cancel scopes wait for it, and trio cannot abort a woken task),
        and asyncio then raises ``CancelledError`` at the await whatever happens: returning
        the value and re-raising the cancellation later would lose it when the task ends
        there (``asyncio.wait_for``) or let the cancellation escape ``asyncio.timeout``. So
        the value goes back to the front of the channel: to the next waiting receiver, else
        to the head of the buffer (which may then briefly hold more than ``cap`` values, and
        on a closed channel reaches whoever receives next).
        """
        receiver = wake_first(self._recvq, True)
        if receiver is not None:
            receiver.value = value
        else:
            self._buf.appendleft(value)

    def recv_nowait(self) -> T:
        """Receive a value if that needs no waiting, else raise ``WouldBlock``.

        Raises ``ChanClosed`` once the channel is closed and drained.
        """
        value = self._take()
        if value is _EMPTY:
            raise WouldBlock("receive would block: channel empty and no sender waiting")
        if value is _CLOSED:
            raise ChanClosed("receive from closed channel")
        return value  # type: ignore[no-any-return]

    async def recv_many(self, limit: int) -> list[T]:
        """Receive at least one value, waiting for it if needed, and with it those ready
        at once, ``limit`` in all at most, in order.

        Raises ``ChanClosed`` once the channel is closed and drained, as ``recv``; a
        cancelled ``recv_many`` takes nothing (cancelled as its first value arrives, as
        ``recv``). Go has none: a receive, then a loop of ``select`` receives with a
        ``default``.
        """
        if limit < 1:
            raise ValueError(f"recv_many limit must be >= 1, not {limit}")
        if LIBRARY.name == "trio":
            await trio_checkpoint_if_cancelled()
        buf = self._buf
        if buf and not self._sendq:
            return [buf.popleft() for _ in range(min(limit, len(buf)))]
        value = await self._recv_slow()
        if value is _CLOSED:
            raise ChanClosed("receive from closed channel")
        out = [value]
        if limit > 1:
            out += self.recv_many_nowait(limit - 1)
        return out

    def recv_many_nowait(self, limit: int) -> list[T]:
        """Receive up to ``limit`` values, in order, as long as that needs no waiting.

        An empty list when none is ready, also once the channel is closed and drained (never
        raises). Each value taken frees room a waiting sender's value then takes, as with
        ``recv_nowait``. Go has none: a loop of ``select`` receives with a ``default``, at
        the cost of one call.
        """
        buf = self._buf
        if not self._sendq:
            return [buf.popleft() for _ in range(min(limit, len(buf)))]
        out: list[T] = []
        while len(out) < limit:
            value = self._take()
            if value is _EMPTY or value is _CLOSED:
                break
            out.append(value)
        return out

    # recv, recv_ok and __anext__ inline the fast path (a buffered value, no sender waiting)
    # to stay within a few attribute reads of asyncio.Queue's get.

    async def recv(self) -> T:
        """Receive the next value, waiting for one if needed (Go's ``<-ch``).

        Raises ``ChanClosed`` once the channel is closed and every buffered value has been
        received (Go returns the zero value; see ``recv_ok``). A cancelled receive takes
        nothing from the channel.
        """
        if LIBRARY.name == "trio":
            await trio_checkpoint_if_cancelled()
        buf = self._buf
        if buf and not self._sendq:
            return buf.popleft()
        value = await self._recv_slow()
        if value is _CLOSED:
            raise ChanClosed("receive from closed channel")
        return value  # type: ignore[no-any-return]

    async def recv_ok(self) -> tuple[T | None, bool]:
        """Receive ``(value, True)``, or ``(None, False)`` once closed and drained.

        Go's ``v, ok := <-ch``; Go's zero value is None here.
        """
        if LIBRARY.name == "trio":
            await trio_checkpoint_if_cancelled()
        buf = self._buf
        if buf and not self._sendq:
            return buf.popleft(), True
        value = await self._recv_slow()
        if value is _CLOSED:
            return None, False
        return value, True

    def __aiter__(self) -> Chan[T]:
        return self

    async def __anext__(self) -> T:
        """``async for v in ch``: receives until the channel is closed and drained (Go's
        ``for v := range ch``)."""
        if LIBRARY.name == "trio":
            await trio_checkpoint_if_cancelled()
        buf = self._buf
        if buf and not self._sendq:
            return buf.popleft()
        value = await self._recv_slow()
        if value is _CLOSED:
            raise StopAsyncIteration
        return value  # type: ignore[no-any-return]

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel: no more sends; receivers drain the buffer, then see closure.

        Waiting receivers wake and see closure (the buffer is empty when they wait); waiting
        senders wake with ``ChanClosed`` (Go panics them). Closing twice raises ``ChanClosed``.
        """
        if self._closed:
            raise ChanClosed("close of closed channel")
        self._closed = True
        wake_all(self._recvq, False)
        wake_all(self._sendq, False)


class RecvCase(Generic[T]):
    """A receive case of ``select``; make it with ``recv_case(ch)`` or ``recv_ok_case(ch)``."""

    __slots__ = ("chan", "with_ok")

    def __init__(self, chan: Chan[T] | None, with_ok: bool) -> None:
        self.chan = chan
        self.with_ok = with_ok


class SendCase(Generic[T]):
    """A send case of ``select``; make it with ``send_case(ch, value)``."""

    __slots__ = ("chan", "value")

    def __init__(self, chan: Chan[T] | None, value: T) -> None:
        self.chan = chan
        self.value = value


def recv_case(chan: Chan[T] | None) -> RecvCase[T]:
    """A ``select`` case receiving from ``chan`` (Go's ``case v := <-ch``).

    Its value is the value received. When it fires on a closed, drained channel ``select``
    raises ``ChanClosed``; use ``recv_ok_case`` to get ``(None, False)`` instead. A case on None
    never fires (Go's nil channel).
    """
    return RecvCase(chan, False)


def recv_ok_case(chan: Chan[T] | None) -> RecvCase[T]:
    """A ``select`` case receiving from ``chan`` whose value is ``(value, ok)``.

    Go's ``case v, ok := <-ch``: ``(value, True)``, or ``(None, False)`` when the channel is
    closed and drained (a closed channel is always ready, as in Go).
    """
    return RecvCase(chan, True)


def send_case(chan: Chan[T] | None, value: T) -> SendCase[T]:
    """A ``select`` case sending ``value`` on ``chan`` (Go's ``case ch <- v``).

    Its value in ``select``'s result is None. A closed channel makes the case ready, and
    ``select`` raises ``ChanClosed`` if it is chosen (Go panics). A case on None never fires.
    """
    return SendCase(chan, value)


Case = RecvCase[Any] | SendCase[Any] | Context | None
"""What ``select`` accepts: ``recv_case(ch)``, ``recv_ok_case(ch)``, ``send_case(ch, v)``, a
Context, None."""

_MISSING: Any = object()
_TIMER: Any = object()  # a select's parker woken by its context deadline's timer
_NOT_READY: Any = object()  # _fire(): the case could not complete after all


def _poll(cases: tuple[Case, ...]) -> list[int]:
    """The indexes of the cases that can proceed now.

    Contexts come first: ``err()`` ends a context whose deadline has passed unnoticed, and
    its callbacks run at once; one may cancel a task parked on a channel of another case
    (a peer inside that context's ``scope()``), so the channels are looked at only after.
    """
    ready = [i for i, case in enumerate(cases) if isinstance(case, Context) and case.done()]
    for index, case in enumerate(cases):
        if isinstance(case, RecvCase):
            ch = case.chan
            if ch is not None and (ch._buf or _has_live(ch._sendq) or ch._closed):
                ready.append(index)
        elif isinstance(case, SendCase):
            ch = case.chan
            if ch is not None and (ch._closed or _has_live(ch._recvq) or len(ch._buf) < ch._cap):
                ready.append(index)
        elif case is not None and not isinstance(case, Context):
            raise TypeError(
                "select case must be recv_case(ch), recv_ok_case(ch), send_case(ch, v), "
                f"a Context or None, not {type(case).__name__}"
            )
    return ready


def _fire(case: Case) -> Any:
    """Perform a case ``_poll`` found ready: its value, or ``_NOT_READY`` if it could not."""
    if isinstance(case, RecvCase):
        assert case.chan is not None
        value = case.chan._take()
        if value is _EMPTY:
            return _NOT_READY
        if value is _CLOSED:
            if case.with_ok:
                return None, False
            raise ChanClosed("receive from closed channel")
        return (value, True) if case.with_ok else value
    if isinstance(case, SendCase):
        assert case.chan is not None
        return None if case.chan._offer(case.value) else _NOT_READY
    assert isinstance(case, Context)
    return case.err()


async def select(*cases: Case, default: Any = _MISSING) -> tuple[int, Any]:
    """Wait until one of ``cases`` can proceed, perform exactly that one, return
    ``(index, value)`` (Go's ``select``).

    ``index`` is the case's position among ``cases``. The value of ``recv_case(ch)`` is the value
    received, of ``recv_ok_case(ch)`` a ``(value, ok)`` pair, of ``send_case(ch, v)`` None, and of a
    Context (ready once it has ended, by cancellation or deadline) its ``err()``. When several
    cases are ready, one is chosen uniformly at random (Go's poll order shuffle), so no
    case starves. With ``default=`` given and no case ready, returns ``(-1, default)`` at
    once (Go's ``default:`` clause). A case on None, or ``select()`` with no cases, never
    fires (Go's nil channel and ``select {}``).

    Raises ``ChanClosed`` when the chosen case is ``recv`` on a closed, drained channel or
    ``send`` on a closed channel. A select cancelled while it waits performs no case, with
    one exception, on asyncio only: a native ``Task.cancel()`` (``asyncio.timeout``,
    ``wait_for``) that lands after a case fired but before the task resumed. Then select
    raises ``CancelledError`` all the same; a received value goes back to the front of its
    channel, but a send case has already delivered its value (to a receiver, or into the
    buffer). Under trio, and under anyio cancel scopes on asyncio, a select whose case fired
    returns it, and the cancellation lands at the task's next checkpoint.
    """
    rt = current()
    await rt.checkpoint_if_cancelled()
    while True:
        ready = _poll(cases)
        if ready:
            index = ready[0] if len(ready) == 1 else random.choice(ready)
            value = _fire(cases[index])
            if value is not _NOT_READY:
                return index, value
            continue  # its peer left between the poll and the fire: poll again
        if default is not _MISSING:
            return -1, default
        fired = await _park(cases, rt)
        if fired is not None:
            return fired
        # A context deadline passed: poll again, where that context is now ready.


async def _park(cases: tuple[Case, ...], rt: Runtime) -> tuple[int, Any] | None:
    """Enqueue one parker on every case and wait; None when a context's deadline passed."""
    parker: Parker[Any] = rt.parker()
    enqueued: list[tuple[deque[_Waiter], _Waiter]] = []
    unsubscribes = []
    deadline = math.inf
    for index, case in enumerate(cases):
        if isinstance(case, RecvCase | SendCase):
            if case.chan is None:
                continue
            if isinstance(case, RecvCase):
                waiter, queue = _Waiter(parker, index, None), case.chan._recvq
            else:
                waiter, queue = _Waiter(parker, index, case.value), case.chan._sendq
            queue.append(waiter)
            enqueued.append((queue, waiter))
        elif isinstance(case, Context):
            waiter = _Waiter(parker, index, None)
            unsubscribes.append(case._subscribe(partial(parker.wake, waiter)))
            case_deadline = case.deadline()
            if case_deadline is not None:
                deadline = min(deadline, case_deadline)
    fired: Any = _TIMER
    try:
        fired = await rt.park_until(parker, deadline, _TIMER)
    except BaseException:
        for _, waiter in enqueued:
            case = cases[waiter.index]
            if waiter.ok and isinstance(case, RecvCase) and case.chan is not None:
                case.chan._unreceive(waiter.value)  # asyncio, cancelled after the hand-over
        raise
    finally:
        for queue, waiter in enqueued:
            if waiter is not fired:
                discard(queue, waiter)
        for unsubscribe in unsubscribes:
            unsubscribe()
    if fired is _TIMER:
        return None
    case = cases[fired.index]
    if isinstance(case, Context):
        return fired.index, case.err()
    if isinstance(case, SendCase):
        if not fired.ok:
            raise ChanClosed("send on closed channel")
        return fired.index, None
    assert isinstance(case, RecvCase)
    if fired.ok:
        return fired.index, (fired.value, True) if case.with_ok else fired.value
    if case.with_ok:
        return fired.index, (None, False)
    raise ChanClosed("receive from closed channel")
