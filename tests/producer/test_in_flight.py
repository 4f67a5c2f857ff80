"""Several batches of a partition in flight: an idempotent producer pipelines up to
``MAX_IN_FLIGHT`` of them, completes them in the order they were appended whatever order the
answers come in, and the Kafka backend writes concurrent produce calls of a partition in the
order they were made."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import anyio
import pytest

from aiomq.backends.base import Backend, ProduceRecord, ProduceResult
from aiomq.client import Client, connect
from aiomq.config import Config
from aiomq.message import ProducerMessage
from aiomq.producer._engine import MAX_IN_FLIGHT
from tests.backends.common import kafka_bootstrap
from tests.producer.test_sync_producer import create, read

pytestmark = pytest.mark.asyncio

COUNT = 12


class Held:
    """Wraps a client's backend: each produce call is appended at once, its answer held
    until the test releases it; counts the calls in flight."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.answers: list[asyncio.Future[None]] = []
        self.in_flight = 0
        self.peak = 0
        self.changed = asyncio.Event()

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            result = await self.backend.produce(topic, partition, records)
            answer = asyncio.get_running_loop().create_future()
            self.answers.append(answer)
            self.changed.set()
            await answer
            return result
        finally:
            self.in_flight -= 1

    async def held(self, count: int) -> list[asyncio.Future[None]]:
        """Wait until ``count`` answers are held; those not released yet."""
        with anyio.fail_after(10):
            while len([a for a in self.answers if not a.done()]) < count:
                self.changed.clear()
                await self.changed.wait()
        return [a for a in self.answers if not a.done()]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def hold(client: Client) -> Held:
    wrapped = Held(client.backend)
    client._session.backend = cast(Backend, wrapped)
    return wrapped


@pytest.fixture
def config() -> Config:
    config = Config()
    config.producer.batch_size = 1  # a batch per record
    config.producer.return_successes = True
    return config


async def test_an_idempotent_producer_keeps_five_batches_in_flight_and_completes_them_in_order(
    client: Client, topic: str
) -> None:
    await create(client, topic)
    held = hold(client)
    async with client.async_producer() as producer:
        assert producer.successes is not None
        for number in range(COUNT):
            await producer.input.send(ProducerMessage(topic, b"%d" % number, metadata=number))
        answered = 0
        while answered < COUNT:
            waiting = await held.held(min(MAX_IN_FLIGHT, COUNT - answered))
            assert held.in_flight <= MAX_IN_FLIGHT
            for answer in reversed(waiting):  # the latest answered first
                answer.set_result(None)
            answered += len(waiting)
        got = []
        with anyio.fail_after(10):
            for _ in range(COUNT):
                got.append(await producer.successes.recv())
    assert held.peak == MAX_IN_FLIGHT
    assert [m.metadata for m in got] == list(range(COUNT))  # in order, whatever the answers
    assert [m.offset for m in got] == list(range(COUNT))
    assert [r[3] for r in await read(client, topic, 0, COUNT)] == [b"%d" % n for n in range(COUNT)]


async def test_send_many_pipelines_and_returns_in_order(client: Client, topic: str) -> None:
    await create(client, topic)
    held = hold(client)
    async with client.sync_producer() as producer:
        sending = asyncio.ensure_future(
            producer.send_many([ProducerMessage(topic, b"%d" % n) for n in range(COUNT)])
        )
        answered = 0
        while answered < COUNT:
            waiting = await held.held(min(MAX_IN_FLIGHT, COUNT - answered))
            for answer in reversed(waiting):
                answer.set_result(None)
            answered += len(waiting)
        with anyio.fail_after(10):
            metadata = await sending
    assert held.peak == MAX_IN_FLIGHT
    assert [m.offset for m in metadata] == list(range(COUNT))


async def test_a_producer_that_is_not_idempotent_keeps_one_batch_in_flight(
    client: Client, config: Config, topic: str
) -> None:
    # Without sequence numbers a retried batch could land after a later one.
    config.producer.idempotent = False
    await create(client, topic)
    held = hold(client)
    async with client.sync_producer() as producer:
        sending = asyncio.ensure_future(
            producer.send_many([ProducerMessage(topic, b"%d" % n) for n in range(3)])
        )
        for _ in range(3):
            (answer,) = await held.held(1)
            answer.set_result(None)
        with anyio.fail_after(10):
            metadata = await sending
    assert held.peak == 1
    assert [m.offset for m in metadata] == [0, 1, 2]


@pytest.mark.kafka
async def test_concurrent_produce_calls_are_written_in_call_order(
    request: pytest.FixtureRequest, topic: str
) -> None:
    """The first call waits for its leader while later ones have theirs: the later ones
    wait for it, so the partition gets the calls' records in the order of the calls."""
    async with connect(f"kafka://{kafka_bootstrap(request)}") as client:
        await create(client, topic)
        backend: Any = client.backend
        await backend.produce(topic, 0, [(None, b"warm-up", (), None)])
        cluster = backend._cluster
        leader = cluster.leader
        release = asyncio.Event()
        first = True

        async def slow_leader(topic: str, partition: int, deadline: float) -> int:
            nonlocal first
            if first:
                first = False
                await release.wait()
            return cast(int, await leader(topic, partition, deadline))

        cluster.leader = slow_leader
        sender = backend._sender
        queue = sender._queue
        queued = asyncio.Event()

        async def queue_and_tell(*args: Any) -> None:
            queued.set()
            await queue(*args)

        sender._queue = queue_and_tell
        calls = [
            asyncio.ensure_future(backend.produce(topic, 0, [(None, b"%d" % n, (), None)]))
            for n in range(4)
        ]
        with anyio.fail_after(10):
            # The later calls are either written (the bug) or waiting their turn.
            waiting = asyncio.ensure_future(queued.wait())
            await asyncio.wait([*calls[1:], waiting], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            release.set()
            results = await asyncio.gather(*calls)
        assert [r.offsets[0] for r in results] == [1, 2, 3, 4]
        records = await read(client, topic, 0, 5)
        assert [r[3] for r in records[1:]] == [b"0", b"1", b"2", b"3"]
