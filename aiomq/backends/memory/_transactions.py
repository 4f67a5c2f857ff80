"""The in-process broker's transaction coordinator: producer ids and epochs per
transactional id, the transactions open on the broker, their deadlines, and how they end.

Plain synchronous state, like the log: ``MemoryBroker`` calls it around its appends and
group offsets, and it writes markers into the partitions' logs (``_log.PartitionLog``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeAlias

from ...errors import ProducerFenced, TransactionError
from ...message import now_ms
from ..base import CommittedOffset, TopicPartition
from ._log import PartitionLog

__all__ = ["DEFAULT_TRANSACTION_MAX_TIMEOUT", "ProducerKey", "TransactionCoordinator"]

DEFAULT_TRANSACTION_MAX_TIMEOUT = 900.0
"""Kafka's ``transaction.max.timeout.ms`` default, in seconds: the longest timeout a
transactional producer may ask for."""

ProducerKey: TypeAlias = tuple[str, int, int]
"""What a transactional producer shows the coordinator: ``(transactional id, producer id,
epoch)``."""

# Kafka keeps the epoch an int16 and moves to a new producer id before it would overflow.
_MAX_EPOCH = 2**15 - 2

# Kafka's coordinator reaches a transaction it aborts for its timeout with the epoch bumped
# (so requests of the old epoch are refused) and remembers the epoch it replaced: a request
# of that epoch is the producer that timed out, told so (TransactionError), not fenced, and
# its abort() adopts the new epoch (KIP-588). Any other stale epoch is a fenced producer.


class _Transaction:
    """A transaction the broker knows of: it wrote records or offsets, and has not ended.

    ``batches`` maps each partition written to the ``[start, end)`` offset ranges of its
    appends; ``offsets`` holds the group offsets it commits if it commits.
    """

    __slots__ = ("batches", "deadline", "offsets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.batches: dict[PartitionLog, list[tuple[int, int]]] = {}
        self.offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}


class _Identity:
    """One transactional id's state (Kafka's ``TransactionMetadata``)."""

    __slots__ = ("epoch", "producer_id", "timed_out", "timeout", "transaction")

    def __init__(self, producer_id: int, timeout: float) -> None:
        self.producer_id = producer_id
        self.epoch = 0
        self.timeout = timeout
        self.transaction: _Transaction | None = None
        self.timed_out: tuple[int, int] | None = None  # (producer id, epoch) it replaced


class TransactionCoordinator:
    """Producer ids, epochs and open transactions of one in-process broker.

    ``clock`` (``time.monotonic``) is what transaction deadlines are measured on; a test may
    replace it. Deadlines are checked when the coordinator is used (``expire``), never by a
    timer: a transaction past its deadline is aborted by the first operation that looks.
    """

    __slots__ = ("_ids", "_next_producer_id", "_open", "clock")

    def __init__(self) -> None:
        self.clock: Callable[[], float] = time.monotonic
        self._ids: dict[str, _Identity] = {}
        self._open: dict[str, _Identity] = {}
        self._next_producer_id = 0

    def _new_producer_id(self) -> int:
        self._next_producer_id += 1
        return self._next_producer_id - 1

    def init_producer(self, transactional_id: str, timeout: float) -> ProducerKey:
        """Kafka's InitProducerId: the producer id and a new epoch for ``transactional_id``.

        Fences the producer holding the id before (its epoch is no longer current) and
        aborts the transaction it left open.
        """
        self.expire()
        ident = self._ids.get(transactional_id)
        if ident is None:
            ident = self._ids[transactional_id] = _Identity(self._new_producer_id(), timeout)
        else:
            if ident.transaction is not None:
                # Kafka bumps the epoch to abort, then again for the new producer.
                self._end(transactional_id, ident, commit=False)
                self._bump(ident)
            self._bump(ident)
            ident.timeout = timeout
            ident.timed_out = None
        return (transactional_id, ident.producer_id, ident.epoch)

    def check(self, producer: ProducerKey) -> None:
        """``ProducerFenced`` if ``producer`` is no longer the id's current producer;
        ``TransactionError`` if the broker aborted its transaction for its timeout."""
        self.expire()
        self._identity(producer)

    def add_records(self, producer: ProducerKey, part: PartitionLog, start: int, end: int) -> None:
        """Count the records ``[start, end)`` just appended to ``part`` in the producer's
        transaction (starting it: its timeout runs from its first record or offsets)."""
        txn = self._transaction(producer)
        batches = txn.batches.get(part)
        if batches is None:
            txn.batches[part] = [(start, end)]
            part.open_transaction(producer[1], start, txn.deadline)
        elif batches[-1][1] == start:  # consecutive appends make one range
            batches[-1] = (batches[-1][0], end)
        else:
            batches.append((start, end))

    def add_offsets(
        self, producer: ProducerKey, group: str, offsets: Mapping[TopicPartition, CommittedOffset]
    ) -> None:
        """Hold ``offsets`` for ``group`` until the producer's transaction ends."""
        self._transaction(producer).offsets.setdefault(group, {}).update(offsets)

    def end(
        self, producer: ProducerKey, commit: bool
    ) -> tuple[ProducerKey, dict[str, dict[TopicPartition, CommittedOffset]]]:
        """Commit or abort the producer's transaction (Kafka's EndTxn): a marker in every
        partition it wrote to. Returns the producer's key from now on and, for a commit,
        the group offsets to store.

        An abort by the producer whose transaction the broker aborted for its timeout is
        accepted: the key returned carries the epoch it continues with.
        """
        self.expire()
        transactional_id = producer[0]
        ident = self._ids.get(transactional_id)
        if not commit and ident is not None and ident.timed_out == producer[1:]:
            ident.timed_out = None
            return (transactional_id, ident.producer_id, ident.epoch), {}
        ident = self._identity(producer)
        offsets = self._end(transactional_id, ident, commit)
        return producer, offsets if commit else {}

    def expire(self) -> None:
        """Abort every transaction past its deadline."""
        if not self._open:
            return
        now = self.clock()
        for transactional_id, ident in list(self._open.items()):
            txn = ident.transaction
            if txn is not None and txn.deadline <= now:
                self._end(transactional_id, ident, commit=False)
                ident.timed_out = (ident.producer_id, ident.epoch)
                self._bump(ident)

    def is_open(self, transactional_id: str) -> bool:
        """Whether the broker holds an open transaction for ``transactional_id``."""
        ident = self._ids.get(transactional_id)
        return ident is not None and ident.transaction is not None

    def _identity(self, producer: ProducerKey) -> _Identity:
        transactional_id, producer_id, epoch = producer
        ident = self._ids.get(transactional_id)
        if ident is not None and ident.producer_id == producer_id and ident.epoch == epoch:
            return ident
        if ident is not None and ident.timed_out == (producer_id, epoch):
            raise TransactionError(
                f"transactional id {transactional_id!r}: the broker aborted the transaction, "
                f"open longer than its transaction_timeout ({ident.timeout} s); abort() it"
            )
        raise ProducerFenced(
            f"transactional id {transactional_id!r}: a newer producer with this id took over"
        )

    def _transaction(self, producer: ProducerKey) -> _Transaction:
        ident = self._identity(producer)
        txn = ident.transaction
        if txn is None:
            txn = ident.transaction = _Transaction(self.clock() + ident.timeout)
            self._open[producer[0]] = ident
        return txn

    def _end(
        self, transactional_id: str, ident: _Identity, commit: bool
    ) -> dict[str, dict[TopicPartition, CommittedOffset]]:
        txn = ident.transaction
        if txn is None:  # nothing reached the broker: nothing to end (Kafka skips EndTxn)
            return {}
        ident.transaction = None
        del self._open[transactional_id]
        timestamp = now_ms()
        for part, batches in txn.batches.items():
            part.end_transaction(ident.producer_id, batches, commit, timestamp)
        return txn.offsets

    def _bump(self, ident: _Identity) -> None:
        if ident.epoch >= _MAX_EPOCH:
            ident.producer_id = self._new_producer_id()
            ident.epoch = 0
        else:
            ident.epoch += 1
