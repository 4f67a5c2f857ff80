"""``ConsumerGroup``: consume topics as one member of a group, with offsets that survive.

The group's member (``_member.Member``) keeps the partitions this process owns; for each one
a ``PartitionFetcher`` task delivers whole batches into one channel; iterating the group
takes messages from it, partition order kept. Offsets are committed from ``mark_offset``:
every ``consumer.offsets.commit_interval``, when partitions are revoked (before another
member gets them), and when the group closes, always with the member's generation, so a
member that lost its partitions can never overwrite the new owner's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
from anyio.abc import AsyncResource

from .._session import Session
from ..backends.base import EARLIEST, LATEST, Backend, CommittedOffset, Membership, TopicPartition
from ..backends.group import ConsumerGroupCoordinator, GroupCoordinator
from ..concurrency import Chan, ChanClosed, ErrGroup
from ..config import GroupConfig, GroupProtocol, Isolation, Offset, RebalanceStrategy
from ..consumer._fetcher import FetchedBatch, PartitionFetcher
from ..errors import (
    AiomqError,
    ClosedError,
    ConfigError,
    RebalanceInProgress,
    StaleMember,
    UnknownTopic,
)
from ..message import Message, validate_topic
from ._actions import Partitions
from ._classic import ClassicMember
from ._consumer import ConsumerMember
from ._member import ClassicDriver, ConsumerDriver, Member, Rebalance
from .assignors import assignor_from

__all__ = ["ConsumerGroup", "Notification", "NotificationType"]

log = logging.getLogger("aiomq")


class NotificationType(enum.Enum):
    """What a ``Notification`` reports (sarama-cluster's ``NotificationType``)."""

    REBALANCE_START = "rebalance start"
    REBALANCE_OK = "rebalance ok"
    REBALANCE_ERROR = "rebalance error"


@dataclass(frozen=True, slots=True)
class Notification:
    """A rebalance as this member saw it (sarama-cluster's ``Notification``): the partitions
    it ``claimed`` and ``released`` in it, what it owns after it (``current``)."""

    type: NotificationType
    claimed: Partitions = frozenset()
    released: Partitions = frozenset()
    current: Partitions = frozenset()
    generation: int = -1


class _Owned:
    """A partition this member consumes: its fetcher and task, and the next offset to hand
    to the application (its live position)."""

    __slots__ = ("fetcher", "position", "task")

    def __init__(self, position: int) -> None:
        self.position = position
        self.fetcher: PartitionFetcher | None = None
        self.task: asyncio.Task[None] | None = None


class ConsumerGroup(AsyncResource):
    """Consumes ``topics`` as a member of ``group_id`` (sarama-cluster's ``Consumer``).

    ``async for msg in group`` (or ``group.batches()`` for whole fetched batches) yields the
    messages of the partitions this member owns, each partition in order. ``mark_offset(msg)``
    records that ``msg`` was processed; marked offsets are committed every
    ``consumer.offsets.commit_interval`` (with ``consumer.offsets.auto_commit``), by
    ``await commit()``, before partitions are revoked and when the group closes: a clean stop
    or a rebalance loses nothing, and a restart resumes right after the last marked message;
    only a crash replays, at most what was marked since the last commit. Partitions without a
    committed offset start at ``consumer.offsets.initial``.

    ``notifications`` (with ``group.return_notifications``; else None) and ``errors`` are
    bounded channels that never block the group: when one is full its oldest item is dropped
    (and logged). Errors of the member's callbacks, commits and fetches go to ``errors``,
    records that cannot be decoded too (with their raw bytes); none stops the group, except a
    fatal one (the member was fenced, its configuration is refused), which ends the
    iteration by raising it. Make one with ``client.group(group_id, topics)``; ``async with``
    or ``aclose()`` commits, leaves the group and stops every task.

    ``pattern`` subscribes to every topic whose whole name matches that regular expression
    (RE2 syntax, as Java's ``subscribe(SubscriptionPattern)``), with ``topics`` or without:
    the coordinator resolves it, again as topics are created and deleted (Kafka 4.1: within
    about 10 s), so it needs the consumer protocol (KIP-848). ``ConfigError("pattern")``
    under ``group.protocol`` ``CLASSIC``, or when the broker does not offer the consumer
    protocol or refuses the expression (raised by the iteration).
    """

    def __init__(
        self,
        session: Session,
        group_id: str,
        topics: Sequence[str],
        pattern: str | None = None,
    ) -> None:
        if pattern is not None and (not isinstance(pattern, str) or not pattern):
            raise ConfigError("pattern", "must be a non-empty regular expression (a str)")
        if isinstance(topics, str) or not (topics or pattern):
            raise ConfigError("topics", "must be a non-empty list of topic names (or a pattern)")
        for topic in topics:
            validate_topic(topic)
        config = session.config
        if pattern is not None and config.group.protocol is GroupProtocol.CLASSIC:
            raise ConfigError("pattern", _PATTERN_NEEDS_CONSUMER)
        self._session = session
        self.group_id = group_id
        self.topics = tuple(topics)
        self.pattern = pattern
        size = max(config.channel_buffer_size, 1)
        self.errors: Chan[BaseException] = Chan(size)
        self.notifications: Chan[Notification] | None = (
            Chan(size) if config.group.return_notifications else None
        )
        # Batches travel with the _Owned they were fetched for: one fetched before a partition
        # was revoked (and perhaps given back since) is recognised and dropped.
        self._batches: Chan[tuple[_Owned, FetchedBatch]] = Chan(size)
        self._current: list[Message] = []
        self._current_owner: _Owned | None = None
        self._index = 0
        self._owned: dict[TopicPartition, _Owned] = {}
        self._marks: dict[TopicPartition, CommittedOffset] = {}
        self._committed: dict[TopicPartition, CommittedOffset] = {}
        # One commit at a time: a commit held up by a coordinator failover must not land
        # after a later one and move the group's offsets back.
        self._committing = asyncio.Lock()
        self._closed = False
        self._fatal: BaseException | None = None
        self._member: Member[Any, Any] | None = None  # made when the group starts
        self._group: ErrGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._done = asyncio.Event()

    def __repr__(self) -> str:
        return f"<ConsumerGroup {self.group_id!r} owns {len(self._owned)}>"

    # -- running -------------------------------------------------------------------------

    async def start(self) -> ConsumerGroup:
        """Join the group (in the background); iterating starts it too. Idempotent."""
        self._check()
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"aiomq group {self.group_id}"
            )
        await self._started.wait()
        return self

    async def __aenter__(self) -> ConsumerGroup:
        return await self.start()

    async def _run(self) -> None:
        try:
            async with ErrGroup() as group:
                self._group = group
                self._started.set()
                self._member = member = await self._make_member()
                if self._closed:
                    return
                await group.go(member.run)
                if self._session.config.consumer.offsets.auto_commit:
                    group.try_go(self._commit_every_interval)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._fatal = exc
                self._error(exc)
            raise
        finally:
            self._group = None
            self._started.set()
            self._done.set()
            with contextlib.suppress(ChanClosed):
                self._batches.close()

    async def _make_member(self) -> Member[Any, Any]:
        """The member for the protocol the configuration and the broker agree on."""
        session = self._session
        settings = session.config.group
        callbacks: dict[str, Any] = {
            "on_error": self._error,
            "on_rebalance": self._rebalanced,
            "on_rebalance_start": self._rebalance_started,
        }
        protocol = await choose_protocol(settings, session.backend, self.pattern is not None)
        if protocol is GroupProtocol.CONSUMER:
            consumer = ConsumerMember(
                self.group_id,
                self.topics,
                member_id=str(uuid.uuid4()),
                rebalance_timeout=settings.rebalance_timeout,
                instance_id=settings.instance_id,
                server_assignor=settings.remote_assignor,
                pattern=self.pattern,
            )
            coordinator = cast(ConsumerGroupCoordinator, session.backend)
            return ConsumerDriver(consumer, coordinator, session, self, **callbacks)
        strategy = settings.rebalance_strategy or RebalanceStrategy.COOPERATIVE_STICKY
        classic = ClassicMember(
            self.group_id,
            self.topics,
            [assignor_from(strategy.value)],
            instance_id=settings.instance_id,
        )
        return ClassicDriver(
            classic, cast(GroupCoordinator, session.backend), session, self, **callbacks
        )

    async def _commit_every_interval(self) -> None:
        interval = self._session.config.consumer.offsets.commit_interval
        while not self._closed:
            await anyio.sleep(interval)
            try:
                await self.commit()
            except AiomqError as exc:
                self._error(exc)

    # -- the member's listener -------------------------------------------------------------

    async def assign(self, partitions: Partitions) -> None:
        """Start consuming ``partitions`` from their committed offsets (else ``initial``)."""
        if not partitions:
            return
        session = self._session
        wanted = sorted(partitions)
        committed = await session.backend.committed_offsets(self.group_id, wanted)
        initial = session.config.consumer.offsets.initial
        spec = EARLIEST if initial is Offset.OLDEST else LATEST
        reset = spec
        read_committed = session.config.consumer.isolation is Isolation.READ_COMMITTED
        for tp in wanted:
            start = committed.get(tp)
            if start is not None:
                position = start.offset
                self._committed[tp] = start
            else:
                found = await session.backend.list_offsets(tp[0], {tp[1]: spec})
                position = found.get(tp[1]) or 0
            owned = self._owned[tp] = _Owned(position)
            owned.fetcher = PartitionFetcher(
                session,
                tp[0],
                tp[1],
                position,
                self._deliver_for(owned),
                self._error,
                read_committed=read_committed,
                reset=reset,
            )
            owned.task = asyncio.get_running_loop().create_task(
                owned.fetcher.run(), name=f"aiomq fetch {tp[0]}[{tp[1]}]"
            )

    def _deliver_for(self, owned: _Owned) -> Callable[[FetchedBatch], Awaitable[None]]:
        async def deliver(batch: FetchedBatch) -> None:
            await self._batches.send((owned, batch))

        return deliver

    async def revoke(self, partitions: Partitions) -> None:
        """Stop consuming ``partitions`` and commit what was marked in them."""
        await self._stop(partitions)
        await self._commit(partitions)
        for tp in partitions:
            self._committed.pop(tp, None)

    async def lose(self, partitions: Partitions) -> None:
        """Stop consuming ``partitions``; what was marked in them is dropped, not committed
        (another member may own them already)."""
        await self._stop(partitions)
        for tp in partitions:
            self._marks.pop(tp, None)
            self._committed.pop(tp, None)

    async def _stop(self, partitions: Partitions) -> None:
        tasks = []
        for tp in partitions:
            owned = self._owned.pop(tp, None)
            if owned is not None:
                if owned.fetcher is not None:
                    owned.fetcher.stop()
                if owned.task is not None:
                    owned.task.cancel()
                    tasks.append(owned.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- what the application sees ---------------------------------------------------------

    def __aiter__(self) -> ConsumerGroup:
        return self

    async def __anext__(self) -> Message:
        """The next message of an owned partition; ends when the group closes."""
        while True:
            current = self._current
            index = self._index
            if index < len(current):
                self._index = index + 1
                owner = self._current_owner
                message = current[index]
                if (
                    owner is None
                    or self._owned.get((message.topic, message.partition)) is not owner
                ):
                    continue  # its partition was revoked or lost since it was fetched
                owner.position = message.offset + 1
                return message
            item = await self._next_batch()
            if item is None:
                raise StopAsyncIteration
            self._current_owner, batch = item
            self._current = batch.messages
            self._index = 0

    async def batches(self) -> AsyncIterator[list[Message]]:
        """Whole fetched batches of owned partitions, each in offset order."""
        while True:
            item = await self._next_batch()
            if item is None:
                return
            owner, batch = item
            if self._owned.get((batch.topic, batch.partition)) is not owner:
                continue
            if batch.messages:
                owner.position = batch.messages[-1].offset + 1
                yield batch.messages

    async def _next_batch(self) -> tuple[_Owned, FetchedBatch] | None:
        if self._runner is None:
            await self.start()
        try:
            return await self._batches.recv()
        except ChanClosed:
            if self._fatal is not None and not self._closed:
                raise self._fatal from None
            return None

    # -- offsets ---------------------------------------------------------------------------

    def mark_offset(self, message: Message, metadata: str = "") -> None:
        """Record that ``message`` was processed: its partition's committed offset becomes
        ``message.offset + 1`` at the next commit (sarama-cluster's ``MarkOffset``). Marks
        of partitions this member no longer owns are ignored; a mark never moves an offset
        back."""
        tp = (message.topic, message.partition)
        if tp not in self._owned:
            return
        offset = message.offset + 1
        current = self._marks.get(tp) or self._committed.get(tp)
        if current is None or offset > current.offset:
            self._marks[tp] = CommittedOffset(offset, metadata)

    async def commit(self) -> None:
        """Commit the marked offsets now, with the member's generation.

        ``StaleMember`` or ``FencedInstanceId`` when the member is no longer current (its
        marks are then dropped: the partitions belong to someone else), ``RebalanceInProgress``
        while the group rebalances (the marks stay for the next commit)."""
        await self._commit(frozenset(self._marks))

    async def _commit(self, partitions: Partitions) -> None:
        async with self._committing:
            await self._commit_marks(partitions)

    async def _commit_marks(self, partitions: Partitions) -> None:
        marks = {tp: self._marks[tp] for tp in partitions if tp in self._marks}
        if not marks:
            return
        membership = self.metadata()
        if membership is None:
            raise RebalanceInProgress(f"group {self.group_id!r}: the member is rejoining")
        coordinator = cast(GroupCoordinator, self._session.backend)
        try:
            try:
                await coordinator.commit_member_offsets(membership, marks)
            except StaleMember as exc:
                # KIP-848: the epoch moved on while the commit was on its way (the member
                # caught up with its assignment); the partitions are still ours, so commit
                # again with the new epoch, as Java does.
                fresh = self.metadata()
                if exc.reason != "STALE_MEMBER_EPOCH" or fresh is None or fresh == membership:
                    raise
                await coordinator.commit_member_offsets(fresh, marks)
        except StaleMember:
            for tp in marks:
                self._marks.pop(tp, None)
            raise
        for tp, committed in marks.items():
            if self._marks.get(tp) is committed:
                del self._marks[tp]
            self._committed[tp] = committed

    def metadata(self) -> Membership | None:
        """The member's generation, id and instance id, for a transactional producer's
        ``send_offsets`` (KIP-447; Java's ``ConsumerGroupMetadata``); under the consumer
        protocol the generation is the member epoch. None while rejoining."""
        member = self._member
        return None if member is None else member.membership

    @property
    def assignment(self) -> Partitions:
        """The partitions this member consumes now."""
        return frozenset(self._owned)

    async def lag(self) -> dict[TopicPartition, int]:
        """How many records each owned partition has past this member's position (the high
        watermark minus the next offset to hand out; Java's ``currentLag``)."""
        out: dict[TopicPartition, int] = {}
        by_topic: dict[str, list[int]] = {}
        for topic, partition in self._owned:
            by_topic.setdefault(topic, []).append(partition)
        for topic, partitions in by_topic.items():
            try:
                ends = await self._session.backend.list_offsets(
                    topic, dict.fromkeys(partitions, LATEST)
                )
            except UnknownTopic:
                continue
            for partition, end in ends.items():
                owned = self._owned.get((topic, partition))
                if owned is not None and end is not None:
                    out[(topic, partition)] = max(0, end - owned.position)
        return out

    # -- errors and notifications ----------------------------------------------------------

    def _error(self, error: BaseException) -> None:
        _put_dropping_oldest(self.errors, error, "errors")

    def _rebalance_started(self) -> None:
        if self.notifications is not None:
            _put_dropping_oldest(
                self.notifications,
                Notification(NotificationType.REBALANCE_START, current=self.assignment),
                "notifications",
            )

    def _rebalanced(self, rebalance: Rebalance) -> None:
        if self.notifications is not None:
            _put_dropping_oldest(
                self.notifications,
                Notification(
                    NotificationType.REBALANCE_OK,
                    rebalance.claimed,
                    rebalance.released,
                    rebalance.current,
                    rebalance.generation,
                ),
                "notifications",
            )

    # -- closing ---------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(f"group {self.group_id!r} is closed")
        self._session.check()

    @property
    def closed(self) -> bool:
        """True once the group or its client is closed."""
        return self._closed or self._session.closed

    async def aclose(self) -> None:
        """Commit what was marked, revoke, leave the group and stop every task; then close
        ``errors`` and ``notifications`` (what is in them stays readable). Idempotent;
        bounded by the rebalance timeout; finishes when cancelled too."""
        if self._closed:
            return
        self._closed = True
        try:
            with anyio.CancelScope(shield=True):
                await self._shutdown()
        finally:
            self._session.release(self)

    async def _shutdown(self) -> None:
        runner = self._runner
        if runner is not None:
            if self._member is not None:
                self._member.close()  # revokes (committing) and leaves, then run() returns
            with anyio.move_on_after(self._session.config.group.rebalance_timeout + 5):
                await self._done.wait()
            if not runner.done():
                runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
        await self._stop(frozenset(self._owned))
        for chan in (self.errors, self.notifications, self._batches):
            if chan is not None:
                with contextlib.suppress(ChanClosed):
                    chan.close()


def _put_dropping_oldest(chan: Chan[Any], item: Any, what: str) -> None:
    """Put ``item`` without waiting: a full channel drops (and logs) its oldest item."""
    try:
        chan.send_nowait(item)
        return
    except ChanClosed:
        return
    except Exception:
        pass
    with contextlib.suppress(Exception):
        dropped = chan.recv_nowait()
        log.warning("aiomq: group %s channel full, dropped %r", what, dropped)
    with contextlib.suppress(Exception):
        chan.send_nowait(item)


_PATTERN_NEEDS_CONSUMER = (
    "a pattern subscription is resolved by the coordinator, which only the consumer group "
    "protocol (KIP-848) does: set group.protocol=consumer (or auto), or subscribe by topic "
    "names"
)


async def choose_protocol(
    settings: GroupConfig, backend: Backend, pattern: bool = False
) -> GroupProtocol:
    """The protocol a group speaks: ``settings.protocol``, with ``AUTO`` resolved against the
    broker (``CONSUMER`` where it offers it and no classic-only setting is given).
    ``ConfigError`` when ``CONSUMER`` (or ``remote_assignor``) is asked of a broker without
    the consumer protocol, and ``ConfigError("pattern")`` when the group subscribes by a
    ``pattern`` and the protocol cannot be ``CONSUMER``."""
    wanted = settings.protocol
    if wanted is GroupProtocol.CLASSIC:
        if pattern:
            raise ConfigError("pattern", _PATTERN_NEEDS_CONSUMER)
        return wanted
    offered = isinstance(backend, ConsumerGroupCoordinator) and (
        await backend.supports_consumer_protocol()
    )
    if offered:
        if wanted is GroupProtocol.AUTO and settings.classic_settings:
            if pattern:
                raise ConfigError(
                    "pattern",
                    f"{_PATTERN_NEEDS_CONSUMER}; {settings.classic_settings[0]} is a classic "
                    "protocol setting, which makes group.protocol=auto choose classic",
                )
            return GroupProtocol.CLASSIC
        return GroupProtocol.CONSUMER
    missing = "the broker does not offer Kafka 4's consumer group protocol (KIP-848)"
    if wanted is GroupProtocol.CONSUMER:
        raise ConfigError("group.protocol", f"{missing}; use CLASSIC or AUTO")
    if pattern:
        raise ConfigError("pattern", f"{missing}: {_PATTERN_NEEDS_CONSUMER}")
    if settings.remote_assignor is not None:
        raise ConfigError(
            "group.remote_assignor",
            f"{missing}, which assigns on the coordinator; use group.rebalance_strategy",
        )
    return GroupProtocol.CLASSIC
