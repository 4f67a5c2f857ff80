"""A transactional producer's state on the client: what each call may do, and the request
it needs sent. Plain synchronous state with no I/O, like ``_sequences``: the producer
(``_transactional.KafkaTransactionalProducer``) calls a transition, does the I/O it returns
(``InitProducerId``, ``AddPartitions``, ``AddOffsets``, ``EndTxn``) and reports the answer
back; tests drive it without a broker.

States and the transitions allowed between them are those of Kafka's Java client
(``TransactionManager.State.isTransitionValid``): UNINITIALIZED → INITIALIZING → READY →
IN_TRANSACTION → COMMITTING or ABORTING → READY; a failed transaction waits in ABORTABLE_ERROR
until aborted; FATAL_ERROR (a newer producer took the id over) only closes. A transition not
in the table is a bug here, and raises ``AssertionError``.

Two transaction protocols (KIP-890), chosen per transaction as Java does, from the cluster's
finalized ``transaction.version`` when the transaction begins:

- TV1: a partition joins the transaction by AddPartitionsToTxn before its first record, a
  group's offsets by AddOffsetsToTxn; EndTxn keeps the epoch.
- TV2: the partition leader adds a partition itself (Produce v12), the group coordinator the
  group (TxnOffsetCommit v5); every EndTxn bumps the epoch and answers with it.

A transaction nothing was sent in ends without EndTxn (the broker knows nothing of it, and
answers INVALID_TXN_STATE to an EndTxn for it).

Fenced or timed out: when the broker refuses this producer's epoch (INVALID_PRODUCER_EPOCH
from a leader or the group coordinator, PRODUCER_FENCED, INVALID_TXN_STATE answering a
commit), either a newer producer with the same transactional id took over, or the
coordinator aborted the transaction for its timeout and bumped the epoch itself. Java learns
which only when the application aborts; the contract says at once (``ProducerFenced`` or
``TransactionError``), so ``resolve()`` asks what Java's abort would: under TV2 an EndTxn
abort of the old epoch (the coordinator accepts it as a retry after its own abort, and
answers with the epoch to go on with), under TV1 an InitProducerId with the producer's id
and epoch (KIP-360: accepted unless another producer has the id). PRODUCER_FENCED to it
means fenced; success means timed out, and the transaction is already aborted on the broker
(``abort()`` then has nothing to send). A coordinator below TV2 forgets the epoch it
replaced when it aborts for the timeout: there a producer whose transaction timed out is
refused as fenced (``ProducerFenced``), as Java's is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ...errors import ClosedError, ProducerFenced, TransactionError
from ..base import TopicPartition

__all__ = [
    "AddOffsets",
    "AddPartitions",
    "EndTxn",
    "InitProducerId",
    "State",
    "TransactionManager",
]


class State(enum.Enum):
    """Where a transactional producer is (Java's ``TransactionManager.State``, and CLOSED)."""

    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    READY = "ready"
    IN_TRANSACTION = "in transaction"
    COMMITTING = "committing"
    ABORTING = "aborting"
    ABORTABLE_ERROR = "abortable error"
    FATAL_ERROR = "fatal error"
    CLOSED = "closed"


_S = State
_ALLOWED_FROM: dict[State, frozenset[State]] = {
    _S.UNINITIALIZED: frozenset({_S.READY, _S.ABORTABLE_ERROR}),
    _S.INITIALIZING: frozenset({_S.UNINITIALIZED, _S.COMMITTING, _S.ABORTING}),
    _S.READY: frozenset({_S.INITIALIZING, _S.COMMITTING, _S.ABORTING}),
    _S.IN_TRANSACTION: frozenset({_S.READY}),
    _S.COMMITTING: frozenset({_S.IN_TRANSACTION}),
    _S.ABORTING: frozenset({_S.IN_TRANSACTION, _S.ABORTABLE_ERROR}),
    _S.ABORTABLE_ERROR: frozenset(
        {_S.IN_TRANSACTION, _S.COMMITTING, _S.ABORTABLE_ERROR, _S.INITIALIZING}
    ),
    _S.FATAL_ERROR: frozenset(State),
    _S.CLOSED: frozenset(State),
}
"""Java's ``isTransitionValid``: each state and the states it may be entered from."""


@dataclass(frozen=True, slots=True)
class InitProducerId:
    """Send InitProducerId to the transaction coordinator; ``producer_id`` and ``epoch``
    are -1 for a new producer, else the current ones, to bump the epoch (KIP-360)."""

    producer_id: int = -1
    epoch: int = -1


@dataclass(frozen=True, slots=True)
class AddPartitions:
    """Send AddPartitionsToTxn for ``partitions`` (TV1), before their first records."""

    partitions: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class AddOffsets:
    """Send AddOffsetsToTxn for ``group`` (TV1), before its TxnOffsetCommit."""

    group: str


@dataclass(frozen=True, slots=True)
class EndTxn:
    """Send EndTxn: commit or abort; ``v2``: at TV2's version (the answer bumps the epoch)."""

    commit: bool
    v2: bool


class TransactionManager:
    """The state of one transactional producer; see the module docstring.

    ``producer_id`` and ``epoch`` are what the coordinator last gave; ``v2`` says which
    transaction protocol the current (or next) transaction uses. Calls made in a state that
    does not allow them raise what the contract says (``TransactionError``,
    ``ProducerFenced``, ``ClosedError``) and change nothing.
    """

    __slots__ = (
        "_bump",
        "_cause",
        "_fatal",
        "aborted",
        "epoch",
        "groups",
        "number",
        "partitions",
        "producer_id",
        "started",
        "state",
        "transactional_id",
        "v2",
    )

    def __init__(self, transactional_id: str) -> None:
        self.transactional_id = transactional_id
        self.state = State.UNINITIALIZED
        self.producer_id = -1
        self.epoch = -1
        self.v2 = False
        self.number = 0  # of the transaction under way (or last), counted from 1
        # Invariant: partitions, groups, started and aborted describe the transaction under
        # way (IN_TRANSACTION, COMMITTING, ABORTING, ABORTABLE_ERROR), nothing otherwise.
        self.partitions: set[TopicPartition] = set()  # joined it (TV1: added; TV2: written)
        self.groups: set[str] = set()  # whose offsets joined it (TV1)
        self.started = False  # the broker knows of the transaction
        self.aborted = False  # the broker already aborted it (see resolve)
        self._bump = False  # TV1: bump the epoch (InitProducerId) once the transaction ends
        self._cause = ""  # why the transaction failed (ABORTABLE_ERROR)
        self._fatal: Exception | None = None  # what FATAL_ERROR raises

    def __repr__(self) -> str:
        return (
            f"<TransactionManager {self.transactional_id!r} {self.state.value} "
            f"producer {self.producer_id} epoch {self.epoch}{' TV2' if self.v2 else ''}>"
        )

    def _to(self, target: State) -> None:
        assert self.state in _ALLOWED_FROM[target], f"{self.state} -> {target}"
        self.state = target

    def _clear(self) -> None:
        self.partitions = set()
        self.groups = set()
        self.started = self.aborted = False
        self._cause = ""

    # -- what a call may do --------------------------------------------------------------

    def require(self, operation: str, *states: State) -> None:
        """Raise unless the producer is in one of ``states``: ``ClosedError`` once closed,
        ``ProducerFenced`` once fenced, ``TransactionError`` otherwise, saying why."""
        state = self.state
        if state in states:
            return
        if state is State.CLOSED:
            raise ClosedError(f"transactional producer {self.transactional_id!r} is closed")
        if state is State.FATAL_ERROR:
            error = self._fatal
            if isinstance(error, ProducerFenced):
                raise ProducerFenced(
                    f"transactional id {self.transactional_id!r}: a newer producer with this "
                    "id took over; this one can only be closed"
                )
            raise TransactionError(
                f"{operation}: the producer failed ({error}); it can only be closed"
            )
        if state is State.ABORTABLE_ERROR:
            raise TransactionError(f"{operation}: {self._cause}; abort() the transaction first")
        if state is State.IN_TRANSACTION:
            raise TransactionError(f"{operation}: a transaction is open; commit() or abort() it")
        if state is State.COMMITTING:
            raise TransactionError(
                f"{operation}: the commit did not finish; call commit() again to finish it"
            )
        if state is State.ABORTING:
            raise TransactionError(
                f"{operation}: the abort did not finish; call abort() again to finish it"
            )
        if state is State.INITIALIZING and self.producer_id >= 0:
            raise TransactionError(
                f"{operation}: the new epoch after the last transaction did not arrive; "
                "call abort() again to finish it"
            )
        if state in (State.UNINITIALIZED, State.INITIALIZING):
            raise TransactionError(f"{operation}: the producer has no producer id yet")
        raise TransactionError(f"{operation}: no transaction is open; begin() one first")

    # -- the producer id -----------------------------------------------------------------

    def init(self) -> InitProducerId:
        """Ask for a producer id (a new producer: fences the id's older one)."""
        self._to(State.INITIALIZING)
        return InitProducerId()

    def initialized(self, producer_id: int, epoch: int) -> None:
        """The coordinator's producer id and epoch: ready for a transaction. Sequences
        restart at 0 under them."""
        self._to(State.READY)
        self.producer_id, self.epoch = producer_id, epoch

    # -- a transaction -------------------------------------------------------------------

    def begin(self, v2: bool) -> None:
        """Open a transaction (nothing to send), with TV2 if ``v2``."""
        self.require("begin", State.READY)
        self._to(State.IN_TRANSACTION)
        self._clear()
        self.v2 = v2
        self.number += 1

    def add_partition(self, partition: TopicPartition) -> AddPartitions | None:
        """Records are about to go to ``partition``: what must be sent first (TV1's
        AddPartitionsToTxn for a partition new to the transaction), if anything."""
        self.require("produce", State.IN_TRANSACTION)
        if partition in self.partitions:
            return None
        if self.v2:
            self.partitions.add(partition)  # the leader adds it (Produce v12)
            self.started = True
            return None
        return AddPartitions((partition,))

    def partitions_added(self, partitions: tuple[TopicPartition, ...]) -> None:
        """AddPartitionsToTxn succeeded."""
        self.partitions.update(partitions)
        self.started = True

    def add_offsets(self, group: str) -> AddOffsets | None:
        """Offsets of ``group`` are about to be sent: what must be sent first (TV1's
        AddOffsetsToTxn for a group new to the transaction), if anything."""
        self.require("send_offsets", State.IN_TRANSACTION)
        if self.v2 or group in self.groups:
            self.started = True  # TV2: the group coordinator adds it (TxnOffsetCommit v5)
            return None
        return AddOffsets(group)

    def offsets_added(self, group: str) -> None:
        """AddOffsetsToTxn succeeded."""
        self.groups.add(group)
        self.started = True

    def commit(self) -> EndTxn | None:
        """Commit: the EndTxn to send, or None when the broker knows nothing of the
        transaction (it is then over)."""
        if self.state is State.COMMITTING:  # the last commit did not finish: again
            return EndTxn(commit=True, v2=self.v2)
        self.require("commit", State.IN_TRANSACTION)
        self._to(State.COMMITTING)
        if not self.started:
            bump = self.ended(self.producer_id, self.epoch)
            assert bump is None, "an epoch bump is only asked for by an abort"
            return None
        return EndTxn(commit=True, v2=self.v2)

    def abort(self) -> EndTxn | InitProducerId | None:
        """Abort, also a failed transaction: the EndTxn to send; an InitProducerId when the
        transaction is over on the broker already but TV1 must bump the epoch; None when
        nothing is to be sent (the producer is ready at once)."""
        if self.state is State.ABORTING:  # the last abort did not finish: again
            return EndTxn(commit=False, v2=self.v2)
        if self.state is State.INITIALIZING and self.producer_id >= 0:
            return InitProducerId(self.producer_id, self.epoch)  # the bump after it, again
        self.require("abort", State.IN_TRANSACTION, State.ABORTABLE_ERROR)
        self._to(State.ABORTING)
        if not self.started or self.aborted:
            return self.ended(self.producer_id, self.epoch)
        return EndTxn(commit=False, v2=self.v2)

    def ended(self, producer_id: int, epoch: int) -> InitProducerId | None:
        """EndTxn succeeded (or was not needed): ready for the next transaction, under
        ``producer_id`` and ``epoch`` (TV2's EndTxn answers with the epoch bumped). Returns
        the InitProducerId to send first when TV1 needs the epoch bumped."""
        assert self.state in (State.COMMITTING, State.ABORTING), self.state
        self.producer_id, self.epoch = producer_id, epoch
        self._clear()
        if self._bump:
            self._bump = False
            self._to(State.INITIALIZING)
            return InitProducerId(producer_id, epoch)
        self._to(State.READY)
        return None

    def bump_after_abort(self) -> None:
        """TV1: batches of this epoch may still be on the wire or unresolved: move to a new
        epoch (InitProducerId, KIP-360) once the transaction is aborted. TV2's EndTxn
        bumps it anyway."""
        if not self.v2:
            self._bump = True

    # -- failures ------------------------------------------------------------------------

    def fail(self, cause: str) -> None:
        """The transaction under way cannot commit (``cause`` says why): only ``abort()``
        goes on. Nothing changes while aborting (Java's ``transitionToAbortableError``), nor
        when no transaction is under way."""
        if self.state not in (State.IN_TRANSACTION, State.COMMITTING, State.ABORTABLE_ERROR):
            return
        self._to(State.ABORTABLE_ERROR)
        self._cause = f"the transaction failed ({cause})"

    def resolve(self) -> EndTxn | InitProducerId:
        """The broker refused this producer's epoch: what to send to learn whether it was
        fenced or timed out (see the module docstring)."""
        if self.v2:
            return EndTxn(commit=False, v2=True)
        return InitProducerId(self.producer_id, self.epoch)

    def timed_out(self, producer_id: int, epoch: int, timeout: float) -> TransactionError:
        """``resolve()`` succeeded: the coordinator had aborted the transaction for its
        timeout; the producer goes on under ``producer_id`` and ``epoch`` once the
        application aborts. Returns the error to raise."""
        self.producer_id, self.epoch = producer_id, epoch
        error = TransactionError(
            f"transactional id {self.transactional_id!r}: the broker aborted the "
            f"transaction, open longer than its transaction_timeout ({timeout} s); abort() it"
        )
        if self.state is State.ABORTING:
            self._clear()
            self._to(State.READY)
            return error
        self.fail(str(error))
        self.aborted = True
        self._bump = False  # the new epoch is the coordinator's already
        return error

    def fenced(self) -> ProducerFenced:
        """A newer producer with this transactional id took over: returns the error to
        raise; every call but ``aclose()`` raises it from now on."""
        error = ProducerFenced(
            f"transactional id {self.transactional_id!r}: a newer producer with this id "
            "took over; this one can only be closed"
        )
        self.fatal(error)
        return error

    def fatal(self, error: Exception) -> None:
        """The producer cannot go on (fenced, refused authorization): only close."""
        if self.state is not State.CLOSED:
            self._to(State.FATAL_ERROR)
            self._fatal = error

    def close(self) -> bool:
        """Close; whether a transaction the broker knows of is still open (to abort)."""
        open_on_broker = (
            self.state in (State.IN_TRANSACTION, State.ABORTABLE_ERROR, State.ABORTING)
            and self.started
            and not self.aborted
        )
        self.state = State.CLOSED
        return open_on_broker
