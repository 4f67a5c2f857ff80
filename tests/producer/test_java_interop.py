"""aiomq and Kafka's own Java client read each other's records, in every compression.

Kafka only: the Java programs (tests/java) run against the session broker.
"""

from __future__ import annotations

import uuid

import anyio
import pytest

from aiomq.client import connect
from aiomq.config import Compression, Config
from aiomq.message import now_ms
from tests.backends.common import kafka_bootstrap
from tests.java import Java
from tests.producer.test_sync_producer import create, read

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(180)]

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    return kafka_bootstrap(request)


@pytest.mark.parametrize("compression", CODECS)
async def test_aiomq_reads_what_java_wrote(
    java: Java,
    bootstrap: str,
    compression: str,
) -> None:
    topic = f"java-{compression}-{uuid.uuid4().hex[:8]}"
    async with connect(f"kafka://{bootstrap}") as client:
        await create(client, topic, 2)
        out = await anyio.to_thread.run_sync(
            lambda: java.run("Produce", bootstrap, topic, "20", compression)
        )
        sent, count, _, base = out.split()
        assert (sent, count) == ("sent", "20"), out
        records = await read(client, topic, 0, 10)
    assert [(r[0], r[2], r[3]) for r in records] == [
        (i, b"k%d" % (2 * i), b"v%d" % (2 * i)) for i in range(10)
    ]
    assert [r[1] for r in records] == [int(base) + 2 * i for i in range(10)]
    assert all(r[4] == (("h", b"x"), ("n", None)) for r in records)  # a null value stays null


@pytest.mark.parametrize("compression", CODECS)
async def test_java_reads_what_aiomq_wrote(
    java: Java,
    bootstrap: str,
    compression: str,
) -> None:
    topic = f"aiomq-{compression}-{uuid.uuid4().hex[:8]}"
    config = Config()
    config.producer.compression = Compression(compression)
    # Recent timestamps: records stamped in 1970 are past the topic's retention, and the
    # broker's retention check (every 5 minutes) may delete them before Java reads them.
    base = now_ms() - 60_000
    async with connect(f"kafka://{bootstrap}", config) as client:
        await create(client, topic, 1)
        async with client.sync_producer() as producer:
            for i in range(20):
                await producer.send(
                    topic,
                    b"v%d" % i,
                    key=b"k%d" % i,
                    headers={"h": b"x", "n": None},
                    timestamp=base + i,
                )
    out = await anyio.to_thread.run_sync(
        # It ends as soon as it read 20; the bound is for a JVM slow to start on a busy machine.
        lambda: java.run("Consume", bootstrap, topic, "read_uncommitted", "20", "90", timeout=120)
    )
    lines = out.split()
    rows = [line.split(" ") for line in out.strip().splitlines()]
    assert [(int(r[1]), r[2], r[3], int(r[4]), r[5]) for r in rows] == [
        (i, f"k{i}", f"v{i}", base + i, "h,n=null,") for i in range(20)
    ], lines
