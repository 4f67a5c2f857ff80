"""What a client shares with everything it makes: one ``Session`` per ``aiomq.connect``.

The client is the public face (connect, open, close, the factories); the session holds what
producers, consumers, groups and admins work with (the backend, the validated config, the
codecs and partitioner, a cache of topic partitions) and the registry of what was made, so
that closing the client closes all of it. Children hold the session, never the client: the
imports point down (client → admin, producers, ... → session → backends).
"""

from __future__ import annotations

from typing import Any, Protocol

from .backends import Backend
from .codecs import Codec, resolve
from .config import Config
from .errors import ClosedError, UnknownTopic
from .partitioner import Partitioner, partitioner_from, select_partition

__all__ = ["Closeable", "Session"]


class Closeable(Protocol):
    """What a session's registry holds: anything with an idempotent ``aclose()``."""

    async def aclose(self) -> None: ...


class Session:
    """The shared state of one client; see the module docstring.

    ``closed`` turns True when the client starts closing; from then on ``check()`` (and every
    child that calls it) raises ``ClosedError``.
    """

    __slots__ = (
        "_children",
        "_partitions",
        "backend",
        "closed",
        "config",
        "key_codec",
        "partitioner",
        "url",
        "value_codec",
    )

    # Invariant: _children holds what the client made and has not seen closed; it is empty
    # once the client has closed.

    def __init__(self, url: str, config: Config, backend: Backend) -> None:
        self.url = url
        self.config = config
        self.backend = backend
        self.key_codec: Codec[Any] = resolve(config.key_codec)
        self.value_codec: Codec[Any] = resolve(config.value_codec)
        self.partitioner: Partitioner = partitioner_from(
            config.producer.partitioner, sticky_bytes=config.producer.batch_size
        )
        self.closed = False
        self._partitions: dict[str, list[int]] = {}
        self._children: dict[Closeable, None] = {}  # a dict: an ordered set

    def check(self) -> None:
        """Raise ``ClosedError`` once the client is closing or closed."""
        if self.closed:
            raise ClosedError(f"client {self.url!r} is closed")

    # -- what the client made --------------------------------------------------------------

    def adopt(self, child: Closeable) -> None:
        """Register ``child`` to be closed with the client. ``ClosedError`` if closed."""
        self.check()
        self._children[child] = None

    def release(self, child: Closeable) -> None:
        """Forget ``child`` (it closed itself). Unknown children are ignored."""
        self._children.pop(child, None)

    def pop_newest(self) -> Closeable | None:
        """Take the newest child still registered, or None: the client closes them one at a
        time, so one made while closing is closed too."""
        if not self._children:
            return None
        child = next(reversed(self._children))
        del self._children[child]
        return child

    # -- topic metadata ------------------------------------------------------------------

    async def partitions(self, topic: str, *, refresh: bool = False) -> list[int]:
        """The partition ids of ``topic`` (sarama's ``Client.Partitions``), cached.

        Creates the topic when missing and auto-creation is on; else ``UnknownTopic``.
        ``refresh=True`` asks the backend again (sarama's ``RefreshMetadata``).
        """
        self.check()
        if not refresh:
            cached = self._partitions.get(topic)
            if cached is not None:
                return cached
        try:
            found = await self.backend.partitions(topic)
        except UnknownTopic:
            self._partitions.pop(topic, None)
            raise
        self._partitions[topic] = found
        return found

    def forget_topic(self, topic: str) -> None:
        """Drop ``topic`` from the partition cache (it was created, deleted or changed)."""
        self._partitions.pop(topic, None)

    def forget_topics(self) -> None:
        """Empty the partition cache."""
        self._partitions.clear()

    async def partition_for(
        self, topic: str, key: bytes | None, partition: int | None = None
    ) -> int:
        """The partition a record with encoded ``key`` goes to: ``partition`` if given, else
        the partitioner's choice over the topic's partitions (``select_partition``).

        Equal keys map to equal partitions while the partition count stays the same.
        """
        partitions = await self.partitions(topic)
        return select_partition(self.partitioner, topic, key, len(partitions), partition)
