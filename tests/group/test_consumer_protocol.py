"""The consumer protocol bytes: Java's exactly, every version, and malformed input refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiomq.backends.base import TopicPartition
from aiomq.backends.consumer_protocol import (
    Assignment,
    Subscription,
    decode_assignment,
    decode_cooperative_user_data,
    decode_subscription,
    encode_assignment,
    encode_cooperative_user_data,
    encode_subscription,
)
from aiomq.errors import ConfigError, DecodeError
from tests.java import Java

# kafka-clients 4.1.2's ConsumerProtocol and CooperativeStickyAssignor wrote these
# (/work/notes/groups.md, sections 4.1 and 4.2).
JAVA_SUBSCRIPTION = bytes.fromhex(  # t1,t2; user data 00000007; owns t1:0,1 t2:0; gen 7; "r1"
    "0003 00000002 0002 7431 0002 7432 00000004 00000007 00000002 0002 7431 00000002"
    "00000000 00000001 0002 7432 00000001 00000000 00000007 0002 7231"
)
JAVA_BARE_SUBSCRIPTION = bytes.fromhex(  # t1; no user data, nothing owned, gen -1, no rack
    "0003 00000001 0002 7431 ffffffff 00000000 ffffffff ffff"
)
JAVA_ASSIGNMENT = bytes.fromhex(  # t1:1, t1:0, t2:2 in that order; no user data
    "0003 00000002 0002 7431 00000002 00000001 00000000 0002 7432 00000001 00000002 ffffffff"
)
JAVA_COOPERATIVE_INITIAL = bytes.fromhex("ffffffff")
JAVA_COOPERATIVE_GENERATION_7 = bytes.fromhex("00000007")

FULL = Subscription(("t1", "t2"), b"\x00\x00\x00\x07", (("t1", 0), ("t1", 1), ("t2", 0)), 7, "r1")


class TestJavaVectors:
    def test_subscription(self) -> None:
        assert encode_subscription(FULL) == JAVA_SUBSCRIPTION
        assert decode_subscription(JAVA_SUBSCRIPTION) == FULL

    def test_subscription_with_nothing_optional(self) -> None:
        bare = Subscription(("t1",))
        assert encode_subscription(bare) == JAVA_BARE_SUBSCRIPTION
        assert decode_subscription(JAVA_BARE_SUBSCRIPTION) == bare

    def test_assignment_keeps_the_partition_order(self) -> None:
        assignment = Assignment((("t1", 1), ("t1", 0), ("t2", 2)))
        assert encode_assignment(assignment) == JAVA_ASSIGNMENT
        assert decode_assignment(JAVA_ASSIGNMENT) == assignment

    def test_cooperative_user_data(self) -> None:
        assert encode_cooperative_user_data(-1) == JAVA_COOPERATIVE_INITIAL
        assert encode_cooperative_user_data(7) == JAVA_COOPERATIVE_GENERATION_7
        assert decode_cooperative_user_data(JAVA_COOPERATIVE_GENERATION_7) == 7
        assert decode_cooperative_user_data(JAVA_COOPERATIVE_INITIAL) == -1


class TestVersions:
    def test_subscription_is_written_sorted_as_java_writes_it(self) -> None:
        shuffled = Subscription(
            ("t2", "t1"), FULL.user_data, (("t2", 0), ("t1", 1), ("t1", 0)), 7, "r1"
        )
        assert encode_subscription(shuffled) == JAVA_SUBSCRIPTION

    def test_assignment_groups_partitions_by_topic_in_first_seen_order(self) -> None:
        interleaved = Assignment((("t2", 5), ("t1", 1), ("t2", 3), ("t1", 0)))
        assert decode_assignment(encode_assignment(interleaved)).partitions == (
            ("t2", 5),
            ("t2", 3),
            ("t1", 1),
            ("t1", 0),
        )

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            (0, Subscription(("t1", "t2"), b"\x00\x00\x00\x07")),
            (1, Subscription(("t1", "t2"), b"\x00\x00\x00\x07", FULL.owned_partitions)),
            (2, Subscription(("t1", "t2"), b"\x00\x00\x00\x07", FULL.owned_partitions, 7)),
            (3, FULL),
        ],
    )
    def test_older_versions_leave_out_their_missing_fields(
        self, version: int, expected: Subscription
    ) -> None:
        data = encode_subscription(FULL, version)
        assert data[:2] == version.to_bytes(2, "big")
        assert decode_subscription(data) == expected

    @pytest.mark.parametrize("version", [0, 1, 2, 3])
    def test_assignment_versions_differ_only_in_the_number(self, version: int) -> None:
        assignment = Assignment((("t1", 1),), b"x")
        data = encode_assignment(assignment, version)
        assert data == version.to_bytes(2, "big") + encode_assignment(assignment)[2:]
        assert decode_assignment(data) == assignment

    def test_a_newer_version_reads_as_the_newest_known_ignoring_what_follows(self) -> None:
        newer = b"\x00\x07" + JAVA_SUBSCRIPTION[2:] + b"fields of version 7"
        assert decode_subscription(newer) == FULL
        assert decode_assignment(b"\x00\x07" + JAVA_ASSIGNMENT[2:] + b"\x01\x02") == (
            decode_assignment(JAVA_ASSIGNMENT)
        )

    def test_trailing_bytes_are_ignored_as_java_ignores_them(self) -> None:
        assert decode_subscription(JAVA_SUBSCRIPTION + b"\x00") == FULL

    def test_an_empty_rack_reads_as_none_as_in_java(self) -> None:
        assert decode_subscription(encode_subscription(Subscription(("t",), rack=""))).rack is None

    def test_an_empty_assignment_is_no_partitions(self) -> None:
        # What the broker hands a member the leader left out of SyncGroup.
        assert decode_assignment(b"") == Assignment(())
        assert decode_assignment(encode_assignment(Assignment(()))) == Assignment(())
        assert encode_assignment(Assignment(())) == bytes.fromhex("0003 00000000 ffffffff")

    def test_group_instance_id_is_not_on_the_wire(self) -> None:
        static = Subscription(("t1",), group_instance_id="instance-1")
        assert encode_subscription(static) == JAVA_BARE_SUBSCRIPTION


topics = st.text("abcxyz.-_", min_size=1, max_size=8)
partitions = st.integers(0, 2**31 - 1)
blobs = st.none() | st.binary(max_size=40)


@st.composite
def subscriptions(draw: st.DrawFn) -> Subscription:
    """Subscriptions as Java writes them: topics and owned partitions sorted."""
    owned = draw(st.lists(st.tuples(topics, partitions), unique=True, max_size=12))
    return Subscription(
        tuple(sorted(draw(st.lists(topics, max_size=6)))),
        draw(blobs),
        tuple(sorted(owned)),
        draw(st.integers(-(2**31), 2**31 - 1)),
        draw(st.none() | st.text(min_size=1, max_size=10)),
    )


@st.composite
def assignments(draw: st.DrawFn) -> Assignment:
    """Assignments with each topic's partitions together, as the wire groups them."""
    grouped = draw(st.dictionaries(topics, st.lists(partitions, max_size=5), max_size=5))
    flat: list[TopicPartition] = [(t, p) for t, ps in grouped.items() for p in ps]
    return Assignment(tuple(flat), draw(blobs))


class TestRoundTrips:
    @given(subscriptions())
    def test_subscription(self, sub: Subscription) -> None:
        assert decode_subscription(encode_subscription(sub)) == sub

    @given(assignments())
    def test_assignment(self, assignment: Assignment) -> None:
        assert decode_assignment(encode_assignment(assignment)) == assignment

    @given(st.integers(-(2**31), 2**31 - 1))
    def test_cooperative_user_data(self, generation: int) -> None:
        assert decode_cooperative_user_data(encode_cooperative_user_data(generation)) == generation


class TestMalformed:
    @given(subscriptions(), st.data())
    def test_every_truncated_subscription_is_refused(
        self, sub: Subscription, data: st.DataObject
    ) -> None:
        full = encode_subscription(sub)
        cut = data.draw(st.integers(0, len(full) - 1))
        with pytest.raises(DecodeError, match="consumer protocol subscription"):
            decode_subscription(full[:cut])

    @given(assignments(), st.data())
    def test_every_truncated_assignment_is_refused(
        self, asg: Assignment, data: st.DataObject
    ) -> None:
        full = encode_assignment(asg)
        cut = data.draw(st.integers(1, len(full) - 1))  # 0 bytes: the empty assignment
        with pytest.raises(DecodeError, match="consumer protocol assignment"):
            decode_assignment(full[:cut])

    @given(st.binary(max_size=64))
    def test_any_bytes_decode_or_raise_decode_error(self, data: bytes) -> None:
        for decode in (decode_subscription, decode_assignment):
            with contextlib.suppress(DecodeError):  # anything else fails the test
                decode(data)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ("", "version"),
            ("00", "version"),
            ("ffff 00000000 ffffffff", "version"),
            ("0000 ffffffff ffffffff", "topics"),  # a null array
            ("0000 7fffffff", "topics"),  # more elements than bytes left
            ("0000 00000001 ffff ffffffff", "topics"),  # a null topic name
            ("0000 00000001 0002 ff31 ffffffff", "topics"),  # not UTF-8
            ("0000 00000001 0005 7431 ffffffff", "topics"),  # a name longer than the data
            ("0000 00000000 00000005 0102", "user_data"),
            ("0001 00000000 ffffffff 00000001 0002 7431 00000002 00000000", "owned_partitions"),
            ("0002 00000000 ffffffff 00000000 0000", "generation"),
            ("0003 00000000 ffffffff 00000000 ffffffff 0004 7231", "rack"),
        ],
    )
    def test_subscription_errors_name_the_field(self, data: str, field: str) -> None:
        with pytest.raises(DecodeError, match=f"consumer protocol subscription: {field} at byte"):
            decode_subscription(bytes.fromhex(data))

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ("00", "version"),
            ("8000 00000000 ffffffff", "version"),
            ("0003 80000000 ffffffff", "partitions"),
            ("0003 00000001 0002 7431 00000003 00000001", "partitions"),
            ("0003 00000000 7fffffff", "user_data"),
        ],
    )
    def test_assignment_errors_name_the_field(self, data: str, field: str) -> None:
        with pytest.raises(DecodeError, match=f"consumer protocol assignment: {field} at byte"):
            decode_assignment(bytes.fromhex(data))

    def test_a_forged_count_fails_at_once(self) -> None:
        # Two billion elements announced in a dozen bytes: refused before reading any.
        with pytest.raises(DecodeError, match="2147483647 elements with 4 bytes left"):
            decode_subscription(bytes.fromhex("0000 7fffffff ffffffff"))

    def test_not_bytes(self) -> None:
        with pytest.raises(DecodeError, match="expected bytes, not NoneType"):
            decode_subscription(None)  # type: ignore[arg-type]

    @pytest.mark.parametrize("data", [b"", b"\x00\x00\x07"])
    def test_short_cooperative_user_data(self, data: bytes) -> None:
        with pytest.raises(DecodeError, match="needs 4 bytes"):
            decode_cooperative_user_data(data)


class TestEncodingRefusesWhatTheWireCannotCarry:
    @pytest.mark.parametrize(
        ("encode", "field"),
        [
            (lambda: encode_subscription(Subscription(("t",)), version=4), "version"),
            (lambda: encode_assignment(Assignment(()), version=-1), "version"),
            (lambda: encode_subscription(Subscription(("t",), generation=2**31)), "generation"),
            (lambda: encode_subscription(Subscription(("t" * 40_000,))), "topics"),
            (lambda: encode_subscription(Subscription(("t",), rack="r" * 40_000)), "rack"),
            (
                lambda: encode_subscription(Subscription((), owned_partitions=(("t", -1),))),
                "partition",
            ),
            (lambda: encode_assignment(Assignment((("t", 2**31),))), "partition"),
            (lambda: encode_assignment(Assignment((), "text")), "user_data"),  # type: ignore[arg-type]
            (lambda: encode_cooperative_user_data(2**40), "generation"),
        ],
    )
    def test_config_error_names_the_field(self, encode: object, field: str) -> None:
        with pytest.raises(ConfigError) as caught:
            encode()  # type: ignore[operator]
        assert caught.value.field == field


# -- against kafka-clients itself -------------------------------------------------------------


def _bytes(data: bytes | None) -> str:
    return "null" if data is None else "0x" + data.hex()


def _list(items: tuple[str, ...] | tuple[TopicPartition, ...]) -> str:
    text = [item if isinstance(item, str) else f"{item[0]}:{item[1]}" for item in items]
    return ",".join(text) or "-"


def _described(value: Subscription | Assignment) -> str:
    """``value`` in ConsumerProtocolCheck's notation for what Java read."""
    if isinstance(value, Subscription):
        fields = [_list(value.topics), _bytes(value.user_data), _list(value.owned_partitions)]
        return " ".join(["subscription", *fields, str(value.generation), value.rack or "null"])
    return f"assignment {_list(value.partitions)} {_bytes(value.user_data)}"


JAVA_CASES_SUBSCRIPTIONS = [
    (3, FULL),
    (3, Subscription(("b", "a", "c"), None, (("b", 2), ("a", 9), ("b", 0)), 12, None)),
    (3, Subscription(("t",), b"", (), -1, "rack-1")),
    (2, Subscription(("t1", "t2"), b"\x01\x02", (("t2", 1),), 3)),
    (1, Subscription(("t",), None, (("t", 0), ("t", 1)))),
    (0, Subscription(("t1", "t2"), b"\xff")),
    (3, Subscription((), None)),
]
JAVA_CASES_ASSIGNMENTS = [
    (3, Assignment((("t1", 1), ("t1", 0), ("t2", 2)))),
    (3, Assignment((("t2", 5), ("t1", 1), ("t2", 3), ("t1", 0)), b"\x00\x00\x00\x05")),
    (0, Assignment((("t", 0),), b"")),
    (3, Assignment(())),
]


@pytest.mark.kafka
def test_java_writes_what_aiomq_writes_and_reads(java: Java) -> None:
    requests = [
        f"encode-subscription {v} {_list(s.topics)} {_bytes(s.user_data)} "
        f"{_list(s.owned_partitions)} {s.generation} {s.rack or 'null'}"
        for v, s in JAVA_CASES_SUBSCRIPTIONS
    ] + [
        f"encode-assignment {v} {_list(a.partitions)} {_bytes(a.user_data)}"
        for v, a in JAVA_CASES_ASSIGNMENTS
    ]
    answers = java.run("ConsumerProtocolCheck", *requests).splitlines()
    ours = [encode_subscription(s, v) for v, s in JAVA_CASES_SUBSCRIPTIONS] + [
        encode_assignment(a, v) for v, a in JAVA_CASES_ASSIGNMENTS
    ]
    assert answers == [_bytes(data) for data in ours]


@pytest.mark.kafka
def test_java_reads_what_aiomq_writes(java: Java) -> None:
    subs = [encode_subscription(s) for _, s in JAVA_CASES_SUBSCRIPTIONS]
    asgs = [encode_assignment(a) for _, a in JAVA_CASES_ASSIGNMENTS]
    requests = [f"decode-subscription {_bytes(data)}" for data in subs]
    requests += [f"decode-assignment {_bytes(data)}" for data in asgs]
    answers = java.run("ConsumerProtocolCheck", *requests).splitlines()
    # Java reads from aiomq's bytes what aiomq reads from them.
    expected = [_described(decode_subscription(data)) for data in subs]
    expected += [_described(decode_assignment(data)) for data in asgs]
    assert answers == expected
    assert expected[1] == "subscription a,b,c null a:9,b:0,b:2 12 null"


MALFORMED_BOTH_REFUSE = [
    ("subscription", "00"),
    ("subscription", "ffff 00000000 ffffffff"),
    ("subscription", "0000 ffffffff ffffffff"),
    ("subscription", "0000 7fffffff"),
    ("subscription", "0000 00000001 ffff ffffffff"),
    ("subscription", "0000 00000001 0005 7431 ffffffff"),
    ("subscription", "0000 00000000 00000005 0102"),
    ("subscription", "0003 00000000 ffffffff 00000000 ffffffff 0004 7231"),
    ("assignment", "00"),
    ("assignment", "0003 80000000 ffffffff"),
    ("assignment", "0003 00000001 0002 7431 00000003 00000001"),
]


@pytest.mark.kafka
def test_java_refuses_the_malformed_bytes_aiomq_refuses(java: Java) -> None:
    requests = [
        f"decode-{kind} 0x{bytes.fromhex(data).hex()}" for kind, data in MALFORMED_BOTH_REFUSE
    ]
    answers = java.run("ConsumerProtocolCheck", *requests).splitlines()
    assert all(answer.startswith("error ") for answer in answers), answers
    for kind, data in MALFORMED_BOTH_REFUSE:
        decode = decode_subscription if kind == "subscription" else decode_assignment
        with pytest.raises(DecodeError):
            decode(bytes.fromhex(data))


@pytest.mark.kafka
def test_where_aiomq_is_stricter_or_more_lenient_than_java(java: Java) -> None:
    # Java reads a topic name that is not UTF-8 with replacement characters; aiomq refuses
    # it (no topic has such a name). Java throws on the empty assignment the broker hands
    # a member left out; aiomq reads it as no partitions.
    not_utf8 = bytes.fromhex("0000 00000001 0002 ff31 ffffffff")
    answers = java.run(
        "ConsumerProtocolCheck", f"decode-subscription {_bytes(not_utf8)}", "decode-assignment 0x"
    ).splitlines()
    assert answers[0].startswith("subscription ")  # a name with a replacement character
    assert answers[1] == "error SchemaException"
    with pytest.raises(DecodeError, match="not UTF-8"):
        decode_subscription(not_utf8)
    assert decode_assignment(b"") == Assignment(())
