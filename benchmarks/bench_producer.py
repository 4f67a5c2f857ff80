"""Producer throughput: aiomq's AsyncProducer and SyncProducer against aiokafka's and
confluent-kafka's producers, each delivering N records to a fresh topic.

Run ``python benchmarks/bench_producer.py [--brokers HOST:PORT] [--count N] [--rounds R]
[--sizes 100,1024]``. Every side writes ``--count`` key-less records of each value size to
a new one-partition topic and waits until every one of them is acknowledged; only that is
timed. Connecting, creating the topic, starting the producer and one warm-up record (which
opens the connections, loads metadata and, with idempotence, gets a producer id) happen
before it, closing and deleting the topic after it. Sides are measured in rotating
interleaved rounds (``_messaging.measure``); each row prints records per second of aiomq and
of its baseline, and the median [min-max] of the per-round ratios (above 1: aiomq faster).

Every producer is configured alike: ``acks=all``, idempotence on (aiomq's defaults, and
Kafka 4's Java defaults), no compression, linger 0, batches of at most 16 KiB (aiomq's
default ``producer.batch_size``, aiokafka's default ``max_batch_size``; confluent-kafka's
``batch.size`` is set to it and its ``linger.ms`` to 0).

- one at a time: aiomq's ``AsyncProducer``, each message put on ``input`` by one task while
  another reads ``successes`` (``return_successes``) until all are back; aiokafka's
  ``AIOKafkaProducer.send()`` per record, its delivery futures gathered in windows of
  ``--window`` records; confluent-kafka's ``Producer.produce()`` per record with a delivery
  callback, ``poll(0)`` after each (``poll(0.1)`` and again on ``BufferError``), then
  ``flush()``; and aiokafka's ``send_batch()`` as below, the fastest way aiokafka has.
- batches of ``--batch`` records: aiomq's ``SyncProducer.send_many`` per batch, each
  awaited, and its ``AsyncProducer`` fed a batch at a time (``send_many`` hands the batch
  over while ``successes.recv_many`` reads its results, all of them before the next
  batch); aiokafka's ``create_batch()``
  filled up to its 16 KiB and ``send_batch()`` until the batch's records are placed, then
  every future of the batch awaited; confluent-kafka's ``produce_batch()`` then ``flush()``
  per batch.
- memory: ``memory://`` has no other client, so its rows set the aiomq producers against
  the in-process broker's own ``backend.produce`` of batches of ``--batch`` records, built
  per batch: what the producer layer (encoding, checks, partitioning, batching, results)
  costs on top of the append.

confluent-kafka (librdkafka) does its batching and I/O in C threads of its own, which can
use the second core; aiokafka and aiomq run in the one event-loop thread.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import confluent_kafka
from _common import Pair, header, print_table
from _messaging import (
    Run,
    Side,
    add_common_options,
    check_no_leftover_tasks,
    fresh_topic,
    kafka_topic,
    measure,
    pairs,
)
from aiokafka import AIOKafkaProducer

from aiomq.backends import ProduceRecord, drop_broker
from aiomq.client import connect
from aiomq.concurrency import Chan
from aiomq.config import Config
from aiomq.errors import AiomqError
from aiomq.message import ProducerMessage
from aiomq.producer import AsyncProducer

BATCH_BYTES = 16 * 1024  # every side's batch size: aiomq's and aiokafka's default

Topic = Callable[[], AbstractAsyncContextManager[str]]


def _config(*, successes: bool = False) -> Config:
    config = Config()  # acks=all, idempotent, linger 0, 16 KiB batches: the defaults
    config.producer.return_successes = successes
    assert config.producer.batch_size == BATCH_BYTES
    assert config.producer.linger == 0
    assert config.producer.idempotent
    return config


def memory_topic(url: str) -> Topic:
    @asynccontextmanager
    async def topic() -> AsyncIterator[str]:
        name = fresh_topic()
        async with connect(url) as client, client.admin() as admin:
            await admin.create_topic(name)
            try:
                yield name
            finally:
                await admin.delete_topic(name)

    return topic


def on_kafka(bootstrap: str) -> Topic:
    return lambda: kafka_topic(bootstrap)


# -- aiomq -----------------------------------------------------------------------------------


@asynccontextmanager
async def _warm_async_producer(
    url: str, topic: Topic
) -> AsyncIterator[tuple[str, AsyncProducer, Chan[ProducerMessage]]]:
    """An AsyncProducer returning successes, its topic and its successes channel, after one
    warm-up record went through."""
    async with (
        topic() as name,
        connect(url, _config(successes=True)) as client,
        client.async_producer() as producer,
    ):
        successes = producer.successes
        assert successes is not None
        await producer.input.send(ProducerMessage(name, b"warm-up"))
        await successes.recv()
        yield name, producer, successes


def aiomq_async(url: str, topic: Topic, value: bytes) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _warm_async_producer(url, topic) as (name, producer, successes):

            async def run(n: int) -> None:
                async def writer() -> None:
                    send = producer.input.send
                    for _ in range(n):
                        await send(ProducerMessage(name, value))

                async def reader() -> None:
                    recv = successes.recv
                    for _ in range(n):
                        await recv()

                async def failures() -> None:
                    error = await producer.errors.recv()
                    raise RuntimeError(f"a record failed: {error!r}")

                async with asyncio.TaskGroup() as g:
                    watch = g.create_task(failures())
                    await asyncio.gather(writer(), reader())
                    watch.cancel()

            yield run

    return Side("`AsyncProducer`, one at a time", setup)


def aiomq_send_many(url: str, topic: Topic, value: bytes, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with (
            topic() as name,
            connect(url, _config()) as client,
            client.sync_producer() as producer,
        ):
            await producer.send(name, b"warm-up")

            async def run(n: int) -> None:
                for _ in range(n // batch):
                    await producer.send_many([ProducerMessage(name, value) for _ in range(batch)])

            yield run

    return Side(f"`SyncProducer.send_many`, {batch:,} a call", setup)


def aiomq_async_batches(url: str, topic: Topic, value: bytes, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _warm_async_producer(url, topic) as (name, producer, successes):

            async def run(n: int) -> None:
                send_many, recv_many = producer.send_many, successes.recv_many

                async def reader() -> None:
                    got = 0
                    while got < batch:
                        got += len(await recv_many(batch - got))

                for _ in range(n // batch):
                    # Results are read while the batch goes in: a producer whose results
                    # are not drained stops taking input.
                    await asyncio.gather(
                        send_many([ProducerMessage(name, value) for _ in range(batch)]), reader()
                    )
                if len(producer.errors):
                    raise RuntimeError(f"a record failed: {producer.errors.recv_nowait()!r}")

            yield run

    return Side(f"`AsyncProducer`, fed {batch:,} a round", setup)


def memory_backend_produce(url: str, topic: Topic, value: bytes, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with topic() as name, connect(url) as client:
            backend = client.backend

            async def run(n: int) -> None:
                for _ in range(n // batch):
                    records: list[ProduceRecord] = [(None, value, (), None) for _ in range(batch)]
                    await backend.produce(name, 0, records)

            yield run

    return Side(f"`backend.produce`, {batch:,} a call", setup)


# -- aiokafka --------------------------------------------------------------------------------


@asynccontextmanager
async def _aiokafka_producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_batch_size=BATCH_BYTES,
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def aiokafka_send(bootstrap: str, value: bytes, window: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with kafka_topic(bootstrap) as name, _aiokafka_producer(bootstrap) as producer:
            await producer.send_and_wait(name, b"warm-up")

            async def run(n: int) -> None:
                send = producer.send
                left = n
                while left:
                    size = min(window, left)
                    futures = [await send(name, value) for _ in range(size)]
                    await asyncio.gather(*futures)
                    left -= size

            yield run

    return Side(f"aiokafka `send()`, futures gathered per {window:,}", setup)


def aiokafka_send_batch(bootstrap: str, value: bytes, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with kafka_topic(bootstrap) as name, _aiokafka_producer(bootstrap) as producer:
            await producer.send_and_wait(name, b"warm-up")

            async def run(n: int) -> None:
                for _ in range(n // batch):
                    futures = []
                    builder = producer.create_batch()
                    for _ in range(batch):
                        if builder.append(key=None, value=value, timestamp=None) is None:
                            futures.append(await producer.send_batch(builder, name, partition=0))
                            builder = producer.create_batch()
                            builder.append(key=None, value=value, timestamp=None)
                    futures.append(await producer.send_batch(builder, name, partition=0))
                    await asyncio.gather(*futures)

            yield run

    return Side(f"aiokafka `send_batch()`, {batch:,} records a round", setup)


# -- confluent-kafka -------------------------------------------------------------------------


class _Delivered:
    """A delivery callback counting what came back, and the first failure."""

    def __init__(self) -> None:
        self.count = 0
        self.error: Any = None

    def __call__(self, err: Any, _msg: Any) -> None:
        if err is not None and self.error is None:
            self.error = err
        self.count += 1

    def check(self, expected: int) -> None:
        if self.error is not None:
            raise RuntimeError(f"a record failed: {self.error}")
        if self.count != expected:
            raise RuntimeError(f"{self.count} deliveries reported, {expected} expected")


@asynccontextmanager
async def _confluent_producer(bootstrap: str) -> AsyncIterator[confluent_kafka.Producer]:
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "batch.size": BATCH_BYTES,
            "compression.type": "none",
        }
    )
    try:
        yield producer
    finally:
        producer.flush(30)
        producer.close()


def _confluent_warm_up(producer: confluent_kafka.Producer, topic: str) -> None:
    delivered = _Delivered()
    producer.produce(topic, b"warm-up", on_delivery=delivered)
    producer.flush(30)
    delivered.check(1)


def confluent_produce(bootstrap: str, value: bytes) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with kafka_topic(bootstrap) as name, _confluent_producer(bootstrap) as producer:
            _confluent_warm_up(producer, name)

            async def run(n: int) -> None:
                delivered = _Delivered()
                produce, poll = producer.produce, producer.poll
                for _ in range(n):
                    while True:
                        try:
                            produce(name, value, on_delivery=delivered)
                            break
                        except BufferError:
                            poll(0.1)
                    poll(0)
                producer.flush()
                delivered.check(n)

            yield run

    return Side("confluent-kafka `produce()` + `poll(0)`", setup)


def confluent_produce_batch(bootstrap: str, value: bytes, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with kafka_topic(bootstrap) as name, _confluent_producer(bootstrap) as producer:
            _confluent_warm_up(producer, name)

            async def run(n: int) -> None:
                delivered = _Delivered()
                for _ in range(n // batch):
                    messages = [{"value": value} for _ in range(batch)]
                    queued = producer.produce_batch(name, messages, on_delivery=delivered)
                    if queued != batch:
                        raise RuntimeError(f"produce_batch queued {queued} of {batch}")
                    producer.flush()
                delivered.check(n - n % batch)

            yield run

    return Side(f"confluent-kafka `produce_batch()` + `flush()`, {batch:,} a call", setup)


# -- the runs --------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    n, rounds, batch = args.count - args.count % args.batch, args.rounds, args.batch
    header(
        f"producers: {n:,} records of each size per run, one-partition topics, "
        f"acks=all, idempotent, linger 0, {BATCH_BYTES:,}-byte batches",
        rounds,
    )
    table: list[tuple[str, str, str, Pair]] = []
    for size in args.sizes:
        value = b"x" * size
        if not args.no_memory:
            name = f"bench-{uuid.uuid4().hex[:8]}"
            url = f"memory://{name}"
            topic = memory_topic(url)
            sides = [
                aiomq_async(url, topic, value),
                aiomq_send_many(url, topic, value, batch),
                aiomq_async_batches(url, topic, value, batch),
                memory_backend_produce(url, topic, value, batch),
            ]
            try:
                rates = await measure(sides, n, rounds)
            finally:
                drop_broker(name)
            table += pairs(f"memory {size} B", sides, rates, [(0, 3), (1, 3), (2, 3)])
            print_table(table[-3:], unit="records/s")
        if args.brokers:
            url = f"kafka://{args.brokers}"
            topic = on_kafka(args.brokers)
            sides = [
                aiomq_async(url, topic, value),
                aiokafka_send(args.brokers, value, args.window),
                confluent_produce(args.brokers, value),
                aiokafka_send_batch(args.brokers, value, batch),
            ]
            rates = await measure(sides, n, rounds)
            table += pairs(f"kafka {size} B", sides, rates, [(0, 1), (0, 3), (0, 2)])
            print_table(table[-3:], unit="records/s")
            sides = [
                aiomq_send_many(url, topic, value, batch),
                aiomq_async_batches(url, topic, value, batch),
                aiokafka_send_batch(args.brokers, value, batch),
                confluent_produce_batch(args.brokers, value, batch),
            ]
            rates = await measure(sides, n, rounds)
            table += pairs(f"kafka {size} B", sides, rates, [(0, 2), (1, 2), (0, 3), (1, 3)])
            print_table(table[-4:], unit="records/s")
    print()
    print("all rows:")
    print_table(table, unit="records/s")
    if not args.brokers:
        print("kafka: skipped (pass --brokers or set AIOMQ_KAFKA_BOOTSTRAP)")
    check_no_leftover_tasks()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_common_options(parser)
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100, 1024],
        help="value sizes in bytes, comma-separated",
    )
    parser.add_argument("--batch", type=int, default=1000, help="records per batch call")
    parser.add_argument("--window", type=int, default=10_000, help="aiokafka futures per gather")
    args = parser.parse_args()
    try:
        asyncio.run(main(args))
    except AiomqError as exc:
        raise SystemExit(f"benchmark failed: {exc!r}") from exc


if __name__ == "__main__":
    cli()
