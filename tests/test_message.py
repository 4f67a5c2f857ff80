"""ProducerMessage, RecordMetadata, Message, and the shared checks (topics, headers, sizes)."""

from __future__ import annotations

import string
import time

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import given
from hypothesis import strategies as st

from aiomq.errors import ConfigError
from aiomq.message import (
    MAX_TOPIC_LENGTH,
    NO_TIMESTAMP,
    Headers,
    Message,
    ProducerMessage,
    RecordMetadata,
    normalize_headers,
    now_ms,
    record_size,
    validate_topic,
)

LEGAL = string.ascii_letters + string.digits + "._-"


class TestProducerMessage:
    def test_positional_order_and_defaults(self) -> None:
        msg = ProducerMessage("orders", b"v", b"k", [("h", b"1")], 3, {"id": 7}, 1234)
        assert (msg.topic, msg.value, msg.key) == ("orders", b"v", b"k")
        assert msg.headers == [("h", b"1")]
        assert (msg.partition, msg.metadata, msg.timestamp) == (3, {"id": 7}, 1234)
        assert msg.offset is None

    def test_minimal(self) -> None:
        msg = ProducerMessage("t", "hello")
        assert msg.key is None
        assert msg.headers is None
        assert msg.partition is None
        assert msg.metadata is None
        assert msg.timestamp is None
        assert msg.offset is None

    def test_delivery_fields_are_settable(self) -> None:
        msg = ProducerMessage("t", b"x")
        msg.partition, msg.offset, msg.timestamp = 2, 41, 99
        assert (msg.partition, msg.offset, msg.timestamp) == (2, 41, 99)

    def test_offset_is_not_a_constructor_argument(self) -> None:
        with pytest.raises(TypeError):
            ProducerMessage("t", b"x", offset=3)  # type: ignore[call-arg]

    def test_slots(self) -> None:
        msg = ProducerMessage("t", b"x")
        with pytest.raises(AttributeError):
            msg.partiton = 1  # type: ignore[attr-defined]


class TestRecordMetadata:
    def test_immutable_hashable_and_named(self) -> None:
        meta = RecordMetadata("t", 1, 5, 1000)
        with pytest.raises(AttributeError):
            meta.offset = 6  # type: ignore[misc]
        assert meta == RecordMetadata(topic="t", partition=1, offset=5, timestamp=1000)
        assert len({meta, RecordMetadata("t", 1, 5, 1000)}) == 1
        assert (meta.topic, meta.partition, meta.offset, meta.timestamp) == ("t", 1, 5, 1000)
        assert repr(meta) == "RecordMetadata(topic='t', partition=1, offset=5, timestamp=1000)"


class TestMessage:
    def test_fields_and_defaults(self) -> None:
        msg = Message("t", 0, 10, b"k", b"v")
        assert msg.headers == ()
        assert msg.timestamp == NO_TIMESTAMP == -1

    def test_immutable_and_hashable(self) -> None:
        msg = Message("t", 0, 10, None, b"v", (("a", b"1"),), 5)
        with pytest.raises(AttributeError):
            msg.value = b"w"  # type: ignore[misc]
        assert not hasattr(msg, "__dict__")
        assert hash(msg) == hash(Message("t", 0, 10, None, b"v", (("a", b"1"),), 5))


class TestValidateTopic:
    @pytest.mark.parametrize(
        "name", ["t", "orders", "a.b_c-D9", "...", "_", "-", "x" * MAX_TOPIC_LENGTH]
    )
    def test_legal_names_are_returned(self, name: str) -> None:
        assert validate_topic(name) == name

    @pytest.mark.parametrize(
        "name",
        ["", ".", "..", "x" * (MAX_TOPIC_LENGTH + 1), "a b", "a/b", "tópico", "a\n", "a:b", "a*"],
    )
    def test_illegal_names_raise_config_error_for_topic(self, name: str) -> None:
        with pytest.raises(ConfigError) as info:
            validate_topic(name)
        assert info.value.field == "topic"

    @pytest.mark.parametrize("name", [b"topic", ["topic"], ("topic",), None, 1])
    def test_not_a_str(self, name: object) -> None:
        with pytest.raises(ConfigError, match="must be a str") as info:
            validate_topic(name)  # type: ignore[arg-type]
        assert info.value.field == "topic"

    def test_max_length_is_kafkas(self) -> None:
        assert MAX_TOPIC_LENGTH == 249

    @given(st.text(alphabet=LEGAL, min_size=1, max_size=MAX_TOPIC_LENGTH))
    def test_any_name_of_legal_characters_is_legal(self, name: str) -> None:
        if name in (".", ".."):
            with pytest.raises(ConfigError):
                validate_topic(name)
        else:
            assert validate_topic(name) == name

    @given(
        st.text(alphabet=LEGAL, max_size=20),
        st.characters().filter(lambda c: c not in LEGAL),
        st.text(alphabet=LEGAL, max_size=20),
    )
    def test_any_other_character_is_illegal(self, before: str, bad: str, after: str) -> None:
        with pytest.raises(ConfigError):
            validate_topic(before + bad + after)


class TestHeaders:
    def test_none_and_empty(self) -> None:
        assert normalize_headers(None) == ()
        assert normalize_headers([]) == ()
        assert normalize_headers({}) == ()

    def test_pairs_keep_order_and_repeats(self) -> None:
        got = normalize_headers([("b", b"1"), ("a", bytearray(b"2")), ("b", memoryview(b"3"))])
        assert got == (("b", b"1"), ("a", b"2"), ("b", b"3"))
        assert all(type(v) is bytes for _, v in got)

    def test_mapping(self) -> None:
        assert normalize_headers({"x": b"1", "y": b"2"}) == (("x", b"1"), ("y", b"2"))

    def test_a_none_value_is_kafkas_null_header(self) -> None:
        assert normalize_headers([("a", None), ("b", b"")]) == (("a", None), ("b", b""))
        assert normalize_headers({"a": None}) == (("a", None),)

    @pytest.mark.parametrize(
        "headers",
        [[(1, b"x")], [("a", "text")], [("a", 1)], [("a",)], [b"ab"], [("a", b"1", b"2")], [None]],
    )
    def test_bad_headers_are_a_config_error(self, headers: object) -> None:
        with pytest.raises(ConfigError) as caught:
            normalize_headers(headers)  # type: ignore[arg-type]
        assert caught.value.field == "headers"


def built_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The size of the batch aiokafka builds for this record alone (Kafka's v2 format)."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    builder.append(0, timestamp=None, key=key, value=value, headers=list(headers))
    return len(builder.build())


header_values = st.none() | st.binary(max_size=300)
headers_strategy = st.lists(st.tuples(st.text(max_size=80), header_values), max_size=4).map(tuple)


class TestRecordSize:
    def test_an_empty_record_is_the_batch_header_and_seven_bytes(self) -> None:
        # 61 bytes of batch header; length, attributes, two deltas, null key, null value,
        # no headers: one byte each.
        assert record_size(None, None) == 61 + 7

    def test_lengths_are_varints(self) -> None:
        empty = record_size(None, b"")
        assert empty == record_size(None, None)  # an empty value and a null one: one byte
        assert record_size(None, b"v" * 57) == empty + 57  # the record's body: 63 bytes
        assert record_size(None, b"v" * 58) == empty + 58 + 1  # 64 bytes: its length takes 2
        assert record_size(None, b"v" * 64) == record_size(None, b"v" * 63) + 1 + 1
        assert record_size(None, None, (("hé", None),)) == empty + 1 + 3 + 1

    @given(
        st.none() | st.binary(max_size=300),
        st.none() | st.binary(max_size=20_000),
        headers_strategy,
    )
    def test_is_the_size_kafka_measures(
        self, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        assert record_size(key, value, headers) == built_size(key, value, headers)

    @pytest.mark.parametrize("length", [0, 63, 64, 8191, 8192, 1_048_575, 1_048_576])
    def test_at_varint_boundaries(self, length: int) -> None:
        value = b"x" * length
        assert record_size(b"k", value) == built_size(b"k", value, ())
        assert record_size(None, value, (("h", value),)) == built_size(None, value, (("h", value),))


class TestNow:
    def test_milliseconds_since_epoch(self) -> None:
        before = int(time.time() * 1000)
        now = now_ms()
        after = int(time.time() * 1000)
        assert before - 1 <= now <= after + 1
