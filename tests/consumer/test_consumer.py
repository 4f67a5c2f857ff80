"""Consumer: listing topics and partitions, what consume_partition refuses, and closing."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from aiomq.client import Client, connect
from aiomq.config import Offset
from aiomq.errors import ClosedError, ConfigError, UnknownTopic
from tests.backends.common import create
from tests.consumer._helpers import produce, take
from tests.consumer.conftest import consumer_tasks

pytestmark = [pytest.mark.asyncio, pytest.mark.fail_after(40)]


class TestListing:
    async def test_topics_and_partitions(self, client: Client, topic: str) -> None:
        await create(client, topic, 3)
        consumer = client.consumer()
        assert topic in await consumer.topics()
        assert await consumer.partitions(topic) == [0, 1, 2]

    async def test_an_unknown_topic(self, backend_url: str, topic: str) -> None:
        async with connect(backend_url + "?auto_create_topics=false") as client:
            consumer = client.consumer()
            with pytest.raises(UnknownTopic):
                await consumer.partitions(topic)
            with pytest.raises(UnknownTopic):
                await consumer.consume_partition(topic, 0)
            with pytest.raises(UnknownTopic):
                async with consumer.consume(topic):
                    pass


class TestArguments:
    @pytest.mark.parametrize(
        ("topic_name", "partition", "offset", "field"),
        [
            ("not a topic!", 0, Offset.NEWEST, "topic"),
            ("", 0, Offset.NEWEST, "topic"),
            (["t"], 0, Offset.NEWEST, "topic"),
            (None, -1, Offset.NEWEST, "partition"),
            (None, True, Offset.NEWEST, "partition"),
            (None, "0", Offset.NEWEST, "partition"),
            (None, 2**31, Offset.NEWEST, "partition"),
            (None, 0, -3, "offset"),
            (None, 0, True, "offset"),
            (None, 0, 1.5, "offset"),
            (None, 0, "0", "offset"),
            (None, 0, 2**63, "offset"),
        ],
    )
    async def test_bad_arguments_name_themselves(
        self, client: Client, topic: str, topic_name: Any, partition: Any, offset: Any, field: str
    ) -> None:
        await create(client, topic)
        with pytest.raises(ConfigError) as info:
            await client.consumer().consume_partition(
                topic if topic_name is None else topic_name, partition, offset
            )
        assert info.value.field == field

    async def test_a_partition_the_topic_does_not_have(self, client: Client, topic: str) -> None:
        await create(client, topic, 3)
        with pytest.raises(UnknownTopic, match=r"no partition 3 \(it has 3\)"):
            await client.consumer().consume_partition(topic, 3)

    async def test_the_sentinels_as_plain_ints(self, client: Client, topic: str) -> None:
        await create(client, topic)
        await produce(client, topic, [b"a", b"b"])
        consumer = client.consumer()
        oldest = await consumer.consume_partition(topic, 0, -2)
        assert [m.value for m in await take(oldest, 2)] == [b"a", b"b"]
        await oldest.aclose()
        newest = await consumer.consume_partition(topic, 0, -1)
        await produce(client, topic, [b"c"])
        assert [m.offset for m in await take(newest, 1)] == [2]

    async def test_one_partition_once_per_consumer(self, client: Client, topic: str) -> None:
        await create(client, topic, 2)
        consumer = client.consumer()
        first = await consumer.consume_partition(topic, 0)
        with pytest.raises(ConfigError, match=r"\[0\] is already being consumed") as info:
            await consumer.consume_partition(topic, 0, Offset.OLDEST)
        assert info.value.field == "partition"
        other = await consumer.consume_partition(topic, 1)  # another partition is fine
        elsewhere = await client.consumer().consume_partition(topic, 0)  # another consumer too
        await first.aclose()
        again = await consumer.consume_partition(topic, 0)
        for pc in (other, elsewhere, again):
            await pc.aclose()


class TestClosing:
    async def test_closing_a_partition_consumer_ends_a_running_loop(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        pc = await client.consumer().consume_partition(topic, 0)
        reading, ended = anyio.Event(), anyio.Event()

        async def read() -> None:
            reading.set()
            async for _ in pc:
                pytest.fail("nothing was produced")
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await reading.wait()
            await pc.aclose()
            await pc.aclose()  # idempotent
            with anyio.fail_after(5):
                await ended.wait()
        assert consumer_tasks() == set()
        assert pc.closed
        with pytest.raises(ClosedError):
            pc.pause()
        with pytest.raises(ClosedError):
            await pc.seek(0)
        assert [m async for m in pc] == []

    async def test_closing_the_consumer_closes_what_it_made(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, 4)
        await produce(client, topic, [b"x"] * 3, 1)
        consumer = client.consumer()
        pcs = [await consumer.consume_partition(topic, p, Offset.OLDEST) for p in (0, 1)]
        assert len(await take(pcs[1], 1)) == 1  # part of its fetch is still to be yielded
        stream = consumer.consume(topic, Offset.OLDEST)
        with pytest.raises(ConfigError):
            await stream.start()  # partitions 0 and 1 are taken
        stream = client.consumer().consume(topic, Offset.OLDEST)
        await stream.start()
        await consumer.aclose()
        await consumer.aclose()  # idempotent
        assert all(pc.closed for pc in pcs)
        assert await take(pcs[1], 2) == []  # what was fetched and not yielded is dropped
        with pytest.raises(ClosedError):
            await consumer.consume_partition(topic, 0)
        with pytest.raises(ClosedError):
            consumer.consume(topic)
        with pytest.raises(ClosedError):
            await consumer.topics()
        with pytest.raises(ClosedError):
            await consumer.partitions(topic)
        assert not stream.closed  # another consumer's
        await stream.aclose()
        assert consumer_tasks() == set()

    async def test_closing_the_client_releases_everything(
        self, backend_url: str, topic: str
    ) -> None:
        before = asyncio.all_tasks()
        async with connect(backend_url) as client:
            await create(client, topic, 4)
            consumer = client.consumer()
            pc = await consumer.consume_partition(topic, 0)
            stream = client.consumer().consume(topic)
            await stream.start()
            async with client.consumer() as scoped:
                await scoped.consume_partition(topic, 0)
            assert consumer_tasks()
        assert consumer.closed
        assert pc.closed
        assert stream.closed
        assert consumer_tasks() == set()
        if backend_url.startswith("memory://"):
            assert asyncio.all_tasks() == before

    async def test_closing_finishes_when_cancelled(self, client: Client, topic: str) -> None:
        await create(client, topic, 4)
        consumer = client.consumer()
        pcs = [await consumer.consume_partition(topic, p) for p in range(2)]
        stream = client.consumer().consume(topic)
        await stream.start()
        for closing in (consumer.aclose(), stream.aclose()):
            task = asyncio.get_running_loop().create_task(closing)
            await asyncio.sleep(0)  # under way: waiting for the fetch tasks
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert all(pc.closed for pc in pcs)
        assert stream.closed
        assert consumer_tasks() == set()

    async def test_a_consumer_after_the_client_closed(self, backend_url: str) -> None:
        async with connect(backend_url) as client:
            pass
        with pytest.raises(ClosedError):
            client.consumer()
