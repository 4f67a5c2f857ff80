"""Contexts: cancellation, deadlines and request-scoped values that flow down a tree of tasks.

Go's ``context`` package. A context is an immutable node; ``with_cancel``, ``with_timeout``,
``with_deadline`` and ``with_value`` derive children. Cancelling a context cancels all of its
descendants, never its parent. Where aiomq differs from Go:

- ``ctx.err()`` returns ``None``, a ``Canceled`` or a ``DeadlineExceeded`` (plain exceptions,
  never ``CancelledError``); raise it yourself where Go would return it.
- Go's ``<-ctx.Done()`` is ``await ctx.wait()``; to bound a block of code by a context, use
  ``with ctx.scope():`` (the body is cancelled when the context ends, like anyio's
  ``move_on_after``). ``select`` takes a context as one of its cases.
- Deadlines are points on ``anyio.current_time()``'s clock and are checked against the clock
  when asked; no timer task is kept per context.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from ._park import Parker
from ._spawn import spawn
from .errors import Canceled, DeadlineExceeded

__all__ = [
    "CancelFunc",
    "Context",
    "after_func",
    "background",
    "with_cancel",
    "with_deadline",
    "with_timeout",
    "with_value",
]

CancelFunc = Callable[..., None]
"""``cancel(cause=None)``: cancels the context; idempotent, the first cause wins."""


class Context:
    """A node in a context tree (Go's ``context.Context``).

    ``err()`` is None while the context is live, then ``Canceled`` or ``DeadlineExceeded``
    forever. ``cause()`` is what ``cancel(cause)`` was given, else the same as ``err()``.
    ``deadline()`` is a time on ``anyio.current_time()``'s clock, or None.
    """

    __slots__ = ("_callbacks", "_cause", "_deadline", "_err", "_key", "_parent", "_value")

    # Invariant: _err is None or set once, and then _callbacks is empty. A value context
    # (_key set) has no state of its own: it forwards cancellation questions to its parent.

    def __init__(
        self,
        parent: Context | None,
        deadline: float | None = None,
        key: Hashable = None,
        value: Any = None,
    ) -> None:
        self._parent = parent
        self._deadline = deadline
        self._key = key
        self._value = value
        self._err: Canceled | DeadlineExceeded | None = None
        self._cause: BaseException | None = None
        self._callbacks: dict[object, Callable[[], None]] = {}

    # -- state ---------------------------------------------------------------------------

    def _owner(self) -> Context:
        """The nearest context (self or an ancestor) that holds cancellation state."""
        ctx = self
        while ctx._key is not None and ctx._parent is not None:
            ctx = ctx._parent
        return ctx

    def err(self) -> Canceled | DeadlineExceeded | None:
        """None while live; afterwards the reason it ended (Go's ``Err``)."""
        owner = self._owner()
        if owner._err is None and owner._deadline is not None:
            if anyio.current_time() >= owner._deadline:
                owner._cancel(DeadlineExceeded(), None)
        return owner._err

    def cause(self) -> BaseException | None:
        """What ended the context: the cause given to ``cancel``, else ``err()`` itself."""
        if self.err() is None:
            return None
        owner = self._owner()
        return owner._cause if owner._cause is not None else owner._err

    def deadline(self) -> float | None:
        """When the context ends by itself, on ``anyio.current_time()``'s clock, or None."""
        return self._owner()._deadline

    def value(self, key: Hashable) -> Any:
        """The value bound to ``key`` here or in an ancestor, else None (Go's ``Value``)."""
        ctx: Context | None = self
        while ctx is not None:
            if ctx._key is not None and ctx._key == key:
                return ctx._value
            ctx = ctx._parent
        return None

    def done(self) -> bool:
        """True once the context has ended (``err() is not None``)."""
        return self.err() is not None

    # -- waiting -------------------------------------------------------------------------

    async def wait(self) -> None:
        """Wait until the context ends (Go's ``<-ctx.Done()``). Returns at once if it has."""
        if self.err() is not None:
            await anyio.lowlevel.checkpoint()
            return
        parker: Parker[None] = Parker()
        unsubscribe = self._subscribe(lambda: parker.wake(None))
        try:
            with anyio.move_on_at(self.deadline() or float("inf")):
                await parker.park()
        finally:
            unsubscribe()
        self.err()  # marks a passed deadline

    @contextmanager
    def scope(self) -> Iterator[anyio.CancelScope]:
        """Cancel the body when this context ends; execution continues after the block.

        Like anyio's ``move_on_after``: ``scope.cancelled_caught`` says whether the body was
        cut short. A context that has already ended cancels the body at its first checkpoint.
        """
        with anyio.CancelScope(deadline=self.deadline() or float("inf")) as cs:
            unsubscribe = self._subscribe(cs.cancel)
            try:
                yield cs
            finally:
                unsubscribe()

    def _subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` once when the context is cancelled; returns an unsubscribe.

        If it has ended already the callback runs now. Deadlines are not events: waiters
        bound a wait by ``deadline()`` themselves.
        """
        owner = self._owner()
        if owner.err() is not None:
            callback()
            return _noop
        token = object()
        owner._callbacks[token] = callback

        def unsubscribe() -> None:
            owner._callbacks.pop(token, None)

        return unsubscribe

    # -- cancelling ----------------------------------------------------------------------

    def _cancel(self, err: Canceled | DeadlineExceeded, cause: BaseException | None) -> None:
        if self._err is not None:
            return
        self._err = err
        self._cause = cause
        callbacks, self._callbacks = self._callbacks, {}
        for callback in callbacks.values():
            callback()

    def _child(self, deadline: float | None) -> tuple[Context, CancelFunc]:
        parent_deadline = self.deadline()
        if parent_deadline is not None and (deadline is None or parent_deadline < deadline):
            deadline = parent_deadline
        child = Context(self, deadline)
        parent = self._owner()
        if parent._parent is not None or parent._deadline is not None or parent._err:
            # Only a context that can end needs to tell its children.
            unsubscribe = parent._subscribe(
                lambda: child._cancel(_copy(parent._err), parent._cause)
            )
        else:
            unsubscribe = _noop

        def cancel(cause: BaseException | None = None) -> None:
            unsubscribe()
            child._cancel(Canceled(), cause)

        return child, cancel

    def __repr__(self) -> str:
        state = "live" if self._err is None else type(self._err).__name__
        return f"<Context {state} deadline={self.deadline()!r}>"


def _noop() -> None:
    return None


def _copy(err: Canceled | DeadlineExceeded | None) -> Canceled | DeadlineExceeded:
    return DeadlineExceeded() if isinstance(err, DeadlineExceeded) else Canceled()


_BACKGROUND = Context(None)


def background() -> Context:
    """The root context: never cancelled, no deadline, no values (Go's ``Background``)."""
    return _BACKGROUND


def with_cancel(parent: Context) -> tuple[Context, CancelFunc]:
    """A child that ends when ``cancel(cause=None)`` is called or when ``parent`` ends."""
    return parent._child(None)


def with_deadline(parent: Context, when: float) -> tuple[Context, CancelFunc]:
    """A child that also ends at ``when`` on ``anyio.current_time()``'s clock.

    The child's deadline is never later than the parent's.
    """
    return parent._child(when)


def with_timeout(parent: Context, seconds: float) -> tuple[Context, CancelFunc]:
    """``with_deadline(parent, anyio.current_time() + seconds)``."""
    return parent._child(anyio.current_time() + seconds)


def with_value(parent: Context, key: Hashable, value: Any) -> Context:
    """A child carrying ``key -> value``; it ends exactly when ``parent`` does.

    ``key`` must not be None. Go recommends a private key type to avoid collisions; any
    hashable works here, and a private ``object()`` is the collision-free choice.
    """
    if key is None:
        raise TypeError("with_value: key must not be None")
    return Context(parent, None, key, value)


def after_func(ctx: Context, fn: Callable[[], Any]) -> Callable[[], bool]:
    """Run ``fn()`` in its own task once ``ctx`` ends (Go's ``context.AfterFunc``).

    ``fn`` may be a plain or an async function. Returns ``stop()``: it returns True if it
    stopped ``fn`` from running, False if ``fn`` has started already (or was stopped before).
    A context that can never end (``background()``) runs nothing and holds no task.
    """
    pending = True  # neither started nor stopped
    owner = ctx._owner()
    can_end = owner._parent is not None or owner._deadline is not None

    async def watch() -> None:
        nonlocal pending
        await ctx.wait()
        if pending:
            pending = False
            result = fn()
            if inspect.isawaitable(result):
                await result

    task = spawn(watch, name="aiomq.after_func") if can_end else None

    def stop() -> bool:
        nonlocal pending
        was_pending, pending = pending, False
        if was_pending and task is not None:
            task.cancel()
        return was_pending

    return stop
