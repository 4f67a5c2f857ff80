"""Partitioners: Java-compatible murmur2, range and stability, round robin, explicit partitions."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from aiomq.errors import ConfigError, UnknownTopic
from aiomq.partitioner import (
    HashPartitioner,
    ManualPartitioner,
    Partitioner,
    RandomPartitioner,
    RoundRobinPartitioner,
    murmur2,
    partitioner_from,
    select_partition,
    to_positive,
)

partition_counts = st.integers(min_value=1, max_value=10_000)
keys = st.binary(max_size=300)


class TestMurmur2:
    # apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
    # testMurmur2.
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ],
    )
    def test_kafka_utils_test_vectors(self, data: bytes, expected: int) -> None:
        assert murmur2(data) == expected

    # Printed by the Java murmur2 (kafkajs's src/producer/partitioners/defaultJava/Test.java).
    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            ("0", 971027396),
            ("1", -1993445489),
            ("128", -326012175),
            ("2187", -1508407203),
            ("16384", -325739742),
            ("78125", -1654490814),
            ("279936", 1462227128),
            ("823543", -2014198330),
            ("2097152", 607668903),
            ("4782969", -1182699775),
            ("10000000", -1830336757),
            ("19487171", -1603849305),
            ("35831808", -857013643),
            ("62748517", -1167431028),
            ("105413504", -381294639),
            ("170859375", -1658323481),
            ("100:48069", 1009543857),
        ],
    )
    def test_java_generated_vectors(self, key: str, expected: int) -> None:
        assert murmur2(key.encode()) == expected

    @given(keys)
    def test_matches_aiokafka(self, data: bytes) -> None:
        # aiokafka's murmur2 returns the unsigned form of the same 32 bits.
        assert murmur2(data) & 0xFFFFFFFF == aiokafka_murmur2(data)

    @given(keys)
    def test_is_a_signed_32_bit_int(self, data: bytes) -> None:
        assert -(2**31) <= murmur2(data) < 2**31

    @given(keys)
    def test_bytes_like_inputs_agree(self, data: bytes) -> None:
        h = murmur2(data)
        assert murmur2(bytearray(data)) == h
        assert murmur2(memoryview(data)) == h

    def test_empty(self) -> None:
        # Java: h = seed ^ 0, then the final mix only.
        assert murmur2(b"") == murmur2(bytearray())

    def test_to_positive_clears_the_sign_bit(self) -> None:
        assert to_positive(-1) == 0x7FFFFFFF
        assert to_positive(-(2**31)) == 0
        assert to_positive(5) == 5


class TestHashPartitioner:
    # Partitions for 1000 partitions as Kafka's Java DefaultPartitioner computes them
    # (kafka-python's test_murmur2_java_compatibility).
    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
        ],
    )
    def test_java_default_partitioner_placement(self, key: bytes, expected: int) -> None:
        assert HashPartitioner().partition("t", key, 1000) == expected

    @given(keys, partition_counts)
    def test_in_range_stable_and_topic_independent(self, key: bytes, n: int) -> None:
        p = HashPartitioner()
        first = p.partition("a", key, n)
        assert 0 <= first < n
        assert p.partition("a", key, n) == first
        assert p.partition("b", key, n) == first
        assert HashPartitioner().partition("a", key, n) == first

    @given(keys, partition_counts)
    def test_matches_aiokafka_default_partitioner(self, key: bytes, n: int) -> None:
        assert HashPartitioner().partition("t", key, n) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % n

    def test_keyless_records_use_the_fallback(self) -> None:
        p = HashPartitioner(fallback=RoundRobinPartitioner())
        assert [p.partition("t", None, 3) for _ in range(4)] == [0, 1, 2, 0]

    @given(partition_counts)
    def test_keyless_default_is_random_in_range(self, n: int) -> None:
        assert 0 <= HashPartitioner().partition("t", None, n) < n

    def test_keyless_records_stick_until_a_batch_worth_was_sent(self) -> None:
        p = HashPartitioner(sticky_bytes=1000, rng=random.Random(7))
        first = p.partition("t", None, 4)
        for _ in range(9):  # 900 bytes: still the same partition
            assert p.partition("t", None, 4) == first
            assert p.place_keyless("t", 4, 100) == first
        assert p.partition("t", None, 4) == first
        assert p.place_keyless("t", 4, 100) == first  # 1000 bytes reached: the next may move
        seen = [p.place_keyless("t", 4, 1000) for _ in range(40)]
        assert len(set(seen)) == 4  # over time every partition gets its share

    @given(st.lists(st.integers(1, 3000), max_size=200), st.integers(1, 8))
    def test_a_leased_room_places_as_place_keyless_does(self, sizes: list[int], n: int) -> None:
        one = HashPartitioner(sticky_bytes=4096, rng=random.Random(3))
        expected = [one.place_keyless("t", n, size) for size in sizes]
        two = HashPartitioner(sticky_bytes=4096, rng=random.Random(3))
        got: list[int] = []
        lease: tuple[int, int] | None = None
        used = 0
        for size in sizes:  # as the producer's engine places a run of key-less records
            if lease is not None and size < lease[1]:
                got.append(lease[0])
                lease = (lease[0], lease[1] - size)
                used += size
                continue
            if lease is not None and used:
                two.placed("t", lease[0], used)
                used = 0
            got.append(two.place_keyless("t", n, size))
            lease = two.room("t", n)
        assert got == expected

    def test_no_room_is_leased_under_a_fallback(self) -> None:
        assert HashPartitioner(fallback=RoundRobinPartitioner()).room("t", 3) is None

    def test_place_keyless_goes_to_the_fallback_too(self) -> None:
        p = HashPartitioner(fallback=RoundRobinPartitioner())
        assert [p.place_keyless("t", 3, 100) for _ in range(4)] == [0, 1, 2, 0]

    def test_sticky_partitions_are_per_topic_and_follow_a_shrunken_topic(self) -> None:
        p = HashPartitioner(rng=random.Random(1))
        a = p.partition("a", None, 8)
        p.partition("b", None, 8)
        assert p.partition("a", None, 8) == a
        assert 0 <= p.partition("a", None, 1) < 1  # fewer partitions now: pick again

    def test_keyed_records_are_not_sticky(self) -> None:
        p = HashPartitioner(sticky_bytes=1)
        assert p.partition("t", b"k", 7) == to_positive(murmur2(b"k")) % 7


class TestRandomPartitioner:
    @given(st.integers(), partition_counts)
    def test_seeded_is_reproducible_and_in_range(self, seed: int, n: int) -> None:
        a = RandomPartitioner(random.Random(seed))
        b = RandomPartitioner(random.Random(seed))
        got = [a.partition("t", b"k", n) for _ in range(5)]
        assert got == [b.partition("t", b"k", n) for _ in range(5)]
        assert all(0 <= x < n for x in got)


class TestRoundRobinPartitioner:
    @given(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=200))
    def test_cycles(self, n: int, count: int) -> None:
        p = RoundRobinPartitioner()
        assert [p.partition("t", b"k", n) for _ in range(count)] == [i % n for i in range(count)]

    def test_each_topic_has_its_own_cycle(self) -> None:
        p = RoundRobinPartitioner()
        got = [(p.partition("a", None, 3), p.partition("b", None, 2)) for _ in range(3)]
        assert got == [(0, 0), (1, 1), (2, 0)]

    def test_partition_count_change_keeps_going_in_range(self) -> None:
        p = RoundRobinPartitioner()
        assert [p.partition("t", None, 4) for _ in range(3)] == [0, 1, 2]
        assert [p.partition("t", None, 2) for _ in range(2)] == [1, 0]


class TestManualPartitioner:
    def test_explicit_partitions_are_used(self) -> None:
        assert select_partition(ManualPartitioner(), "t", b"k", 4, partition=3) == 3

    def test_missing_partition_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="explicit partition") as info:
            select_partition(ManualPartitioner(), "t", b"k", 4)
        assert info.value.field == "producer.partitioner"


class TestSelectPartition:
    @given(partition_counts, st.data())
    def test_explicit_partition_wins_over_any_partitioner(
        self, n: int, data: st.DataObject
    ) -> None:
        explicit = data.draw(st.integers(min_value=0, max_value=n - 1))
        for p in (HashPartitioner(), RandomPartitioner(), RoundRobinPartitioner()):
            assert select_partition(p, "t", b"key", n, explicit) == explicit

    @pytest.mark.parametrize("partition", [-1, 4, 100])
    def test_explicit_out_of_range_is_unknown_topic(self, partition: int) -> None:
        with pytest.raises(UnknownTopic, match="no partition"):
            select_partition(HashPartitioner(), "t", b"k", 4, partition)

    def test_no_partitions(self) -> None:
        with pytest.raises(UnknownTopic):
            select_partition(HashPartitioner(), "t", b"k", 0)

    @pytest.mark.parametrize("answer", [-1, 4, True, 1.0, None])
    def test_broken_partitioner_answer_is_a_value_error(self, answer: object) -> None:
        def broken(topic: str, key: bytes | None, partitions: int) -> int:
            return answer  # type: ignore[return-value]

        with pytest.raises(ValueError, match="returned"):
            select_partition(partitioner_from(broken), "t", b"k", 4)

    def test_partitioner_answer_is_returned(self) -> None:
        assert select_partition(HashPartitioner(), "t", b"abc", 1000) == 107


class TestPartitionerFrom:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("hash", HashPartitioner),
            ("random", RandomPartitioner),
            ("round_robin", RoundRobinPartitioner),
            ("manual", ManualPartitioner),
        ],
    )
    def test_names_make_fresh_instances(self, name: str, kind: type) -> None:
        a, b = partitioner_from(name), partitioner_from(name)
        assert isinstance(a, kind)
        assert a is not b

    def test_objects_are_returned_as_is(self) -> None:
        p = RoundRobinPartitioner()
        assert partitioner_from(p) is p

    def test_classes_are_constructed(self) -> None:
        assert isinstance(partitioner_from(RoundRobinPartitioner), RoundRobinPartitioner)

    def test_functions_are_adapted(self) -> None:
        calls: list[tuple[str, bytes | None, int]] = []

        def last(topic: str, key: bytes | None, partitions: int) -> int:
            calls.append((topic, key, partitions))
            return partitions - 1

        p = partitioner_from(last)
        assert isinstance(p, Partitioner)
        assert select_partition(p, "t", None, 5) == 4
        assert calls == [("t", None, 5)]

    @pytest.mark.parametrize("spec", ["crc32", "", 3, None, int])
    def test_bad_specs(self, spec: object) -> None:
        with pytest.raises(ConfigError) as info:
            partitioner_from(spec)  # type: ignore[arg-type]
        assert info.value.field == "producer.partitioner"

    def test_builtins_satisfy_the_protocol(self) -> None:
        for p in (HashPartitioner(), RandomPartitioner(), RoundRobinPartitioner()):
            assert isinstance(p, Partitioner)
        assert isinstance(ManualPartitioner(), Partitioner)
