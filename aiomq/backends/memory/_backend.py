"""``MemoryBackend``: the ``Backend`` operations over a ``MemoryBroker``, and parked fetches.

A fetch with nothing to read parks on ``aiomq.concurrency._park.Parker``, registered on the
partition's log; a produce, a topic deletion or closing the backend wakes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from ...concurrency._park import Parker, checkpoint, current, wake_all
from ...config import Config
from ...errors import ClosedError
from ..base import (
    INT64_MAX,
    CommittedOffset,
    FetchResult,
    ProduceRecord,
    ProduceResult,
    TopicInfo,
    TopicPartition,
    check_fetch_arguments,
    check_offset,
)
from ._broker import MemoryBroker

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """``Backend`` over a ``MemoryBroker``; what ``aiomq.connect("memory://name")`` opens.

    ``auto_create_topics`` is the client's side of auto-creation (the Java consumer's
    ``allow.auto.create.topics``): a topic is auto-created only when both it and the broker
    allow it. ``config`` is the client's: ``producer.max_message_bytes`` bounds each record
    (a record over it raises ``MessageTooLarge`` and nothing of its batch is stored). Every
    operation checks its arguments first (``aiomq.backends.base``'s checks, as every
    backend does), then yields to the event loop once, as a network call would, so a loop
    of sends never starves other tasks; nothing waits per record.

    The Go counterpart is a sarama ``Client`` connected to brokers; for tests sarama offers
    ``MockBroker`` (scripted answers) and the ``mocks`` package (expectations set per call).
    This is neither: a working broker in the process, with Kafka's semantics, that every
    aiomq producer and consumer runs on unchanged.
    """

    __slots__ = ("_auto_create", "_broker", "_closed", "_max_record_bytes", "_parked", "_url")

    def __init__(
        self,
        memory_broker: MemoryBroker,
        *,
        url: str = "memory://",
        auto_create_topics: bool = True,
        config: Config | None = None,
    ) -> None:
        self._broker = memory_broker
        self._url = url
        self._auto_create = auto_create_topics
        self._max_record_bytes = (config or Config()).producer.max_message_bytes
        self._closed = False
        self._parked: set[Parker[bool]] = set()

    @property
    def url(self) -> str:
        """The URL the backend was opened from."""
        return self._url

    @property
    def broker(self) -> MemoryBroker:
        """The in-process broker this backend talks to."""
        return self._broker

    def __repr__(self) -> str:
        return f"<MemoryBackend {self._url!r}{' closed' if self._closed else ''}>"

    def _check(self) -> MemoryBroker:
        if self._closed:
            raise ClosedError(f"backend {self._url!r} is closed")
        return self._broker

    async def open(self) -> None:
        """Nothing to connect; checks the backend is not closed."""
        self._check()

    async def aclose(self) -> None:
        """Close; fetches parked through this backend wake and raise ``ClosedError``."""
        if self._closed:
            return
        self._closed = True
        wake_all(self._parked, False)

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append a batch to one partition (``Backend.produce``)."""
        result = self._check().append(
            topic,
            partition,
            records,
            allow_create=self._auto_create,
            max_record_bytes=self._max_record_bytes,
        )
        # After the append, so woken consumers run before this producer's next batch.
        await checkpoint()
        return result

    async def fetch(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        max_wait: float,
        min_bytes: int = 1,
        max_bytes: int = 1 << 20,
        max_records: int | None = None,
    ) -> FetchResult:
        """Long-poll one partition from ``offset`` (``Backend.fetch``).

        Parks until a produce wakes it or ``max_wait`` passes: no polling, no timer task
        (one ``call_later`` handle per wait).
        """
        check_offset(offset, minimum=-INT64_MAX - 1)  # a negative one is out of range
        check_fetch_arguments(max_wait, min_bytes, max_bytes, max_records)
        result = (
            self._check()
            .partition_log(topic, partition)
            .read(offset, min_bytes, max_bytes, max_records)
        )
        if result is not None:
            await checkpoint()
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            remaining = deadline - loop.time()
            # Re-looked up each round: the topic may have been deleted meanwhile.
            part = self._check().partition_log(topic, partition)
            if remaining <= 0:
                final = part.read(offset, 0, max_bytes, max_records)
                assert final is not None
                await checkpoint()
                return final
            parker: Parker[bool] = current().parker()
            part.waiters.add(parker)
            self._parked.add(parker)
            timer = loop.call_later(remaining, parker.wake, True)
            try:
                timed_out = await parker.park()
            finally:
                timer.cancel()
                part.waiters.discard(parker)
                self._parked.discard(parker)
            part = self._check().partition_log(topic, partition)
            result = part.read(offset, 0 if timed_out else min_bytes, max_bytes, max_records)
            if result is not None:
                return result

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (``Backend.partitions``)."""
        result = self._check().partitions(topic, allow_create=self._auto_create)
        await checkpoint()
        return result

    async def list_offsets(self, topic: str, specs: Mapping[int, int]) -> dict[int, int | None]:
        """Resolve offsets by spec (``Backend.list_offsets``)."""
        result = self._check().list_offsets(topic, specs)
        await checkpoint()
        return result

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create a topic (``Backend.create_topic``)."""
        self._check().create_topic(name, partitions, replication, config)
        await checkpoint()

    async def delete_topic(self, name: str) -> None:
        """Delete a topic (``Backend.delete_topic``)."""
        self._check().delete_topic(name)
        await checkpoint()

    async def list_topics(self) -> list[str]:
        """The topic names, sorted (``Backend.list_topics``)."""
        result = self._check().list_topics()
        await checkpoint()
        return result

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions (``Backend.describe_topic``)."""
        result = self._check().describe_topic(name)
        await checkpoint()
        return result

    async def commit_offsets(
        self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Store group offsets (``Backend.commit_offsets``)."""
        self._check().commit_offsets(group, offsets)
        await checkpoint()

    async def committed_offsets(
        self, group: str, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, CommittedOffset]:
        """Read group offsets (``Backend.committed_offsets``)."""
        result = self._check().committed_offsets(group, partitions)
        await checkpoint()
        return result
