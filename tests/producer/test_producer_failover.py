"""The producers on the three-node cluster while a partition's leader is killed (``kill
-9``): 100,000 idempotent acks=all messages, several batches of the partition in flight at a
time, every acknowledged one in the log exactly once, in the order it was sent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, cast

import anyio
import pytest

from aiomq.backends.base import LATEST, Backend, ProduceRecord, ProduceResult
from aiomq.client import Client, connect
from aiomq.config import Config
from aiomq.message import ProducerMessage
from aiomq.testing import LocalKafka
from tests.backends.common import VALUE
from tests.backends.test_kafka_failover import described_when, kill

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.asyncio, pytest.mark.timeout(240)]

COUNT = 100_000


class InFlight:
    """Wraps a client's backend: counts the produce calls in flight, and the most at once."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.now = 0
        self.peak = 0

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.backend.produce(topic, partition, records)
        finally:
            self.now -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def count_in_flight(client: Client) -> InFlight:
    wrapped = InFlight(client.backend)
    client._session.backend = cast(Backend, wrapped)
    return wrapped


async def read_log(client: Client, topic: str, end: int) -> list[int]:
    """The numbers in the values of the partition's first ``end`` records."""
    log: list[int] = []
    offset = 0
    with anyio.fail_after(60):
        while offset < end:
            fetched = await client.backend.fetch(topic, 0, offset, max_wait=5)
            log.extend(int(r[VALUE] or b"-1") for r in fetched.records)
            offset = fetched.next_offset
    return log


async def test_idempotent_messages_survive_a_leader_kill_once_and_in_order(
    aiomq_kafka_cluster: LocalKafka,
) -> None:
    cluster = aiomq_kafka_cluster
    topic = f"producer-failover-{uuid.uuid4().hex[:8]}"
    config = Config()  # acks=all and idempotent: the defaults
    config.producer.return_successes = True
    config.producer.timeout = 60.0
    config.net.request_timeout = 10.0
    async with connect(f"kafka://{cluster.bootstrap}", config) as client:
        admin = client.admin()
        await admin.create_topic(topic, partitions=1)
        info = await described_when(admin, topic, lambda t: len(t.partitions[0].isr) == 3)
        victim = info.partitions[0].leader
        in_flight = count_in_flight(client)
        producer = client.async_producer()
        acked: dict[int, int] = {}  # message number -> offset
        failed: list[BaseException] = []
        midway = asyncio.Event()
        try:

            async def results() -> None:
                assert producer.successes is not None
                async for message in producer.successes:
                    assert message.offset is not None
                    acked[message.metadata] = message.offset
                    if len(acked) == COUNT // 4:
                        midway.set()

            async def errors() -> None:
                async for error in producer.errors:
                    failed.append(error.cause)

            with anyio.fail_after(180):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(results)
                    tg.start_soon(errors)
                    for number in range(COUNT):
                        await producer.input.send(
                            ProducerMessage(topic, b"%d" % number, partition=0, metadata=number)
                        )
                        if number == COUNT // 2:
                            await midway.wait()  # a quarter acknowledged, half sent: kill
                            await kill(cluster, victim)
                    await producer.aclose()
            assert failed == [], failed[:3]
            assert len(acked) == COUNT
            end = (await client.backend.list_offsets(topic, {0: LATEST}))[0]
            assert end == COUNT  # nothing written twice
            assert await read_log(client, topic, end) == list(range(COUNT))  # once, in order
            assert all(acked[n] == n for n in range(COUNT))  # acknowledged where it is
            assert in_flight.peak > 1  # batches were pipelined
        finally:
            await asyncio.to_thread(cluster.restart, victim)


async def test_send_many_survives_a_leader_kill_once_and_in_order(
    aiomq_kafka_cluster: LocalKafka,
) -> None:
    cluster = aiomq_kafka_cluster
    topic = f"producer-failover-{uuid.uuid4().hex[:8]}"
    config = Config()
    config.producer.timeout = 60.0
    config.net.request_timeout = 10.0
    per_call = 1000
    async with connect(f"kafka://{cluster.bootstrap}", config) as client:
        admin = client.admin()
        await admin.create_topic(topic, partitions=1)
        info = await described_when(admin, topic, lambda t: len(t.partitions[0].isr) == 3)
        victim = info.partitions[0].leader
        in_flight = count_in_flight(client)
        offsets: list[int] = []
        killing: asyncio.Future[None] | None = None
        try:
            with anyio.fail_after(180):
                async with client.sync_producer() as producer:
                    for start in range(0, COUNT, per_call):
                        if start == COUNT // 2:  # killed while the next calls are in flight
                            killing = asyncio.ensure_future(kill(cluster, victim))
                        sent = await producer.send_many(
                            [
                                # 100 bytes: a call's records fill several batches
                                ProducerMessage(topic, b"%100d" % n, partition=0)
                                for n in range(start, start + per_call)
                            ]
                        )
                        offsets.extend(m.offset for m in sent)
                assert killing is not None
                await killing
            assert offsets == list(range(COUNT))  # acknowledged where it is
            end = (await client.backend.list_offsets(topic, {0: LATEST}))[0]
            assert end == COUNT  # nothing written twice
            assert await read_log(client, topic, end) == list(range(COUNT))  # once, in order
            assert in_flight.peak > 1  # batches were pipelined
        finally:
            await asyncio.to_thread(cluster.restart, victim)
