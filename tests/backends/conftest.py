"""Fixtures of the backend contract suite: one client per backend URL, fresh topics.

``backend_url`` gives ``memory://<fresh name>`` and, for tests selected with the ``kafka``
marker, ``kafka://<session broker>`` from the ``aiomq_kafka`` fixture of aiomq's pytest
plugin (or ``AIOMQ_KAFKA_BOOTSTRAP`` when set). Tests are asyncio-only (pytest-asyncio,
strict mode).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aiomq.backends import drop_broker
from aiomq.client import Client, connect


def _kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    env = os.environ.get("AIOMQ_KAFKA_BOOTSTRAP")
    if env:
        return env
    try:
        kafka = request.getfixturevalue("aiomq_kafka")
    except pytest.FixtureLookupError:
        pytest.skip("no Kafka broker: set AIOMQ_KAFKA_BOOTSTRAP or install aiomq's plugin")
    return str(kafka.bootstrap)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL per backend; each memory test gets its own named broker."""
    if request.param == "memory":
        name = f"contract-{uuid.uuid4().hex[:12]}"
        yield f"memory://{name}"
        drop_broker(name)
    else:
        yield f"kafka://{_kafka_bootstrap(request)}"


@pytest_asyncio.fixture
async def client(backend_url: str) -> AsyncIterator[Client]:
    """An open client on ``backend_url``."""
    async with connect(backend_url) as opened:
        yield opened


@pytest.fixture
def topic_name() -> str:
    """A fresh topic name, unique in the session (Kafka topics outlive a test)."""
    return f"t-{uuid.uuid4().hex[:16]}"
