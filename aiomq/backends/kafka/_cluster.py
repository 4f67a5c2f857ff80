"""The cluster as the Kafka backend sees it: connections, metadata caches, the retry loop.

``Cluster`` owns every connection the backend opens (aiokafka's ``AIOKafkaConnection``, one
per broker for ordinary requests, one more per broker for coordinator requests, and the
fetch pool's), the broker map, and the leaders and group coordinators it looked up. It
keeps no background task: metadata is asked for when a request needs it or after one failed
for a stale entry, as sarama's ``RefreshMetadata`` and ``RefreshCoordinator`` do.

Every wait is bounded by a deadline on the event loop's clock: a metadata request or an
admin call by ``net.request_timeout``, a produce by ``producer.timeout`` (its metadata
look-ups included, so retries never add up), a fetch by its wait plus the request timeout.
Closing is synchronous first (every connection closed, every connect under way cancelled,
every pause woken) and then waits for sockets and tasks to end, shielded from cancellation,
so nothing outlives ``aclose()`` and in-flight calls end with ``ClosedError``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka.client import ConnectionGroup
from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.protocol.admin import DescribeConfigsRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.metadata import MetadataRequest

from ...config import Config
from ...errors import AuthenticationError, BrokerUnavailable, ClosedError, UnknownTopic
from ...message import validate_topic
from ._errors import (
    LEADER_NOT_AVAILABLE,
    RETRY_COORDINATOR,
    UNKNOWN_TOPIC,
    map_errors,
    raise_for_code,
)
from ._protocol import api_versions_request, finalized_features

__all__ = [
    "COORDINATION",
    "GROUP",
    "NO_LEADER",
    "TRANSACTION",
    "Cluster",
    "Retry",
    "connection_settings",
]

log = logging.getLogger("aiomq")

_T = TypeVar("_T")

NO_LEADER = -1
"""A partition's leader while it has none (Kafka's metadata says -1)."""

COORDINATION = ConnectionGroup.COORDINATION
"""Coordinator requests go on a connection of their own, never behind a produce."""

_BACKOFF = 0.05  # first retry pause; doubles up to _MAX_BACKOFF (Kafka's retry.backoff.ms)
_MAX_BACKOFF = 1.0
_CLOSE_BOUND = 5.0  # how long aclose() waits for sockets and tasks it has already ended
_BROKER_SETTINGS = (
    "auto.create.topics.enable",
    "default.replication.factor",
    "offset.metadata.max.bytes",
)
_BROKER_RESOURCE = 4  # DescribeConfigs resource type of a broker

GROUP = 0
"""FindCoordinator's key type of a consumer group."""

TRANSACTION = 1
"""FindCoordinator's key type of a transactional id."""


class Retry(Exception):
    """Raised inside an attempt: look up again, pause, try again (until the deadline)."""


def connection_settings(config: Config) -> dict[str, Any]:
    """aiokafka's connection keyword arguments for ``config`` (TLS, SASL, timeouts)."""
    net = config.net
    kwargs: dict[str, Any] = {
        "client_id": config.client_id,
        "request_timeout_ms": int(net.request_timeout * 1000),
    }
    tls, sasl = net.tls.enable, net.sasl.mechanism
    if tls:
        kwargs["ssl_context"] = net.tls.context or ssl.create_default_context()
    if sasl is not None:
        kwargs["sasl_mechanism"] = sasl.value
        kwargs["sasl_plain_username"] = net.sasl.username
        kwargs["sasl_plain_password"] = net.sasl.password
    kwargs["security_protocol"] = (
        ("SASL_SSL" if tls else "SASL_PLAINTEXT") if sasl else ("SSL" if tls else "PLAINTEXT")
    )
    return kwargs


def _wake(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Cluster:
    """Connections, broker map, leader and coordinator caches of one Kafka backend.

    Not thread-safe; one event loop. ``aclose()`` is idempotent; after it every method raises
    ``ClosedError``.
    """

    def __init__(self, hosts: Iterable[tuple[str, int]], config: Config, *, url: str) -> None:
        self.hosts = list(hosts)
        self.bootstrap_servers = ",".join(_address(h, p) for h, p in self.hosts)
        self.url = url
        self.request_timeout = config.net.request_timeout
        self._kwargs = connection_settings(config)
        self.closed = False
        self.brokers: dict[int, tuple[str, int]] = {}
        # A leader of NO_LEADER: the partition had none when last asked; leader() asks again.
        self.leaders: dict[str, list[int]] = {}
        self.coordinators: dict[tuple[int, str], int] = {}  # by (key type, key)
        self._settings: dict[str, str] | None = None  # of one broker, see broker_settings()
        self._booting: asyncio.Task[None] | None = None
        self._booted = False
        # Request connections, one per (broker, group), shared: requests pipeline on them.
        self._shared: dict[tuple[int, int], AIOKafkaConnection] = {}
        self._dialing: dict[tuple[int, int], asyncio.Task[AIOKafkaConnection]] = {}
        # Invariant: every connection made and not yet closed by us is in _live; every task
        # we started and that has not ended is in _tasks; _ending holds what closing
        # connections still wait for (their reader task, their socket's closing).
        self._live: set[AIOKafkaConnection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ending: set[asyncio.Future[Any]] = set()
        self._sleepers: set[asyncio.Future[None]] = set()  # see _sleep()
        self._asking: dict[tuple[tuple[str, ...] | None, bool], asyncio.Task[Any]] = {}

    def __repr__(self) -> str:
        return f"<Cluster {self.bootstrap_servers!r}{' closed' if self.closed else ''}>"

    # -- lifecycle -----------------------------------------------------------------------

    def closed_error(self) -> ClosedError:
        return ClosedError(f"backend {self.url!r} is closed")

    def check_open(self) -> None:
        """Raise ``ClosedError`` after ``aclose()``."""
        if self.closed:
            raise self.closed_error()

    def spawn(self, coro: Awaitable[_T]) -> asyncio.Task[_T]:
        """Run ``coro`` in a task of ours: ``aclose()`` cancels it and waits for its end.

        ``ClosedError`` after ``aclose()`` (``coro`` is then closed, never run).
        """
        if self.closed:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise self.closed_error()
        task: asyncio.Task[_T] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def join(self, task: asyncio.Future[_T], *, shared: bool) -> _T:
        """Await a task of ours; ``ClosedError`` if ``aclose()`` cancelled it.

        A shared task (one several callers wait for) is shielded from one caller's
        cancellation; a caller's own task is cancelled with it.
        """
        try:
            return await (asyncio.shield(task) if shared else task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.closed and (current is None or not current.cancelling()):
                raise self.closed_error() from None
            raise

    async def ready(self) -> None:
        """Bootstrap once: the broker map from the first bootstrap broker that answers.

        Raises ``BrokerUnavailable`` when none answers within ``net.request_timeout``,
        ``AuthenticationError`` when one refuses the login or the TLS handshake, and
        ``ClosedError`` after ``aclose()`` (also when it comes while connecting).
        """
        if self._booted:
            return
        self.check_open()
        if self._booting is None or self._booting.done():
            self._booting = self.spawn(self._bootstrap())
        await self.join(self._booting, shared=True)

    async def _bootstrap(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        failures: list[Exception] = []
        for host, port in self.hosts:
            try:
                conn = await self._dial(host, port, deadline)
            except (BrokerUnavailable, AuthenticationError) as exc:
                failures.append(exc)
                continue
            try:
                response = await self.request(
                    conn, MetadataRequest([]), deadline=deadline, context="bootstrap"
                )
            except BrokerUnavailable as exc:
                failures.append(exc)
                continue
            finally:
                self.drop(conn)
            self._learn_brokers(response)
            self._booted = True
            return
        # A refused login or certificate is what to report: no retry fixes it.
        for failure in failures:
            if isinstance(failure, AuthenticationError):
                raise failure
        cause = f": {failures[-1]}" if failures else ""
        raise BrokerUnavailable(f"unable to bootstrap from {self.bootstrap_servers}{cause}")

    async def aclose(self) -> None:
        """Close every connection and end every task; calls in flight raise ``ClosedError``.

        Idempotent. Finishes even when cancelled: the closing itself happens at once, and
        the wait for sockets and tasks to end goes on, shielded; the cancellation is raised
        afterwards. A later call waits for whatever is still ending.
        """
        if not self.closed:
            self.closed = True
            for waker in self._sleepers:
                _wake(waker)
            for conn in list(self._live):
                self.drop(conn)
            self._shared.clear()
            for task in list(self._tasks):
                task.cancel()
        await self._ended()

    async def _ended(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CLOSE_BOUND
        cancelled: asyncio.CancelledError | None = None
        while True:
            pending = {f for f in (*self._tasks, *self._ending) if not f.done()}
            if not pending or loop.time() >= deadline:
                break
            try:
                await asyncio.wait(pending, timeout=deadline - loop.time())
            except asyncio.CancelledError as exc:
                cancelled = exc  # finish closing first, then propagate
        if pending:
            log.warning("aiomq: %d still closing after %ss", len(pending), _CLOSE_BOUND)
        if cancelled is not None:
            raise cancelled

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``; ``ClosedError`` as soon as the cluster is closed meanwhile."""
        await self._sleep(None, asyncio.get_running_loop().time() + seconds)
        self.check_open()

    async def wait(self, future: asyncio.Future[Any], deadline: float) -> bool:
        """Wait for ``future`` until ``deadline``: whether it is done by then.

        ``ClosedError`` as soon as the cluster is closed meanwhile. ``future`` itself is
        never cancelled here: others may wait for it too.
        """
        if not future.done():
            await self._sleep(future, deadline)
        self.check_open()
        return future.done()

    async def _sleep(self, future: asyncio.Future[Any] | None, deadline: float) -> None:
        # A private future per sleeper, woken by the deadline, by ``future`` or by aclose():
        # thousands of concurrent waits then cost nothing extra each (a future shared by all
        # of them would make every wait pay for every other's callback).
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        waker: asyncio.Future[None] = loop.create_future()
        self._sleepers.add(waker)
        timer = loop.call_at(deadline, _wake, waker)
        if future is not None:
            future.add_done_callback(lambda _: _wake(waker))
        try:
            await waker
        finally:
            timer.cancel()
            self._sleepers.discard(waker)

    # -- connections ---------------------------------------------------------------------

    async def _dial(self, host: str, port: int, deadline: float) -> AIOKafkaConnection:
        """A new connection to ``host:port`` (not shared): ApiVersions and SASL done.

        The connect runs in a task of ours, so ``aclose()`` can cancel it at any point.
        """
        task = self.spawn(self._connect(host, port))
        try:
            async with asyncio.timeout_at(deadline):
                return await self.join(task, shared=False)
        except TimeoutError:  # ours: aiokafka's own is BrokerUnavailable by now
            raise BrokerUnavailable(f"connecting to {_address(host, port)}: timed out") from None

    async def _connect(self, host: str, port: int) -> AIOKafkaConnection:
        conn = AIOKafkaConnection(host, port, **self._kwargs)
        self._live.add(conn)
        try:
            with map_errors(f"connecting to {_address(host, port)}"):
                await conn.connect()
        except BaseException:
            self.drop(conn)
            raise
        if self.closed:
            self.drop(conn)
            raise self.closed_error()
        return conn

    async def dial(self, node: int, deadline: float) -> AIOKafkaConnection:
        """A new connection to broker ``node``, for one caller (the fetch pool)."""
        address = await self._broker_address(node, deadline)
        return await self._dial(*address, deadline)

    async def _broker_address(self, node: int, deadline: float) -> tuple[str, int]:
        """Where broker ``node`` listens; ``BrokerUnavailable`` when it left the cluster.

        Like a failed connection, that makes the caller forget the leader or coordinator
        it had cached as ``node`` and look it up again.
        """
        address = self.brokers.get(node)
        if address is None:
            await self.metadata([], allow_create=False, deadline=deadline)
            address = self.brokers.get(node)
            if address is None:
                raise BrokerUnavailable(f"broker {node} is not in the cluster metadata")
        return address

    async def connection(
        self, node: int, deadline: float, group: int = ConnectionGroup.DEFAULT
    ) -> AIOKafkaConnection:
        """The shared connection to broker ``node`` (for ``group``), connecting if needed.

        Concurrent callers share one connect; one caller's cancellation does not end it.
        """
        key = (node, group)
        conn = self._shared.get(key)
        if conn is not None:
            if conn.connected():
                return conn
            del self._shared[key]
            self.drop(conn)
        self.check_open()
        dialing = self._dialing.get(key)
        if dialing is None:
            address = await self._broker_address(node, deadline)
            dialing = self._dialing.get(key)  # another caller may have started meanwhile
            if dialing is None:
                dialing = self.spawn(self._connect(*address))
                self._dialing[key] = dialing
                dialing.add_done_callback(lambda task: self._settle_dial(key, task))
        try:
            async with asyncio.timeout_at(deadline):
                return await self.join(dialing, shared=True)
        except TimeoutError:  # ours: aiokafka's own is BrokerUnavailable by now
            raise BrokerUnavailable(f"connecting to broker {node}: timed out") from None

    def _settle_dial(self, key: tuple[int, int], task: asyncio.Task[AIOKafkaConnection]) -> None:
        if self._dialing.get(key) is task:
            del self._dialing[key]
        if not task.cancelled() and task.exception() is None:
            conn = task.result()
            if self.closed:
                self.drop(conn)
            else:
                self._shared[key] = conn

    def drop(self, conn: AIOKafkaConnection) -> None:
        """Close ``conn`` (requests waiting on it fail); ``aclose()`` waits for its end."""
        self._live.discard(conn)
        # aiokafka's close() forgets its reader task and returns before the socket closes;
        # both are kept here so aclose() can wait for them.
        reader: asyncio.Task[Any] | None = conn._read_task
        closing: asyncio.Future[Any] | None = conn._closed_fut if conn._reader else None
        conn.close(reason=CloseReason.SHUTDOWN)
        for waiter in (reader, closing):
            if waiter is not None and not waiter.done():
                self._ending.add(waiter)
                waiter.add_done_callback(self._ending.discard)

    async def request(
        self,
        conn: AIOKafkaConnection,
        request: Any,
        *,
        deadline: float,
        context: str,
        expect_response: bool = True,
    ) -> Any:
        """Send ``request`` on ``conn`` and wait for its answer until ``deadline``.

        ``BrokerUnavailable`` when the connection fails or no answer comes; a request the
        broker leaves unanswered for ``net.request_timeout`` closes the connection, as
        aiokafka's client does (the next request reconnects). ``ClosedError`` when the
        cluster was closed meanwhile.
        """
        loop = asyncio.get_running_loop()
        try:
            with map_errors(context):
                waiting = conn.send(request, expect_response=expect_response)
                async with asyncio.timeout_at(deadline):
                    return await waiting
        except BrokerUnavailable as exc:
            if self.closed:
                raise self.closed_error() from exc
            if isinstance(exc.__cause__, TimeoutError):
                if loop.time() >= deadline:
                    raise BrokerUnavailable(f"{context}: no answer in time") from None
                self.drop(conn)  # aiokafka's own per-request timeout: the broker is stuck
            raise

    async def send(
        self,
        node: int,
        request: Any,
        *,
        deadline: float,
        context: str,
        group: int = ConnectionGroup.DEFAULT,
    ) -> Any:
        """``request`` to broker ``node`` on its shared connection (see ``request``)."""
        conn = await self.connection(node, deadline, group)
        return await self.request(conn, request, deadline=deadline, context=context)

    # -- metadata ------------------------------------------------------------------------

    def deadline(self, seconds: float | None = None) -> float:
        """The loop time ``seconds`` from now (``net.request_timeout`` when None)."""
        timeout = self.request_timeout if seconds is None else seconds
        return asyncio.get_running_loop().time() + timeout

    def _learn_brokers(self, response: Any) -> None:
        for node_id, host, port, *_ in response.brokers:
            self.brokers[node_id] = (host, port)

    async def metadata(
        self, topics: list[str] | None, *, allow_create: bool, deadline: float
    ) -> Any:
        """One Metadata answer (all topics for None); refreshes the broker map.

        Concurrent callers asking the same share one request (a burst of produces to a
        topic not yet known asks once); each waits until its own ``deadline``. Raises
        ``Retry`` when no broker answers, naming why the last one did not.
        """
        await self.ready()
        key = (None if topics is None else tuple(topics), allow_create)
        asking = self._asking.get(key)
        if asking is None:
            asking = self.spawn(self._metadata(topics, allow_create))
            asking.add_done_callback(_retrieve)  # when every caller gave up before its end
            self._asking[key] = asking
            asking.add_done_callback(lambda task: self._asked(key, task))
        if not await self.wait(asking, deadline):
            raise Retry("metadata request: no answer in time")
        return await self.join(asking, shared=True)

    def _asked(self, key: tuple[tuple[str, ...] | None, bool], task: asyncio.Task[Any]) -> None:
        if self._asking.get(key) is task:
            del self._asking[key]

    async def _metadata(self, topics: list[str] | None, allow_create: bool) -> Any:
        """Ask the known brokers in random order until one answers.

        A broker that died stays in the map until a metadata answer no longer lists it.
        """
        deadline = self.deadline()
        request = MetadataRequest(topics, allow_auto_topic_creation=allow_create)
        nodes = list(self.brokers)
        random.shuffle(nodes)
        failure: BrokerUnavailable | None = None
        for node in nodes:
            try:
                response = await self.send(
                    node, request, deadline=deadline, context=f"metadata from broker {node}"
                )
            except BrokerUnavailable as exc:
                failure = exc
                continue
            self.brokers.clear()
            self._learn_brokers(response)
            return response
        raise Retry(str(failure or "metadata request: no broker is known"))

    async def retrying(
        self,
        what: str,
        attempt: Callable[[float], Awaitable[_T]],
        deadline: float | None = None,
    ) -> _T:
        """Run ``attempt(deadline)`` until it does not raise ``Retry`` or the deadline passes.

        The deadline (``net.request_timeout`` from now by default) is shared by everything
        the attempts do, nested retries included. When it passes, ``BrokerUnavailable``
        says what was tried and why the last attempt failed.
        """
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.request_timeout
        backoff = _BACKOFF
        while True:
            try:
                return await attempt(deadline)
            except Retry as retry:
                self.check_open()
                if loop.time() + backoff > deadline:
                    raise BrokerUnavailable(f"{what}: {retry}") from None
            except ClosedError:
                raise
            except Exception as exc:
                # Whatever a request closed under our feet raised, the cause is the close.
                if self.closed:
                    raise self.closed_error() from exc
                raise
            await self.pause(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def topic_leaders(
        self,
        topic: str,
        *,
        allow_create: bool = False,
        created: bool = False,
        deadline: float | None = None,
    ) -> list[int]:
        """Leader of each partition of ``topic`` (asked fresh), -1 for one without a leader.

        Waits while the topic as a whole has no leader (it is being created). A partition
        without one does not hold up the others: ``leader()`` waits for the one it needs.
        ``created``: the topic was just created, so "unknown" means the broker asked has
        not heard yet (metadata spreads from the controller), not that the topic is missing,
        and every partition must have a leader before it counts as there.
        """

        async def attempt(deadline: float) -> list[int]:
            response = await self.metadata([topic], allow_create=allow_create, deadline=deadline)
            for error, name, *rest in response.topics:
                if name != topic:
                    continue
                if error == UNKNOWN_TOPIC:
                    self.leaders.pop(topic, None)
                    if created:
                        raise Retry(f"topic {topic!r} is not known everywhere yet")
                    # A request that may create the topic is answered "unknown" while the
                    # controller creates it; later ones then list it.
                    if allow_create and await self.creates_topics(deadline):
                        raise Retry(f"topic {topic!r} is being created")
                    raise UnknownTopic(f"topic {topic!r} does not exist")
                if error == LEADER_NOT_AVAILABLE:
                    raise Retry(f"topic {topic!r} has no leader yet")
                raise_for_code(error, f"metadata of {topic!r}")
                partitions = rest[-1]
                leaders = [NO_LEADER] * len(partitions)
                for _p_error, partition, leader, *_ in partitions:
                    leaders[partition] = leader
                if not leaders or (created and NO_LEADER in leaders):
                    raise Retry(f"topic {topic!r} has partitions without a leader")
                self.leaders[topic] = leaders
                return leaders
            if created:
                raise Retry(f"topic {topic!r} is not listed yet")
            raise UnknownTopic(f"topic {topic!r} does not exist")

        validate_topic(topic)
        return await self.retrying(f"metadata of {topic!r}", attempt, deadline)

    async def leader(self, topic: str, partition: int, deadline: float) -> int:
        """The partition's leader. Raises ``Retry`` while it has none: call it in a retry."""
        leaders = self.leaders.get(topic)
        if leaders is None or not 0 <= partition < len(leaders) or leaders[partition] < 0:
            leaders = await self.topic_leaders(topic, deadline=deadline)
        if not 0 <= partition < len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        leader = leaders[partition]
        if leader == NO_LEADER:
            raise Retry(f"{topic}[{partition}] has no leader")
        return leader

    async def check_partitions(self, topic: str, partitions: Iterable[int]) -> None:
        """``UnknownTopic`` unless ``topic`` has every one of ``partitions`` (asked fresh
        when the cached leaders do not list them all)."""
        wanted = max(partitions, default=-1)
        leaders = self.leaders.get(topic)
        if leaders is None or wanted >= len(leaders):
            leaders = await self.topic_leaders(topic)
        if wanted >= len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {wanted}")

    def forget_leader(self, topic: str) -> None:
        """Drop the cached leaders of ``topic``: the next request looks them up again."""
        self.leaders.pop(topic, None)

    # -- coordinators and settings -------------------------------------------------------

    async def coordinator(self, group: str, deadline: float, *, kind: int = GROUP) -> int:
        """The coordinator of ``group`` (cached), or of a transactional id with ``kind``
        ``TRANSACTION``. Raises ``Retry`` while there is none."""
        node = self.coordinators.get((kind, group))
        if node is not None:
            return node
        what = "group" if kind == GROUP else "transactional id"
        await self.ready()
        nodes = list(self.brokers)
        if not nodes:
            raise Retry("no broker is known")
        asked = random.choice(nodes)
        try:
            response = await self.send(
                asked,
                FindCoordinatorRequest(group, kind),
                deadline=deadline,
                context=f"find coordinator of {what} {group!r}",
            )
        except BrokerUnavailable as exc:
            raise Retry(str(exc)) from None
        if response.error_code in RETRY_COORDINATOR:
            raise Retry(f"{what} {group!r} has no coordinator yet (error {response.error_code})")
        raise_for_code(response.error_code, f"find coordinator of {what} {group!r}")
        node = int(response.coordinator_id)
        self.brokers.setdefault(node, (response.host, response.port))
        self.coordinators[(kind, group)] = node
        return node

    def forget_coordinator(self, group: str, *, kind: int = GROUP) -> None:
        """Drop the cached coordinator of ``group`` (of a transactional id: ``kind``)."""
        self.coordinators.pop((kind, group), None)

    async def features(self, deadline: float) -> dict[str, int]:
        """The cluster's finalized feature levels, asked now (ApiVersions v3, whose answer
        alone carries them): ``{"transaction.version": 2, ...}``. Raises ``Retry`` when the
        broker asked does not answer."""
        await self.ready()
        node = self.any_broker()
        try:
            response = await self.send(
                node,
                api_versions_request(),
                deadline=deadline,
                context=f"api versions of broker {node}",
                group=COORDINATION,
            )
        except BrokerUnavailable as exc:
            raise Retry(str(exc)) from None
        raise_for_code(response.error_code, f"api versions of broker {node}")
        return finalized_features(response)

    async def broker_settings(self, deadline: float | None = None) -> dict[str, str]:
        """The broker settings auto-creation and replication depend on, read once.

        Empty (and asked again next time) when they cannot be read before ``deadline``;
        callers then assume Kafka's defaults.
        """
        if self._settings is None:
            await self.ready()
            node = self.any_broker()
            request = DescribeConfigsRequest(
                [(_BROKER_RESOURCE, str(node), list(_BROKER_SETTINGS))]
            )
            try:
                response = await self.send(
                    node,
                    request,
                    deadline=self.deadline() if deadline is None else deadline,
                    context="describe broker config",
                )
            except BrokerUnavailable as exc:
                log.warning("aiomq: broker config unknown (%s); assuming Kafka's defaults", exc)
                return {}
            settings: dict[str, str] = {}
            for _err, _msg, _kind, _name, entries, *_ in response.resources:
                for entry_name, entry_value, *_ in entries:
                    if entry_name in _BROKER_SETTINGS and entry_value is not None:
                        settings[entry_name] = entry_value
            self._settings = settings
        return self._settings

    async def creates_topics(self, deadline: float | None = None) -> bool:
        """Whether the broker's ``auto.create.topics.enable`` is on (Kafka's default: yes)."""
        settings = await self.broker_settings(deadline)
        return settings.get("auto.create.topics.enable", "true").lower() == "true"

    async def default_replication(self) -> int:
        """The broker's ``default.replication.factor`` (1 when unknown)."""
        value = (await self.broker_settings()).get("default.replication.factor", "1")
        return int(value) if value.isdigit() else 1

    async def metadata_limit(self) -> int:
        """The broker's ``offset.metadata.max.bytes``, in characters (4096 when unknown)."""
        value = (await self.broker_settings()).get("offset.metadata.max.bytes", "4096")
        return int(value) if value.isdigit() else 4096

    def any_broker(self) -> int:
        """A known broker, at random (for requests any broker answers)."""
        if not self.brokers:
            raise Retry("no broker is known")
        return random.choice(list(self.brokers))
