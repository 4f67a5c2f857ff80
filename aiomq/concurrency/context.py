"""Contexts: cancellation, deadlines and request-scoped values that flow down a tree of tasks.

A context is an immutable node; ``with_cancel``, ``with_timeout``, ``with_deadline`` and
``with_value`` derive children. Cancelling a context cancels all of its descendants, never
its parent. ``ctx.err()`` is None, a ``Canceled`` or a ``DeadlineExceeded``; ``await
ctx.wait()`` waits for the end, ``with ctx.scope():`` bounds a block by it. Go's
``context`` package; where the two differ: docs/concurrency.md.
"""

# Deadlines are points on anyio.current_time()'s clock, checked against the clock when asked:
# no timer task is kept per context (a select or a scope sets its own timer while it waits).

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio

from ._park import Parker, current
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

_Err = Canceled | DeadlineExceeded


class CancelFunc(Protocol):
    """``cancel(cause=None)``: ends the context and its descendants (Go's ``CancelCauseFunc``).

    Idempotent: only the first call (or the parent ending first) counts, so the first cause
    wins. It never touches the parent.
    """

    def __call__(self, cause: BaseException | None = None) -> None: ...


class Context:
    """A node in a context tree (Go's ``context.Context``); build one with the functions below.

    ``err()`` is None while the context is live, then ``Canceled`` or ``DeadlineExceeded``
    forever. ``cause()`` is what ``cancel(cause)`` was given, else the same as ``err()``.
    ``deadline()`` is a time on ``anyio.current_time()``'s clock, or None.
    """

    __slots__ = (
        "_callbacks",
        "_cause",
        "_children",
        "_deadline",
        "_err",
        "_key",
        "_parent",
        "_value",
    )

    # Invariants: _err is set at most once, and then _children and _callbacks are None. A
    # value context (_key set) holds no state of its own; its _owner() answers for it. A
    # live context is registered in its parent's owner's _children until it ends.

    def __init__(
        self, parent: Context | None, deadline: float | None, key: Any, value: Any
    ) -> None:
        self._parent = parent
        self._deadline = deadline
        self._key = key
        self._value = value
        self._err: _Err | None = None
        self._cause: BaseException | None = None
        self._children: dict[Context, None] | None = None
        self._callbacks: dict[object, Callable[[], object]] | None = None

    def _owner(self) -> Context:
        """The nearest context (self or an ancestor) that holds cancellation state."""
        ctx = self
        while ctx._key is not None and ctx._parent is not None:
            ctx = ctx._parent
        return ctx

    def _can_end(self) -> bool:
        owner = self._owner()
        return owner._parent is not None or owner._deadline is not None or owner._err is not None

    def err(self) -> _Err | None:
        """None while live; afterwards the reason it ended, forever (Go's ``Err``)."""
        owner = self._owner()
        deadline = owner._deadline
        if owner._err is None and deadline is not None and anyio.current_time() >= deadline:
            owner._cancel(DeadlineExceeded(), None)
        return owner._err

    def cause(self) -> BaseException | None:
        """What ended the context: the cause given to ``cancel``, else ``err()`` itself.

        A context ended by its parent has the parent's cause (Go's ``context.Cause``).
        """
        err = self.err()
        cause = self._owner()._cause
        return err if cause is None else cause

    def deadline(self) -> float | None:
        """When the context ends by itself, on ``anyio.current_time()``'s clock, or None."""
        return self._owner()._deadline

    def value(self, key: Hashable) -> Any:
        """The value bound to ``key`` here or in the nearest ancestor, else None (Go's Value)."""
        ctx: Context | None = self
        while ctx is not None:
            if ctx._key is not None and ctx._key == key:
                return ctx._value
            ctx = ctx._parent
        return None

    def done(self) -> bool:
        """True once the context has ended (``err() is not None``)."""
        return self.err() is not None

    async def wait(self) -> None:
        """Wait until the context ends (Go's ``<-ctx.Done()``); after a checkpoint if it has.

        Waits forever on a context that cannot end (``background()``), until cancelled.
        """
        if self.err() is not None:
            await anyio.lowlevel.checkpoint()
            return
        parker: Parker[None] = current().parker()
        unsubscribe = self._subscribe(lambda: parker.wake(None))
        deadline = self.deadline()
        try:
            with anyio.move_on_at(math.inf if deadline is None else deadline):
                await parker.park()
        finally:
            unsubscribe()

    @contextmanager
    def scope(self) -> Iterator[anyio.CancelScope]:
        """Cancel the body when this context ends; execution continues after the block.

        Like anyio's ``move_on_after``: the yielded scope's ``cancelled_caught`` says whether
        the body was cut short. A context that has already ended cancels the body at its
        first checkpoint. Cancellation from outside the block propagates as usual.
        """
        deadline = self.deadline()
        with anyio.CancelScope(deadline=math.inf if deadline is None else deadline) as cs:
            unsubscribe = self._subscribe(cs.cancel)
            try:
                yield cs
            finally:
                unsubscribe()

    def _subscribe(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback()`` once when the context is cancelled; returns an unsubscribe.

        If it has ended already the callback runs now. Deadlines are not events: waiters
        bound a wait by ``deadline()`` themselves. Callbacks must not raise.
        """
        if self.err() is not None:
            callback()
            return _noop
        owner = self._owner()
        if not owner._can_end():
            return _noop
        if owner._callbacks is None:
            owner._callbacks = {}
        token = object()
        owner._callbacks[token] = callback

        def unsubscribe() -> None:
            if owner._callbacks is not None:
                owner._callbacks.pop(token, None)

        return unsubscribe

    def _cancel(self, err: _Err, cause: BaseException | None) -> None:
        """End this context and its live descendants, then run their callbacks.

        Iterative, so a deep chain of contexts cannot overflow the stack; every context in
        the subtree has ended before the first callback runs.
        """
        if self._err is not None:
            return
        parent = self._parent._owner() if self._parent is not None else None
        if parent is not None and parent._children is not None:
            parent._children.pop(self, None)  # an ended child needs no more news
        callbacks: list[Callable[[], object]] = []
        stack: list[tuple[Context, _Err, BaseException | None]] = [(self, err, cause)]
        while stack:
            ctx, err, cause = stack.pop()
            if ctx._err is not None:
                continue
            ctx._err, ctx._cause = err, cause
            if ctx._callbacks:
                callbacks.extend(ctx._callbacks.values())
            if ctx._children:
                # Go's Cause(child) is the parent's cause, or the parent's err without one.
                inherited = err if cause is None else cause
                new = DeadlineExceeded if isinstance(err, DeadlineExceeded) else Canceled
                stack.extend((child, new(), inherited) for child in ctx._children)
            ctx._children = ctx._callbacks = None
        for callback in callbacks:
            callback()

    def _child(self, deadline: float | None) -> tuple[Context, CancelFunc]:
        parent_deadline = self.deadline()
        if parent_deadline is not None and (deadline is None or parent_deadline < deadline):
            deadline = parent_deadline
        child = Context(self, deadline, None, None)
        owner = self._owner()
        if owner._err is not None:
            child._cancel(type(owner._err)(), self.cause())
        elif owner._can_end():  # a child of background() is nobody's to tell
            if owner._children is None:
                owner._children = {}
            owner._children[child] = None

        def cancel(cause: BaseException | None = None) -> None:
            if child.err() is None:  # a passed deadline wins over a late cancel
                child._cancel(Canceled(), cause)

        return child, cancel

    def __repr__(self) -> str:
        err = self._owner()._err
        state = "live" if err is None else type(err).__name__
        return f"<Context {state} deadline={self.deadline()!r}>"


def _noop() -> None:
    return None


_BACKGROUND = Context(None, None, None, None)


def background() -> Context:
    """The root context: never cancelled, no deadline, no values (Go's ``Background``)."""
    return _BACKGROUND


def with_cancel(parent: Context) -> tuple[Context, CancelFunc]:
    """A child that ends when ``cancel(cause=None)`` is called or when ``parent`` ends.

    Go's ``WithCancelCause``; call ``cancel`` when done with the child, or it stays
    registered with its parent until the parent ends.
    """
    return parent._child(None)


def with_deadline(parent: Context, when: float) -> tuple[Context, CancelFunc]:
    """A child that also ends, with ``DeadlineExceeded``, at ``when`` on ``anyio.current_time()``.

    The child's deadline is never later than the parent's. A ``when`` already past gives a
    child that has ended. NaN raises ``ValueError``.
    """
    if math.isnan(when):
        raise ValueError("with_deadline: when must not be NaN")
    return parent._child(when)


def with_timeout(parent: Context, seconds: float) -> tuple[Context, CancelFunc]:
    """``with_deadline(parent, anyio.current_time() + seconds)``; needs a running event loop."""
    return with_deadline(parent, anyio.current_time() + seconds)


def with_value(parent: Context, key: Hashable, value: Any) -> Context:
    """A child carrying ``key -> value``; it ends exactly when ``parent`` does.

    ``key`` must not be None (``TypeError``). Go recommends a private key type to avoid
    collisions; any hashable works here, and a private ``object()`` is the collision-free one.
    """
    if key is None:
        raise TypeError("with_value: key must not be None")
    return Context(parent, None, key, value)


def after_func(ctx: Context, fn: Callable[[], Any]) -> Callable[[], bool]:
    """Run ``fn()`` once, in its own task, after ``ctx`` ends (Go's ``context.AfterFunc``).

    ``fn`` may be a plain or an async function; an exception it raises is logged. Returns
    ``stop()``: True if it stopped ``fn`` from running, False if ``ctx`` has ended (``fn`` has
    started or is about to) or ``stop`` was called before. A context that can never end
    (``background()``) starts no task and never runs ``fn``. Needs a running event loop.
    """
    pending = True  # neither started nor stopped

    async def watch() -> None:
        nonlocal pending
        await ctx.wait()
        if pending:
            pending = False
            result = fn()
            if inspect.isawaitable(result):
                await result

    task = spawn(watch, name="aiomq.after_func") if ctx._can_end() else None

    def stop() -> bool:
        nonlocal pending
        # Once ctx has ended fn is committed to run, as in Go where cancel starts it.
        if not pending or ctx.err() is not None:
            return False
        pending = False
        if task is not None:
            task.cancel()
        return True

    return stop
