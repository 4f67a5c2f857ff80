"""Duplicate call suppression: concurrent calls with the same key share one execution.

The call runs in a task of its own, so a caller that is cancelled stops waiting but never
cancels the call or spoils the result for the others. Go's ``golang.org/x/sync/singleflight``;
where the two differ: docs/concurrency.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, TypeVarTuple

from ._park import Parker, current
from ._spawn import spawn
from .chan import Chan
from .errors import Canceled

__all__ = ["SingleFlightResult", "SingleFlight"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class SingleFlightResult(Generic[T]):
    """What ``do_chan`` delivers: the call's ``value`` or its ``error``, and ``shared``.

    ``shared`` is True when more than one caller received this result.
    """

    value: T | None
    error: Exception | None
    shared: bool


class _Call:
    """One execution in flight and everyone waiting for it."""

    __slots__ = ("chans", "dups", "error", "tb", "value", "waiters")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: Exception | None = None
        self.tb: TracebackType | None = None
        self.dups = 0  # callers that joined after the first (Go's dups)
        # A dict, not a list: a cancelled caller removes itself in O(1), in FIFO order.
        self.waiters: dict[Parker[None], None] = {}
        self.chans: list[Chan[SingleFlightResult[Any]]] = []


class SingleFlight:
    """Runs one call per key at a time and hands its outcome to every caller (Go's ``Group``).

    ``await do(key, fn, *args) -> (value, shared)``, ``do_chan(key, fn, *args)``,
    ``forget(key)``. While a call for ``key`` is in flight, further calls with that key do
    not start ``fn``: they wait for the one in flight and get its value (or its exception).
    Once the call ends the key is free, and the next call runs ``fn`` again: results are
    shared, not cached. ``shared`` is True for every caller, the first included, when any
    other caller joined the call. If every caller is cancelled the call still runs to its end.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[Hashable, _Call] = {}

    async def do(
        self, key: Hashable, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts
    ) -> tuple[T, bool]:
        """Await ``fn(*args)`` once for all concurrent callers with ``key``.

        Returns ``(value, shared)``, or raises the exception ``fn`` raised (the same
        exception object in every caller). Cancelling a caller stops only its own wait.
        """
        call = self._join(key, fn, args)
        waiter: Parker[None] = current().parker()
        call.waiters[waiter] = None
        try:
            await waiter.park()
        except BaseException:
            if not waiter.woken:
                call.waiters.pop(waiter, None)
            raise
        if call.error is not None:
            # Reset the traceback: the one exception is raised in many callers.
            raise call.error.with_traceback(call.tb)
        return call.value, call.dups > 0

    def do_chan(
        self, key: Hashable, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts
    ) -> Chan[SingleFlightResult[T]]:
        """Like ``do``, without waiting: the ``SingleFlightResult`` arrives on the returned channel.

        The channel has capacity 1, receives exactly one ``SingleFlightResult`` and is not closed.
        Must be called from a running task (it may start the call).
        """
        call = self._join(key, fn, args)
        ch: Chan[SingleFlightResult[T]] = Chan(1)
        call.chans.append(ch)
        return ch

    def forget(self, key: Hashable) -> None:
        """Stop sharing the call in flight for ``key``: the next call starts a new one.

        The forgotten call goes on, and its callers still get its result; its end does not
        disturb a newer call for the same key.
        """
        self._calls.pop(key, None)

    def _join(self, key: Hashable, fn: Callable[..., Awaitable[Any]], args: Any) -> _Call:
        call = self._calls.get(key)
        if call is not None:
            call.dups += 1
            return call
        call = self._calls[key] = _Call()
        spawn(self._run, key, call, fn, args, name=f"aiomq.concurrency.singleflight[{key!r}]")
        return call

    async def _run(
        self, key: Hashable, call: _Call, fn: Callable[..., Awaitable[Any]], args: Any
    ) -> None:
        try:
            call.value = await fn(*args)
        except Exception as exc:
            call.error, call.tb = exc, exc.__traceback__
        except BaseException:
            # The call's own task was cancelled (the event loop or trio run is ending):
            # the callers must not wait for ever.
            call.error = Canceled("singleflight: the call was cancelled")
            raise
        finally:
            # After forget(key) a newer call may own the key: leave it alone (golang/go#31420).
            if self._calls.get(key) is call:
                del self._calls[key]
            for waiter in call.waiters:
                waiter.wake(None)
            call.waiters.clear()
            if call.chans:
                result: SingleFlightResult[Any] = SingleFlightResult(
                    call.value, call.error, call.dups > 0
                )
                for ch in call.chans:
                    ch.send_nowait(result)

    def __len__(self) -> int:
        """The number of keys with a call in flight."""
        return len(self._calls)

    def __repr__(self) -> str:
        return f"<SingleFlight in_flight={len(self._calls)}>"
