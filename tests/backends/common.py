"""What the backend tests share: record builders, the fields of a Record, the backend URLs.

``backend_url`` fixtures (here in conftest.py, and in tests/test_admin.py) are thin wrappers
around ``backend_urls``: ``memory://<fresh name>`` and, for tests selected with the ``kafka``
marker, ``kafka://<session broker>`` from the ``aiomq_kafka`` fixture of aiomq's pytest
plugin, or ``AIOMQ_KAFKA_BOOTSTRAP`` when set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Final

import pytest

from aiomq.backends import ProduceRecord, drop_broker
from aiomq.message import Headers

# The fields of a fetched Record (Final, so mypy types each index).
OFFSET: Final = 0
TIMESTAMP: Final = 1
KEY: Final = 2
VALUE: Final = 3
HEADERS: Final = 4

BACKENDS = ["memory", pytest.param("kafka", marks=pytest.mark.kafka)]
"""``params`` of a ``backend_url`` fixture: every test runs on each backend."""


def rec(
    key: bytes | None, value: bytes | None, headers: Headers = (), timestamp: int | None = None
) -> ProduceRecord:
    """One record for ``Backend.produce``."""
    return (key, value, headers, timestamp)


def values(n: int, start: int = 0, size: int = 0) -> list[ProduceRecord]:
    """``n`` key-less records ``b"v<i>"`` (padded with ``size`` dots), ``i`` from ``start``."""
    pad = b"." * size
    return [rec(None, b"v%d" % i + pad) for i in range(start, start + n)]


def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """``AIOMQ_KAFKA_BOOTSTRAP``, else the session broker of aiomq's plugin (started on use)."""
    env = os.environ.get("AIOMQ_KAFKA_BOOTSTRAP")
    if env:
        return env
    try:
        kafka = request.getfixturevalue("aiomq_kafka")
    except pytest.FixtureLookupError:
        pytest.skip("no Kafka broker: set AIOMQ_KAFKA_BOOTSTRAP or install aiomq's plugin")
    return str(kafka.bootstrap)


def backend_urls(request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """The body of a ``backend_url`` fixture parametrized with ``BACKENDS``.

    Each memory test gets its own named broker, dropped afterwards.
    """
    if request.param == "memory":
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        yield f"memory://{name}"
        drop_broker(name)
    else:
        yield f"kafka://{kafka_bootstrap(request)}"
