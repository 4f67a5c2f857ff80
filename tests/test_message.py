"""ProducerMessage, RecordMetadata, Message, and the shared checks (topics, headers, sizes)."""

from __future__ import annotations

import dataclasses
import string
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiomq.errors import ConfigError
from aiomq.message import (
    MAX_TOPIC_LENGTH,
    NO_TIMESTAMP,
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
    def test_frozen_and_hashable(self) -> None:
        meta = RecordMetadata("t", 1, 5, 1000)
        with pytest.raises(dataclasses.FrozenInstanceError):
            meta.offset = 6  # type: ignore[misc]
        assert meta == RecordMetadata(topic="t", partition=1, offset=5, timestamp=1000)
        assert len({meta, RecordMetadata("t", 1, 5, 1000)}) == 1


class TestMessage:
    def test_fields_and_defaults(self) -> None:
        msg = Message("t", 0, 10, b"k", b"v")
        assert msg.headers == ()
        assert msg.timestamp == NO_TIMESTAMP == -1

    def test_frozen_slots_hashable(self) -> None:
        msg = Message("t", 0, 10, None, b"v", (("a", b"1"),), 5)
        with pytest.raises(dataclasses.FrozenInstanceError):
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

    def test_not_a_str(self) -> None:
        with pytest.raises(ConfigError, match="must be a str"):
            validate_topic(b"topic")  # type: ignore[arg-type]

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

    @pytest.mark.parametrize(
        "headers",
        [[(1, b"x")], [("a", "text")], [("a", None)], [("a",)], [b"ab"], [("a", b"1", b"2")]],
    )
    def test_bad_headers_raise_type_error(self, headers: object) -> None:
        with pytest.raises(TypeError):
            normalize_headers(headers)  # type: ignore[arg-type]


class TestRecordSize:
    def test_empty_record_is_the_overhead(self) -> None:
        assert record_size(None, None) == 36

    def test_counts_key_value_and_headers(self) -> None:
        base = record_size(None, None)
        assert record_size(b"k" * 3, b"v" * 10) == base + 13
        assert record_size(None, b"", (("hé", b"12"),)) == base + 3 + 2 + 10

    @given(st.binary(), st.binary(), st.binary())
    def test_bounds_the_payload(self, key: bytes, value: bytes, header: bytes) -> None:
        assert record_size(key, value, (("h", header),)) > len(key) + len(value) + len(header)


class TestNow:
    def test_milliseconds_since_epoch(self) -> None:
        before = int(time.time() * 1000)
        now = now_ms()
        after = int(time.time() * 1000)
        assert before - 1 <= now <= after + 1
