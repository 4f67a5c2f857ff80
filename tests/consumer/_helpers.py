"""Steps the consumer tests share: produce raw records, take messages from a reader."""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence

from aiomq.backends.base import ProduceRecord
from aiomq.client import Client
from aiomq.message import Message
from tests.backends.common import rec


async def produce(
    client: Client, topic: str, items: Sequence[bytes | ProduceRecord], partition: int = 0
) -> list[int]:
    """Append ``items`` (values, or whole records) to one partition as one batch; their
    offsets."""
    records = [item if isinstance(item, tuple) else rec(None, item) for item in items]
    result = await client.backend.produce(topic, partition, records)
    return list(result.offsets)


async def take(reader: AsyncIterable[Message], n: int) -> list[Message]:
    """The next ``n`` messages of ``reader`` (leaving its loop with ``break``)."""
    out: list[Message] = []
    if n <= 0:
        return out
    async for message in reader:
        out.append(message)
        if len(out) == n:
            break
    return out
