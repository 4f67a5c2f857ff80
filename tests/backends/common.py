"""What the backend tests share: record builders, the fields of a Record, the backend URLs,
and the few steps many tests take (create a topic, fetch n records, delete old records).

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
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import TopicPartition

from aiomq.backends import MemoryBackend, ProduceRecord, Record, drop_broker
from aiomq.client import Client
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


LONG_WAIT = 20.0  # a fetch that returns well before this was woken, not timed out


async def fetch_all(
    client: Client, topic: str, partition: int, offset: int, n: int
) -> list[Record]:
    """Fetch until ``n`` records from ``offset`` arrived (a fetch may return fewer)."""
    out: list[Record] = []
    while len(out) < n:
        result = await client.backend.fetch(topic, partition, offset, max_wait=LONG_WAIT)
        assert result.records, "a long poll returned nothing although records exist"
        out.extend(result.records)
        offset = result.next_offset
    return out


async def create(
    client: Client, topic: str, partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, partitions, config=config)


async def delete_records_before(client: Client, topic: str, offset: int) -> None:
    """Move partition 0's log start up to ``offset``, as retention would.

    Kafka: a DeleteRecords request (retention itself runs on whole segments every few
    minutes). In process: a retention limit that keeps the records from ``offset`` on, which
    applies at the next append.
    """
    backend = client.backend
    if isinstance(backend, MemoryBackend):
        mem = backend.broker
        _, end = mem.offsets(topic, 0)
        mem.retention_records = end - offset
        await backend.produce(topic, 0, [])
        mem.retention_records = None
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=client.url.removeprefix("kafka://"))
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(offset)})
    finally:
        await admin.close()
