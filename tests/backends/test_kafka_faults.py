"""The Kafka backend against a broker that dies: every operation fails within its own bound.

A dead broker is one that answered and is then gone (its port refuses connections). A real
one cannot be killed under the session's other tests, so this is a fake broker on a local
port, speaking just enough of Kafka's protocol with aiokafka's own structs: ApiVersions,
Metadata (one topic ``t`` of one partition, led by the fake itself) and Produce. Once it
answered, it is killed; then produce must fail within ``producer.timeout``, fetch within
its wait plus ``net.request_timeout``, metadata within ``net.request_timeout``, each with
``BrokerUnavailable`` saying the connection was refused (not a metadata time-out).

Arguments the wire cannot hold are refused before any I/O: against a port that refuses
connections, each bad call raises the ``ConfigError`` naming the argument (or
``MessageTooLarge``), never ``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from io import BytesIO
from typing import Any

import anyio
import pytest
import pytest_asyncio
from aiokafka.protocol.admin import ApiVersionResponse_v0
from aiokafka.protocol.metadata import MetadataResponse_v1
from aiokafka.protocol.produce import ProduceRequest_v5, ProduceResponse_v5

from aiomq.backends import LATEST, Backend, CommittedOffset, backend_from_url
from aiomq.config import Acks, Config
from aiomq.errors import BrokerUnavailable, ConfigError, MessageTooLarge
from tests.backends.common import values

pytestmark = pytest.mark.asyncio

TOPIC = "t"
NODE = 1
REQUEST_TIMEOUT = 3.0
PRODUCER_TIMEOUT = 1.5
MAX_WAIT = 0.5
SLACK = 0.5  # scheduling, and the last retry's backoff


class FakeBroker:
    """A one-node "cluster" that answers ApiVersions, Metadata and Produce, until killed."""

    VERSIONS = ((0, 3, 5), (1, 4, 4), (2, 1, 1), (3, 1, 1), (18, 0, 0))  # key, min, max

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._offset = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def kill(self) -> None:
        """Stop listening and cut every connection, as a killed process does."""
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                frame = BytesIO(await reader.readexactly(size))
                key, version, correlation, client_length = struct.unpack(">hhih", frame.read(10))
                frame.read(max(client_length, 0))
                body = self._answer(key, version, frame)
                payload = struct.pack(">i", correlation) + body
                writer.write(struct.pack(">i", len(payload)) + payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, key: int, version: int, frame: BytesIO) -> bytes:
        if key == 18:
            return bytes(ApiVersionResponse_v0(0, list(self.VERSIONS)).encode())
        if key == 3:
            brokers = [(NODE, "127.0.0.1", self.port, None)]
            topics = [(0, TOPIC, False, [(0, 0, NODE, [NODE], [NODE])])]
            return bytes(MetadataResponse_v1(brokers, NODE, topics).encode())
        if key == 0:
            request = ProduceRequest_v5.decode(frame)
            answers = []
            for topic, partitions in request.topics:
                parts = [(partition, 0, self._offset, -1, 0) for partition, _ in partitions]
                answers.append((topic, parts))
            self._offset += 1
            return bytes(ProduceResponse_v5(answers, 0).encode())
        raise AssertionError(f"the fake broker does not speak API {key} v{version}")


@pytest_asyncio.fixture
async def dead() -> AsyncIterator[Backend]:
    """A backend that bootstrapped, learnt ``t``'s leader and produced, before its broker died."""
    fake = FakeBroker()
    await fake.start()
    config = Config()
    config.net.request_timeout = REQUEST_TIMEOUT
    config.producer.timeout = PRODUCER_TIMEOUT
    config.producer.idempotent = False  # idempotence needs acks=all
    config.producer.required_acks = Acks.LOCAL
    backend = backend_from_url(f"kafka://127.0.0.1:{fake.port}", config)
    try:
        assert await backend.partitions(TOPIC) == [0]
        assert list((await backend.produce(TOPIC, 0, values(1))).offsets) == [0]
        await fake.kill()
        yield backend
    finally:
        with anyio.fail_after(5):
            await backend.aclose()


async def fails_within(bound: float, call: Callable[[], Awaitable[Any]]) -> BrokerUnavailable:
    """The ``BrokerUnavailable`` ``call`` raises, checked to come within ``bound`` seconds."""
    start = time.monotonic()
    with anyio.fail_after(bound + 10), pytest.raises(BrokerUnavailable) as caught:
        await call()
    elapsed = time.monotonic() - start
    assert elapsed <= bound + SLACK, f"failed after {elapsed:.1f}s, bound {bound}s: {caught.value}"
    return caught.value


async def test_produce_fails_within_the_producer_timeout(dead: Backend) -> None:
    error = await fails_within(PRODUCER_TIMEOUT, lambda: dead.produce(TOPIC, 0, values(1)))
    assert "refused" in str(error) or "Connect call failed" in str(error), error


async def test_fetch_fails_within_its_wait_and_the_request_timeout(dead: Backend) -> None:
    error = await fails_within(
        MAX_WAIT + REQUEST_TIMEOUT, lambda: dead.fetch(TOPIC, 0, 0, max_wait=MAX_WAIT)
    )
    assert "refused" in str(error) or "Connect call failed" in str(error), error


@pytest.mark.parametrize(
    "operation",
    [
        lambda backend: backend.partitions(TOPIC),
        lambda backend: backend.describe_topic(TOPIC),
        lambda backend: backend.list_topics(),
        lambda backend: backend.list_offsets(TOPIC, {0: LATEST}),
    ],
    ids=["partitions", "describe_topic", "list_topics", "list_offsets"],
)
async def test_metadata_fails_within_the_request_timeout(
    dead: Backend, operation: Callable[[Backend], Awaitable[Any]]
) -> None:
    error = await fails_within(REQUEST_TIMEOUT, lambda: operation(dead))
    assert "refused" in str(error) or "Connect call failed" in str(error), error


async def test_an_idempotent_produce_fails_within_the_producer_timeout() -> None:
    # InitProducerId goes to the dead broker first: its failure is what the error says.
    fake = FakeBroker()
    await fake.start()
    config = Config()
    config.net.request_timeout = REQUEST_TIMEOUT
    config.producer.timeout = PRODUCER_TIMEOUT
    config.producer.required_acks = Acks.ALL
    config.producer.idempotent = True
    backend = backend_from_url(f"kafka://127.0.0.1:{fake.port}", config)
    try:
        assert await backend.partitions(TOPIC) == [0]
        await fake.kill()
        error = await fails_within(PRODUCER_TIMEOUT, lambda: backend.produce(TOPIC, 0, values(1)))
        assert "refused" in str(error) or "Connect call failed" in str(error), error
    finally:
        with anyio.fail_after(5):
            await backend.aclose()


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


LONG = "x" * 40_000  # more than the protocol's 32,767-byte strings

BAD_CALLS: list[tuple[str, str, Callable[[Backend], Awaitable[Any]]]] = [
    ("offset", "fetch at 2**63", lambda b: b.fetch(TOPIC, 0, 2**63, max_wait=0)),
    ("max_bytes", "fetch max_bytes=-1", lambda b: b.fetch(TOPIC, 0, 0, max_wait=0, max_bytes=-1)),
    (
        "max_records",
        "fetch max_records=0",
        lambda b: b.fetch(TOPIC, 0, 0, max_wait=0, max_records=0),
    ),
    ("partition", "fetch partition=True", lambda b: b.fetch(TOPIC, True, 0, max_wait=0)),
    (
        "offset",
        "commit 2**63",
        lambda b: b.commit_offsets("g", {(TOPIC, 0): CommittedOffset(2**63)}),
    ),
    (
        "group",
        "commit to a long group",
        lambda b: b.commit_offsets(LONG, {(TOPIC, 0): CommittedOffset(1)}),
    ),
    (
        "metadata",
        "commit long metadata",
        lambda b: b.commit_offsets("g", {(TOPIC, 0): CommittedOffset(1, LONG)}),
    ),
    ("group", "offsets of a long group", lambda b: b.committed_offsets(LONG, [(TOPIC, 0)])),
    ("timestamp", "list offsets at 2**63", lambda b: b.list_offsets(TOPIC, {0: 2**63})),
    ("topic", "partitions of a list", lambda b: b.partitions([TOPIC])),  # type: ignore[arg-type]
    ("value", "produce a str value", lambda b: b.produce(TOPIC, 0, [(None, "v", (), None)])),  # type: ignore[list-item]
    (
        "headers",
        "produce a bad header",
        lambda b: b.produce(TOPIC, 0, [(None, b"v", (("h", 1),), None)]),  # type: ignore[list-item]
    ),
    ("timestamp", "produce at 2**63", lambda b: b.produce(TOPIC, 0, [(None, b"v", (), 2**63)])),
    ("topic", "create an internal topic", lambda b: b.create_topic("__consumer_offsets")),
    ("topic", "delete an internal topic", lambda b: b.delete_topic("__consumer_offsets")),
    ("topic", "delete ''", lambda b: b.delete_topic("")),
    ("topic", "describe ''", lambda b: b.describe_topic("")),
]


@pytest.mark.parametrize(
    ("field", "call"), [(f, c) for f, _, c in BAD_CALLS], ids=[i for _, i, _ in BAD_CALLS]
)
async def test_bad_arguments_fail_before_any_io(
    field: str, call: Callable[[Backend], Awaitable[Any]]
) -> None:
    # The broker's port refuses connections: a check that came after the first request
    # would surface as BrokerUnavailable, not as the ConfigError naming the argument.
    backend = backend_from_url(f"kafka://127.0.0.1:{closed_port()}", Config())
    try:
        with anyio.fail_after(1), pytest.raises(ConfigError) as caught:
            await call(backend)
        assert caught.value.field == field
    finally:
        await backend.aclose()


async def test_a_record_too_large_for_the_producer_fails_before_any_io() -> None:
    backend = backend_from_url(f"kafka://127.0.0.1:{closed_port()}", Config())
    try:
        with anyio.fail_after(1), pytest.raises(MessageTooLarge):
            await backend.produce(TOPIC, 0, [*values(3), (None, b"x" * 2_000_000, (), None)])
    finally:
        await backend.aclose()
