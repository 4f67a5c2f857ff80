"""Shared test configuration: concurrency tests run on asyncio and trio (anyio's plugin)."""

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
