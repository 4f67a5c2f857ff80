"""Waiting for a broker's state that no event announces (a commit marker landing, a session
expiring on Kafka): ask again until the answer is right, within a bound.

Only for state outside the test's process; anything the test can observe as it happens is
awaited on an event instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["until"]


async def until(check: Callable[[], Awaitable[bool]], seconds: float, every: float = 0.05) -> None:
    """Return once ``await check()`` is true; fail the test (``TimeoutError``) after
    ``seconds``."""
    with anyio.fail_after(seconds):
        while not await check():  # noqa: ASYNC110  (the broker offers nothing to wait on)
            await anyio.sleep(every)
