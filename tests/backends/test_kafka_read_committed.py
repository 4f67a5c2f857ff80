"""How a ``read_committed`` Fetch answer is read, without a broker: Java's consumer's rules
(``CompletedFetch.nextFetchedRecord``) applied to record batches built here, with the
aborted-transaction list a broker would send along.

A broker answers up to the last stable offset and lists ``(producer id, first offset)`` of
every transaction aborted in that range; the client drops a transactional batch of a
producer once one of its aborted transactions has started, until that producer's abort
marker. Markers themselves never appear.
"""

from __future__ import annotations

import struct

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from aiomq.backends.kafka.backend import _decode
from aiomq.errors import DecodeError
from tests.backends.common import OFFSET, VALUE

ABORT, COMMIT = 0, 1
_CONTROL_BIT = 0x20


def batch(base: int, producer: int, *values: bytes, transactional: bool = True) -> bytes:
    """A batch of ``values`` at offset ``base`` by ``producer``."""
    builder = DefaultRecordBatchBuilder(2, 0, int(transactional), producer, 0, 0, 1 << 20)
    for i, value in enumerate(values):
        builder.append(i, None, None, value, [])
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base)  # outside the CRC
    return bytes(raw)


def marker(base: int, producer: int, kind: int) -> bytes:
    """A transaction marker (a control batch of one record) at ``base``."""
    builder = DefaultRecordBatchBuilder(2, 0, 1, producer, 0, -1, 1 << 20)
    builder.append(0, None, struct.pack(">hh", 0, kind), struct.pack(">hi", 0, 0), [])
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base)
    (attributes,) = struct.unpack_from(">h", raw, 21)
    struct.pack_into(">h", raw, 21, attributes | _CONTROL_BIT)
    struct.pack_into(">I", raw, 17, calc_crc32c(bytes(raw[21:])))
    return bytes(raw)


def read(
    *batches: bytes,
    offset: int = 0,
    aborted: list[tuple[int, int]] | None = None,
    max_records: int | None = None,
) -> tuple[list[int], list[bytes | None], int]:
    end = 100
    result = _decode(b"".join(batches), offset, end, 0, max_records, end, aborted)
    return (
        [r[OFFSET] for r in result.records],
        [r[VALUE] for r in result.records],
        result.next_offset,
    )


def test_an_aborted_transaction_is_left_out_and_a_committed_one_kept() -> None:
    offsets, values, next_offset = read(
        batch(0, 1, b"a", b"b"),
        batch(2, 2, b"c"),
        marker(3, 1, ABORT),
        marker(4, 2, COMMIT),
        aborted=[(1, 0)],
    )
    assert (offsets, values, next_offset) == ([2], [b"c"], 5)


def test_the_abort_marker_ends_a_producer_s_aborted_transaction() -> None:
    # The same producer's next transaction commits: it must be read.
    offsets, _, next_offset = read(
        batch(0, 1, b"x"),
        marker(1, 1, ABORT),
        batch(2, 1, b"y"),
        marker(3, 1, COMMIT),
        aborted=[(1, 0)],
    )
    assert (offsets, next_offset) == ([2], 4)


def test_an_aborted_transaction_counts_only_from_its_first_offset() -> None:
    offsets, _, _ = read(
        batch(0, 1, b"committed"),
        marker(1, 1, COMMIT),
        batch(2, 1, b"aborted"),
        marker(3, 1, ABORT),
        aborted=[(1, 2)],
    )
    assert offsets == [0]


def test_records_outside_transactions_are_kept_between_aborted_ones() -> None:
    offsets, _, next_offset = read(
        batch(0, 1, b"t0"),
        batch(1, 9, b"plain", transactional=False),
        batch(2, 1, b"t1"),
        marker(3, 1, ABORT),
        aborted=[(1, 0)],
    )
    assert (offsets, next_offset) == ([1], 4)


def test_a_fetch_from_inside_an_aborted_batch_steps_over_it() -> None:
    # Kafka answers with the whole batch the offset falls in.
    offsets, _, next_offset = read(
        batch(0, 1, b"a", b"b", b"c"), marker(3, 1, ABORT), offset=1, aborted=[(1, 0)]
    )
    assert (offsets, next_offset) == ([], 4)


def test_without_aborted_transactions_only_markers_are_left_out() -> None:
    offsets, _, next_offset = read(batch(0, 1, b"a", b"b"), marker(2, 1, COMMIT), aborted=[])
    assert (offsets, next_offset) == ([0, 1], 3)


def test_max_records_stops_after_the_last_record_taken() -> None:
    offsets, _, next_offset = read(
        batch(0, 1, b"a"),
        marker(1, 1, ABORT),
        batch(2, 2, b"b", b"c"),
        aborted=[(1, 0)],
        max_records=1,
    )
    assert (offsets, next_offset) == ([2], 3)


def test_an_empty_answer_stays_where_it_was() -> None:
    assert read(offset=7) == ([], [], 7)


def test_a_corrupted_batch_fails_its_crc_check() -> None:
    raw = bytearray(batch(0, -1, b"a", b"b", transactional=False))
    raw[-2] ^= 0x01  # one flipped bit in the last record's value
    with pytest.raises(DecodeError, match="CRC"):
        _decode(bytes(raw), 0, 2, 0, None, 2)
    unchecked = _decode(bytes(raw), 0, 2, 0, None, 2, check_crcs=False)
    assert [r[VALUE] for r in unchecked.records] == [b"a", b"c"]  # unchecked, it goes through
