"""The idempotent producer's sequence bookkeeping, driven without a broker.

``Sequencer`` is the synchronous half of the Kafka sender: these tests play the broker's
answers to it and check what it lets out, and with which producer id, epoch and sequence.
The rules are the Java client's (TransactionManager); each test names the one it pins.
"""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from aiomq.backends.kafka._sender import rewrite_producer_state
from aiomq.backends.kafka._sequences import (
    MAX_EPOCH,
    MAX_IN_FLIGHT,
    Batch,
    Send,
    Sequencer,
    Verdict,
    next_sequence,
)

T, P = "topic", 0
OK = 0
NOT_LEADER = 6
OUT_OF_ORDER = 45
DUPLICATE = 46
INVALID_PRODUCER_EPOCH = 47
UNKNOWN_PRODUCER = 59
INVALID_RECORD = 87


def sequencer(producer_id: int = 7, epoch: int = 0, *, transactional: bool = False) -> Sequencer:
    seq = Sequencer(transactional=transactional)
    seq.set_producer(producer_id, epoch)
    return seq


def send(seq: Sequencer, batch: Batch) -> Send:
    state = seq.next_send(T, P, batch)
    assert state is not None, f"{batch} was held back"
    return state


class TestFirstSends:
    def test_nothing_goes_before_a_producer_id(self) -> None:
        seq = Sequencer()
        assert seq.needs_producer_id
        assert seq.next_send(T, P, Batch(1)) is None
        seq.set_producer(3, 0)
        assert seq.next_send(T, P, Batch(1)) == Send(3, 0, 0)

    def test_sequences_count_records_per_partition(self) -> None:
        seq = sequencer()
        assert send(seq, Batch(3)) == Send(7, 0, 0)
        assert send(seq, Batch(2)) == Send(7, 0, 3)
        assert seq.next_send(T, 1, Batch(4)) == Send(7, 0, 0)  # another partition
        assert seq.next_send("other", P, Batch(1)) == Send(7, 0, 0)

    def test_at_most_five_unfinished_batches_per_partition(self) -> None:
        seq = sequencer()
        batches = [Batch(1) for _ in range(MAX_IN_FLIGHT + 1)]
        for batch in batches[:MAX_IN_FLIGHT]:
            send(seq, batch)
        assert seq.next_send(T, P, batches[-1]) is None
        assert seq.answered(T, P, batches[0], OK) is Verdict.DONE
        assert send(seq, batches[-1]) == Send(7, 0, MAX_IN_FLIGHT)

    def test_sequences_wrap_past_int32(self) -> None:
        assert next_sequence(2**31 - 2, 1) == 2**31 - 1
        assert next_sequence(2**31 - 1, 1) == 0
        assert next_sequence(2**31 - 2, 5) == 3


class TestRetries:
    def test_a_retry_keeps_its_sequence(self) -> None:
        seq = sequencer()
        first, second = Batch(2), Batch(2)
        send(seq, first)
        send(seq, second)
        seq.lost(T, P, first)  # the connection dropped: maybe written, maybe not
        assert send(seq, first) == Send(7, 0, 0)
        # The broker had it: a duplicate is a success (Kafka 4.1 answers NONE, older 46).
        assert seq.answered(T, P, first, DUPLICATE) is Verdict.DONE
        assert seq.answered(T, P, second, OK) is Verdict.DONE

    def test_a_retry_waits_for_the_batches_before_it(self) -> None:
        seq = sequencer()
        first, second = Batch(1), Batch(1)
        send(seq, first)
        send(seq, second)
        assert seq.answered(T, P, second, NOT_LEADER) is Verdict.RETRY
        assert seq.next_send(T, P, second) is None  # the first is still on the wire
        assert seq.answered(T, P, first, OK) is Verdict.DONE
        assert send(seq, second) == Send(7, 0, 1)

    def test_new_batches_wait_while_one_waits_to_be_sent_again(self) -> None:
        seq = sequencer()
        first, later = Batch(1), Batch(1)
        send(seq, first)
        seq.lost(T, P, first)
        assert seq.next_send(T, P, later) is None
        send(seq, first)
        assert send(seq, later) == Send(7, 0, 1)

    def test_out_of_order_behind_an_earlier_batch_is_retried_later(self) -> None:
        seq = sequencer()
        first, second = Batch(1), Batch(1)
        send(seq, first)
        send(seq, second)
        assert seq.answered(T, P, second, OUT_OF_ORDER) is Verdict.RETRY
        assert seq.answered(T, P, first, OK) is Verdict.DONE
        assert send(seq, second) == Send(7, 0, 1)  # same epoch, same sequence


class TestResequencing:
    def test_out_of_order_at_the_head_moves_the_partition_to_a_new_epoch(self) -> None:
        # The broker lost this producer's state (the head batch is neither written nor a
        # duplicate): the unfinished batches start again from 0 under epoch + 1.
        seq = sequencer()
        first, second = Batch(2), Batch(3)
        send(seq, first)
        send(seq, second)
        assert seq.answered(T, P, first, OUT_OF_ORDER) is Verdict.RETRY
        assert seq.next_send(T, P, first) is None  # the second is still on the wire
        assert seq.answered(T, P, second, OUT_OF_ORDER) is Verdict.RETRY
        assert send(seq, first) == Send(7, 1, 0)
        assert seq.next_send(T, P, second) is None  # in order
        assert seq.answered(T, P, first, OK) is Verdict.DONE
        assert send(seq, second) == Send(7, 1, 2)
        assert send(seq, Batch(1)) == Send(7, 1, 5)

    def test_unknown_producer_id_at_the_head_resequences(self) -> None:
        seq = sequencer()
        batch = Batch(1)
        send(seq, batch)
        assert seq.answered(T, P, batch, UNKNOWN_PRODUCER) is Verdict.RETRY
        assert send(seq, batch) == Send(7, 1, 0)

    def test_a_batch_refused_for_good_resequences_those_after_it(self) -> None:
        seq = sequencer()
        bad, after = Batch(1), Batch(1)
        send(seq, bad)
        send(seq, after)
        assert seq.answered(T, P, bad, INVALID_RECORD) is Verdict.FAIL
        # The one after it cannot be written under this epoch: wait for its answer.
        assert seq.answered(T, P, after, OUT_OF_ORDER) is Verdict.RETRY
        assert send(seq, after) == Send(7, 1, 0)

    def test_another_partition_keeps_its_epoch_until_it_has_nothing_unfinished(self) -> None:
        seq = sequencer()
        here, there = Batch(1), Batch(1)
        send(seq, here)
        assert seq.next_send(T, 1, there) == Send(7, 0, 0)
        seq.answered(T, P, here, UNKNOWN_PRODUCER)
        assert send(seq, here) == Send(7, 1, 0)
        assert seq.answered(T, 1, there, OK) is Verdict.DONE
        assert seq.next_send(T, 1, Batch(1)) == Send(7, 1, 0)  # moved when empty

    def test_no_epochs_left_asks_for_a_new_producer_id(self) -> None:
        seq = sequencer(epoch=MAX_EPOCH)
        batch = Batch(1)
        send(seq, batch)
        seq.answered(T, P, batch, OUT_OF_ORDER)
        assert seq.next_send(T, P, batch) is None
        assert seq.needs_producer_id
        seq.set_producer(8, 0)
        assert send(seq, batch) == Send(8, 0, 0)


class TestGhosts:
    def test_a_batch_given_up_on_holds_new_ones_until_settled(self) -> None:
        # Java's "unresolved sequence": its caller left while it was on the wire.
        seq = sequencer()
        lost, after = Batch(1), Batch(1)
        send(seq, lost)
        send(seq, after)
        seq.abandoned(T, P, lost)
        assert seq.next_send(T, P, Batch(1)) is None
        # The one after it was written: so was the ghost, nothing changes epoch.
        assert seq.answered(T, P, after, OK) is Verdict.DONE
        assert send(seq, Batch(1)) == Send(7, 0, 2)

    def test_only_ghosts_left_start_a_new_epoch(self) -> None:
        seq = sequencer()
        lost = Batch(1)
        send(seq, lost)
        seq.abandoned(T, P, lost)
        # Its fate is unknown: a new epoch fences it if it arrives after what comes next.
        assert send(seq, Batch(1)) == Send(7, 1, 0)

    def test_out_of_order_behind_ghosts_only_resequences(self) -> None:
        seq = sequencer()
        lost, after = Batch(1), Batch(1)
        send(seq, lost)
        send(seq, after)
        seq.abandoned(T, P, lost)
        assert seq.answered(T, P, after, OUT_OF_ORDER) is Verdict.RETRY
        assert send(seq, after) == Send(7, 1, 0)

    def test_giving_up_before_the_first_send_leaves_no_trace(self) -> None:
        seq = sequencer()
        never = Batch(1)
        seq.abandoned(T, P, never)
        assert send(seq, Batch(1)) == Send(7, 0, 0)


class TestSplit:
    def test_halves_keep_the_sequence_range(self) -> None:
        seq = sequencer()
        big, after = Batch(4), Batch(1)
        send(seq, big)
        send(seq, after)
        head, tail = seq.split(T, P, big, 1)
        assert send(seq, head) == Send(7, 0, 0)
        assert seq.next_send(T, P, tail) is None
        assert seq.answered(T, P, head, OK) is Verdict.DONE
        assert send(seq, tail) == Send(7, 0, 1)
        assert seq.answered(T, P, tail, OK) is Verdict.DONE
        assert seq.answered(T, P, after, OK) is Verdict.DONE
        assert seq.unfinished(T, P) == []


class TestTransactional:
    """A transactional producer's epochs are its coordinator's: never bumped here."""

    @pytest.mark.parametrize("code", [OUT_OF_ORDER, UNKNOWN_PRODUCER, INVALID_PRODUCER_EPOCH])
    def test_a_head_batch_refused_under_its_epoch_fails(self, code: int) -> None:
        # Java: abortable for a transactional producer, where an idempotent one resequences.
        seq = sequencer(transactional=True)
        batch = Batch(2)
        send(seq, batch)
        assert seq.answered(T, P, batch, code) is Verdict.FAIL
        assert (seq.producer_id, seq.epoch) == (7, 0)
        assert seq.unfinished(T, P) == []

    def test_a_later_batch_refused_waits_for_the_head(self) -> None:
        seq = sequencer(transactional=True)
        first, second = Batch(1), Batch(1)
        send(seq, first)
        send(seq, second)
        assert seq.answered(T, P, second, OUT_OF_ORDER) is Verdict.RETRY
        assert seq.answered(T, P, first, OK) is Verdict.DONE
        assert send(seq, second) == Send(7, 0, 1)

    def test_a_ghost_holds_the_partition_until_the_coordinator_s_next_epoch(self) -> None:
        # Java's unresolved sequence makes a transaction abortable; no local epoch settles it.
        seq = sequencer(transactional=True)
        lost = Batch(1)
        send(seq, lost)
        seq.abandoned(T, P, lost)
        assert seq.next_send(T, P, Batch(1)) is None
        assert seq.epoch == 0
        seq.reset(7, 1)
        assert send(seq, Batch(1)) == Send(7, 1, 0)

    def test_a_batch_refused_for_good_leaves_the_epoch_alone(self) -> None:
        seq = sequencer(transactional=True)
        bad, after = Batch(1), Batch(1)
        send(seq, bad)
        send(seq, after)
        assert seq.answered(T, P, bad, INVALID_RECORD) is Verdict.FAIL
        assert seq.answered(T, P, after, OUT_OF_ORDER) is Verdict.FAIL  # the head now
        assert seq.epoch == 0

    def test_a_new_epoch_from_the_coordinator_restarts_every_partition_at_zero(self) -> None:
        seq = sequencer(transactional=True)
        done, stale = Batch(3), Batch(1)
        send(seq, done)
        seq.answered(T, P, done, OK)
        assert seq.next_send(T, 1, stale) == Send(7, 0, 0)
        assert seq.pending()
        seq.reset(7, 1)  # EndTxn v5 answered with the epoch bumped
        assert not seq.pending()
        assert send(seq, Batch(1)) == Send(7, 1, 0)
        # The batch of the ended epoch was still on the wire: its answer fails it.
        assert seq.answered(T, 1, stale, OK) is Verdict.FAIL
        assert seq.next_send(T, 1, Batch(1)) == Send(7, 1, 0)


@pytest.mark.parametrize("code", [NOT_LEADER, 7, 19, 20])
def test_retriable_codes_are_retried_with_the_same_state(code: int) -> None:
    seq = sequencer()
    batch = Batch(1)
    send(seq, batch)
    assert seq.answered(T, P, batch, code) is Verdict.RETRY
    assert send(seq, batch) == Send(7, 0, 0)


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_a_built_batch_moves_to_another_producer_state(codec: int) -> None:
    # How a batch sent before is resequenced: its header rewritten, its CRC redone; a
    # compressed batch cannot be built a second time.
    builder = DefaultRecordBatchBuilder(2, codec, 0, 7, 0, 10, 1 << 20)
    for i in range(50):
        builder.append(i, None, None, b"value %d" % i * 10, [("h", None)])
    built = builder.build()
    moved = DefaultRecordBatch(bytes(rewrite_producer_state(built, Send(8, 3, 5))))
    assert moved.validate_crc()
    assert (moved.producer_id, moved.producer_epoch, moved.base_sequence) == (8, 3, 5)
    records = list(moved)  # a batch iterates once
    assert [r.value for r in records] == [b"value %d" % i * 10 for i in range(50)]
    assert records[0].headers == [("h", None)]
