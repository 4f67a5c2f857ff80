"""Group tests: the pure ones need no broker; those marked ``kafka`` run on the session broker or
compare with Kafka's Java client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiomq.backends.memory import broker
from tests.backends.common import BACKENDS, backend_urls
from tests.java import java, kafka_libs  # noqa: F401  (the Java reference fixtures)


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """memory:// (its broker's minimum session timeout lowered from Kafka's 6 s, so session
    expiry takes a second) and, marked kafka, the session broker."""
    for url in backend_urls(request, "group"):
        if url.startswith("memory://"):
            broker(url.removeprefix("memory://")).groups_coordinator.min_session_timeout = 0.1
        yield url
