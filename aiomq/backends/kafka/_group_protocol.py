"""The group protocols' requests, in the versions Kafka 4.1 and 2.3+ brokers answer.

The classic protocol's JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit (with a
member's generation and ids), ListGroups, DescribeGroups and DeleteGroups; the consumer
group protocol's (KIP-848) ConsumerGroupHeartbeat and ConsumerGroupDescribe, with Metadata
v12 to tell topic ids from names. All as aiokafka ``Struct``/``Schema`` layouts; each request
goes at the newest version listed here that the connection's broker offers (its ApiVersions
answer). aiokafka 0.14's own structs stop at JoinGroup v5, Heartbeat v1 (no instance id),
OffsetCommit v3 and Metadata v5 (no topic ids), and it has no ``uuid`` type.

Each builder function returns a request for ``Cluster.request``; its answer is the response
struct, read by field name (``response.error_code``), with nested arrays as tuples. A
builder gives every version the same field values but for the fields newer versions add
(JoinGroup's and LeaveGroup's reason, SyncGroup's protocol): flexible versions (KIP-482)
differ otherwise only in their encodings and in the tagged-field buffer ending every
struct, which ``_Flexible`` writes.

The Go counterpart is sarama's ``JoinGroupRequest``, ``SyncGroupRequest`` and friends.
"""

# Layouts (the Kafka 4.1.2 message JSON files; ``CS`` compact string, ``S`` int16-length
# string, ``B``/``CB`` bytes, ``[...]`` array; every flexible struct ends in tagged fields):
#
#   JoinGroup v5/v9  group S, session_timeout_ms i32, rebalance_timeout_ms i32, member_id S,
#                    group_instance_id S?, protocol_type S, protocols [name S, metadata B],
#                    reason CS? (v8+)
#        answer v5   throttle i32, error i16, generation_id i32, protocol_name S, leader S,
#                    member_id S, members [member_id S, group_instance_id S?, metadata B]
#        answer v9   + protocol_type CS? before protocol_name, skip_assignment bool after leader
#   SyncGroup v3/v5  group, generation_id i32, member_id, group_instance_id?,
#                    protocol_type? protocol_name? (v5), assignments [member_id, assignment B]
#        answer      throttle, error, protocol_type? protocol_name? (v5), assignment B
#   Heartbeat v3/v4  group, generation_id i32, member_id, group_instance_id?  -> throttle, error
#   LeaveGroup v3/v5 group, members [member_id, group_instance_id?, reason? (v5)]
#        answer      throttle, error, members [member_id, group_instance_id?, error i16]
#   OffsetCommit v7/v8/v9  group, generation_id_or_member_epoch i32, member_id,
#                    group_instance_id?, topics [name, partitions [partition i32, offset i64,
#                    leader_epoch i32, metadata S?]]  -> throttle, topics [name,
#                    partitions [partition i32, error i16]]
#   ListGroups v4/v5 states_filter [CS], types_filter [CS] (v5)
#        answer      throttle, error, groups [group CS, protocol_type CS, state CS, type CS (v5)]
#   DescribeGroups v5  groups [CS], include_authorized_operations bool
#        answer      throttle, groups [error i16, group, state, protocol_type, protocol,
#                    members [member_id, group_instance_id?, client_id, client_host,
#                    metadata CB, assignment CB], authorized_operations i32]
#   DeleteGroups v2  groups [CS]  -> throttle, results [group CS, error i16]
#   Metadata v12     topics? [topic_id uuid, name CS?], allow_auto_topic_creation bool,
#                    include_topic_authorized_operations bool
#        answer      throttle, brokers [node_id i32, host, port i32, rack?], cluster_id?,
#                    controller_id i32, topics [error i16, name?, topic_id uuid, is_internal
#                    bool, partitions [error i16, partition i32, leader i32, leader_epoch i32,
#                    replicas [i32], isr [i32], offline [i32]], authorized_operations i32]
#   ConsumerGroupHeartbeat v0/v1  group, member_id, member_epoch i32, instance_id?, rack_id?,
#                    rebalance_timeout_ms i32, subscribed_topic_names? [CS],
#                    subscribed_topic_regex? (v1), server_assignor?,
#                    topic_partitions? [topic_id uuid, partitions [i32]]
#        answer      throttle, error i16, error_message?, member_id?, member_epoch i32,
#                    heartbeat_interval_ms i32, assignment? {topic_partitions [topic_id uuid,
#                    partitions [i32]]}   (a nullable struct)
#   ConsumerGroupDescribe v0/v1  group_ids [CS], include_authorized_operations bool
#        answer      throttle, groups [error i16, error_message?, group, state, group_epoch
#                    i32, assignment_epoch i32, assignor, members [member_id, instance_id?,
#                    rack_id?, member_epoch i32, client_id, client_host, subscribed [CS],
#                    regex?, assignment {topics [topic_id uuid, name, partitions [i32]]},
#                    target_assignment {same}, member_type i8 (v1)],
#                    authorized_operations i32]

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any

from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    Bytes,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Int64,
    Schema,
    String,
    UnsignedVarInt32,
)

from ...errors import AiomqError, ConfigError

__all__ = [
    "CONSUMER_GROUP_DESCRIBE",
    "CONSUMER_GROUP_HEARTBEAT",
    "NO_TOPIC_ID",
    "consumer_group_describe",
    "consumer_group_heartbeat",
    "delete_groups",
    "describe_groups",
    "heartbeat",
    "join_group",
    "leave_group",
    "list_groups",
    "topics_by_id",
    "topics_by_name",
    "offset_commit",
    "sync_group",
]

_S = String("utf-8")
_CS = CompactString("utf-8")
_NO_LEADER_EPOCH = -1  # OffsetCommit's committed_leader_epoch when unknown


class _Flexible(Schema):  # type: ignore[misc]  # aiokafka is untyped
    """A struct of a flexible version: its fields, then a tagged-field buffer.

    aiomq sends no tagged fields (one zero byte) and skips those it receives. aiokafka's own
    ``TaggedFields`` cannot stand in: it writes a field without its size and refuses tag 0.
    """

    def encode(self, item: Sequence[Any]) -> bytes:
        fields: bytes = super().encode(item)
        return fields + b"\x00"

    def decode(self, data: BytesIO) -> tuple[Any, ...]:
        values: tuple[Any, ...] = super().decode(data)
        for _ in range(UnsignedVarInt32.decode(data)):
            UnsignedVarInt32.decode(data)  # the tag
            data.seek(UnsignedVarInt32.decode(data), 1)  # its size: skip the value
        return values


class _Uuid:
    """Kafka's ``uuid`` (topic ids): 16 bytes, as ``uuid.UUID``; aiokafka has no such type."""

    def encode(self, value: uuid.UUID) -> bytes:
        return value.bytes

    def decode(self, data: BytesIO) -> uuid.UUID:
        raw = data.read(16)
        if len(raw) != 16:
            raise ValueError("Buffer underrun decoding a uuid")
        return uuid.UUID(bytes=raw)

    def repr(self, value: uuid.UUID) -> str:
        return str(value)


class _NullableStruct:
    """A nullable struct field (flexible versions): int8 -1 for null, else 1 and the struct."""

    def __init__(self, struct: Schema) -> None:
        self._struct = struct

    def encode(self, value: Sequence[Any] | None) -> bytes:
        if value is None:
            return Int8.encode(-1)  # type: ignore[no-any-return]
        return Int8.encode(1) + self._struct.encode(value)  # type: ignore[no-any-return]

    def decode(self, data: BytesIO) -> tuple[Any, ...] | None:
        if Int8.decode(data) < 0:
            return None
        values: tuple[Any, ...] = self._struct.decode(data)
        return values

    def repr(self, value: Any) -> str:
        return "None" if value is None else str(self._struct.repr(value))


_UUID = _Uuid()

NO_TOPIC_ID = uuid.UUID(int=0)
"""Metadata v12's topic id of a topic asked for by name."""


def _struct(base: Any, name: str, namespace: dict[str, Any]) -> Any:
    # aiokafka has no type information: a class statement would subclass Any.
    return type(name, (base,), namespace)


class _Api:
    """One Kafka API: its request and response layout per version aiomq speaks."""

    def __init__(
        self, name: str, key: int, flexible_from: int, versions: dict[int, tuple[Schema, Schema]]
    ) -> None:
        self.name = name
        self.key = key
        structs = []
        for version, (request, response) in sorted(versions.items()):
            answer = _struct(
                Response,
                f"{name}Response_v{version}",
                {"API_KEY": key, "API_VERSION": version, "SCHEMA": response},
            )
            structs.append(
                _struct(
                    RequestStruct,
                    f"{name}Request_v{version}",
                    {
                        "FLEXIBLE_VERSION": version >= flexible_from,
                        "API_KEY": key,
                        "API_VERSION": version,
                        "RESPONSE_TYPE": answer,
                        "SCHEMA": request,
                    },
                )
            )
        self.structs = tuple(structs)  # ascending by version

    def request(self, values: Callable[[int], Sequence[Any]]) -> Any:
        """A request whose fields, in the version the connection agrees on, are
        ``values(version)``."""
        return _Call(self, values)


class _Call:
    """A request at the newest of its API's versions that the connection's broker speaks.

    What ``AIOKafkaConnection.send`` asks of a request: ``prepare(versions)``, given the
    broker's ApiVersions ranges, returns the struct to send. A broker that speaks none of
    the versions raises ``AiomqError`` naming both ranges (aiokafka's builders raise a bare
    ``NotImplementedError``).
    """

    def __init__(self, api: _Api, values: Callable[[int], Sequence[Any]]) -> None:
        self.name = api.name
        self._api = api
        self._values = values

    def __repr__(self) -> str:
        return f"<{self.name} request>"

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        api = self._api
        low, high = versions.get(api.key, (0, -1))
        for struct in reversed(api.structs):
            if low <= struct.API_VERSION <= high:
                return struct(*self._values(struct.API_VERSION))
        ours = ", ".join(f"v{s.API_VERSION}" for s in api.structs)
        raise AiomqError(f"the broker speaks {api.name} v{low}-v{high}; aiomq needs {ours}")


# -- JoinGroup (11) -------------------------------------------------------------------------

_JOIN_GROUP = _Api(
    "JoinGroup",
    11,
    6,
    {
        5: (
            Schema(
                ("group_id", _S),
                ("session_timeout_ms", Int32),
                ("rebalance_timeout_ms", Int32),
                ("member_id", _S),
                ("group_instance_id", _S),
                ("protocol_type", _S),
                ("protocols", Array(Schema(("name", _S), ("metadata", Bytes)))),
            ),
            Schema(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                ("generation_id", Int32),
                ("protocol_name", _S),
                ("leader", _S),
                ("member_id", _S),
                (
                    "members",
                    Array(
                        Schema(("member_id", _S), ("group_instance_id", _S), ("metadata", Bytes))
                    ),
                ),
            ),
        ),
        9: (
            _Flexible(
                ("group_id", _CS),
                ("session_timeout_ms", Int32),
                ("rebalance_timeout_ms", Int32),
                ("member_id", _CS),
                ("group_instance_id", _CS),
                ("protocol_type", _CS),
                ("protocols", CompactArray(_Flexible(("name", _CS), ("metadata", CompactBytes)))),
                ("reason", _CS),
            ),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                ("generation_id", Int32),
                ("protocol_type", _CS),
                ("protocol_name", _CS),
                ("leader", _CS),
                ("skip_assignment", Boolean),
                ("member_id", _CS),
                (
                    "members",
                    CompactArray(
                        _Flexible(
                            ("member_id", _CS),
                            ("group_instance_id", _CS),
                            ("metadata", CompactBytes),
                        )
                    ),
                ),
            ),
        ),
    },
)


def join_group(
    group: str,
    session_timeout_ms: int,
    rebalance_timeout_ms: int,
    member_id: str,
    instance_id: str | None,
    protocol_type: str,
    protocols: Sequence[tuple[str, bytes]],
    reason: str | None,
) -> Any:
    """JoinGroup v9 (v5 on brokers before 3.2: no reason, no ``skip_assignment``)."""
    fields = [
        group,
        session_timeout_ms,
        rebalance_timeout_ms,
        member_id,
        instance_id,
        protocol_type,
        list(protocols),
    ]
    return _JOIN_GROUP.request(lambda v: fields if v < 8 else [*fields, reason])


# -- SyncGroup (14) -------------------------------------------------------------------------

_SYNC_GROUP = _Api(
    "SyncGroup",
    14,
    4,
    {
        3: (
            Schema(
                ("group_id", _S),
                ("generation_id", Int32),
                ("member_id", _S),
                ("group_instance_id", _S),
                ("assignments", Array(Schema(("member_id", _S), ("assignment", Bytes)))),
            ),
            Schema(("throttle_time_ms", Int32), ("error_code", Int16), ("assignment", Bytes)),
        ),
        5: (
            _Flexible(
                ("group_id", _CS),
                ("generation_id", Int32),
                ("member_id", _CS),
                ("group_instance_id", _CS),
                ("protocol_type", _CS),
                ("protocol_name", _CS),
                (
                    "assignments",
                    CompactArray(_Flexible(("member_id", _CS), ("assignment", CompactBytes))),
                ),
            ),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                ("protocol_type", _CS),
                ("protocol_name", _CS),
                ("assignment", CompactBytes),
            ),
        ),
    },
)


def sync_group(
    group: str,
    generation: int,
    member_id: str,
    instance_id: str | None,
    protocol_type: str,
    protocol: str,
    assignments: Sequence[tuple[str, bytes]],
) -> Any:
    """SyncGroup v5 (v3 before Kafka 2.5: the broker then does not check the protocol)."""
    head = [group, generation, member_id, instance_id]
    tail = [list(assignments)]
    return _SYNC_GROUP.request(
        lambda v: [*head, *tail] if v < 5 else [*head, protocol_type, protocol, *tail]
    )


# -- Heartbeat (12) -------------------------------------------------------------------------

_HEARTBEAT = _Api(
    "Heartbeat",
    12,
    4,
    {
        3: (
            Schema(
                ("group_id", _S),
                ("generation_id", Int32),
                ("member_id", _S),
                ("group_instance_id", _S),
            ),
            Schema(("throttle_time_ms", Int32), ("error_code", Int16)),
        ),
        4: (
            _Flexible(
                ("group_id", _CS),
                ("generation_id", Int32),
                ("member_id", _CS),
                ("group_instance_id", _CS),
            ),
            _Flexible(("throttle_time_ms", Int32), ("error_code", Int16)),
        ),
    },
)


def heartbeat(group: str, generation: int, member_id: str, instance_id: str | None) -> Any:
    """Heartbeat v4 (v3 before Kafka 2.4)."""
    fields = [group, generation, member_id, instance_id]
    return _HEARTBEAT.request(lambda v: fields)


# -- LeaveGroup (13) ------------------------------------------------------------------------

_LEAVE_GROUP = _Api(
    "LeaveGroup",
    13,
    4,
    {
        3: (
            Schema(
                ("group_id", _S),
                ("members", Array(Schema(("member_id", _S), ("group_instance_id", _S)))),
            ),
            Schema(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                (
                    "members",
                    Array(
                        Schema(("member_id", _S), ("group_instance_id", _S), ("error_code", Int16))
                    ),
                ),
            ),
        ),
        5: (
            _Flexible(
                ("group_id", _CS),
                (
                    "members",
                    CompactArray(
                        _Flexible(("member_id", _CS), ("group_instance_id", _CS), ("reason", _CS))
                    ),
                ),
            ),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                (
                    "members",
                    CompactArray(
                        _Flexible(
                            ("member_id", _CS), ("group_instance_id", _CS), ("error_code", Int16)
                        )
                    ),
                ),
            ),
        ),
    },
)


def leave_group(group: str, members: Sequence[tuple[str, str | None]], reason: str | None) -> Any:
    """LeaveGroup v5 (v3 before Kafka 2.4: no reason) for ``(member_id, instance_id)`` pairs."""
    pairs = [list(m) for m in members]
    return _LEAVE_GROUP.request(
        lambda v: [group, pairs if v < 5 else [[*m, reason] for m in pairs]]
    )


# -- OffsetCommit (8) -----------------------------------------------------------------------


def _commit_layouts(flexible: bool) -> tuple[Schema, Schema]:
    string, array, struct = (_CS, CompactArray, _Flexible) if flexible else (_S, Array, Schema)
    request = struct(
        ("group_id", string),
        ("generation_id_or_member_epoch", Int32),
        ("member_id", string),
        ("group_instance_id", string),
        (
            "topics",
            array(
                struct(
                    ("name", string),
                    (
                        "partitions",
                        array(
                            struct(
                                ("partition_index", Int32),
                                ("committed_offset", Int64),
                                ("committed_leader_epoch", Int32),
                                ("committed_metadata", string),
                            )
                        ),
                    ),
                )
            ),
        ),
    )
    response = struct(
        ("throttle_time_ms", Int32),
        (
            "topics",
            array(
                struct(
                    ("name", string),
                    (
                        "partitions",
                        array(struct(("partition_index", Int32), ("error_code", Int16))),
                    ),
                )
            ),
        ),
    )
    return request, response


# v8 and v9 have one layout; v9 is the first a KIP-848 member may send.
_OFFSET_COMMIT = _Api(
    "OffsetCommit",
    8,
    8,
    {7: _commit_layouts(False), 8: _commit_layouts(True), 9: _commit_layouts(True)},
)


def offset_commit(
    group: str,
    generation: int,
    member_id: str,
    instance_id: str | None,
    topics: Sequence[tuple[str, Sequence[tuple[int, int, str]]]],
) -> Any:
    """OffsetCommit v9 (v8, v7 on older brokers) checked against a member's generation.

    ``topics``: ``(topic, [(partition, offset, metadata)])``.
    """
    rows = [
        [topic, [[p, offset, _NO_LEADER_EPOCH, meta] for p, offset, meta in parts]]
        for topic, parts in topics
    ]
    fields = [group, generation, member_id, instance_id, rows]
    return _OFFSET_COMMIT.request(lambda v: fields)


# -- ListGroups (16) ------------------------------------------------------------------------

_LIST_GROUPS = _Api(
    "ListGroups",
    16,
    3,
    {
        4: (
            _Flexible(("states_filter", CompactArray(_CS))),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                (
                    "groups",
                    CompactArray(
                        _Flexible(("group_id", _CS), ("protocol_type", _CS), ("group_state", _CS))
                    ),
                ),
            ),
        ),
        5: (
            _Flexible(("states_filter", CompactArray(_CS)), ("types_filter", CompactArray(_CS))),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("error_code", Int16),
                (
                    "groups",
                    CompactArray(
                        _Flexible(
                            ("group_id", _CS),
                            ("protocol_type", _CS),
                            ("group_state", _CS),
                            ("group_type", _CS),
                        )
                    ),
                ),
            ),
        ),
    },
)


def list_groups() -> Any:
    """ListGroups v5 (v4 before Kafka 3.8: no group type), every state and type."""
    return _LIST_GROUPS.request(lambda v: [[]] if v < 5 else [[], []])


# -- DescribeGroups (15) --------------------------------------------------------------------

_DESCRIBE_GROUPS = _Api(
    "DescribeGroups",
    15,
    5,
    {
        5: (
            _Flexible(("groups", CompactArray(_CS)), ("include_authorized_operations", Boolean)),
            _Flexible(
                ("throttle_time_ms", Int32),
                (
                    "groups",
                    CompactArray(
                        _Flexible(
                            ("error_code", Int16),
                            ("group_id", _CS),
                            ("group_state", _CS),
                            ("protocol_type", _CS),
                            ("protocol_data", _CS),
                            (
                                "members",
                                CompactArray(
                                    _Flexible(
                                        ("member_id", _CS),
                                        ("group_instance_id", _CS),
                                        ("client_id", _CS),
                                        ("client_host", _CS),
                                        ("member_metadata", CompactBytes),
                                        ("member_assignment", CompactBytes),
                                    )
                                ),
                            ),
                            ("authorized_operations", Int32),
                        )
                    ),
                ),
            ),
        ),
    },
)


def describe_groups(groups: Sequence[str]) -> Any:
    """DescribeGroups v5."""
    names = list(groups)
    return _DESCRIBE_GROUPS.request(lambda v: [names, False])


# -- DeleteGroups (42) ----------------------------------------------------------------------

_DELETE_GROUPS = _Api(
    "DeleteGroups",
    42,
    2,
    {
        2: (
            _Flexible(("groups_names", CompactArray(_CS))),
            _Flexible(
                ("throttle_time_ms", Int32),
                ("results", CompactArray(_Flexible(("group_id", _CS), ("error_code", Int16)))),
            ),
        ),
    },
)


def delete_groups(groups: Sequence[str]) -> Any:
    """DeleteGroups v2."""
    names = list(groups)
    return _DELETE_GROUPS.request(lambda v: [names])


# -- Metadata (3), v12: topic ids ---------------------------------------------------------------

_METADATA = _Api(
    "Metadata",
    3,
    9,
    {
        12: (
            _Flexible(
                ("topics", CompactArray(_Flexible(("topic_id", _UUID), ("name", _CS)))),
                ("allow_auto_topic_creation", Boolean),
                ("include_topic_authorized_operations", Boolean),
            ),
            _Flexible(
                ("throttle_time_ms", Int32),
                (
                    "brokers",
                    CompactArray(
                        _Flexible(("node_id", Int32), ("host", _CS), ("port", Int32), ("rack", _CS))
                    ),
                ),
                ("cluster_id", _CS),
                ("controller_id", Int32),
                (
                    "topics",
                    CompactArray(
                        _Flexible(
                            ("error_code", Int16),
                            ("name", _CS),
                            ("topic_id", _UUID),
                            ("is_internal", Boolean),
                            (
                                "partitions",
                                CompactArray(
                                    _Flexible(
                                        ("error_code", Int16),
                                        ("partition_index", Int32),
                                        ("leader_id", Int32),
                                        ("leader_epoch", Int32),
                                        ("replica_nodes", CompactArray(Int32)),
                                        ("isr_nodes", CompactArray(Int32)),
                                        ("offline_replicas", CompactArray(Int32)),
                                    )
                                ),
                            ),
                            ("topic_authorized_operations", Int32),
                        )
                    ),
                ),
            ),
        ),
    },
)


def topics_by_name(names: Sequence[str]) -> Any:
    """Metadata v12 (Kafka 3.1+) for topics by name, never creating one. Each topic of the
    answer is ``(error_code, name, topic_id, ...)``; an unknown name answers error 3 and
    ``NO_TOPIC_ID``."""
    topics = [[NO_TOPIC_ID, name] for name in names]
    return _METADATA.request(lambda v: [topics, False, False])


def topics_by_id(ids: Sequence[uuid.UUID]) -> Any:
    """Metadata v12 for topics by id; an unknown id answers error 100 and no name.

    (A request naming topics both ways is answered for the ids only: Kafka 4.1 looks a
    request's topics up by id as soon as one has an id.)"""
    topics = [[topic_id, None] for topic_id in ids]
    return _METADATA.request(lambda v: [topics, False, False])


# -- ConsumerGroupHeartbeat (68) --------------------------------------------------------------

CONSUMER_GROUP_HEARTBEAT = 68
CONSUMER_GROUP_DESCRIBE = 69

_TOPIC_PARTITIONS = CompactArray(
    _Flexible(("topic_id", _UUID), ("partitions", CompactArray(Int32)))
)


def _heartbeat_request(regex: bool) -> _Flexible:
    fields: list[tuple[str, Any]] = [
        ("group_id", _CS),
        ("member_id", _CS),
        ("member_epoch", Int32),
        ("instance_id", _CS),
        ("rack_id", _CS),
        ("rebalance_timeout_ms", Int32),
        ("subscribed_topic_names", CompactArray(_CS)),
    ]
    if regex:
        fields.append(("subscribed_topic_regex", _CS))
    fields += [("server_assignor", _CS), ("topic_partitions", _TOPIC_PARTITIONS)]
    return _Flexible(*fields)


_HEARTBEAT_ANSWER = _Flexible(
    ("throttle_time_ms", Int32),
    ("error_code", Int16),
    ("error_message", _CS),
    ("member_id", _CS),
    ("member_epoch", Int32),
    ("heartbeat_interval_ms", Int32),
    ("assignment", _NullableStruct(_Flexible(("topic_partitions", _TOPIC_PARTITIONS)))),
)

_CONSUMER_GROUP_HEARTBEAT = _Api(
    "ConsumerGroupHeartbeat",
    CONSUMER_GROUP_HEARTBEAT,
    0,
    {
        0: (_heartbeat_request(False), _HEARTBEAT_ANSWER),
        1: (_heartbeat_request(True), _HEARTBEAT_ANSWER),
    },
)


def consumer_group_heartbeat(
    group: str,
    member_id: str,
    member_epoch: int,
    instance_id: str | None,
    rebalance_timeout_ms: int,
    subscribed_topics: Sequence[str] | None,
    server_assignor: str | None,
    owned: Sequence[tuple[uuid.UUID, Sequence[int]]] | None,
    subscribed_topic_regex: str | None = None,
) -> Any:
    """ConsumerGroupHeartbeat v1 (v0 on Kafka 3.7-3.9). ``rebalance_timeout_ms`` -1 and the
    None fields mean "unchanged". v1 members make their own id (KIP-1082); a v0 member joins
    (epoch 0) with ``""`` and the coordinator gives it one, so ``member_id`` is sent as
    ``""`` at epoch 0 on v0. v0 has no SubscribedTopicRegex: a request with a regular
    expression to a broker that speaks only v0 raises ``ConfigError("pattern")`` before
    anything is sent (``""``, no expression, is simply left out)."""
    topics = None if subscribed_topics is None else list(subscribed_topics)
    partitions = None if owned is None else [[tid, list(parts)] for tid, parts in owned]

    def values(version: int) -> list[Any]:
        sent_id = "" if version == 0 and member_epoch == 0 else member_id
        head = [group, sent_id, member_epoch, instance_id, None, rebalance_timeout_ms, topics]
        if version >= 1:
            return [*head, subscribed_topic_regex, server_assignor, partitions]
        if subscribed_topic_regex:
            raise ConfigError(
                "pattern",
                "the group's coordinator speaks ConsumerGroupHeartbeat v0 only (Kafka 3.7-3.9), "
                "which cannot subscribe by a regular expression: that needs v1 (Kafka 4.0+); "
                "subscribe by topic names",
            )
        return [*head, server_assignor, partitions]

    return _CONSUMER_GROUP_HEARTBEAT.request(values)


# -- ConsumerGroupDescribe (69) ---------------------------------------------------------------

_DESCRIBED_ASSIGNMENT = _Flexible(
    (
        "topic_partitions",
        CompactArray(
            _Flexible(("topic_id", _UUID), ("topic_name", _CS), ("partitions", CompactArray(Int32)))
        ),
    )
)


def _describe_answer(member_type: bool) -> _Flexible:
    member: list[tuple[str, Any]] = [
        ("member_id", _CS),
        ("instance_id", _CS),
        ("rack_id", _CS),
        ("member_epoch", Int32),
        ("client_id", _CS),
        ("client_host", _CS),
        ("subscribed_topic_names", CompactArray(_CS)),
        ("subscribed_topic_regex", _CS),
        ("assignment", _DESCRIBED_ASSIGNMENT),
        ("target_assignment", _DESCRIBED_ASSIGNMENT),
    ]
    if member_type:
        member.append(("member_type", Int8))  # -1 unknown, 0 classic, 1 consumer
    return _Flexible(
        ("throttle_time_ms", Int32),
        (
            "groups",
            CompactArray(
                _Flexible(
                    ("error_code", Int16),
                    ("error_message", _CS),
                    ("group_id", _CS),
                    ("group_state", _CS),
                    ("group_epoch", Int32),
                    ("assignment_epoch", Int32),
                    ("assignor_name", _CS),
                    ("members", CompactArray(_Flexible(*member))),
                    ("authorized_operations", Int32),
                )
            ),
        ),
    )


_DESCRIBE_REQUEST = _Flexible(
    ("group_ids", CompactArray(_CS)), ("include_authorized_operations", Boolean)
)

_CONSUMER_GROUP_DESCRIBE = _Api(
    "ConsumerGroupDescribe",
    CONSUMER_GROUP_DESCRIBE,
    0,
    {
        0: (_DESCRIBE_REQUEST, _describe_answer(False)),
        1: (_DESCRIBE_REQUEST, _describe_answer(True)),
    },
)


def consumer_group_describe(groups: Sequence[str]) -> Any:
    """ConsumerGroupDescribe v1 (v0 on Kafka 3.7-3.9: no member type)."""
    names = list(groups)
    return _CONSUMER_GROUP_DESCRIBE.request(lambda v: [names, False])
