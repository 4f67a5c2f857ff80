"""End-to-end throughput of a backend: one task produces, another fetches the records back.

Run ``python benchmarks/bench_backend.py [--records N] [--rounds R] [--kafka]``. Records
carry 100-byte values and are written in batches of 1,000 (``backend.produce``, the batch
list built per batch as a producer builds it) while a second task reads them with
``backend.fetch`` until it has all of them. The timed region is exactly that: connecting,
creating a fresh topic, starting clients and one warm-up record (which opens the connections
and loads metadata) happen before it, on both sides, and closing after it. Rows are measured
in interleaved rounds (see ``_common``); each prints records per second of both sides, and
the median [min-max] of the paired ratios (higher is better for aiomq).

- memory: ``memory://`` against an unbounded ``asyncio.Queue`` carrying the same batches
  between the same two tasks (one ``put`` per batch, the reader counts each batch's
  records): the cheapest in-process hand-off of those batches. The ratio is what the
  in-process broker costs on top (topic and partition look-up, offsets, the log, the long
  poll); the absolute rate is set against the target of 300,000 records/s end to end.
- kafka: ``kafka://`` against raw aiokafka doing the same: ``create_batch()`` +
  ``send_batch()`` per batch of 1,000, ``getmany()`` on an assigned partition to read, both
  with ``acks=1``, no idempotence, no compression, ``linger_ms=0``, and the CRC of every
  batch read checked (both clients' default: ``consumer.check_crcs``, ``check_crcs``). On the
  broker named by ``AIOMQ_KAFKA_BOOTSTRAP``, or one started by
  ``aiomq.testing.start_kafka`` with ``--kafka``; skipped without either. The broker's JVM
  shares the machine's cores with the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from _common import Pair, header, print_table
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from aiomq.backends import ProduceRecord, drop_broker
from aiomq.client import connect
from aiomq.config import Acks, Config

BATCH = 1000
VALUE = b"x" * 100
TARGET = 300_000
RUN_LIMIT = 120.0  # seconds one timed run may take before the benchmark gives up

Run = Callable[[int], Awaitable[None]]
Side = Callable[[], AbstractAsyncContextManager[Run]]
"""Set up (untimed), yield the timed run of n records, tear down (untimed). One run each."""


def _batch() -> list[ProduceRecord]:
    return [(None, VALUE, (), None) for _ in range(BATCH)]


def _config() -> Config:
    config = Config()
    config.producer.required_acks = Acks.LOCAL  # acks=1, as the raw producer below
    if hasattr(config.producer, "idempotent"):  # a field newer versions have
        config.producer.idempotent = False
    return config


def queue_of_batches() -> AbstractAsyncContextManager[Run]:
    @asynccontextmanager
    async def side() -> AsyncIterator[Run]:
        queue: asyncio.Queue[list[ProduceRecord]] = asyncio.Queue()

        async def run(n: int) -> None:
            async def writer() -> None:
                for _ in range(n // BATCH):
                    await queue.put(_batch())

            async def reader() -> None:
                seen = 0
                while seen < n:
                    for _record in await queue.get():
                        seen += 1

            await asyncio.gather(writer(), reader())

        yield run

    return side()


def aiomq_backend(url: str) -> Side:
    @asynccontextmanager
    async def side() -> AsyncIterator[Run]:
        topic = f"bench-{uuid.uuid4().hex[:12]}"
        async with connect(url, _config()) as client:
            await client.admin().create_topic(topic)
            backend = client.backend
            await backend.produce(topic, 0, [(None, b"warm-up", (), None)])
            start = 0
            while start < 1:
                start = (await backend.fetch(topic, 0, start, max_wait=1.0)).next_offset

            async def run(n: int) -> None:
                async def writer() -> None:
                    for _ in range(n // BATCH):
                        await backend.produce(topic, 0, _batch())

                async def reader() -> None:
                    offset, seen = start, 0
                    while seen < n:
                        result = await backend.fetch(topic, 0, offset, max_wait=1.0)
                        for _record in result.records:
                            seen += 1
                        offset = result.next_offset

                await asyncio.gather(writer(), reader())

            yield run
            await client.admin().delete_topic(topic)

    return side


def raw_aiokafka(bootstrap: str) -> Side:
    @asynccontextmanager
    async def side() -> AsyncIterator[Run]:
        topic = f"bench-{uuid.uuid4().hex[:12]}"
        async with connect(f"kafka://{bootstrap}") as client:
            await client.admin().create_topic(topic)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks=1,
            enable_idempotence=False,
            linger_ms=0,
            max_batch_size=1 << 20,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            check_crcs=True,  # as aiomq's fetch does by default (consumer.check_crcs)
        )
        tp = TopicPartition(topic, 0)
        await producer.start()
        try:
            await consumer.start()
            try:
                consumer.assign([tp])
                warm = producer.create_batch()
                warm.append(key=None, value=b"warm-up", timestamp=None)
                await (await producer.send_batch(warm, topic, partition=0))
                while not await consumer.getmany(tp, timeout_ms=1000):
                    pass

                async def run(n: int) -> None:
                    async def writer() -> None:
                        for _ in range(n // BATCH):
                            batch = producer.create_batch()
                            for record in _batch():
                                batch.append(key=record[0], value=record[1], timestamp=None)
                            await (await producer.send_batch(batch, topic, partition=0))

                    async def reader() -> None:
                        seen = 0
                        while seen < n:
                            got = await consumer.getmany(tp, timeout_ms=1000)
                            for records in got.values():
                                for _record in records:
                                    seen += 1

                    await asyncio.gather(writer(), reader())

                yield run
            finally:
                await consumer.stop()
        finally:
            await producer.stop()
        async with connect(f"kafka://{bootstrap}") as client:
            await client.admin().delete_topic(topic)

    return side


async def measure(ours: Side, theirs: Side, n: int, rounds: int) -> Pair:
    """Interleaved rounds: in each, both sides run back to back, the first alternating."""
    pair = Pair()
    for i in range(rounds):
        sides = [(theirs, pair.theirs), (ours, pair.ours)]
        if i % 2:
            sides.reverse()
        for side, rates in sides:
            async with side() as run:
                start = time.perf_counter()
                async with asyncio.timeout(RUN_LIMIT):
                    await run(n)
                rates.append(n / (time.perf_counter() - start))
    return pair


async def main(
    records: int, rounds: int, kafka_records: int, kafka: str | None, memory: bool
) -> None:
    header(f"records of {len(VALUE)} bytes, batches of {BATCH:,}", rounds)
    table: list[tuple[str, str, str, Pair]] = []
    if memory:
        print(f"memory: {records:,} records per run, {rounds} rounds")
        name = f"bench-{uuid.uuid4().hex[:8]}"
        try:
            pair = await measure(
                aiomq_backend(f"memory://{name}"), queue_of_batches, records, rounds
            )
        finally:
            drop_broker(name)
        table.append(("memory", "memory:// produce+fetch", "asyncio.Queue of batches", pair))
    if kafka is not None:
        kafka_rounds = max(rounds, 5)
        print(f"kafka: {kafka_records:,} records per run, {kafka_rounds} rounds, broker {kafka}")
        pair = await measure(
            aiomq_backend(f"kafka://{kafka}"), raw_aiokafka(kafka), kafka_records, kafka_rounds
        )
        table.append(("kafka", "kafka:// produce+fetch", "raw aiokafka", pair))
    if table:
        print_table(table, unit="records/s")
    if memory:
        ours = table[0][3].summary()[0]
        verdict = "meets" if ours >= TARGET else "MISSES"
        print(f"memory:// {verdict} the target of {TARGET:,} records/s end to end (median)")
    if kafka is None:
        print("kafka: skipped (set AIOMQ_KAFKA_BOOTSTRAP or pass --kafka)")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=300_000, help="records per memory run")
    parser.add_argument("--kafka-records", type=int, default=200_000, help="per Kafka run")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved runs (Kafka: >= 5)")
    parser.add_argument("--kafka", action="store_true", help="start a broker if none is set")
    parser.add_argument("--no-memory", action="store_true", help="measure Kafka only")
    args = parser.parse_args()
    bootstrap = os.environ.get("AIOMQ_KAFKA_BOOTSTRAP")
    broker = None
    if bootstrap is None and args.kafka:
        from aiomq.testing import start_kafka

        broker = start_kafka()
        bootstrap = broker.bootstrap
    try:
        asyncio.run(
            main(
                args.records - args.records % BATCH,
                args.rounds,
                args.kafka_records - args.kafka_records % BATCH,
                bootstrap,
                not args.no_memory,
            )
        )
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    cli()
