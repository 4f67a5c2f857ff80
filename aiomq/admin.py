"""Topic administration (sarama's ``ClusterAdmin``): create, delete, list and describe topics.

``admin = client.admin()`` works the same on ``memory://`` and ``kafka://``. Group
administration (``list_groups``, ``describe_group`` with members, committed offsets and lag)
is not here yet: it needs group membership, and arrives with consumer groups. Unlike
sarama, ``create_topic`` and ``delete_topic`` return only once the change is visible to the
client's metadata, so a topic can be used right after it is created.
"""

from __future__ import annotations

from collections.abc import Mapping

from anyio.abc import AsyncResource

from ._session import Session
from .backends.base import PartitionInfo, TopicExists, TopicInfo
from .errors import ClosedError

__all__ = ["Admin", "PartitionInfo", "TopicExists", "TopicInfo"]


class Admin(AsyncResource):
    """Administers topics through a client (sarama's ``ClusterAdmin``); ``client.admin()``.

    An async context manager (``anyio.abc.AsyncResource``: entering returns the admin,
    leaving calls ``aclose()``); ``aclose()`` is idempotent and leaves the client open (sarama's
    ``ClusterAdmin.Close`` closes the client too). Closing the client closes the admin. Every
    method raises ``ClosedError`` after either is closed.
    """

    __slots__ = ("_closed", "_session")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._closed = False

    def __repr__(self) -> str:
        return f"<Admin {self._session.url!r}{' closed' if self._closed else ''}>"

    async def aclose(self) -> None:
        """Close the admin (not the client). Idempotent."""
        if not self._closed:
            self._closed = True
            self._session.release(self)

    @property
    def closed(self) -> bool:
        """True once the admin or its client is closed."""
        return self._closed or self._session.closed

    def _live(self) -> Session:
        if self._closed:
            raise ClosedError("admin is closed")
        self._session.check()
        return self._session

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create topic ``name`` with ``partitions`` partitions (sarama's ``CreateTopic``).

        ``replication`` None means the broker's default (``default.replication.factor``;
        1 in process). ``config`` holds Kafka topic configs as strings, for example
        ``{"retention.bytes": "1048576"}``. Raises ``TopicExists`` if the topic exists,
        ``ConfigError`` (a ``ValueError``) for an illegal name and ``ValueError`` for a bad
        partition count, replication factor or config.
        """
        session = self._live()
        try:
            await session.backend.create_topic(name, partitions, replication, config)
        finally:
            session.forget_topic(name)

    async def delete_topic(self, name: str) -> None:
        """Delete topic ``name`` and its records (sarama's ``DeleteTopic``). ``UnknownTopic``."""
        session = self._live()
        try:
            await session.backend.delete_topic(name)
        finally:
            session.forget_topic(name)

    async def list_topics(self) -> list[str]:
        """Names of the topics, sorted, internal ones left out (sarama's ``ListTopics``
        returns details too; ask ``describe_topic`` for those)."""
        return await self._live().backend.list_topics()

    async def describe_topic(self, name: str) -> TopicInfo:
        """The topic's partitions with leader, replicas and in-sync replicas (sarama's
        ``DescribeTopics`` for one topic). Raises ``UnknownTopic``; never creates the topic."""
        return await self._live().backend.describe_topic(name)
