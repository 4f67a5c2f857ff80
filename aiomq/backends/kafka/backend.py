"""The ``kafka://`` backend: the ``Backend`` operations over aiokafka.

Records stay in aiokafka's compiled record code both ways: a produce is one
``create_batch()`` + ``send_batch()`` per partition batch (no future per record), and a fetch
is one Fetch request whose answer ``MemoryRecords`` decodes. Metadata, ListOffsets and group
offsets are single protocol requests on an ``AIOKafkaClient``; topics are created and deleted
through ``AIOKafkaAdminClient``. aiokafka's errors become aiomq's in ``_kafka_errors``.

Why a low-level fetch rather than ``AIOKafkaConsumer.getmany``: a backend fetch names one
partition and one offset and long-polls, exactly Kafka's Fetch; the consumer's fetcher keeps
assignment and position state of its own and prefetches, which the messaging layer does
itself. A broker answers one request per connection at a time, so each concurrent fetch
takes a connection of its own from a small per-broker pool: one partition's long poll never
holds up another's.

The Go counterpart is sarama's ``Client`` with its ``Broker`` connections: cached leaders
and coordinators, refreshed when a request fails for a stale one (sarama's
``RefreshMetadata`` and ``RefreshCoordinator``). Unlike sarama, batching and retries of
whole messages belong to aiomq's producers; this layer sends each batch it is given at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient, ConnectionGroup, CoordinationType
from aiokafka.conn import create_conn
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords

from ..config import Config
from ..errors import BrokerUnavailable, ClosedError, MessageTooLarge, UnknownTopic
from ..message import validate_topic
from ._kafka_errors import (
    LEADER_NOT_AVAILABLE,
    RETRY_COORDINATOR,
    RETRY_LEADER,
    UNKNOWN_TOPIC,
    map_errors,
    raise_for_code,
    translate,
)
from .base import (
    CommittedOffset,
    FetchResult,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicInfo,
    TopicPartition,
    check_group,
    check_offset_specs,
    check_topic_arguments,
)

__all__ = ["KafkaBackend"]

log = logging.getLogger("aiomq")

_T = TypeVar("_T")

_READ_UNCOMMITTED = 0
_BACKOFF = 0.05  # first retry pause; doubles up to _MAX_BACKOFF
_MAX_BACKOFF = 1.0
_NO_LEADER = -1
_NO_HEADERS: list[tuple[str, bytes]] = []  # shared, never mutated: read by the builder only
_BROKER_SETTINGS = ("auto.create.topics.enable", "default.replication.factor")


class _Retry(Exception):
    """Raised inside a retry loop: refresh metadata, pause, try again (until the deadline)."""


class _Oversized(Exception):
    """A produce of several records went as Kafka batches the broker all refused as too large.

    Nothing was written, so ``produce`` may send the records again in smaller batches.
    """


def _security(config: Config) -> dict[str, Any]:
    """aiokafka's connection keyword arguments for ``config.net`` (TLS, SASL, timeouts)."""
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


def _fetch_wait_ms(max_wait: float, request_timeout: float) -> int:
    """``max_wait`` in milliseconds, capped so the broker answers before the request times out.

    The margin is one second, or half the request timeout when that is shorter than two
    seconds: a margin as long as the timeout would make every fetch return at once and a
    consumer poll in a busy loop.
    """
    timeout_ms = int(request_timeout * 1000)
    margin = min(1000, timeout_ms // 2)
    return max(0, min(int(max_wait * 1000), timeout_ms - margin))


def _all_topics_metadata(client: AIOKafkaClient) -> None:
    """Make ``client``'s own metadata requests ask for every topic, never for named ones.

    aiokafka's client asks for the topics it tracks with auto-creation allowed (its request
    has no such switch), so a producer would re-create a topic deleted behind it. A request
    for all topics never creates one; it is larger on a cluster with many topics, the price
    of ``auto_create_topics=false``.
    """
    update = client._metadata_update

    async def all_topics(cluster: Any, topics: Any) -> Any:
        return await update(cluster, None)

    client._metadata_update = all_topics


async def _quietly(close: Awaitable[object], what: object) -> None:
    try:
        await close
    except Exception:
        log.exception("aiomq: closing %r failed", what)


class KafkaBackend:
    """``Backend`` over a Kafka cluster; what ``aiomq.connect("kafka://host:port")`` opens.

    Connects on ``open()`` (or on first use). ``auto_create_topics`` is the client's side of
    auto-creation (Java's ``allow.auto.create.topics``): metadata requests, the producer's
    included, ask the broker to create a missing topic only when it is on, and the broker's
    ``auto.create.topics.enable`` decides. Reads are ``read_uncommitted``. The producer
    acknowledges as ``config.producer.required_acks`` says and waits for that at most
    ``config.producer.timeout``; every other request is bounded by ``net.request_timeout``.

    The Go counterpart is a sarama ``Client`` (its ``Config.Net`` carries SASL and TLS the
    same way). A leader or coordinator that stops answering, or answers "not the leader", is
    forgotten and looked up again, as sarama does; transient errors are retried with backoff
    within ``net.request_timeout``, where sarama counts ``Metadata.Retry.Max`` attempts.
    """

    def __init__(
        self,
        hosts: Sequence[tuple[str, int]],
        config: Config,
        *,
        url: str,
        auto_create_topics: bool = True,
    ) -> None:
        self._hosts = list(hosts)
        self._bootstrap = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)
        self._config = config
        self._url = url
        self._auto_create = auto_create_topics
        self._kwargs = _security(config)
        self._request_timeout = config.net.request_timeout
        self._client: AIOKafkaClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        # Metadata this backend asked for itself (aiokafka's client caches all topics and
        # auto-creates whatever it tracks, which must not happen behind a delete). A leader
        # of -1: the partition had none when last asked; _leader() asks again.
        self._leaders: dict[str, list[int]] = {}
        self._brokers: dict[int, tuple[str, int]] = {}
        self._coordinators: dict[str, int] = {}
        self._settings: dict[str, str] | None = None  # of one broker, see _broker_settings
        # Fetch connections: idle ones per broker, and those carrying a fetch right now.
        self._idle: dict[int, list[Any]] = {}
        self._busy: set[Any] = set()

    @property
    def url(self) -> str:
        """The URL the backend was opened from."""
        return self._url

    def __repr__(self) -> str:
        return f"<KafkaBackend {self._bootstrap!r}{' closed' if self._closed else ''}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Bootstrap cluster metadata.

        Raises ``BrokerUnavailable`` when no broker answers, ``AuthenticationError`` when
        the login or the TLS handshake is refused, ``ClosedError`` after ``aclose()``.
        """
        await self._ready()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"backend {self._url!r} is closed")

    async def _started(
        self,
        attribute: str,
        what: str,
        make: Callable[[], Any],
        start: Callable[[Any], Awaitable[object]],
        close: Callable[[Any], Awaitable[object]],
    ) -> Any:
        """The aiokafka object kept in ``attribute``, made and started on first use.

        One start at a time, under the lock. If starting fails, or the backend was closed
        while it ran (``aclose()`` could not see the object yet), the object is closed again
        here and the error (``ClosedError`` for a close) is raised: nothing outlives the
        backend.
        """
        self._check_open()
        thing = getattr(self, attribute)
        if thing is not None:
            return thing
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._check_open()
            thing = getattr(self, attribute)
            if thing is None:
                with map_errors(what):
                    fresh = make()
                try:
                    with map_errors(what):
                        await start(fresh)
                    self._check_open()
                except BaseException:
                    await _quietly(close(fresh), fresh)
                    raise
                setattr(self, attribute, fresh)
                thing = fresh
        return thing

    async def _ready(self) -> AIOKafkaClient:
        client: AIOKafkaClient = await self._started(
            "_client",
            f"connecting to {self._bootstrap}",
            lambda: AIOKafkaClient(bootstrap_servers=self._bootstrap, **self._kwargs),
            self._bootstrap_client,
            lambda client: client.close(),
        )
        return client

    async def _bootstrap_client(self, client: AIOKafkaClient) -> None:
        try:
            with map_errors(f"connecting to {self._bootstrap}"):
                await client.bootstrap()
        except BrokerUnavailable:
            if self._kwargs["security_protocol"] != "PLAINTEXT":
                await self._raise_login_failure()
            raise
        for broker in client.cluster.brokers():
            self._brokers[broker.nodeId] = (broker.host, broker.port)

    async def _raise_login_failure(self) -> None:
        """Raise ``AuthenticationError`` if a bootstrap broker refuses the login or TLS.

        aiokafka's bootstrap logs why each broker failed and raises a bare "unable to
        bootstrap"; one direct connection brings back the real cause, which no retry fixes.
        Returns when every broker is just unreachable.
        """
        for host, port in self._hosts:
            try:
                with map_errors(f"connecting to {host}:{port}"):
                    conn = await create_conn(host, port, **self._kwargs)
            except BrokerUnavailable:
                continue
            conn.close()
            return

    def _new_producer(self) -> AIOKafkaProducer:
        settings = self._config.producer
        limit = settings.max_message_bytes
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks=int(settings.required_acks),
            compression_type=settings.compression.aiokafka_name,
            # One aiomq batch is one Kafka batch when it fits a request, sent at once: the
            # producers above gather records (producer.linger, producer.batch_size).
            max_batch_size=limit,
            max_request_size=limit,
            linger_ms=0,
            # The broker's wait for required_acks and aiokafka's delivery timeout of a batch
            # (sarama's Producer.Timeout); net.request_timeout bounds everything else.
            **{**self._kwargs, "request_timeout_ms": int(settings.timeout * 1000)},
        )
        if not self._auto_create:
            _all_topics_metadata(producer.client)
        return producer

    async def _producer_ready(self) -> AIOKafkaProducer:
        await self._ready()
        producer: AIOKafkaProducer = await self._started(
            "_producer",
            "starting the producer",
            self._new_producer,
            lambda producer: producer.start(),
            lambda producer: producer.stop(),
        )
        return producer

    async def _admin_ready(self) -> AIOKafkaAdminClient:
        await self._ready()
        admin: AIOKafkaAdminClient = await self._started(
            "_admin",
            "starting the admin client",
            lambda: AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._kwargs),
            lambda admin: admin.start(),
            lambda admin: admin.close(),
        )
        return admin

    async def aclose(self) -> None:
        """Close connections; in-flight calls fail with ``ClosedError``. Idempotent.

        An object still starting when this runs is closed by the call starting it.
        """
        if self._closed:
            return
        self._closed = True
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            conn.close()
        self._busy.clear()
        self._idle.clear()
        closers: list[tuple[Awaitable[object], object]] = []
        if self._producer is not None:
            closers.append((self._producer.stop(), self._producer))
        if self._admin is not None:
            closers.append((self._admin.close(), self._admin))
        if self._client is not None:
            closers.append((self._client.close(), self._client))
        self._producer = self._admin = self._client = None
        for close, what in closers:
            await _quietly(close, what)

    # -- metadata ------------------------------------------------------------------------

    async def _metadata(self, topics: list[str] | None, *, allow_create: bool) -> Any:
        """One Metadata request (all topics for None); refreshes the broker map.

        Asked of the known brokers in random order until one answers: a broker that died
        stays in aiokafka's view of the cluster until its next refresh.
        """
        client = await self._ready()
        request = MetadataRequest(topics, allow_auto_topic_creation=allow_create)
        nodes = [broker.nodeId for broker in client.cluster.brokers()]
        random.shuffle(nodes)
        failure: BrokerUnavailable | None = None
        for node in nodes:
            try:
                with map_errors("metadata request"):
                    response = await client.send(node, request)
            except BrokerUnavailable as exc:
                failure = exc
                continue
            for node_id, host, port, *_ in response.brokers:
                self._brokers[node_id] = (host, port)
            return response
        raise failure or BrokerUnavailable("metadata request: no broker is known")

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``attempt`` until it does not raise ``_Retry`` or ``net.request_timeout`` ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        backoff = _BACKOFF
        while True:
            try:
                return await attempt()
            except _Retry as retry:
                if self._closed:
                    raise ClosedError(f"backend {self._url!r} is closed") from None
                if loop.time() + backoff > deadline:
                    raise BrokerUnavailable(f"{what}: gave up after retries: {retry}") from None
            except ClosedError:
                raise
            except Exception as exc:
                # Whatever a request closed under our feet raised, the cause is the close.
                if self._closed:
                    raise ClosedError(f"backend {self._url!r} is closed") from exc
                raise
            # Metadata propagates between brokers; a pause lets it land (Kafka's
            # retry.backoff.ms).
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _topic_leaders(
        self, topic: str, *, allow_create: bool = False, created: bool = False
    ) -> list[int]:
        """Leader of each partition of ``topic`` (asked fresh), -1 for one without a leader.

        Waits while the topic as a whole has no leader (it is being created). A partition
        without one does not hold up the others: ``_leader()`` waits for the one it needs.
        ``created``: the topic was just created, so "unknown" means the broker asked has
        not heard yet (metadata spreads from the controller), not that the topic is missing,
        and every partition must have a leader before it counts as there.
        """

        async def attempt() -> list[int]:
            try:
                response = await self._metadata([topic], allow_create=allow_create)
            except BrokerUnavailable as exc:
                raise _Retry(str(exc)) from None
            for error, name, *rest in response.topics:
                if name != topic:
                    continue
                if error == UNKNOWN_TOPIC:
                    self._leaders.pop(topic, None)
                    if created:
                        raise _Retry(f"topic {topic!r} is not known everywhere yet")
                    # A request that may create the topic is answered "unknown" while the
                    # controller creates it; later ones then list it.
                    if allow_create and await self._broker_creates_topics():
                        raise _Retry(f"topic {topic!r} is being created")
                    raise UnknownTopic(f"topic {topic!r} does not exist")
                if error == LEADER_NOT_AVAILABLE:
                    raise _Retry(f"topic {topic!r} has no leader yet")
                raise_for_code(error, f"metadata of {topic!r}")
                partitions = rest[-1]
                leaders = [_NO_LEADER] * len(partitions)
                for _p_error, partition, leader, *_ in partitions:
                    leaders[partition] = leader
                if not leaders or (created and _NO_LEADER in leaders):
                    raise _Retry(f"topic {topic!r} has partitions without a leader")
                self._leaders[topic] = leaders
                return leaders
            if created:
                raise _Retry(f"topic {topic!r} is not listed yet")
            raise UnknownTopic(f"topic {topic!r} does not exist")

        validate_topic(topic)
        return await self._retrying(f"metadata of {topic!r}", attempt)

    async def _leader(self, topic: str, partition: int) -> int:
        """The partition's leader. Raises ``_Retry`` while it has none: call it in a retry."""
        leaders = self._leaders.get(topic)
        if leaders is None or not 0 <= partition < len(leaders) or leaders[partition] < 0:
            leaders = await self._topic_leaders(topic)
        if not 0 <= partition < len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        leader = leaders[partition]
        if leader == _NO_LEADER:
            raise _Retry(f"{topic}[{partition}] has no leader")
        return leader

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (``Backend.partitions``); may auto-create it.

        Answers at once when some partitions have no leader: they are listed all the same.
        """
        return list(range(len(await self._topic_leaders(topic, allow_create=self._auto_create))))

    # -- records -------------------------------------------------------------------------

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append a batch with ``create_batch`` + ``send_batch`` (``Backend.produce``).

        A batch larger than ``producer.max_message_bytes`` is split into several Kafka
        batches, sent in order; if one fails, those before it stay written. A batch the
        broker refuses whole as too large (the topic's ``max.message.bytes`` is smaller) is
        sent again in halves, as the Java producer splits one, so the limit holds per
        record, as in process. An empty batch appends nothing, but the topic and partition
        are checked (and the topic auto-created) all the same.
        """
        leaders = self._leaders.get(topic)
        if leaders is None or not 0 <= partition < len(leaders):
            leaders = await self._topic_leaders(topic, allow_create=self._auto_create)
        if not 0 <= partition < len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        if not records:
            return ProduceResult(range(0), [])
        producer = await self._producer_ready()
        try:
            return await self._send(producer, topic, partition, records)
        except _Oversized:
            middle = len(records) // 2
            head = await self.produce(topic, partition, records[:middle])
            tail = await self.produce(topic, partition, records[middle:])
            return ProduceResult(
                [*head.offsets, *tail.offsets], [*head.timestamps, *tail.timestamps]
            )
        except BrokerUnavailable:
            # A topic deleted behind the producer looks like a partition without a leader
            # until the batch expires; say what it is.
            await self._topic_leaders(topic)  # raises UnknownTopic when the topic is gone
            raise

    async def _send(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partition: int,
        records: Sequence[ProduceRecord],
    ) -> ProduceResult:
        context = f"produce to {topic}[{partition}]"
        stamps: list[int] = []
        sent: list[tuple[asyncio.Future[Any], int, int]] = []  # (future, first index, count)
        with map_errors(context), _settled(sent):
            batch = producer.create_batch()
            first = 0
            for i, (key, value, headers, timestamp) in enumerate(records):
                # aiokafka's compiled builder takes headers as a list only.
                listed = list(headers) if headers else _NO_HEADERS
                meta = batch.append(key=key, value=value, timestamp=timestamp, headers=listed)
                if meta is None:  # full: send it and start the next one
                    future = await producer.send_batch(batch, topic, partition=partition)
                    sent.append((future, first, i - first))
                    first = i
                    batch = producer.create_batch()
                    # The first record always goes in; an oversized one fails at the broker.
                    meta = batch.append(key=key, value=value, timestamp=timestamp, headers=listed)
                stamps.append(meta.timestamp)
            future = await producer.send_batch(batch, topic, partition=partition)
            sent.append((future, first, len(records) - first))
            acks: list[Any] = []
            failures: list[Exception] = []
            for future, _, _ in sent:
                try:
                    acks.append(await future)
                except Exception as exc:  # cancellation is not an Exception: it propagates
                    failures.append(exc)
            if failures:
                self._leaders.pop(topic, None)  # a stale leader is the likely cause
                refused_whole = len(failures) == len(sent) and len(records) > 1
                if refused_whole and isinstance(translate(failures[0]), MessageTooLarge):
                    raise _Oversized
                raise failures[0]
        if acks[0] is None:  # acks=0: the broker does not say where records went
            return ProduceResult([-1] * len(records), stamps)
        if len(acks) == 1:
            offsets: Sequence[int] = range(acks[0].offset, acks[0].offset + len(records))
        else:
            offsets = [
                ack.offset + j
                for ack, (_, _, count) in zip(acks, sent, strict=True)
                for j in range(count)
            ]
        for ack, (_, start, count) in zip(acks, sent, strict=True):
            if ack.timestamp is not None and ack.timestamp != -1:  # LogAppendTime
                stamps[start : start + count] = [ack.timestamp] * count
        return ProduceResult(offsets, stamps)

    async def _connection(self, node_id: int) -> Any:
        idle = self._idle.get(node_id)
        while idle:
            conn = idle.pop()
            if conn.connected():
                return conn
            conn.close()
        address = self._brokers.get(node_id)
        if address is None:
            await self._metadata([], allow_create=False)
            address = self._brokers.get(node_id)
            if address is None:
                raise _Retry(f"broker {node_id} is not in the cluster metadata")
        with map_errors(f"connecting to broker {node_id}"):
            return await create_conn(address[0], address[1], **self._kwargs)

    async def _fetch_from(self, node_id: int, request: Any, context: str) -> Any:
        """Send ``request`` to ``node_id`` on a pooled connection that carries nothing else."""
        conn = await self._connection(node_id)
        if self._closed:  # closed while connecting: aclose() could not see this one
            conn.close()
            raise ClosedError(f"backend {self._url!r} is closed")
        self._busy.add(conn)
        try:
            with map_errors(context):
                response = await conn.send(request)
        except BaseException:
            conn.close()  # a cancelled request would still answer on this connection
            if self._closed:
                raise ClosedError(f"backend {self._url!r} is closed") from None
            raise
        finally:
            self._busy.discard(conn)
        if self._closed:
            conn.close()
            raise ClosedError(f"backend {self._url!r} is closed")
        self._idle.setdefault(node_id, []).append(conn)
        return response

    async def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        max_wait: float,
        min_bytes: int = 1,
        max_bytes: int = 1 << 20,
        max_records: int | None = None,
    ) -> FetchResult:
        """One Fetch request to the partition's leader (``Backend.fetch``).

        ``max_wait`` is capped below ``net.request_timeout`` (by a second, or by half of a
        timeout under two seconds), so the broker always answers before the request would
        time out. A leader that stops answering is looked up again and the fetch retried.
        """
        await self._ready()
        request = FetchRequest(
            _fetch_wait_ms(max_wait, self._request_timeout),
            min_bytes,
            max_bytes,
            _READ_UNCOMMITTED,
            [(topic, [(partition, offset, max_bytes)])],
        )
        context = f"fetch from {topic}[{partition}]"

        async def attempt() -> FetchResult:
            leader = await self._leader(topic, partition)
            try:
                response = await self._fetch_from(leader, request, context)
            except BrokerUnavailable as exc:
                self._leaders.pop(topic, None)  # the leader died or moved: ask again
                raise _Retry(str(exc)) from None
            _, parts = response.topics[0]
            _, error, high_watermark, *rest = parts[0]
            if error in RETRY_LEADER:
                self._leaders.pop(topic, None)
                if error == UNKNOWN_TOPIC:
                    await self._topic_leaders(topic)  # raises UnknownTopic if it is gone
                raise _Retry(f"{context}: error {error}")
            raise_for_code(error, f"{context} at offset {offset}")
            log_start = rest[1] if response.API_VERSION >= 5 else -1
            return _decode(rest[-1], offset, high_watermark, log_start, max_records)

        return await self._retrying(context, attempt)

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """ListOffsets to each leader (``Backend.list_offsets``)."""
        check_offset_specs(specs)

        async def one_leader(node_id: int, wanted: list[tuple[int, int]]) -> dict[int, int | None]:
            client = await self._ready()
            request = OffsetRequest(-1, _READ_UNCOMMITTED, [(topic, wanted)])
            try:
                with map_errors(f"list offsets of {topic!r}"):
                    response = await client.send(node_id, request)
            except BrokerUnavailable as exc:
                self._leaders.pop(topic, None)  # the leader died or moved: ask again
                raise _Retry(str(exc)) from None
            out: dict[int, int | None] = {}
            for _, parts in response.topics:
                for partition, error, *info in parts:
                    if error in RETRY_LEADER:
                        self._leaders.pop(topic, None)
                        raise _Retry(f"list offsets of {topic}[{partition}]: error {error}")
                    raise_for_code(error, f"list offsets of {topic}[{partition}]")
                    if response.API_VERSION == 0:
                        offset = info[0][0] if info[0] else -1
                    else:
                        offset = info[1]
                    spec = specs[partition]
                    out[partition] = None if offset < 0 and spec >= 0 else offset
            return out

        async def attempt() -> dict[int, int | None]:
            by_leader: dict[int, list[tuple[int, int]]] = {}
            for partition, spec in specs.items():
                leader = await self._leader(topic, partition)
                by_leader.setdefault(leader, []).append((partition, spec))
            results = await asyncio.gather(*(one_leader(n, w) for n, w in by_leader.items()))
            merged: dict[int, int | None] = {}
            for result in results:
                merged.update(result)
            return merged

        return await self._retrying(f"list offsets of {topic!r}", attempt)

    # -- topics --------------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic and wait until every partition has a leader."""
        configs = check_topic_arguments(name, partitions, replication, config)
        admin = await self._admin_ready()
        if replication is None:
            replication = await self._default_replication()
        with map_errors(f"create topic {name!r}"):
            response = await admin.create_topics(
                [NewTopic(name, partitions, replication, topic_configs=configs)]
            )
        for topic_name, error, *message in response.topic_errors:
            if topic_name == name and error:
                detail = f" ({message[0]})" if message and message[0] else ""
                raise_for_code(error, f"create topic {name!r}{detail}")
        await self._topic_leaders(name, created=True)  # visible, with leaders, on return

    async def _broker_settings(self) -> dict[str, str]:
        """The broker settings in ``_BROKER_SETTINGS``, read once with DescribeConfigs.

        Empty (and asked again next time) when they cannot be read; callers then assume
        Kafka's defaults.
        """
        if self._settings is None:
            admin = await self._admin_ready()
            node = (await self._ready()).get_random_node()
            wanted = ConfigResource(
                ConfigResourceType.BROKER, str(node), configs=dict.fromkeys(_BROKER_SETTINGS)
            )
            try:
                with map_errors("describe broker config"):
                    responses = await admin.describe_configs([wanted])
            except BrokerUnavailable as exc:
                log.warning("aiomq: broker config unknown (%s); assuming Kafka's defaults", exc)
                return {}
            settings: dict[str, str] = {}
            for response in responses:
                for _err, _msg, _kind, _name, entries, *_ in response.resources:
                    for entry_name, entry_value, *_ in entries:
                        if entry_name in _BROKER_SETTINGS and entry_value is not None:
                            settings[entry_name] = entry_value
            self._settings = settings
        return self._settings

    async def _default_replication(self) -> int:
        # CreateTopics v3 (aiokafka's newest) cannot say "the broker's default", so read it.
        value = (await self._broker_settings()).get("default.replication.factor", "1")
        return int(value) if value.isdigit() else 1

    async def _broker_creates_topics(self) -> bool:
        settings = await self._broker_settings()
        return settings.get("auto.create.topics.enable", "true").lower() == "true"

    async def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the metadata no longer lists it."""
        admin = await self._admin_ready()
        with map_errors(f"delete topic {name!r}"):
            response = await admin.delete_topics([name])
        for topic_name, error, *_ in response.topic_error_codes:
            if topic_name == name:
                raise_for_code(error, f"delete topic {name!r}")
        self._leaders.pop(name, None)
        if self._producer is not None:
            # aiokafka refreshes the metadata of topics it tracks with auto-creation on, which
            # would bring a deleted topic back; track none (it then asks for all topics).
            self._producer.client.set_topics([])

        async def gone() -> None:
            try:
                response = await self._metadata([name], allow_create=False)
            except BrokerUnavailable as exc:
                raise _Retry(str(exc)) from None
            for error, topic_name, *_ in response.topics:
                if topic_name == name and error != UNKNOWN_TOPIC:
                    raise _Retry(f"topic {name!r} is still listed")

        await self._retrying(f"delete topic {name!r}", gone)

    async def list_topics(self) -> list[str]:
        """Names of the non-internal topics, sorted; those without a leader right now too."""
        response = await self._metadata(None, allow_create=False)
        return sorted(
            name
            for error, name, *rest in response.topics
            if error in (0, LEADER_NOT_AVAILABLE)
            and not (len(rest) > 1 and rest[0])  # rest[0]: is_internal (v1+)
        )

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions with leader, replicas and ISR; never creates it."""
        validate_topic(name)
        response = await self._metadata([name], allow_create=False)
        for error, topic_name, *rest in response.topics:
            if topic_name != name:
                continue
            if error == UNKNOWN_TOPIC:
                raise UnknownTopic(f"topic {name!r} does not exist")
            if error != LEADER_NOT_AVAILABLE:
                raise_for_code(error, f"describe topic {name!r}")
            internal = bool(rest[0]) if len(rest) > 1 else False
            partitions = [
                PartitionInfo(partition, leader, tuple(replicas), tuple(isr))
                for _err, partition, leader, replicas, isr, *_ in rest[-1]
            ]
            partitions.sort(key=lambda info: info.id)
            return TopicInfo(name, tuple(partitions), internal)
        raise UnknownTopic(f"topic {name!r} does not exist")

    # -- group offsets -------------------------------------------------------------------

    async def _coordinator(self, group: str) -> int:
        node = self._coordinators.get(group)
        if node is None:
            client = await self._ready()
            try:
                with map_errors(f"find coordinator of group {group!r}"):
                    node = await client.coordinator_lookup(CoordinationType.GROUP, group)
            except BrokerUnavailable as exc:
                raise _Retry(str(exc)) from None
            self._coordinators[group] = node
        return node

    async def _to_coordinator(self, group: str, request: Any) -> Any:
        node = await self._coordinator(group)
        client = await self._ready()
        try:
            with map_errors(f"group {group!r}"):
                return await client.send(node, request, group=ConnectionGroup.COORDINATION)
        except BrokerUnavailable as exc:
            self._coordinators.pop(group, None)  # the coordinator died or moved: ask again
            raise _Retry(str(exc)) from None

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit with generation -1: a plain store (``Backend.commit_offsets``)."""
        check_group(group)
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        for (topic, partition), committed in offsets.items():
            by_topic.setdefault(topic, []).append((partition, committed.offset, committed.metadata))
        request = OffsetCommitRequest(
            group,
            OffsetCommitRequest.DEFAULT_GENERATION_ID,
            "",
            OffsetCommitRequest.DEFAULT_RETENTION_TIME,
            list(by_topic.items()),
        )

        async def attempt() -> None:
            response = await self._to_coordinator(group, request)
            for topic, parts in response.topics:
                for partition, error in parts:
                    if error in RETRY_COORDINATOR:
                        self._coordinators.pop(group, None)
                        raise _Retry(f"commit for group {group!r}: error {error}")
                    raise_for_code(error, f"commit {topic}[{partition}] for group {group!r}")

        await self._retrying(f"commit for group {group!r}", attempt)

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """OffsetFetch for ``partitions`` (``Backend.committed_offsets``)."""
        check_group(group)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        if not by_topic:
            return {}
        request = OffsetFetchRequest(group, list(by_topic.items()))

        async def attempt() -> dict[TopicPartition, CommittedOffset]:
            response = await self._to_coordinator(group, request)
            top_error = getattr(response, "error_code", 0)
            if top_error in RETRY_COORDINATOR:
                self._coordinators.pop(group, None)
                raise _Retry(f"offsets of group {group!r}: error {top_error}")
            raise_for_code(top_error, f"offsets of group {group!r}")
            out: dict[TopicPartition, CommittedOffset] = {}
            for topic, parts in response.topics:
                for partition, offset, metadata, error in parts:
                    if error in RETRY_COORDINATOR:
                        self._coordinators.pop(group, None)
                        raise _Retry(f"offsets of group {group!r}: error {error}")
                    if error == UNKNOWN_TOPIC:
                        continue  # nothing committed for a partition Kafka does not know
                    raise_for_code(error, f"offset of {topic}[{partition}] for {group!r}")
                    if offset >= 0:
                        out[(topic, partition)] = CommittedOffset(offset, metadata or "")
            return out

        return await self._retrying(f"offsets of group {group!r}", attempt)


@contextlib.contextmanager
def _settled(sent: list[tuple[asyncio.Future[Any], int, int]]) -> Iterator[None]:
    """On failure, retrieve the outcome of every batch future already handed out.

    The first failure is what the caller sees; the others would otherwise be logged as
    "exception was never retrieved" when collected.
    """
    try:
        yield
    except BaseException:
        for future, _, _ in sent:
            future.add_done_callback(_retrieve)
        raise


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _decode(
    data: bytes | None,
    offset: int,
    high_watermark: int,
    log_start: int,
    max_records: int | None,
) -> FetchResult:
    """Records at or after ``offset`` from a Fetch answer's record batches.

    Control batches (transaction markers) hold offsets but no records: they only move
    ``next_offset``. A compressed batch may start before ``offset``; its earlier records
    are skipped, as Kafka's consumers do.
    """
    records: list[Record] = []
    next_offset = offset
    if data:
        keep = records.append
        batches = MemoryRecords(data)
        limit = max_records if max_records is not None else -1
        while batches.has_next():
            batch = batches.next_batch()
            if batch is None:  # a partial batch at the end of the answer
                break
            if batch.is_control_batch:
                next_offset = batch.next_offset
                continue
            for record in batch:
                at = record.offset
                if at < offset:
                    continue
                headers = record.headers
                keep(
                    (
                        at,
                        record.timestamp,
                        record.key,
                        record.value,
                        tuple(headers) if headers else (),
                    )
                )
                if len(records) == limit:
                    return FetchResult(records, at + 1, high_watermark, log_start)
            next_offset = batch.next_offset
    return FetchResult(records, next_offset, high_watermark, log_start)
