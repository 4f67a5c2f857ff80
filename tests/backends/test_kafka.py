"""What only the Kafka backend has: its settings, security, and closing while it connects.

Everything here runs against the session's real broker (``kafka`` marker), except the
error-mapping checks; test_kafka_failover.py has what needs the three-node cluster
(``producer.timeout`` among it: one broker always meets ``acks=all``). The closing tests
hold a real aiokafka object at a chosen point by wrapping one of its methods (the broker
still answers everything): no broker offers a way to pause a connection half-way.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient

from aiomq.backends import LATEST, backend_from_url
from aiomq.backends._kafka_errors import translate
from aiomq.client import Client, connect
from aiomq.config import Config, SaslConfig, SaslMechanism, TlsConfig
from aiomq.errors import AuthenticationError, BrokerUnavailable, ClosedError, UnknownTopic
from aiomq.testing import KafkaSecurity
from tests.backends.common import VALUE, kafka_bootstrap, values

pytestmark = pytest.mark.asyncio


@pytest.fixture
def kafka_url(request: pytest.FixtureRequest) -> str:
    return f"kafka://{kafka_bootstrap(request)}"


@pytest.fixture
def topic() -> str:
    return f"k-{uuid.uuid4().hex[:16]}"


@pytest_asyncio.fixture
async def other(kafka_url: str) -> AsyncIterator[Client]:
    """A second client on the same broker, to look at (or change) it from outside."""
    async with connect(kafka_url) as opened:
        yield opened


class Hold:
    """Holds the first call of a method just after it returned, until ``release`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        real: Callable[..., Awaitable[Any]] = getattr(cls, name)
        hold = self

        async def held(obj: Any, *args: Any, **kwargs: Any) -> Any:
            result = await real(obj, *args, **kwargs)
            if not hold.reached.is_set():
                hold.reached.set()
                await hold.release.wait()
            return result

        monkeypatch.setattr(cls, name, held)


def calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[Any]:
    """The objects ``cls.name`` is called on from now on (the real method still runs)."""
    seen: list[Any] = []
    real: Callable[..., Awaitable[Any]] = getattr(cls, name)

    async def spy(obj: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(obj)
        return await real(obj, *args, **kwargs)

    monkeypatch.setattr(cls, name, spy)
    return seen


class TestErrorMapping:
    async def test_tls_failures_are_authentication_errors(self) -> None:
        refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
        assert isinstance(translate(refused), AuthenticationError)
        assert isinstance(translate(ssl.SSLError(1, "WRONG_VERSION_NUMBER")), AuthenticationError)

    async def test_a_cut_connection_is_broker_unavailable(self) -> None:
        assert isinstance(translate(ssl.SSLEOFError(8, "EOF")), BrokerUnavailable)
        assert isinstance(translate(ConnectionRefusedError()), BrokerUnavailable)


@pytest.mark.kafka
class TestSettings:
    async def test_a_short_request_timeout_still_long_polls(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        config = Config()
        config.net.request_timeout = 1.0
        async with connect(kafka_url, config) as client:
            start = time.monotonic()
            result = await client.backend.fetch(topic, 0, 0, max_wait=5.0)
            elapsed = time.monotonic() - start
        assert result.records == []
        # Held by the broker for half the request timeout; not answered at once, which would
        # make a consumer poll in a busy loop.
        assert 0.4 <= elapsed < 1.0

    async def test_no_auto_create_holds_for_the_producer_too(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        config = Config()
        config.producer.timeout = 2.0
        async with connect(f"{kafka_url}?auto_create_topics=false", config) as client:
            await client.admin().create_topic(topic)
            await client.backend.produce(topic, 0, values(1))
            await other.admin().delete_topic(topic)  # behind this client's back
            # The producer's retry asks for fresh metadata; it must not bring the topic back.
            with pytest.raises(UnknownTopic):
                await client.backend.produce(topic, 0, values(1))
        assert topic not in await other.admin().list_topics()

    async def test_partitions_auto_creates_a_topic(self, other: Client, topic: str) -> None:
        # Kafka answers the request that creates a topic with UNKNOWN_TOPIC_OR_PARTITION.
        assert await other.partitions(topic) == [0]
        assert topic in await other.admin().list_topics()


@pytest.mark.kafka
class TestSecurity:
    async def test_sasl_over_tls_round_trip(
        self, aiomq_kafka_security: KafkaSecurity, topic: str
    ) -> None:
        security = aiomq_kafka_security
        config = Config()
        config.net.sasl = SaslConfig(
            SaslMechanism.SCRAM_SHA_512, security.username, security.password
        )
        config.net.tls = TlsConfig(enable=True, context=security.ssl_context())
        async with connect(f"kafka://{security.sasl_ssl}", config) as client:
            await client.admin().create_topic(topic)
            await client.backend.produce(topic, 0, values(2))
            result = await client.backend.fetch(topic, 0, 0, max_wait=10)
        assert [r[VALUE] for r in result.records] == [b"v0", b"v1"]

    @pytest.mark.parametrize("mechanism", list(SaslMechanism))
    async def test_a_wrong_password_is_an_authentication_error(
        self, aiomq_kafka_security: KafkaSecurity, mechanism: SaslMechanism
    ) -> None:
        config = Config()
        config.net.sasl = SaslConfig(mechanism, aiomq_kafka_security.username, "wrong")
        with pytest.raises(AuthenticationError):
            await connect(f"kafka://{aiomq_kafka_security.sasl_plaintext}", config)

    async def test_an_untrusted_broker_is_an_authentication_error(
        self, aiomq_kafka_security: KafkaSecurity
    ) -> None:
        config = Config()
        config.net.tls = TlsConfig(enable=True, context=ssl.create_default_context())
        with pytest.raises(AuthenticationError, match="CERTIFICATE_VERIFY_FAILED"):
            await connect(f"kafka://{aiomq_kafka_security.ssl}", config)


@pytest.mark.kafka
class TestClosingWhileStarting:
    """aclose() while an aiokafka object is still starting: it is closed, never kept."""

    async def test_a_bootstrap_that_ends_after_close(
        self, kafka_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hold = Hold(monkeypatch, AIOKafkaClient, "bootstrap")
        closed = calls(monkeypatch, AIOKafkaClient, "close")
        backend = backend_from_url(kafka_url, Config())
        opening = asyncio.ensure_future(backend.open())
        await hold.reached.wait()
        await backend.aclose()
        hold.release.set()
        with pytest.raises(ClosedError):
            await opening
        assert len(closed) == 1
        with pytest.raises(ClosedError):
            await backend.open()

    async def test_a_producer_that_starts_after_close(
        self, kafka_url: str, other: Client, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await other.admin().create_topic(topic)
        backend = backend_from_url(kafka_url, Config())
        await backend.partitions(topic)  # connected, leaders known: next comes the producer
        hold = Hold(monkeypatch, AIOKafkaProducer, "start")
        stopped = calls(monkeypatch, AIOKafkaProducer, "stop")
        producing = asyncio.ensure_future(backend.produce(topic, 0, values(1)))
        await hold.reached.wait()
        await backend.aclose()
        hold.release.set()
        with pytest.raises(ClosedError):
            await producing
        assert len(stopped) == 1
        assert await other.backend.list_offsets(topic, {0: LATEST}) == {0: 0}

    async def test_an_admin_that_starts_after_close(
        self, kafka_url: str, other: Client, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        backend = backend_from_url(kafka_url, Config())
        await backend.open()
        hold = Hold(monkeypatch, AIOKafkaAdminClient, "start")
        closed = calls(monkeypatch, AIOKafkaAdminClient, "close")
        creating = asyncio.ensure_future(backend.create_topic(topic, replication=1))
        await hold.reached.wait()
        await backend.aclose()
        hold.release.set()
        with pytest.raises(ClosedError):
            await creating
        assert len(closed) == 1
        assert topic not in await other.admin().list_topics()
