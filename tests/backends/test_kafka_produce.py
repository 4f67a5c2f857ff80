"""The Kafka backend's own sender, on the session's real broker.

Concurrent produces to one partition all succeed within ``producer.timeout`` (aiokafka's
producer, used before, timed most of them out early); idempotent sends survive a lost
answer without writing twice; every codec round-trips; ``Acks.NONE`` answers at once.
A lost answer is made by letting a request reach the broker and failing it on the way back
(``Cluster.request`` wrapped): the broker wrote the batch, the sender believes it lost.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
import pytest_asyncio

from aiomq.backends import LATEST, ProduceResult
from aiomq.backends.kafka._cluster import Cluster
from aiomq.client import Client, connect
from aiomq.config import Acks, Compression, Config
from aiomq.errors import BrokerUnavailable
from tests.backends.common import (
    HEADERS,
    KEY,
    OFFSET,
    VALUE,
    fetch_all,
    kafka_bootstrap,
    rec,
    values,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]


@pytest.fixture
def kafka_url(request: pytest.FixtureRequest) -> str:
    return f"kafka://{kafka_bootstrap(request)}"


@pytest.fixture
def topic() -> str:
    return f"p-{uuid.uuid4().hex[:16]}"


def settings(*, idempotent: bool = False, timeout: float = 10.0) -> Config:
    config = Config()
    config.producer.required_acks = Acks.ALL
    config.producer.idempotent = idempotent
    config.producer.timeout = timeout
    return config


@pytest_asyncio.fixture
async def other(kafka_url: str) -> AsyncIterator[Client]:
    """A second client on the same broker, to read what the one under test wrote."""
    async with connect(kafka_url) as opened:
        yield opened


def answers_lost(monkeypatch: pytest.MonkeyPatch, times: int) -> list[Any]:
    """Fail the answer of the next ``times`` produce requests after the broker took them."""
    lost: list[Any] = []
    real: Callable[..., Awaitable[Any]] = Cluster.request

    async def request(self: Cluster, conn: Any, request: Any, **kwargs: Any) -> Any:
        response = await real(self, conn, request, **kwargs)
        if request.API_KEY == 0 and len(lost) < times:
            lost.append(response)
            raise BrokerUnavailable("answer lost on the way back (test)")
        return response

    monkeypatch.setattr(Cluster, "request", request)
    return lost


class TestConcurrency:
    @pytest.mark.parametrize("idempotent", [False, True])
    async def test_300_concurrent_single_record_produces_all_succeed(
        self, kafka_url: str, other: Client, topic: str, idempotent: bool
    ) -> None:
        await other.admin().create_topic(topic)
        async with connect(kafka_url, settings(idempotent=idempotent)) as client:
            await client.backend.produce(topic, 0, values(1))  # leader and connection known
            with anyio.fail_after(10):
                results = await asyncio.gather(
                    *(client.backend.produce(topic, 0, values(1, i)) for i in range(1, 301))
                )
        offsets = sorted(result.base_offset for result in results)
        assert offsets == list(range(1, 301))
        got = await fetch_all(other, topic, 0, 0, 301)
        assert sorted(r[VALUE] or b"" for r in got) == sorted(b"v%d" % i for i in range(301))

    async def test_10000_concurrent_produces_over_three_partitions_all_succeed(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic, partitions=3)
        # 10,000 requests on one connection take the broker a few seconds (more on a busy
        # machine); aiokafka's producer failed 69% of them after a fraction of a second.
        async with connect(kafka_url, settings(idempotent=True, timeout=30)) as client:
            with anyio.fail_after(45):
                results = await asyncio.gather(
                    *(client.backend.produce(topic, i % 3, values(1, i)) for i in range(10_000))
                )
        assert all(len(result.offsets) == 1 for result in results)
        assert await other.backend.list_offsets(topic, {0: LATEST, 1: LATEST, 2: LATEST}) == {
            0: 3334,
            1: 3333,
            2: 3333,
        }

    async def test_one_call_keeps_its_batches_in_order(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        config = settings(idempotent=True)
        config.producer.max_message_bytes = 10_000  # ~100 records per batch
        calls = [values(500, 1000 * c, size=50) for c in range(4)]
        async with connect(kafka_url, config) as client:
            results = await asyncio.gather(*(client.backend.produce(topic, 0, c) for c in calls))
        log = {r[OFFSET]: r[VALUE] for r in await fetch_all(other, topic, 0, 0, 2000)}
        for sent, result in zip(calls, results, strict=True):
            # Each call's records are in the log in its order (other calls' in between).
            assert list(result.offsets) == sorted(result.offsets)
            assert [log[offset] for offset in result.offsets] == [r[1] for r in sent]


class TestIdempotence:
    async def test_a_batch_sent_again_after_a_lost_answer_lands_once(
        self, kafka_url: str, other: Client, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await other.admin().create_topic(topic)
        async with connect(kafka_url, settings(idempotent=True)) as client:
            await client.backend.produce(topic, 0, values(2))
            lost = answers_lost(monkeypatch, times=1)
            result = await client.backend.produce(topic, 0, values(3, 2))
            assert len(lost) == 1  # the first attempt was written, its answer dropped
            after = await client.backend.produce(topic, 0, values(1, 5))
        # The broker recognised the same producer id, epoch and sequence: written once.
        assert list(result.offsets) == [2, 3, 4]
        assert list(after.offsets) == [5]
        got = await fetch_all(other, topic, 0, 0, 6)
        assert [r[VALUE] for r in got] == [b"v%d" % i for i in range(6)]
        assert await other.backend.list_offsets(topic, {0: LATEST}) == {0: 6}

    async def test_without_idempotence_a_lost_answer_writes_twice(
        self, kafka_url: str, other: Client, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # What idempotence is for (and proof that the fault above does cause a re-send).
        await other.admin().create_topic(topic)
        async with connect(kafka_url, settings(idempotent=False)) as client:
            answers_lost(monkeypatch, times=1)
            result = await client.backend.produce(topic, 0, values(3))
        assert list(result.offsets) == [3, 4, 5]
        assert await other.backend.list_offsets(topic, {0: LATEST}) == {0: 6}


def lose_the_batch(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Answer the next produce request OUT_OF_ORDER_SEQUENCE without sending it.

    As when the broker lost this producer's state: the batch is not written, and the one
    before it is not what the broker expects either.
    """
    lost: list[Any] = []
    real: Callable[..., Awaitable[Any]] = Cluster.request

    async def request(self: Cluster, conn: Any, request: Any, **kwargs: Any) -> Any:
        if request.API_KEY == 0 and not lost:
            lost.append(request)
            ((topic, ((partition, _),)),) = request._topics
            refused: tuple[Any, ...] = (partition, 45, -1, -1, -1, [], None)
            return SimpleNamespace(topics=[(topic, [refused])])
        return await real(self, conn, request, **kwargs)

    monkeypatch.setattr(Cluster, "request", request)
    return lost


class TestResequencing:
    @pytest.mark.parametrize("codec", [Compression.NONE, Compression.GZIP])
    async def test_a_batch_the_broker_lost_goes_again_under_a_new_epoch(
        self,
        kafka_url: str,
        other: Client,
        topic: str,
        monkeypatch: pytest.MonkeyPatch,
        codec: Compression,
    ) -> None:
        await other.admin().create_topic(topic)
        config = settings(idempotent=True)
        config.producer.compression = codec
        async with connect(kafka_url, config) as client:
            await client.backend.produce(topic, 0, values(2))
            lost = lose_the_batch(monkeypatch)
            # Sent again with its header rewritten (epoch + 1, sequence 0, CRC redone):
            # the broker takes it, so the rewritten batch is well-formed.
            result = await client.backend.produce(topic, 0, values(3, 2))
            assert len(lost) == 1
            after = await client.backend.produce(topic, 0, values(1, 5))
        assert [list(result.offsets), list(after.offsets)] == [[2, 3, 4], [5]]
        got = await fetch_all(other, topic, 0, 0, 6)
        assert [r[VALUE] for r in got] == [b"v%d" % i for i in range(6)]

    async def test_a_cancelled_produce_leaves_no_duplicate_and_no_stuck_partition(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        async with connect(kafka_url, settings(idempotent=True)) as client:
            await client.backend.produce(topic, 0, values(1))
            producing = asyncio.ensure_future(client.backend.produce(topic, 0, values(1, 1)))
            await asyncio.sleep(0)  # its request is on the wire
            producing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await producing
            # Its fate is unknown to the sender: the next batch starts a new epoch, which
            # the broker takes whether or not the cancelled one landed.
            with anyio.fail_after(5):
                later = await client.backend.produce(topic, 0, values(2, 2))
        end = (await other.backend.list_offsets(topic, {0: LATEST}))[0]
        assert end in (3, 4)  # v1 landed or not; nothing twice
        got = await fetch_all(other, topic, 0, 0, end or 0)
        assert [r[VALUE] for r in got] in (
            [b"v0", b"v1", b"v2", b"v3"],
            [b"v0", b"v2", b"v3"],
        )
        assert list(later.offsets) == [end - 2, end - 1]


class TestWire:
    @pytest.mark.parametrize("codec", list(Compression))
    async def test_every_codec_round_trips(
        self, kafka_url: str, other: Client, topic: str, codec: Compression
    ) -> None:
        await other.admin().create_topic(topic)
        config = settings(idempotent=True)
        config.producer.compression = codec
        sent = [
            rec(b"k%d" % i, b"value %d " % i * 20, (("h", b"%d" % i), ("null", None)))
            for i in range(200)
        ]
        async with connect(kafka_url, config) as client:
            result = await client.backend.produce(topic, 0, sent)
        assert list(result.offsets) == list(range(200))
        got = await fetch_all(other, topic, 0, 0, 200)
        assert [(r[KEY], r[VALUE], r[HEADERS]) for r in got] == [(k, v, h) for k, v, h, _ in sent]

    async def test_acks_none_answers_without_offsets(
        self, kafka_url: str, other: Client, topic: str
    ) -> None:
        await other.admin().create_topic(topic)
        config = Config()
        config.producer.idempotent = False  # idempotence needs acks=all
        config.producer.required_acks = Acks.NONE
        async with connect(kafka_url, config) as client:
            result: ProduceResult = await client.backend.produce(topic, 0, values(3))
        assert list(result.offsets) == [-1, -1, -1]
        assert len(result.timestamps) == 3
        got = await fetch_all(other, topic, 0, 0, 3)
        assert [r[OFFSET] for r in got] == [0, 1, 2]
