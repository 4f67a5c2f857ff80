"""The Kafka backend on the three-node cluster, with a node killed (``kill -9``) under it.

Each test kills one node and starts it again at the end, so the session's cluster is whole
for the next test. A killed node is fenced after ``broker.session.timeout.ms`` (4 s on the
test cluster); until then its partitions have no other leader.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import anyio
import pytest

from aiomq.admin import Admin, TopicInfo
from aiomq.backends import LATEST, CommittedOffset, FetchResult
from aiomq.client import connect
from aiomq.config import Acks, Config
from aiomq.errors import BrokerUnavailable, UnknownTopic
from aiomq.testing import LocalKafka
from tests.backends.common import OFFSET, VALUE, values

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.asyncio]

OFFSETS_TOPIC = "__consumer_offsets"


def config(*, request_timeout: float = 30.0, producer_timeout: float = 30.0) -> Config:
    settings = Config()
    settings.producer.required_acks = Acks.ALL
    settings.producer.timeout = producer_timeout
    settings.net.request_timeout = request_timeout
    return settings


async def described_when(
    admin: Admin, topic: str, ready: Callable[[TopicInfo], bool], within: float = 30.0
) -> TopicInfo:
    """The topic's description once ``ready`` holds for it (polled: the deadline is the point)."""
    deadline = time.monotonic() + within
    while True:
        try:
            info = await admin.describe_topic(topic)
        except UnknownTopic:
            info = TopicInfo(topic)
        if info.partitions and ready(info):
            return info
        assert time.monotonic() < deadline, f"timed out; {topic} is now {info}"
        await asyncio.sleep(0.2)


def coordinator_partition(group: str, partitions: int) -> int:
    """The ``__consumer_offsets`` partition of ``group``: Java's ``abs(hashCode) % n``."""
    h = 0
    for char in group:
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    signed = h - (1 << 32) if h & 0x80000000 else h
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


async def kill(cluster: LocalKafka, node_id: int) -> None:
    await asyncio.to_thread(cluster.kill, node_id)


async def test_fetch_produce_and_commit_go_on_after_the_leader_is_killed(
    aiomq_kafka_cluster: LocalKafka,
) -> None:
    cluster = aiomq_kafka_cluster
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    async with connect(f"kafka://{cluster.bootstrap}", config()) as client:
        admin = client.admin()
        await admin.create_topic(topic, partitions=3)
        info = await described_when(
            admin, topic, lambda t: all(len(p.isr) == 3 for p in t.partitions)
        )
        # No replication given: the cluster's default.replication.factor, 3.
        assert all(len(p.replicas) == 3 for p in info.partitions)

        # A node that leads a partition of the topic and coordinates a group: kill it.
        backend = client.backend
        await backend.commit_offsets("warm-up", {(topic, 0): CommittedOffset(0)})
        offsets = await described_when(admin, OFFSETS_TOPIC, lambda t: True)
        leaders = {p.leader: p.id for p in info.partitions}
        victim, offsets_partition = next(
            (p.leader, p.id) for p in offsets.partitions if p.leader in leaders
        )
        partition = leaders[victim]
        group = next(
            name
            for name in (f"g-{i}" for i in range(1000))
            if coordinator_partition(name, len(offsets.partitions)) == offsets_partition
        )

        # Leader, pooled fetch connection and coordinator all cached, then the node dies.
        await backend.produce(topic, partition, values(3))
        before = await backend.fetch(topic, partition, 0, max_wait=10)
        assert [r[VALUE] for r in before.records] == [b"v0", b"v1", b"v2"]
        await backend.commit_offsets(group, {(topic, partition): CommittedOffset(3)})
        try:
            waiting: list[FetchResult] = []

            async def long_poll() -> None:
                waiting.append(await backend.fetch(topic, partition, 3, max_wait=20))

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_poll)
                await anyio.wait_all_tasks_blocked()  # parked at the leader, in all likelihood
                await kill(cluster, victim)
                await backend.produce(topic, partition, values(3, 3))
            assert [r[OFFSET] for r in waiting[0].records][:1] == [3]
            after = await backend.fetch(topic, partition, 3, max_wait=10)
            assert [r[VALUE] for r in after.records] == [b"v3", b"v4", b"v5"]
            assert await backend.list_offsets(topic, {partition: LATEST}) == {partition: 6}
            await backend.commit_offsets(group, {(topic, partition): CommittedOffset(6)})
            assert await backend.committed_offsets(group, [(topic, partition)]) == {
                (topic, partition): CommittedOffset(6)
            }
            now = await admin.describe_topic(topic)
            assert now.partitions[partition].leader not in (victim, -1)
        finally:
            await asyncio.to_thread(cluster.restart, victim)


async def test_a_partition_without_a_leader_holds_up_only_itself(
    aiomq_kafka_cluster: LocalKafka,
) -> None:
    cluster = aiomq_kafka_cluster
    url = f"kafka://{cluster.bootstrap}"
    topic = f"leaderless-{uuid.uuid4().hex[:8]}"
    async with connect(url, config()) as setup:
        admin = setup.admin()
        await admin.create_topic(topic, partitions=3, replication=1)  # one copy each
        info = await admin.describe_topic(topic)
        victim = info.partitions[0].leader
        healthy = next(p.id for p in info.partitions if p.leader != victim)
        await kill(cluster, victim)
        try:
            await described_when(admin, topic, lambda t: t.partitions[0].leader == -1)

            # A fresh client, nothing cached. net.request_timeout is long (15 s), so waiting
            # for partition 0's leader would show.
            settings = config(request_timeout=15.0, producer_timeout=1.0)
            async with connect(url, settings) as client:
                start = time.monotonic()
                assert await client.partitions(topic) == [0, 1, 2]
                await client.backend.produce(topic, healthy, values(2))
                got = await client.backend.fetch(topic, healthy, 0, max_wait=10)
                assert [r[VALUE] for r in got.records] == [b"v0", b"v1"]
                assert await client.backend.list_offsets(topic, {healthy: LATEST}) == {healthy: 2}
                assert topic in await client.admin().list_topics()
                assert time.monotonic() - start < 5

                # producer.timeout, not net.request_timeout, bounds a send to partition 0.
                start = time.monotonic()
                with pytest.raises(BrokerUnavailable):
                    await client.backend.produce(topic, 0, values(1))
                assert time.monotonic() - start < 6

            # A fetch from it waits for a leader as long as net.request_timeout allows.
            async with connect(url, config(request_timeout=2.0)) as impatient:
                with pytest.raises(BrokerUnavailable, match="no leader"):
                    await impatient.backend.fetch(topic, 0, 0, max_wait=0.5)
        finally:
            await asyncio.to_thread(cluster.restart, victim)


async def test_idempotent_produce_survives_a_leader_kill_once_and_in_order(
    aiomq_kafka_cluster: LocalKafka,
) -> None:
    """Writers keep producing while the leader is killed: every acknowledged record is in
    the log exactly once, at the offset it was acknowledged with, in its writer's order, and
    no record at all is written twice (retries re-send batches with their sequences)."""
    cluster = aiomq_kafka_cluster
    topic = f"idempotent-{uuid.uuid4().hex[:8]}"
    settings = config(request_timeout=10.0, producer_timeout=30.0)
    settings.producer.idempotent = True
    async with connect(f"kafka://{cluster.bootstrap}", settings) as client:
        admin = client.admin()
        await admin.create_topic(topic, partitions=1)
        info = await described_when(admin, topic, lambda t: len(t.partitions[0].isr) == 3)
        victim = info.partitions[0].leader
        backend = client.backend
        acked: dict[bytes, int] = {}  # value -> offset, from each acknowledgement
        order: dict[int, list[bytes]] = {}  # writer -> its acknowledged values, in order
        failures: list[BaseException] = []
        midway = anyio.Event()  # enough acknowledged to kill mid-stream
        killed = anyio.Event()
        after_kill = 0

        async def writer(number: int) -> None:
            nonlocal after_kill
            order[number] = []
            for batch in range(40):
                records = [(None, b"w%d-%d-%d" % (number, batch, i), (), None) for i in range(10)]
                try:
                    result = await backend.produce(topic, 0, records)
                except BrokerUnavailable as exc:  # allowed; its records must not be doubled
                    failures.append(exc)
                    continue
                for (_, value, _, _), offset in zip(records, result.offsets, strict=True):
                    assert value is not None
                    acked[value] = offset
                    order[number].append(value)
                if len(acked) >= 200:
                    midway.set()
                if killed.is_set():
                    after_kill += 1

        try:
            with anyio.fail_after(50):
                async with anyio.create_task_group() as tg:
                    for number in range(4):
                        tg.start_soon(writer, number)
                    await midway.wait()
                    await kill(cluster, victim)
                    killed.set()
            assert after_kill > 0, "no batch was acknowledged after the kill"
            now = await described_when(admin, topic, lambda t: t.partitions[0].leader != -1)
            assert now.partitions[0].leader != victim
            end = (await backend.list_offsets(topic, {0: LATEST}))[0]
            assert end is not None
            log: list[bytes] = []
            offset = 0
            while offset < end:
                fetched = await backend.fetch(topic, 0, offset, max_wait=10)
                log.extend(r[VALUE] or b"" for r in fetched.records)
                assert [r[OFFSET] for r in fetched.records] == list(
                    range(offset, offset + len(fetched.records))
                )
                offset = fetched.next_offset
            assert len(log) == len(set(log)), "a record was written twice"
            position = {value: at for at, value in enumerate(log)}
            assert {value: position.get(value) for value in acked} == acked
            for values_in_order in order.values():
                offsets = [acked[value] for value in values_in_order]
                assert offsets == sorted(offsets)
        finally:
            await asyncio.to_thread(cluster.restart, victim)
