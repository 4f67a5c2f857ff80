"""``KafkaTransactionalProducer``: ``TransactionalProducer`` on Kafka.

The producer drives a ``TransactionManager`` (the state, no I/O) and does the I/O each
transition returns: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn to the
transaction coordinator, TxnOffsetCommit to the group's coordinator, one at a time (as
Java's sender), and its records through a ``Sender`` of its own, with the producer's
transactional id, epochs and sequences, so batching, retries and idempotence are the
backend's own. Every coordinator request is retried while the coordinator moves, loads or
is still writing the markers of the last transaction (CONCURRENT_TRANSACTIONS), for
``net.request_timeout`` at most; records take ``producer.timeout`` at most, as any produce.

Which calls leave the transaction open after a failure: only those refused before anything
was sent (bad arguments, a record over ``producer.max_message_bytes``, an unknown topic or
partition). Once records or offsets may have reached the broker, a failure makes the
transaction abortable, as in Java (a batch the broker refused, a produce cut short by its
deadline or a cancellation, where the records may or may not have been written).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...config import Config
from ...errors import (
    AuthenticationError,
    BrokerUnavailable,
    ClosedError,
    ConfigError,
    FencedInstanceId,
    StaleMember,
    TransactionError,
)
from ..base import (
    CommittedOffset,
    Membership,
    ProduceRecord,
    ProduceResult,
    TopicPartition,
    check_commit,
    check_membership,
)
from ._cluster import COORDINATION, GROUP, TRANSACTION, Cluster, Retry
from ._errors import (
    CONCURRENT_TRANSACTIONS,
    FENCED_INSTANCE_ID,
    ILLEGAL_GENERATION,
    INVALID_PRODUCER_EPOCH,
    INVALID_TRANSACTION_TIMEOUT,
    INVALID_TXN_STATE,
    PRODUCER_FENCED,
    RETRY_COORDINATOR,
    UNKNOWN_MEMBER_ID,
    error_for_code,
)
from ._protocol import (
    Chosen,
    add_offsets_request,
    add_partitions_request,
    end_txn_request,
    init_producer_id_request,
    txn_offset_commit_request,
)
from ._sender import Sender
from ._transactions import EndTxn, InitProducerId, State, TransactionManager

if TYPE_CHECKING:
    from .backend import KafkaBackend

__all__ = ["KafkaTransactionalProducer"]

_TV2_PRODUCE = (12,)  # the leader adds the partition to the transaction (KIP-890)
_TV1_PRODUCE = range(3, 12)
_STALE_EPOCH = frozenset({INVALID_PRODUCER_EPOCH, PRODUCER_FENCED})
_AUTHORIZATION = frozenset({29, 30, 31, 53})  # topic, group, cluster, transactional id
_REQUEST_TIMED_OUT = 7
_RETRY = frozenset({14, CONCURRENT_TRANSACTIONS})  # load in progress, markers being written
_MEMBERSHIP = {ILLEGAL_GENERATION: "ILLEGAL_GENERATION", UNKNOWN_MEMBER_ID: "UNKNOWN_MEMBER_ID"}
_CLOSE_ABORT_BOUND = 10.0  # how long aclose() waits for the abort of an open transaction


class _Refused(Exception):
    """A batch refused for good, with the broker's code (the transaction decides)."""

    def __init__(self, code: int, error: Exception) -> None:
        super().__init__(str(error))
        self.code = code
        self.error = error


def _refused(code: int, context: str, message: str | None) -> Exception:
    return _Refused(code, error_for_code(code, context, message))


async def _finish(task: asyncio.Task[Any], bound: float) -> None:
    """Wait up to ``bound`` seconds for ``task``, also when cancelled meanwhile (the
    cancellation is raised once it is done); its own error is not raised."""
    cancelled: asyncio.CancelledError | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not task.done() and loop.time() < deadline:
        try:
            await asyncio.wait({task}, timeout=deadline - loop.time())
        except asyncio.CancelledError as exc:
            cancelled = exc
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: an abort that failed at close is not an error
    if cancelled is not None:
        raise cancelled


class KafkaTransactionalProducer:
    """``TransactionalProducer`` on Kafka; ``KafkaBackend.transactional_producer`` opens it.

    See the module docstring for the I/O and ``_transactions`` for the states. The Go
    counterpart is sarama's transactional ``AsyncProducer`` (``BeginTxn``,
    ``AddOffsetsToTxn``, ``CommitTxn``, ``AbortTxn``).
    """

    def __init__(
        self,
        backend: KafkaBackend,
        cluster: Cluster,
        config: Config,
        transactional_id: str,
        transaction_timeout: float,
    ) -> None:
        self._backend = backend
        self._cluster = cluster
        self._timeout = transaction_timeout
        self._manager = TransactionManager(transactional_id)
        self._sender = Sender(cluster, config, transactional_id=transactional_id, refused=_refused)
        sequencer = self._sender.sequencer
        assert sequencer is not None  # a transactional sender always has one
        self._sequencer = sequencer
        self._produce_timeout = config.producer.timeout
        self._v2 = False  # the cluster's transaction.version is 2 or more
        self._lock = asyncio.Lock()  # one coordinator request at a time, as Java sends them
        self._calls = 0  # produce and send_offsets calls under way
        self._idle: asyncio.Future[None] | None = None  # set when _calls drops to 0

    @property
    def transactional_id(self) -> str:
        """The id this producer was opened with."""
        return self._manager.transactional_id

    @property
    def producer_id(self) -> int:
        """The producer id the coordinator gave this producer's transactional id."""
        return self._manager.producer_id

    @property
    def epoch(self) -> int:
        """This producer's epoch: a newer producer with the same id has a higher one."""
        return self._manager.epoch

    @property
    def state(self) -> State:
        """Where the producer is (``_transactions.State``)."""
        return self._manager.state

    def __repr__(self) -> str:
        return f"<KafkaTransactionalProducer {self.transactional_id!r} {self.state.value}>"

    # -- requests to the coordinators ----------------------------------------------------

    async def _ask(
        self,
        context: str,
        request: Chosen,
        codes: Callable[[Any], list[int]],
        *,
        key: str | None = None,
        kind: int = TRANSACTION,
    ) -> tuple[Any, int]:
        """Send ``request`` to the coordinator of ``key`` (the transactional id by default)
        until it answers with something other than "ask again": the answer and its first
        error code (0 if none). ``BrokerUnavailable`` after ``net.request_timeout``."""
        cluster = self._cluster
        key = self.transactional_id if key is None else key

        async def attempt(deadline: float) -> tuple[Any, int]:
            node = await cluster.coordinator(key, deadline, kind=kind)
            try:
                response = await cluster.send(
                    node, request, deadline=deadline, context=context, group=COORDINATION
                )
            except BrokerUnavailable as exc:
                cluster.forget_coordinator(key, kind=kind)  # it died or moved: ask again
                raise Retry(str(exc)) from None
            errors = [code for code in codes(response) if code]
            for code in errors:
                if code in RETRY_COORDINATOR or (kind == GROUP and code == _REQUEST_TIMED_OUT):
                    cluster.forget_coordinator(key, kind=kind)
                if code in RETRY_COORDINATOR or code in _RETRY or code == _REQUEST_TIMED_OUT:
                    raise Retry(str(error_for_code(code, context)))
            return response, (errors[0] if errors else 0)

        return await cluster.retrying(context, attempt)

    async def _init_producer_id(self, action: InitProducerId) -> None:
        """InitProducerId; the producer is ready under the id and epoch it answers with."""
        manager = self._manager
        context = f"init producer id of {self.transactional_id!r}"
        request = init_producer_id_request(
            self.transactional_id, int(self._timeout * 1000), action.producer_id, action.epoch
        )
        response, code = await self._ask(context, request, lambda r: [r.error_code])
        if code == INVALID_TRANSACTION_TIMEOUT:
            raise ConfigError(
                "transaction_timeout",
                f"{self._timeout} s is more than the broker's transaction.max.timeout.ms",
            )
        if code in _STALE_EPOCH:
            raise manager.fenced()
        if code:
            error = error_for_code(code, context)
            manager.fatal(error)
            raise error
        manager.initialized(response.producer_id, response.producer_epoch)
        self._sequencer.reset(response.producer_id, response.producer_epoch)

    async def _end_txn(self, action: EndTxn) -> tuple[Any, int]:
        manager = self._manager
        what = "commit" if action.commit else "abort"
        request = end_txn_request(
            self.transactional_id, manager.producer_id, manager.epoch, action.commit, v2=action.v2
        )
        return await self._ask(
            f"{what} the transaction of {self.transactional_id!r}",
            request,
            lambda r: [r.error_code],
        )

    async def _adopt(self, producer_id: int, epoch: int) -> None:
        """After EndTxn: the next transaction goes on under ``producer_id`` and ``epoch``
        (TV1 bumps the epoch first when the transaction left batches unresolved)."""
        bump = self._manager.ended(producer_id, epoch)
        if bump is not None:
            await self._init_producer_id(bump)
        elif (producer_id, epoch) != (self._sequencer.producer_id, self._sequencer.epoch):
            self._sequencer.reset(producer_id, epoch)

    async def _resolve(self, number: int, cause: BaseException) -> Exception:
        """The broker refused this producer's epoch during transaction ``number``: learn
        whether it was fenced or timed out (``_transactions``' module docstring); the
        error to raise. Under the lock."""
        manager = self._manager
        if manager.state in (State.FATAL_ERROR, State.CLOSED):
            try:
                manager.require("produce")
            except (ClosedError, TransactionError) as refusal:  # fenced, or closed
                return refusal
        if manager.number != number or manager.aborted:  # resolved already, or moved on
            return TransactionError(f"the transaction failed ({cause}); abort() it")
        action = manager.resolve()
        if isinstance(action, EndTxn):
            response, code = await self._end_txn(action)
        else:
            request = init_producer_id_request(
                self.transactional_id, int(self._timeout * 1000), action.producer_id, action.epoch
            )
            response, code = await self._ask(
                f"init producer id of {self.transactional_id!r}", request, lambda r: [r.error_code]
            )
        if code in _STALE_EPOCH:
            return manager.fenced()
        if code:
            error = error_for_code(code, f"transactional id {self.transactional_id!r}")
            manager.fatal(error)
            return error
        error = manager.timed_out(response.producer_id, response.producer_epoch, self._timeout)
        self._sequencer.reset(response.producer_id, response.producer_epoch)
        return error

    # -- opening -------------------------------------------------------------------------

    async def open(self) -> None:
        """Choose the transaction protocol and get the producer id (fencing older ones)."""
        features = await self._cluster.retrying(
            "read the cluster's features", self._cluster.features
        )
        self._v2 = features.get("transaction.version", 0) >= 2
        await self._init_producer_id(self._manager.init())

    # -- the calls -----------------------------------------------------------------------

    def _check(self, number: int) -> Callable[[], None]:
        """Before each batch is sent: the transaction ``number`` is still under way."""
        manager = self._manager

        def check() -> None:
            if manager.number == number:
                manager.require("produce", State.IN_TRANSACTION, State.COMMITTING)
                return
            manager.require("produce", State.READY, State.IN_TRANSACTION)  # closed, fenced
            raise TransactionError("produce: its transaction ended before the records went")

        return check

    def _enter(self) -> None:
        self._calls += 1

    def _leave(self) -> None:
        self._calls -= 1
        if not self._calls and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def _quiet(self) -> None:
        """Wait until no produce or send_offsets call is under way (each has a deadline of
        its own; this wait is bounded all the same)."""
        cluster = self._cluster
        deadline = cluster.deadline(self._produce_timeout + cluster.request_timeout)
        while self._calls:
            self._idle = asyncio.get_running_loop().create_future()
            if not await cluster.wait(self._idle, deadline):
                return

    async def begin(self) -> None:
        """Open a transaction (``TransactionalProducer.begin``); no broker call."""
        self._manager.begin(self._v2)
        self._sender.versions = _TV2_PRODUCE if self._v2 else _TV1_PRODUCE
        await self._cluster.pause(0)  # a scheduling point, as in process

    async def produce(
        self, topic: str, partition: int, records: Sequence[ProduceRecord]
    ) -> ProduceResult:
        """Append ``records`` in the transaction (``TransactionalProducer.produce``).

        Refused before anything is sent (``ConfigError``, ``MessageTooLarge``,
        ``UnknownTopic``): the transaction stays open. ``ProducerFenced`` when a newer
        producer took the id over, ``TransactionError`` when the transaction failed.
        """
        manager = self._manager
        manager.require("produce", State.IN_TRANSACTION)
        number = manager.number
        sending = False

        async def join(deadline: float) -> None:
            nonlocal sending
            sending = True
            action = manager.add_partition((topic, partition))
            if action is None:
                return
            async with self._lock:
                self._check(number)()
                if (topic, partition) in manager.partitions:
                    return
                request = add_partitions_request(
                    self.transactional_id, manager.producer_id, manager.epoch, action.partitions
                )
                _, code = await self._ask(
                    f"add {topic}[{partition}] to the transaction of {self.transactional_id!r}",
                    request,
                    lambda r: [code for _, parts, _t in r.results for _p, code, _t2 in parts],
                )
                if not code:
                    manager.partitions_added(action.partitions)
                    return
            raise _Refused(code, error_for_code(code, f"add {topic}[{partition}]"))

        self._enter()
        try:
            return await self._sender.send(
                topic,
                partition,
                records,
                allow_create=self._backend.auto_create_topics,
                before=join,
                check=self._check(number),
            )
        except BaseException as exc:
            if not sending:
                raise
            error, cause = await self._failed(number, exc)
            if error is exc:
                raise
            raise error from cause
        finally:
            self._leave()

    async def _failed(
        self, number: int, exc: BaseException
    ) -> tuple[BaseException, BaseException | None]:
        """What a call that may have reached the broker raises, having failed with ``exc``
        in transaction ``number``, and its cause: the transaction is abortable now
        (``TransactionError``, or the membership errors of KIP-447 as themselves), or the
        producer fenced."""
        manager = self._manager
        if isinstance(exc, _Refused):
            if exc.code in _STALE_EPOCH or exc.code == INVALID_TXN_STATE:
                try:
                    async with self._lock:
                        return await self._resolve(number, exc.error), None
                except BrokerUnavailable as unresolved:  # no answer: it fails all the same
                    manager.fail(f"{exc.error}; then {unresolved}")
                    return TransactionError(
                        f"the transaction failed ({exc.error}); abort() it"
                    ), unresolved
            if exc.code in _AUTHORIZATION:
                refusal = AuthenticationError(str(exc.error))
                manager.fatal(refusal)
                return refusal, None
        error = exc.error if isinstance(exc, _Refused) else exc
        if manager.number != number or isinstance(error, (ClosedError, TransactionError)):
            return error, None  # closed, fenced, or the transaction ended (the check)
        if not manager.v2 and self._sequencer.pending():
            manager.bump_after_abort()  # batches of this epoch may be unresolved
        manager.fail(str(error) or type(error).__name__)
        if isinstance(error, (StaleMember, FencedInstanceId)) or not isinstance(error, Exception):
            return error, None  # KIP-447's refusals; a cancellation goes on as itself
        return TransactionError(f"the transaction failed ({error}); abort() it"), error

    async def send_offsets(
        self, membership: Membership, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Commit ``offsets`` with the transaction (``TransactionalProducer.send_offsets``).

        TV1: AddOffsetsToTxn first; then TxnOffsetCommit with the membership (KIP-447) to
        the group's coordinator. ``StaleMember`` (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) or
        ``FencedInstanceId``: the transaction can only be aborted. Bad arguments and
        ``UnknownTopic`` send nothing and leave it open.
        """
        manager = self._manager
        manager.require("send_offsets", State.IN_TRANSACTION)
        check_membership(membership)
        check_commit(offsets)
        number = manager.number
        cluster = self._cluster
        self._enter()
        try:
            limit = await cluster.metadata_limit() if offsets else 0
            rows: list[tuple[str, int, int, str]] = []
            by_topic: dict[str, list[int]] = {}
            for (topic, partition), committed in offsets.items():
                if len(committed.metadata) > limit:
                    raise ConfigError(
                        "metadata",
                        f"{topic}[{partition}]: {len(committed.metadata)} characters, more "
                        f"than the broker's offset.metadata.max.bytes ({limit})",
                    )
                rows.append((topic, partition, committed.offset, committed.metadata))
                by_topic.setdefault(topic, []).append(partition)
            for topic, partitions in by_topic.items():
                await cluster.check_partitions(topic, partitions)
            self._check(number)()
        except BaseException:
            self._leave()
            raise
        try:
            await self._send_offsets(number, membership, rows)
        except BaseException as exc:
            error, cause = await self._failed(number, exc)
            if error is exc:
                raise
            raise error from cause
        finally:
            self._leave()

    async def _send_offsets(
        self, number: int, membership: Membership, rows: list[tuple[str, int, int, str]]
    ) -> None:
        manager = self._manager
        group = membership.group
        action = manager.add_offsets(group)
        async with self._lock:
            self._check(number)()
            if action is not None:
                request = add_offsets_request(
                    self.transactional_id, manager.producer_id, manager.epoch, group
                )
                _, code = await self._ask(
                    f"add group {group!r} to the transaction of {self.transactional_id!r}",
                    request,
                    lambda r: [r.error_code],
                )
                if code:
                    raise _Refused(code, error_for_code(code, f"add group {group!r}"))
                manager.offsets_added(group)
            context = f"commit offsets of group {group!r} in a transaction"
            request = txn_offset_commit_request(
                self.transactional_id,
                manager.producer_id,
                manager.epoch,
                group,
                membership.generation,
                membership.member_id,
                membership.instance_id,
                rows,
                v2=manager.v2,
            )
            _, code = await self._ask(
                context,
                request,
                lambda r: [code for _, parts, _t in r.topics for _p, code, _t2 in parts],
                key=group,
                kind=GROUP,
            )
        if code in _MEMBERSHIP:
            raise StaleMember(
                f"{context}: the group no longer has this member at generation "
                f"{membership.generation} ({_MEMBERSHIP[code]}, error {code})",
                _MEMBERSHIP[code],
            )
        if code == FENCED_INSTANCE_ID:
            raise FencedInstanceId(
                f"{context}: another member took instance id {membership.instance_id!r} "
                f"(FENCED_INSTANCE_ID, error {code})"
            )
        if code:
            raise _Refused(code, error_for_code(code, context))

    async def commit(self) -> None:
        """Commit the transaction (``TransactionalProducer.commit``): EndTxn, once every
        produce and send_offsets call under way has returned (none is, by the contract)."""
        manager = self._manager
        if manager.state is State.IN_TRANSACTION:
            await self._quiet()
        number = manager.number
        action = manager.commit()
        if action is None:
            await self._cluster.pause(0)
            return
        async with self._lock:
            # No answer (BrokerUnavailable, a cancellation) leaves the producer committing:
            # commit() again learns how it ended.
            response, code = await self._end_txn(action)
            if code in _STALE_EPOCH or code == INVALID_TXN_STATE:
                if code == PRODUCER_FENCED and manager.v2:
                    raise manager.fenced()
                raise await self._resolve(number, error_for_code(code, "commit"))
            if code:
                error = error_for_code(code, f"commit the transaction of {self.transactional_id!r}")
                manager.fail(str(error))  # TRANSACTION_ABORTABLE; anything else too
                raise TransactionError(f"commit: {error}") from error
            if manager.v2:
                await self._adopt(response.producer_id, response.producer_epoch)
            else:
                await self._adopt(manager.producer_id, manager.epoch)

    async def abort(self) -> None:
        """Abort the transaction (``TransactionalProducer.abort``), also one that failed:
        EndTxn, or nothing when the broker knows nothing of it or aborted it already."""
        manager = self._manager
        if manager.state is State.ABORTABLE_ERROR and not manager.v2 and self._sequencer.pending():
            manager.bump_after_abort()
        number = manager.number
        action = manager.abort()
        if action is None:
            await self._cluster.pause(0)
            return
        async with self._lock:
            if isinstance(action, InitProducerId):
                await self._init_producer_id(action)
                return
            response, code = await self._end_txn(action)
            if code in _STALE_EPOCH:
                if manager.v2:
                    raise manager.fenced()
                error = await self._resolve(number, error_for_code(code, "abort"))
                if manager.state is not State.READY:
                    raise error
                return
            if code == INVALID_TXN_STATE:
                code = 0  # nothing open on the broker: nothing to abort
            if code:
                error = error_for_code(code, f"abort the transaction of {self.transactional_id!r}")
                manager.fatal(error)
                raise error
            if manager.v2:
                await self._adopt(response.producer_id, response.producer_epoch)
            else:
                await self._adopt(manager.producer_id, manager.epoch)

    # -- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close; a transaction still open is aborted (``TransactionalProducer.aclose``).

        Idempotent. The abort is bounded (``net.request_timeout``, 10 s at most) and
        finishes when the caller is cancelled meanwhile (the cancellation is raised after);
        if it fails, the broker aborts the transaction at its timeout.
        """
        manager = self._manager
        v2 = manager.v2
        producer_id, epoch = manager.producer_id, manager.epoch
        if manager.state is State.CLOSED:
            return
        abort = manager.close()
        self._backend.forget_producer(self)
        if not abort or self._cluster.closed:
            return
        request = end_txn_request(self.transactional_id, producer_id, epoch, False, v2=v2)

        async def abort_open() -> None:
            async with self._lock:
                await self._ask(
                    f"abort the transaction of {self.transactional_id!r}",
                    request,
                    lambda r: [r.error_code],
                )

        with contextlib.suppress(ClosedError):
            task = self._cluster.spawn(abort_open())
            await _finish(task, min(self._cluster.request_timeout, _CLOSE_ABORT_BOUND))
