"""Consumer tests run on ``memory://`` and, marked ``kafka``, on the session's broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, cast

import pytest
import pytest_asyncio

from aiomq.backends.base import Backend, FetchResult
from aiomq.client import Client, connect
from aiomq.config import Config
from tests.backends.common import BACKENDS, backend_urls


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from backend_urls(request, "consumer")


@pytest.fixture
def config() -> Config:
    """The client's config; a test changes it before ``client`` connects. Short long polls
    keep a paused or closed consumer's last fetch short."""
    cfg = Config()
    cfg.consumer.max_wait = 0.1
    return cfg


@pytest_asyncio.fixture
async def client(backend_url: str, config: Config) -> AsyncIterator[Client]:
    async with connect(backend_url, config) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"c-{uuid.uuid4().hex[:16]}"


class Tap:
    """Wraps a client's backend: counts the fetches started and answered (each fetch passes
    a checkpoint first, as one over a network does), and fails ``list_offsets`` with the
    errors put in ``failures``, one call each."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.started = 0
        self.answered = 0
        self.changed = asyncio.Event()
        self.failures: list[Exception] = []

    async def fetch(self, *args: Any, **kwargs: Any) -> FetchResult:
        self.started += 1
        self.changed.set()
        try:
            await asyncio.sleep(0)
            return await self.backend.fetch(*args, **kwargs)
        finally:
            self.answered += 1
            self.changed.set()

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        if self.failures:
            raise self.failures.pop(0)
        return await self.backend.list_offsets(topic, specs)

    async def wait_answered(self, count: int) -> None:
        """Wait until at least ``count`` fetches have been answered."""
        while self.answered < count:
            self.changed.clear()
            await self.changed.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def tap(client: Client) -> Tap:
    """Put a ``Tap`` between ``client`` and its backend and return it."""
    wrapped = Tap(client.backend)
    client._session.backend = cast(Backend, wrapped)
    return wrapped


def consumer_tasks() -> set[asyncio.Task[Any]]:
    """The tasks of aiomq's consumers still alive in this event loop."""
    names = ("PartitionConsumer.", "TopicStream.")
    return {
        task
        for task in asyncio.all_tasks()
        if not task.done() and getattr(task.get_coro(), "__qualname__", "").startswith(names)
    }
