"""A consumer group on the three-node cluster while the node that leads its partitions and
coordinates the group is killed (``kill -9``): the group goes on, loses no record, and its
commits land with the new coordinator."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import pytest

from aiomq.backends import LATEST, CommittedOffset
from aiomq.client import connect
from aiomq.config import Acks, Config, GroupProtocol, Offset
from aiomq.message import ProducerMessage
from aiomq.testing import LocalKafka
from tests.backends.test_kafka_failover import (
    OFFSETS_TOPIC,
    coordinator_partition,
    described_when,
    kill,
)
from tests.group.conftest import BOTH_PROTOCOLS

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.cluster,
    pytest.mark.asyncio,
    pytest.mark.timeout(180),
    BOTH_PROTOCOLS,
]

PARTITIONS = 3
BEFORE = AFTER = 300


def settings(protocol: GroupProtocol) -> Config:
    config = Config()
    config.group.protocol = protocol
    if protocol is GroupProtocol.CLASSIC:
        config.group.session_timeout = 10.0
        config.group.heartbeat_interval = 0.5
    config.producer.required_acks = Acks.ALL
    config.producer.timeout = 30.0
    config.net.request_timeout = 15.0
    config.consumer.offsets.initial = Offset.OLDEST
    config.consumer.offsets.commit_interval = 0.2
    config.consumer.max_wait = 0.2
    return config


def messages(topic: str, start: int, count: int) -> list[ProducerMessage]:
    return [
        ProducerMessage(topic, b"%d" % i, partition=i % PARTITIONS)
        for i in range(start, start + count)
    ]


async def test_a_group_consumes_everything_through_the_loss_of_its_coordinator_and_leader(
    aiomq_kafka_cluster: LocalKafka, protocol: GroupProtocol
) -> None:
    cluster = aiomq_kafka_cluster
    topic = f"group-failover-{uuid.uuid4().hex[:8]}"
    async with connect(f"kafka://{cluster.bootstrap}", settings(protocol)) as client:
        admin = client.admin()
        await admin.create_topic(topic, partitions=PARTITIONS)
        info = await described_when(
            admin, topic, lambda t: all(len(p.isr) == 3 for p in t.partitions)
        )
        # A group whose coordinator also leads one of the topic's partitions.
        await client.backend.commit_offsets("warm-up", {(topic, 0): CommittedOffset(0)})
        offsets = await described_when(admin, OFFSETS_TOPIC, lambda t: True)
        leaders = {p.leader for p in info.partitions}
        victim, offsets_partition = next(
            (p.leader, p.id) for p in offsets.partitions if p.leader in leaders
        )
        group_id = next(
            name
            for name in (f"gf-{uuid.uuid4().hex[:6]}-{i}" for i in range(10_000))
            if coordinator_partition(name, len(offsets.partitions)) == offsets_partition
        )
        async with client.sync_producer() as producer:
            await producer.send_many(messages(topic, 0, BEFORE))
        seen: set[int] = set()
        progress = asyncio.Event()
        try:
            async with client.group(group_id, [topic]) as group:

                async def consume() -> None:
                    async for message in group:
                        seen.add(int(message.value))
                        group.mark_offset(message)
                        progress.set()

                task = asyncio.ensure_future(consume())
                try:
                    with anyio.fail_after(60):
                        while len(seen) < BEFORE:
                            progress.clear()
                            await progress.wait()
                    await kill(cluster, victim)
                    async with client.sync_producer() as producer:
                        await producer.send_many(messages(topic, BEFORE, AFTER))
                    with anyio.fail_after(90):
                        while len(seen) < BEFORE + AFTER:
                            progress.clear()
                            await progress.wait()
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            # Closing committed every mark, with the coordinator that took over.
            ends = await client.backend.list_offsets(
                topic, dict.fromkeys(range(PARTITIONS), LATEST)
            )
            committed = await client.backend.committed_offsets(
                group_id, [(topic, p) for p in range(PARTITIONS)]
            )
            assert {tp[1]: c.offset for tp, c in committed.items()} == ends
        finally:
            await asyncio.to_thread(cluster.restart, victim)
    assert seen == set(range(BEFORE + AFTER))
