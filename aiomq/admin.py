"""Cluster administration (sarama's ``ClusterAdmin``): topics and consumer groups.

``admin = client.admin()`` works the same on ``memory://`` and ``kafka://``: create, delete,
list and describe topics; list, describe (members, assignments, committed offsets and lag),
reset and delete consumer groups. Unlike sarama, ``create_topic`` and ``delete_topic`` return
only once the change is visible to the client's metadata, so a topic can be used right after
it is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from anyio.abc import AsyncResource

from ._session import Session
from .backends.base import (
    EARLIEST,
    LATEST,
    CommittedOffset,
    PartitionInfo,
    TopicExists,
    TopicInfo,
    TopicPartition,
    check_offset,
)
from .backends.consumer_protocol import decode_assignment
from .backends.group import GroupCoordinator, GroupListing
from .config import Offset, OffsetAt
from .errors import ClosedError, ConfigError, DecodeError, GroupNotEmpty, UnknownTopic

__all__ = [
    "Admin",
    "GroupInfo",
    "GroupListing",
    "MemberInfo",
    "PartitionInfo",
    "TopicExists",
    "TopicInfo",
]


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member of a group: its ids, client, host and the partitions assigned to it.

    In a consumer group (KIP-848) also its ``epoch`` and ``target``, the partitions the
    coordinator means it to own; ``assignment`` and ``target`` differ while it reconciles.
    In a classic group ``epoch`` is -1 and ``target`` equals ``assignment``.
    """

    member_id: str
    instance_id: str | None
    client_id: str
    host: str
    assignment: frozenset[TopicPartition] = frozenset()
    epoch: int = -1
    target: frozenset[TopicPartition] = frozenset()


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group as ``Admin.describe_group`` reports it (sarama's
    ``GroupDescription`` with the group's offsets, as ``kafka-consumer-groups --describe``).

    ``group_type`` says which protocol the group speaks: ``"classic"`` (``state`` one of
    ``Empty``, ``PreparingRebalance``, ``CompletingRebalance``, ``Stable``, or ``Dead`` for a
    group nobody knows; ``assignor`` the one its leader ran) or ``"consumer"`` (KIP-848:
    ``state`` one of ``Empty``, ``Assigning``, ``Reconciling``, ``Stable``; ``assignor`` the
    coordinator's; ``epoch`` the group epoch). ``offsets`` is the committed offset of every
    partition the group committed; ``lag`` how many records each of them has past it (the
    partition's high watermark minus the committed offset).
    """

    group: str
    state: str
    assignor: str = ""
    members: tuple[MemberInfo, ...] = ()
    offsets: Mapping[TopicPartition, CommittedOffset] = field(default_factory=dict)
    lag: Mapping[TopicPartition, int] = field(default_factory=dict)
    group_type: str = "classic"
    epoch: int = -1


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

    # -- groups ----------------------------------------------------------------------------

    def _groups(self) -> GroupCoordinator:
        return cast(GroupCoordinator, self._live().backend)

    async def list_groups(self) -> list[GroupListing]:
        """Every group the cluster knows, sorted by id (sarama's ``ListConsumerGroups``)."""
        return await self._groups().list_groups()

    async def describe_group(self, group: str) -> GroupInfo:
        """The group's state, members with their assignments, committed offsets and lag
        (sarama's ``DescribeConsumerGroups`` and ``ListConsumerGroupOffsets``). An unknown
        group is ``Dead`` with nothing in it."""
        coordinator = self._groups()
        description = await coordinator.describe_group(group)
        members = []
        for m in description.members:
            if description.group_type == "consumer":
                assigned, target = m.assigned, m.target
            else:
                try:
                    assigned = frozenset(decode_assignment(m.assignment).partitions)
                except DecodeError:
                    assigned = frozenset()  # not a consumer's assignment: another type
                target = assigned
            members.append(
                MemberInfo(
                    m.member_id,
                    m.instance_id,
                    m.client_id,
                    m.client_host,
                    assigned,
                    m.member_epoch,
                    target,
                )
            )
        offsets = await coordinator.group_offsets(group)
        return GroupInfo(
            group,
            description.state,
            description.protocol,
            tuple(members),
            offsets,
            await self._lag(offsets),
            description.group_type,
            description.group_epoch,
        )

    async def _lag(
        self, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> dict[TopicPartition, int]:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in offsets:
            by_topic.setdefault(topic, []).append(partition)
        lag: dict[TopicPartition, int] = {}
        backend = self._live().backend
        for topic, partitions in by_topic.items():
            try:
                ends = await backend.list_offsets(topic, dict.fromkeys(partitions, LATEST))
            except UnknownTopic:
                continue
            for partition, end in ends.items():
                if end is not None:
                    lag[(topic, partition)] = max(0, end - offsets[(topic, partition)].offset)
        return lag

    async def reset_offsets(
        self, group: str, topic: str, to: Offset | OffsetAt | Mapping[int, int]
    ) -> dict[TopicPartition, CommittedOffset]:
        """Set ``group``'s committed offsets in every partition of ``topic`` (or in the
        partitions a mapping names, to the offsets it gives): to the log start
        (``Offset.OLDEST``), the end (``Offset.NEWEST``) or the first record at or after a
        time (``Offset.at(ms)``; the end where none is that recent). Only while the group has
        no members (``GroupNotEmpty`` otherwise), as ``kafka-consumer-groups
        --reset-offsets``. Returns what was committed."""
        coordinator = self._groups()
        backend = self._live().backend
        description = await coordinator.describe_group(group)
        if description.members:
            raise GroupNotEmpty(f"group {group!r} has members: stop them before resetting")
        if isinstance(to, Mapping):
            offsets = {
                (topic, partition): CommittedOffset(check_offset(offset))
                for partition, offset in to.items()
            }
        else:
            partitions = await backend.partitions(topic)
            if isinstance(to, OffsetAt):
                found = await backend.list_offsets(topic, dict.fromkeys(partitions, to.timestamp))
                ends = await backend.list_offsets(topic, dict.fromkeys(partitions, LATEST))
                resolved = {p: found[p] if found[p] is not None else ends[p] for p in partitions}
            elif to in (Offset.OLDEST, Offset.NEWEST):
                spec = EARLIEST if to is Offset.OLDEST else LATEST
                resolved = await backend.list_offsets(topic, dict.fromkeys(partitions, spec))
            else:
                raise ConfigError(
                    "to", f"must be an Offset, Offset.at(ms) or a mapping, not {to!r}"
                )
            offsets = {
                (topic, p): CommittedOffset(offset)
                for p, offset in resolved.items()
                if offset is not None
            }
        await backend.commit_offsets(group, offsets)
        return offsets

    async def delete_group(self, group: str) -> None:
        """Delete a group without members and its committed offsets (sarama's
        ``DeleteConsumerGroup``). ``GroupNotEmpty`` while it has members."""
        await self._groups().delete_group(group)
