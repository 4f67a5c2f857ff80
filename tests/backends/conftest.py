"""Fixtures of the backend contract suite: one client per backend URL, fresh topics.

``backend_url`` gives ``memory://<fresh name>`` and, for tests selected with the ``kafka``
marker, ``kafka://<session broker>`` (see ``common.backend_urls``). Tests are asyncio-only
(pytest-asyncio, strict mode).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aiomq.client import Client, connect
from tests.backends.common import BACKENDS, backend_urls


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL per backend; each memory test gets its own named broker."""
    yield from backend_urls(request, "contract")


@pytest_asyncio.fixture
async def client(backend_url: str) -> AsyncIterator[Client]:
    """An open client on ``backend_url``."""
    async with connect(backend_url) as opened:
        yield opened


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name, unique in the session (Kafka topics outlive a test)."""
    return f"t-{uuid.uuid4().hex[:16]}"
