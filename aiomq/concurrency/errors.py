"""The errors of the concurrency toolkit, and ``AiomqError``, the base of every aiomq error.

Go reports errors as values (``ctx.Err()``, ``err != nil``); aiomq raises these instead.
``Canceled`` and ``DeadlineExceeded`` are plain exceptions, never ``CancelledError``: they are
what a context *says*, while task cancellation stays the event loop's business. The messaging
errors (``aiomq.errors``) derive from the same ``AiomqError``.
"""

from __future__ import annotations

__all__ = ["AiomqError", "Canceled", "ChanClosed", "DeadlineExceeded"]


class AiomqError(Exception):
    """Base class of every error aiomq raises on purpose."""


class Canceled(AiomqError):
    """A context was cancelled (Go's ``context.Canceled``)."""

    def __init__(self, message: str = "context canceled") -> None:
        super().__init__(message)


class DeadlineExceeded(AiomqError, TimeoutError):
    """A context's deadline passed (Go's ``context.DeadlineExceeded``).

    It is also a ``TimeoutError``, so ``except TimeoutError`` catches it.
    """

    def __init__(self, message: str = "context deadline exceeded") -> None:
        super().__init__(message)


class ChanClosed(AiomqError):
    """Send on a closed channel, a second close, or a receive from a closed, drained channel.

    Go panics on the first two and returns the zero value for the third.
    """
