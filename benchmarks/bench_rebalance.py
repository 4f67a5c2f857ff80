"""How a group scales up under each protocol: classic cooperative-sticky (KIP-429) and the
consumer protocol (KIP-848), a 3 -> 4 scale-up on a Kafka cluster while records flow.

For each round and protocol: a fresh topic of ``--partitions`` partitions, a producer writing
``--rate`` records/s across them, three members of a new group consuming until every
partition is owned and flowing; then a fourth member joins. Measured from the moment the
fourth member starts:

- *settled*: seconds until the four members own every partition between them, balanced,
  and every partition has been consumed by its final owner since the join (for a partition
  that moved: its new owner has read from it). This is the time the group needs to consume
  everything again;
- *paused*: how many partitions stopped being consumed for a while, that is were released
  (revoked or lost) by the three members in the rebalance;
- *longest gap*: the longest time any partition went without a record consumed, around the
  rebalance.

The members' heartbeat settings are the same under both protocols: the classic members
heartbeat every 0.5 s, and the launcher's brokers ask consumer-protocol members for the same
(``group.consumer.heartbeat.interval.ms=500``). The order of the two protocols alternates
from round to round. Run it against a three-node cluster: ``aiomq kafka start --nodes 3``
(with your own ``AIOMQ_CACHE_DIR`` if a test broker runs beside it), then
``python benchmarks/bench_rebalance.py --brokers <bootstrap>``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from _common import header

from aiomq.client import Client, connect
from aiomq.config import Config, GroupProtocol, Offset, RebalanceStrategy
from aiomq.group import ConsumerGroup, NotificationType

TopicPartition = tuple[str, int]


@dataclass
class Result:
    settled: float
    paused: int
    longest_gap: float


@dataclass
class Watch:
    """What every member consumed, and when: the last record time per partition and who
    read it, and the longest gap between two records of a partition."""

    topic: str
    partitions: int
    owner: dict[TopicPartition, str] = field(default_factory=dict)
    last: dict[TopicPartition, float] = field(default_factory=dict)
    read_since: dict[TopicPartition, str] = field(default_factory=dict)  # by whom since mark
    gap: float = 0.0
    released: set[TopicPartition] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def consumed(self, name: str, tp: TopicPartition) -> None:
        now = time.monotonic()
        previous = self.last.get(tp)
        if previous is not None:
            self.gap = max(self.gap, now - previous)
        self.last[tp] = now
        self.read_since[tp] = name
        self.changed.set()

    def mark(self) -> None:
        """From now on: count gaps and releases afresh, and require every partition to be
        read again."""
        self.read_since.clear()
        self.released.clear()
        self.gap = 0.0

    def settled(self, groups: dict[str, ConsumerGroup]) -> bool:
        owners: dict[TopicPartition, str] = {}
        for name, group in groups.items():
            for tp in group.assignment:
                if tp in owners:
                    return False
                owners[tp] = name
        counts = [len(g.assignment) for g in groups.values()]
        if len(owners) != self.partitions or max(counts) - min(counts) > 1:
            return False
        return all(self.read_since.get(tp) == name for tp, name in owners.items())


def member_config(protocol: GroupProtocol) -> Config:
    config = Config()
    config.group.protocol = protocol
    config.group.return_notifications = True
    config.consumer.offsets.initial = Offset.NEWEST
    config.consumer.max_wait = 0.1
    if protocol is GroupProtocol.CLASSIC:
        config.group.rebalance_strategy = RebalanceStrategy.COOPERATIVE_STICKY
        config.group.heartbeat_interval = 0.5
        config.group.session_timeout = 6.0
    return config


async def produce(client: Client, topic: str, partitions: int, rate: float) -> None:
    """``rate`` records a second, round robin over the partitions, until cancelled."""
    period = 1 / rate
    async with client.async_producer() as producer:
        i = 0
        start = time.monotonic()
        while True:
            await producer.send(topic, b"x", partition=i % partitions)
            i += 1
            delay = start + i * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


async def consume(name: str, group: ConsumerGroup, watch: Watch) -> None:
    async def notes() -> None:
        assert group.notifications is not None
        async for note in group.notifications:
            if note.type is NotificationType.REBALANCE_OK:
                watch.released |= note.released
                watch.changed.set()

    listener = asyncio.ensure_future(notes())
    try:
        async for batch in group.batches():
            for message in batch:
                watch.consumed(name, (message.topic, message.partition))
    finally:
        listener.cancel()


async def one_round(
    bootstrap: str, protocol: GroupProtocol, partitions: int, rate: float
) -> Result:
    url = f"kafka://{bootstrap}"
    topic = f"rebalance-{uuid.uuid4().hex[:10]}"
    group_id = f"g-{topic}"
    async with connect(url, member_config(protocol)) as setup:
        async with setup.admin() as admin:
            await admin.create_topic(topic, partitions)
        watch = Watch(topic, partitions)
        clients: list[Client] = []
        groups: dict[str, ConsumerGroup] = {}
        tasks: list[asyncio.Task[None]] = [
            asyncio.ensure_future(produce(setup, topic, partitions, rate))
        ]

        async def add(name: str) -> None:
            client = await connect(url, member_config(protocol))
            clients.append(client)
            group = client.group(group_id, [topic])
            groups[name] = group
            tasks.append(asyncio.ensure_future(consume(name, group, watch)))

        async def until_settled() -> None:
            with anyio.fail_after(120):
                while not watch.settled(groups):
                    watch.changed.clear()
                    await watch.changed.wait()

        try:
            for name in ("a", "b", "c"):
                await add(name)
            await until_settled()
            watch.mark()
            joined = time.monotonic()
            await add("d")
            await until_settled()
            settled = time.monotonic() - joined
            return Result(settled, len(watch.released), watch.gap)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for group in groups.values():
                await group.aclose()
            for client in clients:
                await client.aclose()
            async with setup.admin() as admin:
                await admin.delete_topic(topic)


async def main(bootstrap: str, rounds: int, partitions: int, rate: float) -> None:
    header(
        f"3 -> 4 members scale-up, {partitions} partitions, {rate:,.0f} records/s flowing",
        rounds,
    )
    protocols: Sequence[GroupProtocol] = (GroupProtocol.CLASSIC, GroupProtocol.CONSUMER)
    results: dict[GroupProtocol, list[Result]] = {p: [] for p in protocols}
    for i in range(rounds):
        order = protocols if i % 2 == 0 else tuple(reversed(protocols))
        for protocol in order:
            result = await one_round(bootstrap, protocol, partitions, rate)
            results[protocol].append(result)
            print(
                f"round {i + 1} {protocol}: settled {result.settled:.2f} s, "
                f"paused {result.paused}, longest gap {result.longest_gap:.2f} s",
                flush=True,
            )
    print(f"{'protocol':28} {'settled s':>22} {'paused':>14} {'longest gap s':>22}")
    names = {
        GroupProtocol.CLASSIC: "classic cooperative-sticky",
        GroupProtocol.CONSUMER: "consumer (KIP-848)",
    }
    for protocol in protocols:
        rs = results[protocol]
        print(
            f"{names[protocol]:28} {_spread([r.settled for r in rs]):>22} "
            f"{_spread([float(r.paused) for r in rs], '.0f'):>14} "
            f"{_spread([r.longest_gap for r in rs]):>22}"
        )
    classic, consumer = results[GroupProtocol.CLASSIC], results[GroupProtocol.CONSUMER]
    for what in ("settled", "longest_gap"):
        ratios = [
            getattr(o, what) / getattr(c, what) for o, c in zip(consumer, classic, strict=True)
        ]
        print(f"{what}: consumer / classic per round {_spread(ratios)} (below 1: consumer's less)")


def _spread(values: list[float], fmt: str = ".2f") -> str:
    """The median and [min-max]."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", required=True, help="bootstrap of a (three-node) cluster")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--rate", type=float, default=2000.0, help="records/s produced")
    args = parser.parse_args()
    asyncio.run(main(args.brokers, args.rounds, args.partitions, args.rate))


if __name__ == "__main__":
    cli()
