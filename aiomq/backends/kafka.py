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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from ..errors import BrokerUnavailable, ClosedError, UnknownTopic
from ..message import validate_topic
from ._kafka_errors import map_errors, raise_for_code
from .base import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    FetchResult,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicInfo,
    TopicPartition,
)

__all__ = ["KafkaBackend"]

log = logging.getLogger("aiomq")

_T = TypeVar("_T")

# Kafka error codes the retry loops look at; everything else goes to raise_for_code.
_UNKNOWN_TOPIC = 3
_LEADER_NOT_AVAILABLE = 5
_NOT_LEADER = 6
_COORDINATOR_LOADING = 14
_COORDINATOR_NOT_AVAILABLE = 15
_NOT_COORDINATOR = 16
_RETRY_LEADER = {_LEADER_NOT_AVAILABLE, _NOT_LEADER, _UNKNOWN_TOPIC}
_RETRY_COORDINATOR = {_COORDINATOR_LOADING, _COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR}

_READ_UNCOMMITTED = 0
_BACKOFF = 0.05  # first retry pause; doubles up to _MAX_BACKOFF
_MAX_BACKOFF = 1.0
_NO_LEADER = -1
_NO_HEADERS: list[tuple[str, bytes]] = []  # shared, never mutated: read by the builder only


class _Retry(Exception):
    """Raised inside a retry loop: refresh metadata, pause, try again (until the deadline)."""


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


class KafkaBackend:
    """``Backend`` over a Kafka cluster; what ``aiomq.connect("kafka://host:port")`` opens.

    Connects on ``open()`` (or on first use). ``auto_create_topics`` is the client's side of
    auto-creation (Java's ``allow.auto.create.topics``): metadata requests ask the broker to
    create a missing topic only when it is on, and the broker's ``auto.create.topics.enable``
    decides. Reads are ``read_uncommitted``. The producer acknowledges as
    ``config.producer.required_acks`` says.
    """

    def __init__(
        self,
        hosts: Sequence[tuple[str, int]],
        config: Config,
        *,
        url: str,
        auto_create_topics: bool = True,
    ) -> None:
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
        # auto-creates whatever it tracks, which must not happen behind a delete).
        self._leaders: dict[str, list[int]] = {}
        self._brokers: dict[int, tuple[str, int]] = {}
        self._coordinators: dict[str, int] = {}
        self._default_replication: int | None = None
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
        """Bootstrap cluster metadata; ``BrokerUnavailable`` when no broker answers."""
        await self._ready()

    async def _ready(self) -> AIOKafkaClient:
        if self._closed:
            raise ClosedError(f"backend {self._url!r} is closed")
        if self._client is not None:
            return self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                client = AIOKafkaClient(bootstrap_servers=self._bootstrap, **self._kwargs)
                try:
                    with map_errors(f"connecting to {self._bootstrap}"):
                        await client.bootstrap()
                except BaseException:
                    await client.close()
                    raise
                for broker in client.cluster.brokers():
                    self._brokers[broker.nodeId] = (broker.host, broker.port)
                self._client = client
            if self._closed:
                raise ClosedError(f"backend {self._url!r} is closed")
            return self._client

    async def _producer_ready(self) -> AIOKafkaProducer:
        await self._ready()
        if self._producer is None:
            assert self._lock is not None
            async with self._lock:
                if self._producer is None:
                    limit = self._config.producer.max_message_bytes
                    producer = AIOKafkaProducer(
                        bootstrap_servers=self._bootstrap,
                        acks=int(self._config.producer.required_acks),
                        compression_type=self._config.producer.compression.aiokafka_name,
                        # One aiomq batch is one Kafka batch when it fits a request.
                        max_batch_size=limit,
                        max_request_size=limit,
                        linger_ms=0,
                        **self._kwargs,
                    )
                    try:
                        with map_errors("starting the producer"):
                            await producer.start()
                    except BaseException:
                        await producer.stop()
                        raise
                    self._producer = producer
        if self._closed:
            raise ClosedError(f"backend {self._url!r} is closed")
        return self._producer

    async def _admin_ready(self) -> AIOKafkaAdminClient:
        await self._ready()
        if self._admin is None:
            assert self._lock is not None
            async with self._lock:
                if self._admin is None:
                    admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._kwargs)
                    try:
                        with map_errors("starting the admin client"):
                            await admin.start()
                    except BaseException:
                        await admin.close()
                        raise
                    self._admin = admin
        return self._admin

    async def aclose(self) -> None:
        """Close connections; in-flight fetches fail with ``ClosedError``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            conn.close()
        self._busy.clear()
        self._idle.clear()
        closers: list[Callable[[], Awaitable[Any]]] = []
        if self._producer is not None:
            closers.append(self._producer.stop)
        if self._admin is not None:
            closers.append(self._admin.close)
        if self._client is not None:
            closers.append(self._client.close)
        self._producer = self._admin = self._client = None
        for close in closers:
            try:
                await close()
            except Exception:
                log.exception("aiomq: closing %r failed", close)

    # -- metadata ------------------------------------------------------------------------

    async def _metadata(self, topics: list[str] | None, *, allow_create: bool) -> Any:
        """One Metadata request (all topics for None); refreshes the broker and leader maps."""
        client = await self._ready()
        request = MetadataRequest(topics, allow_auto_topic_creation=allow_create)
        with map_errors("metadata request"):
            response = await client.send(client.get_random_node(), request)
        for node_id, host, port, *_ in response.brokers:
            self._brokers[node_id] = (host, port)
        return response

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
        """Leader of each partition of ``topic`` (asked fresh); waits while leaders are elected.

        ``created``: the topic was just created, so "unknown" means the broker asked has not
        heard yet (metadata spreads from the controller), not that the topic is missing.
        """

        async def attempt() -> list[int]:
            response = await self._metadata([topic], allow_create=allow_create)
            for error, name, *rest in response.topics:
                if name != topic:
                    continue
                if error == _UNKNOWN_TOPIC:
                    self._leaders.pop(topic, None)
                    if created:
                        raise _Retry(f"topic {topic!r} is not known everywhere yet")
                    raise UnknownTopic(f"topic {topic!r} does not exist")
                if error == _LEADER_NOT_AVAILABLE:
                    raise _Retry(f"topic {topic!r} has no leader yet")
                raise_for_code(error, f"metadata of {topic!r}")
                partitions = rest[-1]
                leaders = [_NO_LEADER] * len(partitions)
                for _p_error, partition, leader, *_ in partitions:
                    leaders[partition] = leader
                if not leaders or _NO_LEADER in leaders:
                    raise _Retry(f"topic {topic!r} has partitions without a leader")
                self._leaders[topic] = leaders
                return leaders
            if created:
                raise _Retry(f"topic {topic!r} is not listed yet")
            raise UnknownTopic(f"topic {topic!r} does not exist")

        validate_topic(topic)
        return await self._retrying(f"metadata of {topic!r}", attempt)

    async def _leader(self, topic: str, partition: int) -> int:
        leaders = self._leaders.get(topic)
        if leaders is None or partition >= len(leaders):
            leaders = await self._topic_leaders(topic)
        if not 0 <= partition < len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        return leaders[partition]

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (``Backend.partitions``); may auto-create it."""
        return list(range(len(await self._topic_leaders(topic, allow_create=self._auto_create))))

    # -- records -------------------------------------------------------------------------

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append a batch with ``create_batch`` + ``send_batch`` (``Backend.produce``).

        A batch larger than ``producer.max_message_bytes`` is split into several Kafka
        batches, sent in order; if one fails, those before it stay written.
        """
        if not records:
            await self._ready()
            return ProduceResult(range(0), [])
        leaders = self._leaders.get(topic)
        if leaders is None or not 0 <= partition < len(leaders):
            leaders = await self._topic_leaders(topic, allow_create=self._auto_create)
        if not 0 <= partition < len(leaders):
            raise UnknownTopic(f"topic {topic!r} has no partition {partition}")
        producer = await self._producer_ready()
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
            try:
                acks = [await future for future, _, _ in sent]
            except Exception:
                self._leaders.pop(topic, None)  # a stale leader is the likely cause
                raise
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

        ``max_wait`` is capped one second below ``net.request_timeout``, so the broker
        always answers before the request would time out.
        """
        await self._ready()
        wait_ms = max(0, min(int(max_wait * 1000), int(self._request_timeout * 1000) - 1000))
        request = FetchRequest(
            wait_ms,
            min_bytes,
            max_bytes,
            _READ_UNCOMMITTED,
            [(topic, [(partition, offset, max_bytes)])],
        )

        async def attempt() -> FetchResult:
            leader = await self._leader(topic, partition)
            conn = await self._connection(leader)
            if self._closed:  # closed while connecting: aclose() could not see this one
                conn.close()
                raise ClosedError(f"backend {self._url!r} is closed")
            self._busy.add(conn)
            try:
                with map_errors(f"fetch from {topic}[{partition}]"):
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
            self._idle.setdefault(leader, []).append(conn)
            _, parts = response.topics[0]
            _, error, high_watermark, *rest = parts[0]
            if error in _RETRY_LEADER:
                self._leaders.pop(topic, None)
                if error == _UNKNOWN_TOPIC:
                    await self._topic_leaders(topic)  # raises UnknownTopic if it is gone
                raise _Retry(f"fetch from {topic}[{partition}]: error {error}")
            raise_for_code(error, f"fetch from {topic}[{partition}] at offset {offset}")
            log_start = rest[1] if response.API_VERSION >= 5 else -1
            return _decode(rest[-1], offset, high_watermark, log_start, max_records)

        return await self._retrying(f"fetch from {topic}[{partition}]", attempt)

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """ListOffsets to each leader (``Backend.list_offsets``)."""
        for spec in specs.values():
            if spec < 0 and spec not in (EARLIEST, LATEST):
                raise ValueError(f"offset spec must be EARLIEST, LATEST or >= 0, not {spec}")

        async def one_leader(node_id: int, wanted: list[tuple[int, int]]) -> dict[int, int | None]:
            client = await self._ready()
            request = OffsetRequest(-1, _READ_UNCOMMITTED, [(topic, wanted)])
            with map_errors(f"list offsets of {topic!r}"):
                response = await client.send(node_id, request)
            out: dict[int, int | None] = {}
            for _, parts in response.topics:
                for partition, error, *info in parts:
                    if error in _RETRY_LEADER:
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
        validate_topic(name)
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, not {partitions!r}")
        if replication is not None and (
            isinstance(replication, bool) or not isinstance(replication, int) or replication < 1
        ):
            raise ValueError(f"replication factor must be an int >= 1, not {replication!r}")
        configs = dict(config or {})
        for key, value in configs.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"topic config must map str to str, not {key!r}: {value!r}")
        admin = await self._admin_ready()
        if replication is None:
            replication = await self._broker_default_replication(admin)
        with map_errors(f"create topic {name!r}"):
            response = await admin.create_topics(
                [NewTopic(name, partitions, replication, topic_configs=configs)]
            )
        for topic_name, error, *message in response.topic_errors:
            if topic_name == name and error:
                detail = f" ({message[0]})" if message and message[0] else ""
                raise_for_code(error, f"create topic {name!r}{detail}")
        await self._topic_leaders(name, created=True)  # visible, with leaders, on return

    async def _broker_default_replication(self, admin: AIOKafkaAdminClient) -> int:
        # CreateTopics v3 (aiokafka's newest) cannot say "the broker's default", so read it.
        if self._default_replication is None:
            try:
                node = (await self._ready()).get_random_node()
                with map_errors("describe broker config"):
                    responses = await admin.describe_configs(
                        [
                            ConfigResource(
                                ConfigResourceType.BROKER,
                                str(node),
                                configs={"default.replication.factor": None},
                            )
                        ]
                    )
                value = 1
                for response in responses:
                    for _err, _msg, _kind, _name, entries, *_ in response.resources:
                        for entry_name, entry_value, *_ in entries:
                            if entry_name == "default.replication.factor":
                                value = int(entry_value)
                self._default_replication = value
            except (ValueError, BrokerUnavailable) as exc:
                log.warning("aiomq: default.replication.factor unknown (%s); using 1", exc)
                return 1
        return self._default_replication

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
            response = await self._metadata([name], allow_create=False)
            for error, topic_name, *_ in response.topics:
                if topic_name == name and error != _UNKNOWN_TOPIC:
                    raise _Retry(f"topic {name!r} is still listed")

        await self._retrying(f"delete topic {name!r}", gone)

    async def list_topics(self) -> list[str]:
        """Names of the non-internal topics, sorted."""
        response = await self._metadata(None, allow_create=False)
        return sorted(
            name
            for error, name, *rest in response.topics
            if error == 0 and not (len(rest) > 1 and rest[0])  # rest[0]: is_internal (v1+)
        )

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions with leader, replicas and ISR; never creates it."""
        validate_topic(name)
        response = await self._metadata([name], allow_create=False)
        for error, topic_name, *rest in response.topics:
            if topic_name != name:
                continue
            if error == _UNKNOWN_TOPIC:
                raise UnknownTopic(f"topic {name!r} does not exist")
            if error != _LEADER_NOT_AVAILABLE:
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
        with map_errors(f"group {group!r}"):
            return await client.send(node, request, group=ConnectionGroup.COORDINATION)

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit with generation -1: a plain store (``Backend.commit_offsets``)."""
        if not isinstance(group, str) or not group:
            raise ValueError("group id must be a non-empty str")
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
                    if error in _RETRY_COORDINATOR:
                        self._coordinators.pop(group, None)
                        raise _Retry(f"commit for group {group!r}: error {error}")
                    raise_for_code(error, f"commit {topic}[{partition}] for group {group!r}")

        await self._retrying(f"commit for group {group!r}", attempt)

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """OffsetFetch for ``partitions`` (``Backend.committed_offsets``)."""
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        if not by_topic:
            return {}
        request = OffsetFetchRequest(group, list(by_topic.items()))

        async def attempt() -> dict[TopicPartition, CommittedOffset]:
            response = await self._to_coordinator(group, request)
            top_error = getattr(response, "error_code", 0)
            if top_error in _RETRY_COORDINATOR:
                self._coordinators.pop(group, None)
                raise _Retry(f"offsets of group {group!r}: error {top_error}")
            raise_for_code(top_error, f"offsets of group {group!r}")
            out: dict[TopicPartition, CommittedOffset] = {}
            for topic, parts in response.topics:
                for partition, offset, metadata, error in parts:
                    if error in _RETRY_COORDINATOR:
                        self._coordinators.pop(group, None)
                        raise _Retry(f"offsets of group {group!r}: error {error}")
                    if error == _UNKNOWN_TOPIC:
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
