"""The three-node cluster: acks=all writes go on with a node killed, and the node rejoins."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError

from aiomq.testing import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

PARTITIONS = 3


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[dict[str, Any]]:
    (described,) = await admin.describe_topics([topic])
    return sorted(described["partitions"], key=lambda p: p["partition"])


async def _wait_until(admin: AIOKafkaAdminClient, topic: str, check: Any, within: float) -> None:
    deadline = time.monotonic() + within
    parts: list[dict[str, Any]] | str = []
    while True:
        try:
            parts = await _partitions(admin, topic)
        except (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError) as exc:
            # The admin client may still pick a killed node for metadata: retry elsewhere.
            parts = repr(exc)
        else:
            if len(parts) == PARTITIONS and all(check(p) for p in parts):
                return
        assert time.monotonic() < deadline, f"timed out; partitions now: {parts}"
        await asyncio.sleep(0.2)  # polling metadata: the deadline above bounds it


class TestCluster:
    @pytest.mark.asyncio
    async def test_three_brokers_with_replicated_internal_topics(
        self, aiomq_kafka_cluster: LocalKafka
    ) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=aiomq_kafka_cluster.bootstrap)
        await admin.start()
        try:
            cluster = await admin.describe_cluster()
            (response,) = await admin.describe_configs([ConfigResource("BROKER", "2")])
        finally:
            await admin.close()
        assert sorted(b["node_id"] for b in cluster["brokers"]) == [1, 2, 3]
        assert [n.running for n in aiomq_kafka_cluster.nodes] == [True, True, True]
        (resource,) = response.resources
        configs = {entry[0]: entry[1] for entry in resource[4]}
        assert configs["offsets.topic.replication.factor"] == "3"
        assert configs["offsets.topic.num.partitions"] == "3"
        assert configs["transaction.state.log.replication.factor"] == "3"
        assert configs["transaction.state.log.num.partitions"] == "3"
        assert configs["min.insync.replicas"] == "2"

    @pytest.mark.asyncio
    async def test_acks_all_writes_survive_kill_9_and_node_rejoins(
        self, aiomq_kafka_cluster: LocalKafka
    ) -> None:
        cluster = aiomq_kafka_cluster
        topic = f"aiomq-fault-{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        await admin.start()
        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.bootstrap, acks="all", request_timeout_ms=40_000
        )
        try:
            await admin.create_topics([NewTopic(topic, PARTITIONS, 3)])
            await _wait_until(admin, topic, lambda p: len(p["isr"]) == 3, 30)
            await producer.start()
            offsets = [
                await producer.send_and_wait(topic, b"before", partition=i % 3) for i in range(6)
            ]
            assert all(m.offset >= 0 for m in offsets)

            # Kill the leader of partition 0: its partitions must fail over, the others
            # shrink their ISR to two, which min.insync.replicas=2 still accepts.
            victim = (await _partitions(admin, topic))[0]["leader"]
            cluster.kill(victim)
            assert not cluster.node(victim).running
            during = [
                await producer.send_and_wait(topic, b"during", partition=i % 3) for i in range(9)
            ]
            assert len(during) == 9
            await _wait_until(admin, topic, lambda p: victim not in p["isr"], 60)

            await asyncio.to_thread(cluster.restart, victim)
            assert cluster.node(victim).running
            await _wait_until(admin, topic, lambda p: victim in p["isr"], 60)
            after = [
                await producer.send_and_wait(topic, b"after", partition=i % 3) for i in range(3)
            ]
            assert len(after) == 3
        finally:
            await producer.stop()
            await admin.close()

        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            got = [await asyncio.wait_for(consumer.getone(), 30) for _ in range(18)]
        finally:
            await consumer.stop()
        assert sorted(m.value for m in got) == sorted(
            [b"before"] * 6 + [b"during"] * 9 + [b"after"] * 3
        )
