"""Producer tests run on ``memory://`` and, marked ``kafka``, on the session's broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

import pytest
import pytest_asyncio

from aiomq.backends.base import Backend, ProduceRecord, ProduceResult
from aiomq.client import Client, connect
from aiomq.config import Config
from tests.backends.common import BACKENDS, backend_urls
from tests.java import java, kafka_libs  # noqa: F401  (the Java reference fixtures)


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from backend_urls(request, "producer")


@pytest.fixture
def config() -> Config:
    """The client's config; a test changes it before ``client`` connects."""
    return Config()


@pytest_asyncio.fixture
async def client(backend_url: str, config: Config) -> AsyncIterator[Client]:
    async with connect(backend_url, config) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"p-{uuid.uuid4().hex[:16]}"


class Gate:
    """Wraps a client's backend: counts produce calls and can hold them until opened."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.calls: list[tuple[str, int, int]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.entered = asyncio.Event()

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        self.calls.append((topic, partition, len(records)))
        self.entered.set()
        await self.open.wait()
        return await self.backend.produce(topic, partition, records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def gate(client: Client) -> Gate:
    """Put a ``Gate`` between ``client`` and its backend and return it."""
    wrapped = Gate(client.backend)
    client._session.backend = cast(Backend, wrapped)
    return wrapped
