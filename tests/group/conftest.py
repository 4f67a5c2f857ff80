"""Group tests: the pure ones need no broker; those marked ``kafka`` run on the session broker or
compare with Kafka's Java client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from aiomq.backends.memory import broker
from aiomq.config import GroupProtocol
from tests.backends.common import BACKENDS, backend_urls
from tests.java import java, kafka_libs  # noqa: F401  (the Java reference fixtures)


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """memory:// and, marked kafka, the session broker. The memory broker's group timings
    are the test Kafka broker's or shorter: the classic minimum session timeout lowered from
    Kafka's 6 s so that session expiry takes a second, and under the consumer protocol a 1 s
    session and a 0.1 s heartbeat interval (Kafka's defaults: 45 s and 5 s; the test Kafka
    broker's: 6 s and 0.5 s)."""
    for url in backend_urls(request, "group"):
        if url.startswith("memory://"):
            memory = broker(url.removeprefix("memory://"))
            memory.groups_coordinator.min_session_timeout = 0.1
            memory.consumer_coordinator.consumer_session_timeout = 1.0
            memory.consumer_coordinator.consumer_heartbeat_interval = 0.1
        yield url


BOTH_PROTOCOLS = pytest.mark.parametrize(
    "protocol", [GroupProtocol.CLASSIC, GroupProtocol.CONSUMER], ids=str, indirect=True
)
"""Run a test over the classic group protocol and the consumer protocol (KIP-848)."""


@pytest.fixture
def protocol(request: pytest.FixtureRequest) -> GroupProtocol:
    """The group protocol of a test's members: ``AUTO`` (what users get by default: the
    consumer protocol on memory:// and Kafka 4) unless the test runs ``BOTH_PROTOCOLS``."""
    return cast(GroupProtocol, getattr(request, "param", GroupProtocol.AUTO))
