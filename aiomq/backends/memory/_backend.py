"""``MemoryBackend``: the ``Backend`` operations over a ``MemoryBroker``, parked fetches,
and ``MemoryTransactionalProducer``.

A fetch with nothing to read parks on ``aiomq.concurrency._park.Parker``, registered on the
partition's log; a produce, a transaction's end, a topic deletion or closing the backend
wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from ...concurrency._park import Parker, checkpoint, current, wake_all
from ...config import Config
from ...errors import (
    ClosedError,
    FencedInstanceId,
    ProducerFenced,
    StaleMember,
    TransactionError,
)
from ..base import (
    INT64_MAX,
    CommittedOffset,
    FetchResult,
    Membership,
    ProduceRecord,
    ProduceResult,
    TopicInfo,
    TopicPartition,
    check_fetch_arguments,
    check_flag,
    check_group,
    check_offset,
)
from ..group import GroupDescription, GroupListing, HeartbeatAnswer, JoinResult
from ._broker import MemoryBroker
from ._transactions import ProducerKey

__all__ = ["MemoryBackend", "MemoryTransactionalProducer"]


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

    __slots__ = (
        "_auto_create",
        "_broker",
        "_client_id",
        "_closed",
        "_max_record_bytes",
        "_parked",
        "_producers",
        "_url",
    )

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
        config = config or Config()
        self._max_record_bytes = config.producer.max_message_bytes
        self._client_id = config.client_id
        self._closed = False
        self._parked: set[Parker[bool]] = set()
        self._producers: set[MemoryTransactionalProducer] = set()

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
        """Close; fetches parked through this backend wake and raise ``ClosedError``, its
        transactional producers close (aborting the transactions they have open)."""
        if self._closed:
            return
        self._closed = True
        for producer in list(self._producers):
            producer.release()
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
        read_committed: bool = False,
    ) -> FetchResult:
        """Long-poll one partition from ``offset`` (``Backend.fetch``).

        Parks until a produce or a transaction's end wakes it or ``max_wait`` passes: no
        polling, no timer task (one ``call_later`` handle per wait). A ``read_committed``
        fetch held at the last stable offset also wakes at the deadline of the earliest
        transaction open on the partition, to abort it if it is still open then.
        """
        check_offset(offset, minimum=-INT64_MAX - 1)  # a negative one is out of range
        check_fetch_arguments(max_wait, min_bytes, max_bytes, max_records)
        check_flag("read_committed", read_committed)
        memory_broker = self._check()
        part = memory_broker.partition_log(topic, partition)
        if part.txns is not None and part.txns.open:
            memory_broker.expire_transactions()
        result = part.read(offset, min_bytes, max_bytes, max_records, read_committed)
        if result is not None:
            await checkpoint()
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        clock = memory_broker.transactions.clock
        while True:
            remaining = deadline - loop.time()
            # Re-looked up each round: the topic may have been deleted meanwhile.
            part = self._check().partition_log(topic, partition)
            if remaining <= 0:
                final = part.read(offset, 0, max_bytes, max_records, read_committed)
                assert final is not None
                await checkpoint()
                return final
            parker: Parker[bool] = current().parker()
            part.waiters.add(parker)
            self._parked.add(parker)
            expiry = part.txns.next_deadline() if read_committed and part.txns else None
            if expiry is not None and expiry - clock() < remaining:
                # Woken as by a produce: the round below aborts the transaction if due.
                timer = loop.call_later(max(expiry - clock(), 0.0), parker.wake, False)
            else:
                timer = loop.call_later(remaining, parker.wake, True)
            try:
                timed_out = await parker.park()
            finally:
                timer.cancel()
                part.waiters.discard(parker)
                self._parked.discard(parker)
            memory_broker = self._check()
            part = memory_broker.partition_log(topic, partition)
            if part.txns is not None and part.txns.open:
                memory_broker.expire_transactions()
            result = part.read(
                offset, 0 if timed_out else min_bytes, max_bytes, max_records, read_committed
            )
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

    # -- groups (GroupCoordinator) ----------------------------------------------------------

    async def join_group(
        self,
        group: str,
        *,
        member_id: str,
        instance_id: str | None,
        session_timeout: float,
        rebalance_timeout: float,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        reason: str | None = None,
    ) -> JoinResult:
        """JoinGroup (``GroupCoordinator.join_group``); ``GroupError`` for a consumer group
        (KIP-848) that has members."""
        check_group(group)
        self._check().consumer_coordinator.release(group)
        result = await self._check().groups_coordinator.join_group(
            group,
            member_id=member_id,
            instance_id=instance_id,
            session_timeout=session_timeout,
            rebalance_timeout=rebalance_timeout,
            protocol_type=protocol_type,
            protocols=protocols,
            reason=reason,
            client_id=self._client_id,
        )
        self._check()  # closed while it waited: the caller must not go on
        return result

    async def sync_group(
        self,
        group: str,
        *,
        generation: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str,
        protocol: str,
        assignments: Mapping[str, bytes],
    ) -> bytes:
        """SyncGroup (``GroupCoordinator.sync_group``)."""
        check_group(group)
        result = await self._check().groups_coordinator.sync_group(
            group,
            generation=generation,
            member_id=member_id,
            instance_id=instance_id,
            protocol_type=protocol_type,
            protocol=protocol,
            assignments=assignments,
        )
        self._check()
        return result

    async def heartbeat(
        self, group: str, *, generation: int, member_id: str, instance_id: str | None
    ) -> None:
        """Heartbeat (``GroupCoordinator.heartbeat``)."""
        check_group(group)
        await self._check().groups_coordinator.heartbeat(
            group, generation=generation, member_id=member_id, instance_id=instance_id
        )

    async def leave_group(
        self, group: str, members: Sequence[tuple[str, str | None]], reason: str | None = None
    ) -> None:
        """LeaveGroup (``GroupCoordinator.leave_group``)."""
        check_group(group)
        await self._check().groups_coordinator.leave_group(group, members, reason)

    async def commit_member_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """OffsetCommit checked against ``membership`` (``GroupCoordinator``); nothing to
        commit sends nothing, as on Kafka (where the checks answer per partition)."""
        broker = self._check()
        if offsets:
            broker.commit_member_offsets(membership, offsets)
        await checkpoint()

    async def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """Every offset ``group`` committed (``GroupCoordinator.group_offsets``)."""
        check_group(group)
        result = self._check().group_offsets(group)
        await checkpoint()
        return result

    async def list_groups(self) -> list[GroupListing]:
        """Every group the broker knows, members or committed offsets (``GroupCoordinator``)."""
        broker = self._check()
        listed = {g.group: g for g in broker.groups_coordinator.list_groups()}
        listed.update((g.group, g) for g in broker.consumer_coordinator.list_groups())
        for name in broker.groups():
            listed.setdefault(name, GroupListing(name, "Empty", ""))
        await checkpoint()
        return sorted(listed.values(), key=lambda g: g.group)

    async def describe_group(self, group: str) -> GroupDescription:
        """The group's state and members (``GroupCoordinator``)."""
        check_group(group)
        broker = self._check()
        description = broker.consumer_coordinator.describe_group(group)
        if description is None:
            description = broker.groups_coordinator.describe_group(group)
        if description.state == "Dead" and group in broker.groups():
            description = GroupDescription(group, "Empty", "", "")
        await checkpoint()
        return description

    async def delete_group(self, group: str) -> None:
        """Delete a group without members and its offsets (``GroupCoordinator``)."""
        self._check().delete_group(group)
        await checkpoint()

    # -- the consumer group protocol (ConsumerGroupCoordinator) -----------------------------

    async def supports_consumer_protocol(self) -> bool:
        """The broker's ``consumer_coordinator.consumer_protocol`` setting (True by default;
        False is a broker without KIP-848, as Kafka before 4.0)."""
        result = self._check().consumer_coordinator.consumer_protocol
        await checkpoint()
        return result

    async def consumer_group_heartbeat(
        self,
        group: str,
        *,
        member_id: str,
        member_epoch: int,
        instance_id: str | None = None,
        rebalance_timeout: float | None = None,
        subscribed_topics: Sequence[str] | None = None,
        server_assignor: str | None = None,
        owned: Mapping[str, Sequence[int]] | None = None,
        subscribed_topic_regex: str | None = None,
    ) -> HeartbeatAnswer:
        """ConsumerGroupHeartbeat (``ConsumerGroupCoordinator.consumer_group_heartbeat``),
        answered by the broker's ``consumer_coordinator``."""
        check_group(group)
        answer = self._check().consumer_coordinator.heartbeat(
            group,
            member_id=member_id,
            member_epoch=member_epoch,
            instance_id=instance_id,
            rebalance_timeout=rebalance_timeout,
            subscribed_topics=subscribed_topics,
            server_assignor=server_assignor,
            owned=owned,
            subscribed_topic_regex=subscribed_topic_regex,
            client_id=self._client_id,
        )
        await checkpoint()
        return answer

    async def transactional_producer(
        self, transactional_id: str, *, transaction_timeout: float
    ) -> MemoryTransactionalProducer:
        """Open a transactional producer (``Backend.transactional_producer``)."""
        self._check()
        # Before the state changes: a cancellation here leaves no producer behind.
        await checkpoint()
        key = self._check().init_producer(transactional_id, transaction_timeout)
        producer = MemoryTransactionalProducer(self, key)
        self._producers.add(producer)
        return producer


# A producer's states. Wrong-state calls raise TransactionError and change nothing; after an
# error that ends the transaction's usefulness (the broker aborted it for its timeout, or the
# group refused its offsets) the producer is _FAILED until abort(), as Java's producer is in
# ABORTABLE_ERROR until abortTransaction().
_READY = "ready"
_OPEN = "open"
_FAILED = "failed"
_FENCED = "fenced"
_CLOSED = "closed"


class MemoryTransactionalProducer:
    """``TransactionalProducer`` on the in-process broker; ``MemoryBackend`` opens it.

    The state machine is the client's (what Java's ``TransactionManager`` keeps), the
    producer id, epoch, open transaction and deadline are the broker's
    (``MemoryBroker.transactions``), so fencing and timeouts act as on Kafka: a newer
    producer with the same id or the transaction's deadline ends this one's transaction on
    the broker, and the producer learns it from its next call. ``begin()`` asks the broker
    nothing, as on Kafka. The Go counterpart is sarama's transactional ``AsyncProducer``
    (``BeginTxn``, ``AddOffsetsToTxn``, ``CommitTxn``, ``AbortTxn``).
    """

    __slots__ = ("_backend", "_cause", "_key", "_state")

    def __init__(self, backend: MemoryBackend, key: ProducerKey) -> None:
        self._backend = backend
        self._key = key
        self._state = _READY
        self._cause = ""  # why the producer is _FAILED

    @property
    def transactional_id(self) -> str:
        """The id this producer was opened with."""
        return self._key[0]

    @property
    def producer_id(self) -> int:
        """The producer id the broker gave this producer's transactional id."""
        return self._key[1]

    @property
    def epoch(self) -> int:
        """This producer's epoch: a newer producer with the same id has a higher one."""
        return self._key[2]

    def __repr__(self) -> str:
        return f"<MemoryTransactionalProducer {self.transactional_id!r} {self._state}>"

    def _require(self, operation: str, *states: str) -> MemoryBroker:
        state = self._state
        if state in states:
            return self._backend._check()
        if state == _CLOSED:
            raise ClosedError(f"transactional producer {self.transactional_id!r} is closed")
        if state == _FENCED:
            raise ProducerFenced(
                f"transactional id {self.transactional_id!r}: a newer producer with this id "
                "took over; this one can only be closed"
            )
        if state == _FAILED:
            raise TransactionError(f"{operation}: {self._cause}; abort() the transaction first")
        if state == _OPEN:
            raise TransactionError(f"{operation}: a transaction is open; commit() or abort() it")
        raise TransactionError(f"{operation}: no transaction is open; begin() one first")

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, ProducerFenced):
            self._state = _FENCED
        else:
            self._state = _FAILED
            self._cause = f"the transaction failed ({error})"

    async def begin(self) -> None:
        """Open a transaction (``TransactionalProducer.begin``); no broker call."""
        self._require("begin", _READY)
        self._state = _OPEN
        await checkpoint()

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append ``records`` in the transaction (``TransactionalProducer.produce``).

        A batch refused for itself (bad arguments, ``MessageTooLarge``, ``UnknownTopic``)
        appends nothing and leaves the transaction open.
        """
        backend = self._backend
        memory_broker = self._require("produce", _OPEN)
        try:
            result = memory_broker.append(
                topic,
                partition,
                records,
                allow_create=backend._auto_create,
                max_record_bytes=backend._max_record_bytes,
                producer=self._key,
            )
        except TransactionError as exc:
            self._failed(exc)
            raise
        await checkpoint()
        return result

    async def send_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Commit ``offsets`` with the transaction (``TransactionalProducer.send_offsets``).

        ``StaleMember`` or ``FencedInstanceId`` when ``membership`` is not current: nothing is
        held, and the transaction can only be aborted. Bad arguments and ``UnknownTopic``
        hold nothing and leave the transaction open.
        """
        memory_broker = self._require("send_offsets", _OPEN)
        try:
            memory_broker.send_offsets(self._key, membership, offsets)
        except (TransactionError, StaleMember, FencedInstanceId) as exc:
            self._failed(exc)
            raise
        await checkpoint()

    async def commit(self) -> None:
        """Commit the transaction (``TransactionalProducer.commit``)."""
        memory_broker = self._require("commit", _OPEN)
        try:
            self._key = memory_broker.end_transaction(self._key, commit=True)
        except TransactionError as exc:
            self._failed(exc)
            raise
        self._state = _READY
        await checkpoint()

    async def abort(self) -> None:
        """Abort the transaction (``TransactionalProducer.abort``), also one that failed."""
        memory_broker = self._require("abort", _OPEN, _FAILED)
        try:
            self._key = memory_broker.end_transaction(self._key, commit=False)
        except ProducerFenced:
            self._state = _FENCED
            raise
        self._state = _READY
        await checkpoint()

    async def aclose(self) -> None:
        """Close; a transaction still open is aborted (``TransactionalProducer.aclose``)."""
        self.release()

    def release(self) -> None:
        """Close at once: ``aclose`` without a yield, for the backend closing."""
        if self._state == _CLOSED:
            return
        state, self._state = self._state, _CLOSED
        self._backend._producers.discard(self)
        if state in (_OPEN, _FAILED):
            # Fenced: the transaction open is not this producer's any more.
            with contextlib.suppress(TransactionError):
                self._backend._broker.end_transaction(self._key, commit=False)
