"""What only the Kafka backend has: its settings, security, closing, the fetch pool.

Everything here runs against the session's real broker (``kafka`` marker), except the
error-mapping checks; test_kafka_failover.py has what needs the three-node cluster
(``producer.timeout`` among it: one broker always meets ``acks=all``), test_kafka_faults.py
what needs a broker that dies. Closing is checked by what it leaves: no task of aiomq or
aiokafka still running and no socket still open in the process (/proc/self/fd), also when
the close itself is cancelled. A test holds a connection half-way by wrapping aiokafka's
``connect`` (the broker still answers everything); a silent broker is a listening socket
that never accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
import pytest_asyncio
from aiokafka.conn import AIOKafkaConnection

from aiomq.backends import CommittedOffset, ProduceResult, backend_from_url
from aiomq.backends.kafka._errors import translate
from aiomq.backends.kafka._pool import MAX_IDLE
from aiomq.client import Client, connect
from aiomq.config import Acks, Config, SaslConfig, SaslMechanism, TlsConfig
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


def open_sockets() -> int:
    """How many sockets this process has open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the directory's own descriptor, closed since
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def library_tasks() -> set[asyncio.Task[Any]]:
    """The running tasks of aiomq or aiokafka (tests' own tasks are not counted)."""
    found = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        where = code.co_filename if code is not None else ""
        if not task.done() and ("/aiokafka/" in where or "/aiomq/" in where):
            found.add(task)
    return found


def short(*, idempotent: bool = False) -> Config:
    """Timeouts short enough that an unbounded wait shows within a test."""
    config = Config()
    config.net.request_timeout = 5.0
    config.producer.timeout = 5.0
    config.producer.required_acks = Acks.ALL
    config.producer.idempotent = idempotent
    return config


@contextlib.contextmanager
def silent_broker() -> Iterator[tuple[int, asyncio.Event]]:
    """A port that accepts TCP connections (in the kernel's backlog) and never answers.

    Yields the port and an event set once a client connection is waiting in the backlog.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    reached = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(listener.fileno(), reached.set)
    try:
        yield listener.getsockname()[1], reached
    finally:
        loop.remove_reader(listener.fileno())
        listener.close()


@pytest.mark.kafka
class TestClosing:
    """aclose() ends every call in flight, finishes when cancelled, and leaves nothing."""

    async def test_close_ends_open_connecting_to_a_silent_broker(self) -> None:
        before, tasks = open_sockets(), library_tasks()
        config = short()
        config.net.request_timeout = 30.0  # open() would wait this long for an answer
        with silent_broker() as (port, reached):
            backend = backend_from_url(f"kafka://127.0.0.1:{port}", config)
            opening = asyncio.ensure_future(backend.open())
            with anyio.fail_after(5):
                await reached.wait()
            with anyio.fail_after(2):
                await backend.aclose()
            with anyio.fail_after(2), pytest.raises(ClosedError):
                await opening
        assert library_tasks() == tasks
        assert open_sockets() == before

    async def test_a_connect_that_ends_after_close_is_closed(
        self, kafka_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before, tasks = open_sockets(), library_tasks()
        hold = Hold(monkeypatch, AIOKafkaConnection, "connect")
        backend = backend_from_url(kafka_url, short())
        opening = asyncio.ensure_future(backend.open())
        await hold.reached.wait()  # connected, not yet handed over
        closing = asyncio.ensure_future(backend.aclose())
        hold.release.set()
        with anyio.fail_after(2), pytest.raises(ClosedError):
            await opening
        with anyio.fail_after(2):
            await closing
        assert library_tasks() == tasks
        assert open_sockets() == before
        with pytest.raises(ClosedError):
            await backend.open()

    @pytest.mark.parametrize("calls", [3, 200])
    @pytest.mark.parametrize("idempotent", [False, True])
    async def test_close_ends_every_produce_in_flight(
        self, kafka_url: str, other: Client, topic: str, calls: int, idempotent: bool
    ) -> None:
        await other.admin().create_topic(topic)
        tasks = library_tasks()
        backend = backend_from_url(kafka_url, short(idempotent=idempotent))
        await backend.produce(topic, 0, values(1))  # connected, leader known
        producing = [
            asyncio.ensure_future(backend.produce(topic, 0, values(1))) for _ in range(calls)
        ]
        await asyncio.sleep(0)  # every call has written its request (or waits for a turn)
        with anyio.fail_after(2):
            await backend.aclose()
        # Each call ends: with its result, or ClosedError; none waits on.
        with anyio.fail_after(2):
            results = await asyncio.gather(*producing, return_exceptions=True)
        assert [r for r in results if not isinstance(r, ProduceResult | ClosedError)] == []
        assert library_tasks() == tasks

    async def test_a_cancelled_close_still_closes_everything(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        before, tasks = open_sockets(), library_tasks()
        backend = backend_from_url(kafka_url, short(idempotent=True))
        await backend.produce(topic, 0, values(1))
        await backend.fetch(topic, 0, 0, max_wait=0)
        await backend.commit_offsets(f"g-{topic}", {(topic, 0): CommittedOffset(1)})
        errors: list[BaseException] = []

        async def long_poll() -> None:
            try:
                await backend.fetch(topic, 0, 1, max_wait=20)
            except ClosedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_poll)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0) as scope:  # cancelled at its first wait
                await backend.aclose()
            assert scope.cancelled_caught
            assert library_tasks() == tasks
            assert open_sockets() == before
        assert len(errors) == 1
        with anyio.fail_after(1):
            await backend.aclose()  # already closed: returns at once

    async def test_a_close_cancelled_before_it_ran_is_completed_by_the_next(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        before, tasks = open_sockets(), library_tasks()
        backend = backend_from_url(kafka_url, short(idempotent=True))
        await backend.produce(topic, 0, values(1))
        closing = asyncio.ensure_future(backend.aclose())
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        with anyio.fail_after(2):
            await backend.aclose()
        assert library_tasks() == tasks
        assert open_sockets() == before
        with pytest.raises(ClosedError):
            await backend.produce(topic, 0, values(1))


@pytest.mark.kafka
class TestFetchPool:
    async def test_idle_fetch_connections_are_bounded(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        before, tasks = open_sockets(), library_tasks()
        async with connect(kafka_url, short()) as client:
            await client.partitions(topic)
            with anyio.fail_after(30):
                # 500 long polls at once: each needs a connection of its own.
                await asyncio.gather(
                    *(client.backend.fetch(topic, 0, 0, max_wait=1.0) for _ in range(500))
                )
            # A few idle ones are kept for the next fetches, the rest closed: at most
            # MAX_IDLE fetch connections and the shared request connection stay open.
            assert open_sockets() - before <= MAX_IDLE + 1
            result = await client.backend.fetch(topic, 0, 0, max_wait=0)
            assert result.records == []
        assert open_sockets() == before
        assert library_tasks() == tasks
