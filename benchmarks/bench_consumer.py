"""Consumer throughput and end-to-end latency: aiomq's ConsumerGroup against aiokafka's and
confluent-kafka's consumers, each a member of a new group reading a topic from its start.

Run ``python benchmarks/bench_consumer.py [--brokers HOST:PORT] [--count N] [--rounds R]
[--rates 1000,10000] [--seconds S]``.

**Throughput.** A one-partition topic of ``--count`` records of 100 bytes (plus one record
before them) is written once, then read whole by every side in every round. Each side is
the only member of a group of its own, with a fresh group id, so it starts at the earliest
offset, and commits as it goes (aiomq: ``mark_offset`` on each message, or on the last of
each batch, committed every second; aiokafka and confluent-kafka: auto-commit every second).
Joining the group and the first fetch are not timed: a side is timed from the moment it has
its first message (or first batch) until it has them all, and its rate counts the records
read in that time. Sides are measured in rotating interleaved rounds
(``_messaging.measure``); each row prints records per second of aiomq and of its baseline,
and the median [min-max] of the per-round ratios (above 1: aiomq faster).

- ``ConsumerGroup`` ``async for`` against ``AIOKafkaConsumer`` ``async for`` (one message at
  a time);
- ``ConsumerGroup.batches()`` against ``AIOKafkaConsumer.getmany()`` and confluent-kafka's
  ``Consumer.consume(num_messages=--consume-batch)`` (whole fetches at a time);

with the consumers' defaults where they agree (fetch wait 500 ms, at least 1 byte, at most
1 MiB per partition), CRC checks on in all three (aiomq's and aiokafka's default; confluent's
``check.crcs`` is set), and the classic group protocol.

**memory://**: ``ConsumerGroup`` ``async for`` and ``batches()`` over the same records in
the in-process broker, against an ``asyncio.Queue`` carrying the same messages in lists of
1,000 from one task to another (the fetcher's way of building a ``Message``, without the
broker, the group or the offsets): what the group costs on top of that hand-off.

**Latency.** For ``--seconds`` at each offered rate of ``--rates`` records per second, one
task produces records of 100 bytes at that pace to a fresh one-partition topic while a group
member reads them; each record carries the ``perf_counter_ns()`` taken when it was handed to
the producer, and its latency is the time until the consumer's loop sees it. aiomq: an
``AsyncProducer`` and a ``ConsumerGroup``; aiokafka: ``AIOKafkaProducer.send()`` and an
``AIOKafkaConsumer`` group member; both ``acks=all``, idempotent, linger 0. The consumer has
joined and read a warm-up record before the paced run starts. Each round runs both sides at
each rate; the table prints the median over rounds of each side's p50 and p99, and the
median [min-max] of the per-round ratios aiomq / aiokafka (below 1: aiomq faster).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

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
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from aiomq.backends import ProduceRecord, drop_broker
from aiomq.client import connect
from aiomq.config import Config, GroupProtocol, Offset
from aiomq.group import ConsumerGroup
from aiomq.message import Message, ProducerMessage

VALUE = b"x" * 100
WRITE_BATCH = 1000
COMMIT_INTERVAL = 1.0  # seconds, on every side


def _config() -> Config:
    config = Config()
    config.consumer.offsets.initial = Offset.OLDEST
    config.consumer.offsets.commit_interval = COMMIT_INTERVAL
    config.group.protocol = GroupProtocol.CLASSIC  # what aiokafka and confluent-kafka speak
    return config


def fresh_group() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


async def write_records(url: str, topic: str, n: int) -> None:
    """``n`` records of ``VALUE`` into partition 0 of ``topic``, in batches."""
    async with connect(url) as client:
        backend = client.backend
        left = n
        while left:
            size = min(WRITE_BATCH, left)
            records: list[ProduceRecord] = [(None, VALUE, (), None) for _ in range(size)]
            await backend.produce(topic, 0, records)
            left -= size


# -- throughput: aiomq -----------------------------------------------------------------------


@asynccontextmanager
async def _group(url: str, topic: str) -> AsyncIterator[ConsumerGroup]:
    async with connect(url, _config()) as client, client.group(fresh_group(), [topic]) as group:
        yield group


def aiomq_messages(url: str, topic: str) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _group(url, topic) as group:
            first = await anext(group)  # joined, first fetch in
            group.mark_offset(first)

            async def run(n: int) -> None:
                mark = group.mark_offset
                seen = 0
                async for message in group:
                    mark(message)
                    seen += 1
                    if seen == n:
                        return

            yield run

    return Side("`ConsumerGroup` `async for`", setup)


def aiomq_batches(url: str, topic: str) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _group(url, topic) as group:
            # An async generator (typed as an iterator): closed here, not left to the loop.
            batches = cast(AsyncGenerator[list[Message], None], group.batches())
            try:
                first = await anext(batches)
                group.mark_offset(first[-1])
                taken = len(first) - 1  # of the n after the first record

                async def run(n: int) -> int:
                    seen = taken
                    while seen < n:
                        batch = await anext(batches)
                        group.mark_offset(batch[-1])
                        seen += len(batch)
                    return seen - taken

                yield run
            finally:
                await batches.aclose()

    return Side("`ConsumerGroup.batches()`", setup)


# -- throughput: aiokafka and confluent-kafka ------------------------------------------------


@asynccontextmanager
async def _aiokafka_consumer(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=fresh_group(),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=int(COMMIT_INTERVAL * 1000),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


def aiokafka_messages(bootstrap: str, topic: str) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _aiokafka_consumer(bootstrap, topic) as consumer:
            await consumer.getone()

            async def run(n: int) -> None:
                seen = 0
                async for _message in consumer:
                    seen += 1
                    if seen == n:
                        return

            yield run

    return Side("aiokafka `async for`", setup)


def aiokafka_getmany(bootstrap: str, topic: str) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async with _aiokafka_consumer(bootstrap, topic) as consumer:
            first: dict[Any, list[Any]] = {}
            while not first:
                first = await consumer.getmany(timeout_ms=1000)
            taken = sum(len(records) for records in first.values()) - 1

            async def run(n: int) -> int:
                seen = taken
                while seen < n:
                    got = await consumer.getmany(timeout_ms=1000)
                    for records in got.values():
                        seen += len(records)
                return seen - taken

            yield run

    return Side("aiokafka `getmany()`", setup)


def confluent_consume(bootstrap: str, topic: str, batch: int) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": fresh_group(),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "auto.commit.interval.ms": int(COMMIT_INTERVAL * 1000),
                "check.crcs": True,
            }
        )
        try:
            consumer.subscribe([topic])

            def consume(most: int = batch) -> int:
                # Never more than are left: asking for more waits out the timeout at the end.
                got = consumer.consume(num_messages=min(batch, most), timeout=1.0)
                for message in got:
                    if message.error() is not None:
                        raise RuntimeError(f"consume failed: {message.error()}")
                return len(got)

            taken = 0
            while not taken:
                taken = consume()
            taken -= 1

            async def run(n: int) -> int:
                seen = taken
                while seen < n:
                    seen += consume(n - seen)
                return seen - taken

            yield run
        finally:
            consumer.close()

    return Side(f"confluent-kafka `consume({batch:,})`", setup)


# -- throughput: memory:// baseline ----------------------------------------------------------


def queue_of_messages(topic: str) -> Side:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Run]:
        async def run(n: int) -> None:
            queue: asyncio.Queue[list[Message] | None] = asyncio.Queue(256)
            raw = [(offset, 0, None, VALUE, ()) for offset in range(WRITE_BATCH)]

            async def writer() -> None:
                new = tuple.__new__
                for _ in range(n // WRITE_BATCH):
                    batch = [
                        new(Message, (topic, 0, offset, key, value, headers, timestamp, 0))
                        for offset, timestamp, key, value, headers in raw
                    ]
                    await queue.put(batch)
                await queue.put(None)

            async def reader() -> None:
                while (batch := await queue.get()) is not None:
                    for _message in batch:
                        pass

            await asyncio.gather(writer(), reader())

        yield run

    return Side("`asyncio.Queue` of lists of messages", setup)


# -- latency ---------------------------------------------------------------------------------

Latencies = list[float]  # milliseconds
Paced = Callable[[int, float], Awaitable[Latencies]]
LatencySide = Callable[[], AbstractAsyncContextManager[Paced]]


def _stamped() -> bytes:
    return time.perf_counter_ns().to_bytes(8, "big") + VALUE[8:]


async def _paced(
    rate: int, seconds: float, send: Callable[[bytes], Awaitable[object]]
) -> tuple[int, float]:
    """Send ``rate * seconds`` stamped records at ``rate`` per second; (count, start)."""
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while sent < total:
        due = min(total, int((loop.time() - start) * rate) + 1)
        while sent < due:
            await send(_stamped())
            sent += 1
        await asyncio.sleep(0.001)
    return total, start


def _latency(value: bytes) -> float:
    return (time.perf_counter_ns() - int.from_bytes(value[:8], "big")) / 1e6


def aiomq_latency(bootstrap: str) -> LatencySide:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Paced]:
        url = f"kafka://{bootstrap}"
        async with (
            kafka_topic(bootstrap) as topic,
            connect(url, _config()) as client,
            client.async_producer() as producer,
            client.group(fresh_group(), [topic]) as group,
        ):
            await producer.send(topic, b"warm-up")
            await anext(group)

            async def paced(rate: int, seconds: float) -> Latencies:
                total = int(rate * seconds)
                seen: Latencies = []

                async def reader() -> None:
                    async for message in group:
                        seen.append(_latency(message.value))
                        group.mark_offset(message)
                        if len(seen) == total:
                            return

                async def send(value: bytes) -> None:
                    await producer.input.send(ProducerMessage(topic, value))

                async def failures() -> None:
                    error = await producer.errors.recv()
                    raise RuntimeError(f"a record failed: {error!r}")

                async with asyncio.TaskGroup() as g:
                    watch = g.create_task(failures())
                    await asyncio.gather(reader(), _paced(rate, seconds, send))
                    watch.cancel()
                return seen

            yield paced

    return setup


def aiokafka_latency(bootstrap: str) -> LatencySide:
    @asynccontextmanager
    async def setup() -> AsyncIterator[Paced]:
        async with kafka_topic(bootstrap) as topic:
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
            )
            await producer.start()
            try:
                async with _aiokafka_consumer(bootstrap, topic) as consumer:
                    await producer.send_and_wait(topic, b"warm-up")
                    await consumer.getone()

                    async def paced(rate: int, seconds: float) -> Latencies:
                        total = int(rate * seconds)
                        seen: Latencies = []
                        futures: list[asyncio.Future[Any]] = []

                        async def reader() -> None:
                            async for message in consumer:
                                seen.append(_latency(message.value))
                                if len(seen) == total:
                                    return

                        async def send(value: bytes) -> None:
                            futures.append(await producer.send(topic, value))

                        await asyncio.gather(reader(), _paced(rate, seconds, send))
                        await asyncio.gather(*futures)
                        return seen

                    yield paced
            finally:
                await producer.stop()

    return setup


async def measure_latency(
    sides: list[LatencySide], rates: list[int], seconds: float, rounds: int
) -> dict[int, list[list[tuple[float, float]]]]:
    """``out[rate][side]`` is the (p50, p99) of each round, in milliseconds."""
    out: dict[int, list[list[tuple[float, float]]]] = {rate: [[] for _ in sides] for rate in rates}
    for i in range(rounds):
        for rate in rates:
            order = list(range(len(sides)))
            if i % 2:
                order.reverse()
            for index in order:
                async with sides[index]() as paced:
                    async with asyncio.timeout(seconds * 10 + 60):
                        latencies = await paced(rate, seconds)
                cuts = statistics.quantiles(latencies, n=100)
                out[rate][index].append((cuts[49], cuts[98]))
    return out


def print_latency(out: dict[int, list[list[tuple[float, float]]]], seconds: float) -> None:
    print(
        f"{'offered':>10}  {'aiomq p50':>10} {'p99':>8}  {'aiokafka p50':>12} {'p99':>8}  "
        "p50 ratio [min-max]  p99 ratio [min-max]   (ms; ratio aiomq/aiokafka, below 1: "
        "aiomq faster)"
    )
    for rate, (ours, theirs) in out.items():
        cells = []
        for q in (0, 1):
            ratios = [o[q] / t[q] for o, t in zip(ours, theirs, strict=True)]
            cells.append(f"{statistics.median(ratios):5.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]")
        print(
            f"{rate:>8,}/s  {statistics.median(o[0] for o in ours):10.2f} "
            f"{statistics.median(o[1] for o in ours):8.2f}  "
            f"{statistics.median(t[0] for t in theirs):12.2f} "
            f"{statistics.median(t[1] for t in theirs):8.2f}  {cells[0]:19}  {cells[1]}"
        )
    print(f"({seconds:g} s per run: {', '.join(f'{int(r * seconds):,}' for r in out)} records)")


# -- the runs --------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    n, rounds = args.count - args.count % WRITE_BATCH, args.rounds
    header(
        f"consumers: a topic of 1 + {n:,} records of {len(VALUE)} bytes, one partition, "
        "read whole by a new group member per run",
        rounds,
    )
    table: list[tuple[str, str, str, Pair]] = []
    if not args.no_memory:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        url = f"memory://{name}"
        try:
            topic = fresh_topic()
            await write_records(url, topic, n + 1)
            sides = [aiomq_messages(url, topic), aiomq_batches(url, topic)]
            sides.append(queue_of_messages(topic))
            rates = await measure(sides, n, rounds)
        finally:
            drop_broker(name)
        table += pairs("memory", sides, rates, [(0, 2), (1, 2)])
        print_table(table[-2:], unit="records/s")
    if args.brokers:
        url = f"kafka://{args.brokers}"
        async with kafka_topic(args.brokers) as topic:
            await write_records(url, topic, n + 1)
            sides = [
                aiomq_messages(url, topic),
                aiokafka_messages(args.brokers, topic),
                aiomq_batches(url, topic),
                aiokafka_getmany(args.brokers, topic),
                confluent_consume(args.brokers, topic, args.consume_batch),
            ]
            rates = await measure(sides, n, rounds)
        table += pairs("kafka", sides, rates, [(0, 1), (2, 3), (2, 4)])
        print_table(table[-3:], unit="records/s")
    print()
    print("throughput, all rows:")
    print_table(table, unit="records/s")
    if args.brokers and args.rates:
        print()
        print(f"end-to-end latency, {rounds} rounds: produced at a steady offered rate")
        out = await measure_latency(
            [aiomq_latency(args.brokers), aiokafka_latency(args.brokers)],
            args.rates,
            args.seconds,
            rounds,
        )
        print_latency(out, args.seconds)
    if not args.brokers:
        print("kafka: skipped (pass --brokers or set AIOMQ_KAFKA_BOOTSTRAP)")
    check_no_leftover_tasks()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_common_options(parser)
    parser.add_argument(
        "--consume-batch", type=int, default=10_000, help="confluent-kafka's num_messages"
    )
    parser.add_argument(
        "--rates",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1000, 10_000],
        help="offered records/s for the latency runs, comma-separated (empty: none)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a latency run")
    args = parser.parse_args()
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
