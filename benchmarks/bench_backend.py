"""End-to-end throughput of a backend: one task produces, another fetches the records back.

Run ``python benchmarks/bench_backend.py [--records N] [--kafka]``. Records carry 100-byte
values and are written in batches of 1,000 (``backend.produce``) while a second task reads
them with ``backend.fetch`` until it has all of them; each row prints records per second and
the ratio against a baseline measured in the same run (higher is better for aiomq); each
rate is the best of three runs, alternating with the baseline:

- memory: ``memory://`` vs an ``asyncio.Queue(1000)`` handing the same records one by one
  between two tasks (the cheapest hand-off asyncio has). The target is 300,000 records/s.
- kafka: ``kafka://`` vs raw aiokafka (``create_batch`` + ``send_batch`` per batch,
  ``getmany`` to read), on the broker named by ``AIOMQ_KAFKA_BOOTSTRAP``, or one started by
  ``aiomq.testing.start_kafka`` with ``--kafka``. Skipped without either.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from aiomq.backends import ProduceRecord, drop_broker
from aiomq.client import connect

BATCH = 1000
VALUE = b"x" * 100
TARGET = 300_000

Bench = Callable[[int], Awaitable[None]]


async def queue_baseline(n: int) -> None:
    """Two tasks and an asyncio.Queue: the records handed over one at a time."""
    queue: asyncio.Queue[ProduceRecord] = asyncio.Queue(BATCH)

    async def writer() -> None:
        for _ in range(n):
            await queue.put((None, VALUE, (), None))

    task = asyncio.create_task(writer())
    for _ in range(n):
        await queue.get()
    await task


def aiomq_backend(url: str) -> Bench:
    async def run(n: int) -> None:
        topic = f"bench-{uuid.uuid4().hex[:12]}"
        async with connect(url) as client:
            await client.admin().create_topic(topic)
            backend = client.backend

            async def writer() -> None:
                for _ in range(n // BATCH):
                    # Built per batch, as a producer builds them from its messages.
                    await backend.produce(topic, 0, [(None, VALUE, (), None) for _ in range(BATCH)])

            async def reader() -> None:
                offset, seen = 0, 0
                while seen < n:
                    result = await backend.fetch(topic, 0, offset, max_wait=1.0)
                    for _record in result.records:
                        seen += 1
                    offset = result.next_offset

            await asyncio.gather(writer(), reader())
            await client.admin().delete_topic(topic)

    return run


def raw_aiokafka(bootstrap: str) -> Bench:
    async def run(n: int) -> None:
        topic = f"bench-{uuid.uuid4().hex[:12]}"
        async with connect(f"kafka://{bootstrap}") as client:
            await client.admin().create_topic(topic)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1 << 20)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await producer.start()
        await consumer.start()
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        try:

            async def writer() -> None:
                for _ in range(n // BATCH):
                    batch = producer.create_batch()
                    for _ in range(BATCH):
                        batch.append(key=None, value=VALUE, timestamp=None)
                    await (await producer.send_batch(batch, topic, partition=0))

            async def reader() -> None:
                seen = 0
                while seen < n:
                    got = await consumer.getmany(tp, timeout_ms=1000)
                    for records in got.values():
                        for _record in records:
                            seen += 1

            await asyncio.gather(writer(), reader())
        finally:
            await consumer.stop()
            await producer.stop()
        async with connect(f"kafka://{bootstrap}") as client:
            await client.admin().delete_topic(topic)

    return run


async def measure(bench: Bench, baseline: Bench, n: int, rounds: int = 3) -> tuple[float, float]:
    """Best rate of each over ``rounds`` alternating runs (the machine may be shared)."""
    await bench(min(n, 10 * BATCH))  # warm up: imports, connections, first allocations
    await baseline(min(n, 10 * BATCH))
    best = [0.0, 0.0]
    for _ in range(rounds):
        for i, run in enumerate((bench, baseline)):
            start = time.perf_counter()
            await run(n)
            best[i] = max(best[i], n / (time.perf_counter() - start))
    return best[0], best[1]


def row(name: str, rate: float, baseline_name: str, baseline: float) -> None:
    print(
        f"{name:<22} {rate:>14,.0f} rec/s   {baseline_name:<24} {baseline:>14,.0f} rec/s"
        f"   ratio {rate / baseline:5.2f}"
    )


async def main(records: int, kafka: str | None) -> None:
    print(f"{records:,} records of {len(VALUE)} bytes, batches of {BATCH:,}")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        rate, baseline = await measure(aiomq_backend(f"memory://{name}"), queue_baseline, records)
    finally:
        drop_broker(name)
    row("memory:// backend", rate, "asyncio.Queue", baseline)
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"  {verdict} the target of {TARGET:,} records/s end to end")
    if kafka is None:
        print("kafka: skipped (set AIOMQ_KAFKA_BOOTSTRAP or pass --kafka)")
        return
    count = min(records, 200_000)
    rate, baseline = await measure(aiomq_backend(f"kafka://{kafka}"), raw_aiokafka(kafka), count)
    row("kafka:// backend", rate, "raw aiokafka", baseline)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--kafka", action="store_true", help="start a broker if none is set")
    args = parser.parse_args()
    bootstrap = os.environ.get("AIOMQ_KAFKA_BOOTSTRAP")
    broker = None
    if bootstrap is None and args.kafka:
        from aiomq.testing import start_kafka

        broker = start_kafka()
        bootstrap = broker.bootstrap
    try:
        asyncio.run(main(args.records - args.records % BATCH, bootstrap))
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    cli()
