"""The session broker through plain aiokafka: records, group offsets, a transaction."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from aiomq.testing import KafkaBroker
from aiomq.testing._probe import delete_topic

pytestmark = pytest.mark.kafka

TIMEOUT = 30.0


class TestSessionBroker:
    @pytest.mark.asyncio
    async def test_produce_then_consume(
        self, aiomq_kafka: KafkaBroker, aiomq_kafka_topic: str
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=aiomq_kafka.bootstrap, acks="all")
        await producer.start()
        try:
            sent = [
                await producer.send_and_wait(aiomq_kafka_topic, f"v{i}".encode(), key=b"k")
                for i in range(5)
            ]
        finally:
            await producer.stop()
        assert [m.offset for m in sent] == [0, 1, 2, 3, 4]

        consumer = AIOKafkaConsumer(
            aiomq_kafka_topic,
            bootstrap_servers=aiomq_kafka.bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            got = [await asyncio.wait_for(consumer.getone(), TIMEOUT) for _ in range(5)]
        finally:
            await consumer.stop()
        assert [(m.key, m.value, m.offset) for m in got] == [
            (b"k", f"v{i}".encode(), i) for i in range(5)
        ]

    @pytest.mark.asyncio
    async def test_group_commit_resumes_after_committed_offset(
        self, aiomq_kafka: KafkaBroker, aiomq_kafka_topic: str
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=aiomq_kafka.bootstrap)
        await producer.start()
        try:
            for i in range(4):
                await producer.send_and_wait(aiomq_kafka_topic, f"m{i}".encode())
        finally:
            await producer.stop()

        def member() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                aiomq_kafka_topic,
                bootstrap_servers=aiomq_kafka.bootstrap,
                group_id=f"{aiomq_kafka_topic}-group",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )

        partition = TopicPartition(aiomq_kafka_topic, 0)
        first = member()
        await first.start()
        try:
            m0 = await asyncio.wait_for(first.getone(), TIMEOUT)
            m1 = await asyncio.wait_for(first.getone(), TIMEOUT)
            await first.commit({partition: m1.offset + 1})
            assert await first.committed(partition) == 2
        finally:
            await first.stop()
        assert (m0.value, m1.value) == (b"m0", b"m1")

        second = member()  # same group: starts at the committed offset, not at the beginning
        await second.start()
        try:
            resumed = await asyncio.wait_for(second.getone(), TIMEOUT)
        finally:
            await second.stop()
        assert (resumed.offset, resumed.value) == (2, b"m2")

    @pytest.mark.asyncio
    async def test_transaction_commits_and_aborts(
        self, aiomq_kafka: KafkaBroker, aiomq_kafka_topic: str
    ) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=aiomq_kafka.bootstrap,
            transactional_id=f"{aiomq_kafka_topic}-tx",
        )

        async def aborted() -> None:
            async with producer.transaction():
                await producer.send_and_wait(aiomq_kafka_topic, b"aborted")
                raise RuntimeError("abort me")

        await producer.start()
        try:
            with pytest.raises(RuntimeError, match="abort me"):
                await aborted()
            async with producer.transaction():
                await producer.send_and_wait(aiomq_kafka_topic, b"committed-1")
                await producer.send_and_wait(aiomq_kafka_topic, b"committed-2")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            aiomq_kafka_topic,
            bootstrap_servers=aiomq_kafka.bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            got = [await asyncio.wait_for(consumer.getone(), TIMEOUT) for _ in range(2)]
        finally:
            await consumer.stop()
        # The aborted record and the transaction markers are never handed out.
        assert [m.value for m in got] == [b"committed-1", b"committed-2"]

    @pytest.mark.parametrize("aiomq_kafka_topic", [3], indirect=True)
    @pytest.mark.asyncio
    async def test_topic_fixture_takes_a_partition_count(
        self, aiomq_kafka: KafkaBroker, aiomq_kafka_topic: str
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=aiomq_kafka.bootstrap)
        await producer.start()
        try:
            partitions = await producer.partitions_for(aiomq_kafka_topic)
        finally:
            await producer.stop()
        assert partitions == {0, 1, 2}

    def test_deleting_a_missing_topic_is_an_error(self, aiomq_kafka: KafkaBroker) -> None:
        # The broker's answer code is checked, not only the request sent.
        with pytest.raises(RuntimeError, match="error 3"):
            delete_topic(aiomq_kafka.bootstrap, f"absent-{uuid.uuid4().hex[:8]}")
