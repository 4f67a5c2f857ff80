"""What the producer and consumer benchmarks share: sides measured in rotating rounds, the
broker they run on, fresh topics, and the check that nothing is left running.

Not a benchmark itself; the scripts import it as ``_messaging`` (see ``_common``).

A *side* sets itself up (untimed: connecting, a fresh topic, a warm-up record), yields the
timed run of ``n`` records, and tears itself down (untimed). A run may return how many
records it handled when that is not ``n`` (a consumer whose untimed warm-up took a whole
batch). Sides of one group are measured
in rounds: in each round every side runs once, back to back, the order rotated by one from
round to round, so that aiomq and each baseline see about the same load; the ratio of two
sides in one round is one paired sample (``_common.Pair``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from _common import Pair

from aiomq.client import connect

__all__ = [
    "Run",
    "Side",
    "add_common_options",
    "check_no_leftover_tasks",
    "fresh_topic",
    "kafka_topic",
    "measure",
    "pairs",
]

RUN_LIMIT = 600.0  # seconds one timed run may take before the benchmark gives up

Run = Callable[[int], Awaitable[int | None]]


@dataclass(frozen=True)
class Side:
    """One contender of a group: its name in the table and how to set it up."""

    name: str
    setup: Callable[[], AbstractAsyncContextManager[Run]]


def fresh_topic(prefix: str = "bench") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def kafka_topic(bootstrap: str, partitions: int = 1) -> AsyncIterator[str]:
    """A new topic on the broker for the block, deleted after it (its log frees the disk)."""
    topic = fresh_topic()
    async with connect(f"kafka://{bootstrap}") as client, client.admin() as admin:
        await admin.create_topic(topic, partitions=partitions)
    try:
        yield topic
    finally:
        async with connect(f"kafka://{bootstrap}") as client, client.admin() as admin:
            await admin.delete_topic(topic)


async def measure(sides: Sequence[Side], n: int, rounds: int) -> list[list[float]]:
    """Records per second of each side in each round: ``rates[side][round]``.

    In round ``i`` the sides run in their order rotated by ``i``; every timed run is bounded
    by ``RUN_LIMIT``.
    """
    rates: list[list[float]] = [[] for _ in sides]
    for i in range(rounds):
        order = list(range(len(sides)))
        shift = i % len(order)
        order = order[shift:] + order[:shift]
        for index in order:
            async with sides[index].setup() as run:
                start = time.perf_counter()
                async with asyncio.timeout(RUN_LIMIT):
                    handled = await run(n)
                elapsed = time.perf_counter() - start
                if handled is not None and handled <= 0:
                    raise RuntimeError(
                        f"{sides[index].name}: nothing left to time, raise the count"
                    )
                rates[index].append((n if handled is None else handled) / elapsed)
    return rates


def pairs(
    backend: str, sides: Sequence[Side], rates: list[list[float]], rows: Sequence[tuple[int, int]]
) -> list[tuple[str, str, str, Pair]]:
    """Table entries for ``rows`` of ``(aiomq's side, baseline side)`` indexes."""
    return [
        (backend, sides[ours].name, sides[base].name, Pair(rates[ours], rates[base]))
        for ours, base in rows
    ]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--brokers``, ``--no-memory``, ``--count`` and ``--rounds``, as every messaging
    benchmark takes them."""
    parser.add_argument(
        "--brokers",
        default=os.environ.get("AIOMQ_KAFKA_BOOTSTRAP"),
        help="bootstrap host:port of a Kafka broker (default $AIOMQ_KAFKA_BOOTSTRAP); "
        "without one the Kafka rows are skipped",
    )
    parser.add_argument("--no-memory", action="store_true", help="measure Kafka only")
    parser.add_argument("--count", type=int, default=1_000_000, help="records per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")


def check_no_leftover_tasks() -> None:
    """Raise if any task but the caller's is still alive: every side must close what it
    started."""
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if left:
        raise RuntimeError(f"tasks left running after the benchmark: {left!r}")
