"""A Kafka transactional producer's states, driven without a broker.

``TransactionManager`` is the synchronous half of ``KafkaTransactionalProducer``: these tests
call its transitions, play the coordinator's answers back, and check the request each
transition asks for and what each call is refused with. The transitions are Java's
(``TransactionManager.State.isTransitionValid``); each test names the rule it pins.
"""

from __future__ import annotations

import pytest

from aiomq.backends.kafka._transactions import (
    AddOffsets,
    AddPartitions,
    EndTxn,
    InitProducerId,
    State,
    TransactionManager,
)
from aiomq.errors import ClosedError, ProducerFenced, TransactionError

TP = ("topic", 0)


def state(manager: TransactionManager) -> State:
    """The manager's state, read afresh (a call may have changed it)."""
    return manager.state


def ready(producer_id: int = 7, epoch: int = 3) -> TransactionManager:
    manager = TransactionManager("tx")
    assert manager.init() == InitProducerId(-1, -1)
    assert state(manager) is State.INITIALIZING
    manager.initialized(producer_id, epoch)
    assert state(manager) is State.READY
    return manager


def in_transaction(v2: bool = True) -> TransactionManager:
    manager = ready()
    manager.begin(v2)
    return manager


def started(v2: bool = True) -> TransactionManager:
    manager = in_transaction(v2)
    action = manager.add_partition(TP)
    if action is not None:
        manager.partitions_added(action.partitions)
    assert manager.started
    return manager


class TestOpening:
    def test_a_new_producer_asks_for_an_id_without_one(self) -> None:
        manager = TransactionManager("tx")
        assert state(manager) is State.UNINITIALIZED
        assert manager.init() == InitProducerId(-1, -1)
        manager.initialized(5, 0)
        assert (manager.producer_id, manager.epoch) == (5, 0)

    def test_nothing_but_begin_works_before_the_id_arrives(self) -> None:
        manager = TransactionManager("tx")
        manager.init()
        with pytest.raises(TransactionError, match="no producer id"):
            manager.begin(True)
        assert state(manager) is State.INITIALIZING

    def test_a_transition_java_does_not_allow_is_a_bug(self) -> None:
        manager = ready()
        with pytest.raises(AssertionError):
            manager.initialized(1, 1)  # READY -> READY is not in the table
        assert state(manager) is State.READY


class TestWrongState:
    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda m: m.add_partition(TP), "begin"),
            (lambda m: m.add_offsets("g"), "begin"),
            (lambda m: m.commit(), "begin"),
            (lambda m: m.abort(), "begin"),
        ],
    )
    def test_calls_outside_a_transaction_raise_and_change_nothing(
        self, call: object, message: str
    ) -> None:
        manager = ready()
        with pytest.raises(TransactionError, match=message) as caught:
            call(manager)  # type: ignore[operator]
        assert not isinstance(caught.value, ProducerFenced)
        assert state(manager) is State.READY

    def test_begin_twice_raises_and_keeps_the_transaction(self) -> None:
        manager = started()
        with pytest.raises(TransactionError, match="is open"):
            manager.begin(True)
        assert state(manager) is State.IN_TRANSACTION
        assert manager.partitions == {TP}


class TestTransactionVersion2:
    def test_a_partition_joins_without_a_request(self) -> None:
        manager = in_transaction(v2=True)
        assert manager.add_partition(TP) is None  # the leader adds it (Produce v12)
        assert manager.started
        assert manager.add_offsets("g") is None  # TxnOffsetCommit v5 adds the group

    def test_commit_bumps_the_epoch_from_the_answer(self) -> None:
        manager = started(v2=True)
        assert manager.commit() == EndTxn(commit=True, v2=True)
        assert state(manager) is State.COMMITTING
        assert manager.ended(7, 4) is None
        assert (state(manager), manager.epoch) == (State.READY, 4)
        assert not manager.started
        assert not manager.partitions

    def test_abort_of_a_started_transaction_sends_end_txn(self) -> None:
        manager = started(v2=True)
        assert manager.abort() == EndTxn(commit=False, v2=True)
        assert state(manager) is State.ABORTING
        assert manager.ended(7, 4) is None
        assert state(manager) is State.READY

    def test_the_protocol_is_chosen_per_transaction(self) -> None:
        manager = started(v2=True)
        manager.commit()
        manager.ended(7, 4)
        manager.begin(False)
        assert manager.add_partition(TP) == AddPartitions((TP,))


class TestTransactionVersion1:
    def test_a_partition_is_added_once_before_its_records(self) -> None:
        manager = in_transaction(v2=False)
        assert manager.add_partition(TP) == AddPartitions((TP,))
        assert not manager.started  # not until the coordinator says so
        manager.partitions_added((TP,))
        assert manager.started
        assert manager.add_partition(TP) is None
        assert manager.add_partition(("topic", 1)) == AddPartitions((("topic", 1),))

    def test_a_group_is_added_once_before_its_offsets(self) -> None:
        manager = in_transaction(v2=False)
        assert manager.add_offsets("g") == AddOffsets("g")
        manager.offsets_added("g")
        assert manager.add_offsets("g") is None
        assert manager.started

    def test_end_txn_keeps_the_epoch(self) -> None:
        manager = started(v2=False)
        assert manager.commit() == EndTxn(commit=True, v2=False)
        assert manager.ended(manager.producer_id, manager.epoch) is None
        assert (state(manager), manager.epoch) == (State.READY, 3)

    def test_unresolved_batches_bump_the_epoch_after_the_abort(self) -> None:
        # Java's clientSideEpochBumpRequired: InitProducerId with the current id and epoch.
        manager = started(v2=False)
        manager.fail("a produce timed out on the wire")
        manager.bump_after_abort()
        assert manager.abort() == EndTxn(commit=False, v2=False)
        assert manager.ended(7, 3) == InitProducerId(7, 3)
        assert state(manager) is State.INITIALIZING
        with pytest.raises(TransactionError, match=r"abort\(\) again"):
            manager.begin(False)
        assert manager.abort() == InitProducerId(7, 3)  # the bump again, if it failed
        manager.initialized(7, 4)
        assert (state(manager), manager.epoch) == (State.READY, 4)

    def test_tv2_never_bumps_by_itself(self) -> None:
        manager = started(v2=True)
        manager.fail("cause")
        manager.bump_after_abort()
        manager.abort()
        assert manager.ended(7, 4) is None


class TestNothingSent:
    def test_an_empty_transaction_ends_without_end_txn(self) -> None:
        # The broker answers INVALID_TXN_STATE to an EndTxn for a transaction it never saw.
        for end in (TransactionManager.commit, TransactionManager.abort):
            manager = in_transaction()
            assert end(manager) is None
            assert state(manager) is State.READY

    def test_a_tv1_partition_not_yet_added_does_not_start_it(self) -> None:
        manager = in_transaction(v2=False)
        manager.add_partition(TP)  # the AddPartitionsToTxn failed
        assert manager.commit() is None


class TestFailures:
    def test_an_abortable_error_allows_only_abort(self) -> None:
        manager = started()
        manager.fail("TRANSACTION_ABORTABLE")
        assert state(manager) is State.ABORTABLE_ERROR
        for call in (
            lambda: manager.add_partition(TP),
            lambda: manager.add_offsets("g"),
            manager.commit,
            lambda: manager.begin(True),
        ):
            with pytest.raises(TransactionError, match=r"TRANSACTION_ABORTABLE.*abort\(\)"):
                call()
        assert manager.abort() == EndTxn(commit=False, v2=True)

    def test_a_failure_while_aborting_or_between_transactions_changes_nothing(self) -> None:
        manager = started()
        manager.abort()
        manager.fail("late answer of a produce")
        assert state(manager) is State.ABORTING
        manager.ended(7, 4)
        manager.fail("later still")
        assert state(manager) is State.READY

    def test_a_commit_without_an_answer_is_sent_again(self) -> None:
        # Java keeps the pending commit: calling commit again finishes it.
        manager = started()
        first = manager.commit()
        assert manager.commit() == first
        with pytest.raises(TransactionError, match=r"commit\(\) again"):
            manager.abort()

    def test_an_abort_without_an_answer_is_sent_again(self) -> None:
        manager = started()
        first = manager.abort()
        assert manager.abort() == first

    def test_a_fenced_producer_only_closes(self) -> None:
        manager = started()
        error = manager.fenced()
        assert isinstance(error, ProducerFenced)
        for call in (manager.commit, manager.abort, lambda: manager.begin(True)):
            with pytest.raises(ProducerFenced):
                call()
        assert manager.close() is False  # its transaction is not its own any more
        with pytest.raises(ClosedError):
            manager.abort()


class TestFencedOrTimedOut:
    def test_tv2_asks_with_an_abort_and_tv1_with_its_epoch(self) -> None:
        assert started(v2=True).resolve() == EndTxn(commit=False, v2=True)
        assert started(v2=False).resolve() == InitProducerId(7, 3)

    def test_timed_out_the_producer_goes_on_after_abort_without_a_request(self) -> None:
        manager = started()
        error = manager.timed_out(7, 4, 1.0)
        assert not isinstance(error, ProducerFenced)
        assert "transaction_timeout (1.0 s)" in str(error)
        assert state(manager) is State.ABORTABLE_ERROR
        with pytest.raises(TransactionError, match=r"abort\(\)"):
            manager.commit()
        assert manager.abort() is None  # the broker aborted it already
        assert (state(manager), manager.epoch) == (State.READY, 4)

    def test_timed_out_while_aborting_finishes_the_abort(self) -> None:
        manager = started(v2=False)
        manager.abort()
        manager.timed_out(7, 4, 1.0)
        assert (state(manager), manager.epoch) == (State.READY, 4)

    def test_timed_out_while_committing_allows_only_abort(self) -> None:
        manager = started()
        manager.commit()
        manager.timed_out(7, 4, 1.0)
        assert state(manager) is State.ABORTABLE_ERROR
        assert manager.abort() is None


class TestClosing:
    def test_close_says_whether_the_broker_holds_an_open_transaction(self) -> None:
        assert started().close() is True
        assert in_transaction().close() is False  # nothing sent
        assert ready().close() is False
        failed = started()
        failed.fail("cause")
        assert failed.close() is True
        timed_out = started()
        timed_out.timed_out(7, 4, 1.0)
        assert timed_out.close() is False  # the broker aborted it
        committing = started()
        committing.commit()
        assert committing.close() is False  # the commit may have happened

    def test_every_call_after_close_raises_closed_error(self) -> None:
        manager = started()
        manager.close()
        for call in (manager.commit, manager.abort, lambda: manager.begin(True)):
            with pytest.raises(ClosedError):
                call()
