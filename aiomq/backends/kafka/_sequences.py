"""Sequence numbers of an idempotent producer: what may be sent, and what an answer means.

Plain synchronous state with no I/O, as DESIGN.md asks of state machines: the sender asks
``next_send`` whether a batch may go now, and with which producer id, epoch and sequence;
it reports how each attempt ended (``answered``, ``lost``, ``abandoned``), and the verdict
says whether the batch is done, must be sent again, or failed for good. Tests drive it
without a broker.

The rules are those of Kafka's Java client (``TransactionManager``, ``TxnPartitionEntry``):

- A batch gets its sequence when it is first sent and keeps it on every retry, so a broker
  that already wrote it answers "duplicate" (success, the original offset) instead of
  writing it twice. At most ``MAX_IN_FLIGHT`` batches per partition are unfinished: the
  broker remembers the last five batches of each producer and partition.
- A batch sent again goes out only when no unfinished batch is before it, so the partition
  sees sequences in order; new batches wait while any batch waits to be sent again.
- OUT_OF_ORDER_SEQUENCE, UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH for the first
  unfinished batch mean the broker does not have it and never will under this epoch (an
  earlier batch failed, or the broker lost this producer's state): once nothing of the
  partition is on the wire, its unfinished batches are *resequenced* under a new epoch,
  from sequence 0 (Java's ``bumpIdempotentProducerEpoch`` and
  ``startSequencesAtBeginning``). For a later batch they only mean "an earlier one is
  missing": it is sent again after that one.
- A batch whose caller gave up while it was on the wire (a deadline, a cancellation) may
  or may not have been written: it becomes a *ghost*. A later batch's success proves it
  written; otherwise the next resequencing drops it, and the new epoch fences it: if its
  request reaches the broker after batches of the new epoch, the broker refuses it.
- A batch refused for good (an invalid record, say) is dropped; the batches after it can
  then never be written under this epoch, so they are resequenced when they come first.

Epochs are the producer's, as in Java: a bump raises the producer's epoch, and each
partition takes the producer's current id and epoch when it has nothing unfinished or is
resequenced. At epoch 32767 the producer needs a new producer id (``needs_producer_id``).

A transactional producer's epochs are its coordinator's, never bumped here
(``Sequencer(transactional=True)``): where an idempotent producer would resequence, the
batch fails instead and with it the transaction (Java makes the error abortable), and a new
epoch from the coordinator restarts every partition at sequence 0 (``reset``). A batch of an
epoch that ended (still on the wire when its transaction was aborted) fails when answered.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from ._errors import (
    DUPLICATE_SEQUENCE,
    INVALID_PRODUCER_EPOCH,
    OUT_OF_ORDER_SEQUENCE,
    RETRIABLE,
    UNKNOWN_PRODUCER_ID,
)

__all__ = [
    "MAX_EPOCH",
    "MAX_IN_FLIGHT",
    "Batch",
    "Send",
    "Sequencer",
    "Verdict",
    "next_sequence",
]

MAX_IN_FLIGHT = 5
"""Unfinished batches per partition at most: the broker de-duplicates the last five."""

MAX_EPOCH = 2**15 - 1
"""The largest producer epoch (an INT16); past it the producer needs a new producer id."""

_INT32_MAX = 2**31 - 1
_NO_SEQUENCE = -1

# The broker does not have the batch, and will not take it under this producer id and epoch
# unless an earlier batch arrives first.
_REFUSED_UNDER_EPOCH = frozenset(
    {OUT_OF_ORDER_SEQUENCE, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH}
)


def next_sequence(sequence: int, count: int) -> int:
    """``sequence + count``, wrapping past 2**31 - 1 to 0 as Kafka's sequences do."""
    if sequence > _INT32_MAX - count:
        return count - (_INT32_MAX - sequence) - 1
    return sequence + count


class Verdict(enum.Enum):
    """What an answer means for the batch: done, send it again, or failed for good."""

    DONE = "done"
    RETRY = "retry"
    FAIL = "fail"


class Send(NamedTuple):
    """Send the batch now, with this producer state in its header."""

    producer_id: int
    epoch: int
    sequence: int


class Batch:
    """One record batch of ``count`` records on its way to one partition."""

    __slots__ = ("count", "epoch", "ghost", "outstanding", "producer_id", "retry", "sequence")

    def __init__(self, count: int) -> None:
        self.count = count
        self.producer_id = -1
        self.epoch = -1
        self.sequence = _NO_SEQUENCE  # until first sent
        self.outstanding = False  # a request of it is on the wire, its answer awaited
        self.retry = False  # its last attempt failed; it must be sent again
        self.ghost = False  # its caller gave up while it may have been written

    def __repr__(self) -> str:
        flags = "".join(
            name[0] for name in ("outstanding", "retry", "ghost") if getattr(self, name)
        )
        return f"<Batch seq={self.sequence} n={self.count} epoch={self.epoch} {flags}>"


class _Partition:
    __slots__ = ("batches", "epoch", "next_sequence", "producer_id", "resequence")

    def __init__(self) -> None:
        self.producer_id = -1
        self.epoch = -1
        self.next_sequence = 0
        # Invariant: the batches sent at least once and not finished, in sequence order,
        # all of this partition's producer id and epoch.
        self.batches: list[Batch] = []
        self.resequence = False  # resequence the batches once none is outstanding


class Sequencer:
    """The sequence state of one idempotent producer, per ``(topic, partition)``.

    ``transactional``: the epochs are a transaction coordinator's (see the module docstring).
    """

    def __init__(self, *, transactional: bool = False) -> None:
        self.producer_id = -1
        self.epoch = -1
        self.transactional = transactional
        self._partitions: dict[tuple[str, int], _Partition] = {}

    @property
    def needs_producer_id(self) -> bool:
        """True until ``set_producer`` was called, and again once the epochs ran out."""
        return self.producer_id < 0

    def set_producer(self, producer_id: int, epoch: int) -> None:
        """Take the producer id and epoch InitProducerId returned.

        Partitions move to it when they have nothing unfinished or are resequenced.
        """
        self.producer_id = producer_id
        self.epoch = epoch

    def reset(self, producer_id: int, epoch: int) -> None:
        """Take a new producer id and epoch from the transaction coordinator: every
        partition starts again at sequence 0 (Java's ``resetSequenceNumbers``), and batches
        still unfinished belong to the ended epoch (they fail when answered)."""
        self.set_producer(producer_id, epoch)
        self._partitions.clear()

    def pending(self) -> bool:
        """Whether any partition has a batch sent and not finished (ghosts included)."""
        return any(part.batches for part in self._partitions.values())

    def unfinished(self, topic: str, partition: int) -> list[Batch]:
        """The partition's batches sent and not finished, in sequence order (a copy)."""
        state = self._partitions.get((topic, partition))
        return list(state.batches) if state else []

    def _bump(self) -> bool:
        """Raise the producer's epoch; False when it ran out (a new producer id is needed)."""
        if self.epoch >= MAX_EPOCH:
            self.producer_id = self.epoch = -1
            return False
        self.epoch += 1
        return True

    def _resequence(self, part: _Partition) -> bool:
        """Renumber the unfinished batches from 0 under a new epoch; ghosts are dropped."""
        if (part.producer_id, part.epoch) == (self.producer_id, self.epoch) and not self._bump():
            return False
        part.producer_id, part.epoch = self.producer_id, self.epoch
        part.batches = [batch for batch in part.batches if not batch.ghost]
        sequence = 0
        for batch in part.batches:
            batch.producer_id, batch.epoch, batch.sequence = part.producer_id, part.epoch, sequence
            batch.retry = True
            sequence = next_sequence(sequence, batch.count)
        part.next_sequence = sequence
        part.resequence = False
        return True

    def next_send(self, topic: str, partition: int, batch: Batch) -> Send | None:
        """The producer state to send ``batch`` with now, or None: wait for a change.

        A change is any later call on the same partition (or ``set_producer``). The batch
        counts as outstanding from here until ``answered``, ``lost`` or ``abandoned``: write
        its request before awaiting anything, so requests leave in sequence order.
        """
        if self.producer_id < 0:
            return None
        part = self._partitions.get((topic, partition))
        if part is None:
            part = self._partitions[(topic, partition)] = _Partition()
        if (
            part.batches
            and all(b.ghost for b in part.batches)
            and batch.sequence < 0
            # A transaction fails with its ghost; its coordinator's next epoch settles them.
            and not self.transactional
        ):
            part.resequence = True  # only ghosts left: a new epoch settles their fate
        if part.resequence and (
            any(b.outstanding for b in part.batches) or not self._resequence(part)
        ):
            return None
        if batch.sequence == _NO_SEQUENCE:
            if len(part.batches) >= MAX_IN_FLIGHT or any(b.retry or b.ghost for b in part.batches):
                return None
            if not part.batches and (part.producer_id, part.epoch) != (
                self.producer_id,
                self.epoch,
            ):
                part.producer_id, part.epoch, part.next_sequence = self.producer_id, self.epoch, 0
            batch.producer_id, batch.epoch = part.producer_id, part.epoch
            batch.sequence = part.next_sequence
            part.next_sequence = next_sequence(part.next_sequence, batch.count)
            part.batches.append(batch)
        else:
            for earlier in part.batches:
                if earlier is batch:
                    break
                if not earlier.ghost:
                    return None  # an earlier batch goes (again) first
            batch.retry = False
        batch.outstanding = True
        return Send(batch.producer_id, batch.epoch, batch.sequence)

    def _first(self, part: _Partition, batch: Batch) -> bool:
        """Whether no unfinished batch but ghosts comes before ``batch``."""
        for earlier in part.batches:
            if earlier is batch:
                return True
            if not earlier.ghost:
                return False
        return False

    def answered(self, topic: str, partition: int, batch: Batch, code: int) -> Verdict:
        """The broker answered the batch's request with error ``code`` (0: written)."""
        part = self._partitions.get((topic, partition))
        batch.outstanding = False
        if part is None or batch not in part.batches:
            return Verdict.FAIL  # of an epoch that ended: its transaction is over
        if code in (0, DUPLICATE_SEQUENCE):
            # Written; so was every ghost before it (the broker takes sequences in order).
            index = part.batches.index(batch)
            part.batches[: index + 1] = [b for b in part.batches[:index] if not b.ghost]
            return Verdict.DONE
        if code in _REFUSED_UNDER_EPOCH:
            if self._first(part, batch):
                if self.transactional:  # the coordinator's epoch: the transaction fails
                    part.batches.remove(batch)
                    return Verdict.FAIL
                part.resequence = True
            batch.retry = True
            return Verdict.RETRY
        if code in RETRIABLE:
            batch.retry = True
            return Verdict.RETRY
        if self._first(part, batch) and not self.transactional:
            part.resequence = True  # the batches after it cannot be written under this epoch
        part.batches.remove(batch)
        return Verdict.FAIL

    def lost(self, topic: str, partition: int, batch: Batch) -> None:
        """The attempt ended without an answer (connection lost, no answer in time).

        The batch may have been written: it is sent again with the same sequence.
        """
        batch.outstanding = False
        batch.retry = True

    def abandoned(self, topic: str, partition: int, batch: Batch) -> None:
        """The batch's caller gave up. Harmless before the batch was first sent."""
        if batch.sequence == _NO_SEQUENCE:
            return
        part = self._partitions.get((topic, partition))
        if part is not None and batch in part.batches:
            batch.ghost = True
            batch.outstanding = batch.retry = False

    def split(self, topic: str, partition: int, batch: Batch, head: int) -> tuple[Batch, Batch]:
        """Replace ``batch`` (refused as too large) by two: its first ``head`` records, the rest.

        They keep its producer state and sequence range, so later batches keep theirs.
        """
        part = self._partitions.get((topic, partition))
        first, second = Batch(head), Batch(batch.count - head)
        batch.outstanding = False
        if part is None or batch not in part.batches:
            return first, second  # of an epoch that ended, with it its transaction
        starts = (batch.sequence, next_sequence(batch.sequence, head))
        for half, sequence in zip((first, second), starts, strict=True):
            half.producer_id, half.epoch, half.sequence = batch.producer_id, batch.epoch, sequence
            half.retry = True
        index = part.batches.index(batch)
        part.batches[index : index + 1] = [first, second]
        return first, second
