"""The backend contract for bad arguments: every backend refuses the same input the same way.

Part of the contract suite (test_contract.py): each test runs on ``memory://`` and, with
``-m kafka``, on a real broker. A bad argument raises ``ConfigError`` naming it, before any
I/O, and leaves nothing behind: no record stored, no topic created, no offset committed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from aiomq.backends import EARLIEST, LATEST, CommittedOffset
from aiomq.client import Client
from aiomq.errors import ConfigError
from aiomq.message import now_ms
from tests.backends.common import TIMESTAMP, VALUE, create, fetch_all, rec, values

pytestmark = pytest.mark.asyncio

HOUR_MS = 3_600_000
LONG = 40_000  # characters: more than the protocol's 32,767-byte strings


@contextmanager
def refused(field: str) -> Iterator[None]:
    """Expect a ``ConfigError`` naming ``field``."""
    with pytest.raises(ConfigError) as caught:
        yield
    assert caught.value.field == field, caught.value
    assert str(caught.value).startswith(f"{field}: ")


async def high_watermark(client: Client, topic: str) -> int | None:
    return (await client.backend.list_offsets(topic, {0: LATEST}))[0]


class TestProduce:
    @pytest.mark.parametrize("bad", ["now", 1.5, True, -5, 2**63, float("nan")])
    async def test_a_bad_timestamp_is_refused_and_nothing_is_stored(
        self, client: Client, topic_name: str, bad: Any
    ) -> None:
        await create(client, topic_name)
        with refused("timestamp"):
            await client.backend.produce(topic_name, 0, [rec(None, b"ok"), (None, b"x", (), bad)])
        assert await high_watermark(client, topic_name) == 0
        # Nothing was stored that would break a later look-up by time.
        stamp = now_ms()
        await client.backend.produce(topic_name, 0, [rec(None, b"ok", (), stamp)])
        assert await client.backend.list_offsets(topic_name, {0: 0}) == {0: 0}
        assert await client.backend.list_offsets(topic_name, {0: stamp + 1}) == {0: None}

    async def test_a_timestamp_more_than_an_hour_ahead_is_refused(
        self, client: Client, topic_name: str
    ) -> None:
        # Kafka's message.timestamp.after.max.ms, one hour by default since Kafka 4.0.
        await create(client, topic_name)
        ahead = now_ms() + 2 * HOUR_MS
        with refused("timestamp"):
            await client.backend.produce(
                topic_name, 0, [rec(None, b"a"), rec(None, b"b", (), ahead)]
            )
        assert await high_watermark(client, topic_name) == 0
        with refused("timestamp"):
            await client.backend.produce(topic_name, 0, [rec(None, b"c", (), 2**63 - 1)])
        assert await high_watermark(client, topic_name) == 0

    async def test_timestamps_in_range_are_stored_as_given(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        soon = now_ms() + 60_000
        stamps = [0, 1, soon]
        result = await client.backend.produce(
            topic_name, 0, [rec(None, b"r", (), ts) for ts in stamps]
        )
        assert list(result.timestamps) == stamps
        got = await fetch_all(client, topic_name, 0, 0, 3)
        assert [r[TIMESTAMP] for r in got] == stamps

    @pytest.mark.parametrize(
        ("field", "record"),
        [
            ("value", (None, bytearray(b"v"), (), None)),
            ("value", (None, memoryview(b"v"), (), None)),
            ("value", (None, "text", (), None)),
            ("key", (bytearray(b"k"), b"v", (), None)),
            ("key", ("k", b"v", (), None)),
            ("key", (1, b"v", (), None)),
        ],
    )
    async def test_keys_and_values_are_bytes_or_none(
        self, client: Client, topic_name: str, field: str, record: Any
    ) -> None:
        await create(client, topic_name)
        with refused(field):
            await client.backend.produce(topic_name, 0, [*values(2), record])
        assert await high_watermark(client, topic_name) == 0

    @pytest.mark.parametrize(
        "headers",
        [
            (("h", "text"),),
            (("h", 1),),
            (("h", bytearray(b"1")),),
            ((b"h", b"1"),),
            (("h",),),
            [("h", b"1")],  # a list, not a tuple
            None,
            (("h" * LONG, b"1"),),
        ],
    )
    async def test_headers_are_str_and_bytes_or_none(
        self, client: Client, topic_name: str, headers: Any
    ) -> None:
        await create(client, topic_name)
        with refused("headers"):
            await client.backend.produce(
                topic_name, 0, [rec(None, b"v"), (None, b"v", headers, None)]
            )
        assert await high_watermark(client, topic_name) == 0

    @pytest.mark.parametrize(
        "records",
        [
            [(None, b"v", ())],
            (r for r in values(2)),  # an iterator would be consumed by the checks
            b"records",
        ],
    )
    async def test_records_are_a_sequence_of_four_fields(
        self, client: Client, topic_name: str, records: Any
    ) -> None:
        await create(client, topic_name)
        with refused("records"):
            await client.backend.produce(topic_name, 0, records)
        assert await high_watermark(client, topic_name) == 0

    @pytest.mark.parametrize("partition", [True, -1, 2**31, "0", 0.0])
    async def test_the_partition_is_an_int(
        self, client: Client, topic_name: str, partition: Any
    ) -> None:
        await create(client, topic_name)
        with refused("partition"):
            await client.backend.produce(topic_name, partition, values(1))
        assert await high_watermark(client, topic_name) == 0

    @pytest.mark.parametrize(
        "make", [lambda t: [t], lambda t: (t,), lambda t: t.encode(), lambda t: "", lambda t: "a/b"]
    )
    async def test_the_topic_is_a_legal_name(
        self, client: Client, topic_name: str, make: Callable[[str], Any]
    ) -> None:
        with refused("topic"):
            await client.backend.produce(make(topic_name), 0, values(1))
        assert topic_name not in await client.backend.list_topics()


class TestFetch:
    @pytest.mark.parametrize(
        ("field", "arguments"),
        [
            ("max_records", {"max_records": 0}),
            ("max_records", {"max_records": -1}),
            ("max_records", {"max_records": True}),
            ("max_bytes", {"max_bytes": -1}),
            ("max_bytes", {"max_bytes": 0}),
            ("max_bytes", {"max_bytes": 2**31}),
            ("min_bytes", {"min_bytes": -1}),
            ("min_bytes", {"min_bytes": 1.5}),
            ("max_wait", {"max_wait": -1}),
            ("max_wait", {"max_wait": math.nan}),
            ("max_wait", {"max_wait": math.inf}),
            ("max_wait", {"max_wait": 3e6}),  # more than 2**31 - 1 ms
            ("max_wait", {"max_wait": "1"}),
            ("max_wait", {"max_wait": True}),
        ],
    )
    async def test_bad_keywords(
        self, client: Client, topic_name: str, field: str, arguments: dict[str, Any]
    ) -> None:
        await create(client, topic_name)
        await client.backend.produce(topic_name, 0, values(1))
        settings: dict[str, Any] = {"max_wait": 0, **arguments}
        with refused(field):
            await client.backend.fetch(topic_name, 0, 0, **settings)

    @pytest.mark.parametrize(
        ("field", "partition", "offset"),
        [
            ("offset", 0, 2**63),
            ("offset", 0, 1.0),
            ("offset", 0, True),
            ("offset", 0, None),
            ("partition", True, 0),
            ("partition", -1, 0),
            ("partition", 2**31, 0),
        ],
    )
    async def test_bad_positions(
        self, client: Client, topic_name: str, field: str, partition: Any, offset: Any
    ) -> None:
        await create(client, topic_name)
        with refused(field):
            await client.backend.fetch(topic_name, partition, offset, max_wait=0)

    async def test_a_topic_list_is_refused(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        with refused("topic"):
            await client.backend.fetch([topic_name], 0, 0, max_wait=0)  # type: ignore[arg-type]


class TestListOffsets:
    @pytest.mark.parametrize("spec", [True, False, -3, -1.0, 1.5, 2**63, "LATEST", None])
    async def test_a_spec_is_earliest_latest_or_a_timestamp(
        self, client: Client, topic_name: str, spec: Any
    ) -> None:
        await create(client, topic_name)
        with refused("timestamp"):
            await client.backend.list_offsets(topic_name, {0: spec})
        assert await client.backend.list_offsets(topic_name, {0: EARLIEST}) == {0: 0}

    @pytest.mark.parametrize("partition", [True, -1, 2**31, "0"])
    async def test_a_partition_is_an_int(
        self, client: Client, topic_name: str, partition: Any
    ) -> None:
        await create(client, topic_name)
        with refused("partition"):
            await client.backend.list_offsets(topic_name, {partition: LATEST})

    async def test_a_topic_list_is_refused(self, client: Client, topic_name: str) -> None:
        await create(client, topic_name)
        with refused("topic"):
            await client.backend.list_offsets([topic_name], {0: LATEST})  # type: ignore[arg-type]


class TestAdmin:
    async def test_an_unknown_topic_config_is_refused(
        self, client: Client, topic_name: str
    ) -> None:
        with refused("config"):
            await client.backend.create_topic(topic_name, config={"retention.records": "5"})
        with refused("config"):
            await client.backend.create_topic(
                topic_name, config={"retention.ms": "1000", "no.such.config": "1"}
            )
        assert topic_name not in await client.backend.list_topics()
        await client.backend.create_topic(topic_name, config={"retention.ms": "1000"})

    @pytest.mark.parametrize(
        "config",
        [
            {"retention.bytes": "lots"},
            {"max.message.bytes": "-1"},
            {"max.message.bytes": "1_000"},
            {"message.timestamp.type": "Now"},
            {"message.timestamp.after.max.ms": "-1"},
        ],
    )
    async def test_a_bad_value_of_a_known_config_is_refused(
        self, client: Client, topic_name: str, config: dict[str, str]
    ) -> None:
        with refused("config"):
            await client.backend.create_topic(topic_name, config=config)
        assert topic_name not in await client.backend.list_topics()

    @pytest.mark.parametrize("name", ["__consumer_offsets", "__transaction_state", "__aiomq"])
    async def test_internal_topics_are_neither_created_nor_deleted(
        self, client: Client, name: str
    ) -> None:
        with refused("topic"):
            await client.backend.create_topic(name)
        with refused("topic"):
            await client.backend.delete_topic(name)

    async def test_an_empty_name_is_refused_by_every_operation(self, client: Client) -> None:
        with refused("topic"):
            await client.backend.create_topic("")
        with refused("topic"):
            await client.backend.delete_topic("")
        with refused("topic"):
            await client.backend.describe_topic("")
        with refused("topic"):
            await client.backend.partitions("")

    async def test_a_topic_list_is_refused_by_every_operation(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        bad: Any = [topic_name]
        with refused("topic"):
            await client.backend.create_topic(bad)
        with refused("topic"):
            await client.backend.delete_topic(bad)
        with refused("topic"):
            await client.backend.describe_topic(bad)
        with refused("topic"):
            await client.backend.partitions(bad)
        assert topic_name in await client.backend.list_topics()

    @pytest.mark.parametrize(
        ("field", "arguments"),
        [
            ("partitions", {"partitions": True}),
            ("partitions", {"partitions": 0}),
            ("partitions", {"partitions": 2**31}),
            ("replication", {"replication": True}),
            ("replication", {"replication": 0}),
            ("replication", {"replication": 1000}),  # more than the brokers there are
            ("config", {"config": {"retention.ms": 1}}),
            ("config", {"config": [("retention.ms", "1")]}),
        ],
    )
    async def test_bad_create_arguments(
        self, client: Client, topic_name: str, field: str, arguments: dict[str, Any]
    ) -> None:
        with refused(field):
            await client.backend.create_topic(topic_name, **arguments)
        assert topic_name not in await client.backend.list_topics()


class TestGroupOffsets:
    @pytest.mark.parametrize("group", ["", "g" * LONG, None, b"g", ["g"]])
    async def test_a_bad_group_id_is_refused(
        self, client: Client, topic_name: str, group: Any
    ) -> None:
        await create(client, topic_name)
        with refused("group"):
            await client.backend.commit_offsets(group, {(topic_name, 0): CommittedOffset(1)})
        with refused("group"):
            await client.backend.committed_offsets(group, [(topic_name, 0)])
        with refused("group"):
            await client.backend.committed_offsets(group, [])

    @pytest.mark.parametrize(
        ("field", "committed"),
        [
            ("offset", CommittedOffset(2**63)),
            ("offset", CommittedOffset(-1)),  # Kafka reads it back as "nothing committed"
            ("offset", CommittedOffset(1.0)),  # type: ignore[arg-type]
            ("metadata", CommittedOffset(1, "m" * LONG)),
            ("metadata", CommittedOffset(1, "m" * 4097)),  # offset.metadata.max.bytes
            ("metadata", CommittedOffset(1, None)),  # type: ignore[arg-type]
            ("offsets", 1),
        ],
    )
    async def test_a_bad_commit_stores_nothing(
        self, client: Client, topic_name: str, field: str, committed: Any
    ) -> None:
        await create(client, topic_name, partitions=2)
        group = f"g-{topic_name}"
        with refused(field):
            await client.backend.commit_offsets(
                group, {(topic_name, 0): CommittedOffset(1), (topic_name, 1): committed}
            )
        assert await client.backend.committed_offsets(group, [(topic_name, 0)]) == {}

    async def test_metadata_up_to_the_broker_limit_round_trips(
        self, client: Client, topic_name: str
    ) -> None:
        await create(client, topic_name)
        group = f"g-{topic_name}"
        metadata = "é" * 4096  # Kafka counts characters, not bytes
        await client.backend.commit_offsets(group, {(topic_name, 0): CommittedOffset(3, metadata)})
        got = await client.backend.committed_offsets(group, [(topic_name, 0)])
        assert got == {(topic_name, 0): CommittedOffset(3, metadata)}

    @pytest.mark.parametrize(
        ("field", "make"),
        [
            ("topic", lambda t: ("", 0)),
            ("topic", lambda t: ((t,), 0)),
            ("partition", lambda t: (t, True)),
            ("partition", lambda t: (t, -1)),
            ("partitions", lambda t: (t,)),
            ("partitions", lambda t: t),
        ],
    )
    async def test_bad_topic_partitions_are_refused(
        self, client: Client, topic_name: str, field: str, make: Callable[[str], Any]
    ) -> None:
        await create(client, topic_name)
        group = f"g-{topic_name}"
        with refused(field):
            await client.backend.commit_offsets(group, {make(topic_name): CommittedOffset(1)})
        with refused(field):
            await client.backend.committed_offsets(group, [make(topic_name)])
        assert await client.backend.committed_offsets(group, [(topic_name, 0)]) == {}

    async def test_partitions_are_a_sequence(self, client: Client, topic_name: str) -> None:
        with refused("partitions"):
            await client.backend.committed_offsets("g", topic_name)  # type: ignore[arg-type]


async def test_arguments_are_checked_before_the_topic(client: Client, topic_name: str) -> None:
    """A bad argument is a ConfigError even for a topic that does not exist (no I/O first)."""
    with refused("partition"):
        await client.backend.produce(topic_name, True, values(1))
    with refused("max_records"):
        await client.backend.fetch(topic_name, 0, 0, max_wait=0, max_records=0)
    with refused("timestamp"):
        await client.backend.list_offsets(topic_name, {0: -3})
    assert topic_name not in await client.backend.list_topics()
    result = await client.backend.produce(topic_name, 0, values(1))
    assert [r[VALUE] for r in await fetch_all(client, topic_name, 0, result.base_offset, 1)] == [
        b"v0"
    ]
