"""Shared test configuration: concurrency tests run on asyncio and trio (anyio's plugin), and
an async test marked ``fail_after(seconds)`` fails by name once it has run that long."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from typing import Any

import pytest

from tests.concurrency._helpers import bounded


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fail_after(seconds): an async test still running after this long is cancelled and "
        "fails, showing where it waited (pytest-timeout's limit is the backstop)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run a ``fail_after``-marked coroutine test inside ``bounded(seconds)``.

    pytest-timeout alone is not enough: its alarm interrupts the event loop, and the
    runner's teardown then waits for tasks that nobody cancelled, so the run hangs anyway.
    A cancellation inside the test lets every primitive unwind and the test fail by name.
    The wrapping happens here, before anyio's and pytest-asyncio's runners read the test.
    """
    marker = item.get_closest_marker("fail_after")
    test: Any = getattr(item, "obj", None)
    if (
        marker is None
        or not isinstance(item, pytest.Function)
        or not inspect.iscoroutinefunction(test)
        or hasattr(test, "hypothesis")  # bounded inside each example instead
    ):
        return (yield)
    seconds = float(marker.args[0])

    @functools.wraps(test)
    async def bounded_test(*args: Any, **kwargs: Any) -> Any:
        with bounded(seconds):
            return await test(*args, **kwargs)

    item.obj = bounded_test
    try:
        return (yield)
    finally:
        item.obj = test
