"""Kafka protocol structs aiokafka 0.14 lacks, and a request sent at a version chosen here.

aiokafka stops at Produce v8 and at v0 of every transaction request; the transactional
producer needs the flexible versions Kafka 4 speaks: Produce v9-v12 (v12 adds a partition to
the transaction implicitly, KIP-890), InitProducerId v3-v5, AddPartitionsToTxn v3,
AddOffsetsToTxn v3-v4, EndTxn v3-v5 (v5 answers with the epoch bumped), TxnOffsetCommit
v3-v5 (the group membership of KIP-447) and ApiVersions v3, the only answer that carries the
cluster's finalized features (``transaction.version``). Layouts are those of Kafka 4.1's
message specs (``common/message/*.json``), each checked against a broker.

Every flexible struct, and every element of its arrays, ends with tagged fields; aiokafka
encodes only an empty set of them correctly, so ``TAGS`` (empty) is what we always send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any

from aiokafka.protocol.api import Request, RequestStruct, Response, ResponseHeader_v0
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactBytes,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

from ...errors import AiomqError

__all__ = [
    "PRODUCE_FLEXIBLE",
    "TAGS",
    "ApiVersionsRequest_v3",
    "Chosen",
    "add_offsets_request",
    "api_versions_request",
    "add_partitions_request",
    "end_txn_request",
    "finalized_features",
    "init_producer_id_request",
    "txn_offset_commit_request",
]

TAGS: dict[int, bytes] = {}
"""The tagged fields we send: none (aiokafka encodes a non-empty set wrongly)."""

_STR = CompactString("utf-8")


class Chosen(Request[RequestStruct]):  # type: ignore[misc]
    """A request built at the highest of ``versions`` the broker speaks, by ``build``.

    aiokafka's builders choose among their own structs only; this one chooses among ours.
    A broker that speaks none of ``versions`` raises ``AiomqError`` naming both ranges.
    """

    API_KEY = -1  # unused: prepare() is ours

    def __init__(
        self, api_key: int, versions: Sequence[int], build: Callable[[int], RequestStruct]
    ) -> None:
        self._key = api_key
        self._versions = versions
        self._build = build

    def build(self, request_struct_class: Any) -> Any:  # pragma: no cover - prepare() builds
        raise NotImplementedError

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        low, high = versions.get(self._key, (0, -1))
        for version in sorted(self._versions, reverse=True):
            if low <= version <= high:
                return self._build(version)
        raise AiomqError(
            f"the broker speaks API {self._key} v{low}-v{high}; aiomq needs one of "
            f"v{min(self._versions)}-v{max(self._versions)}"
        )


def _request(
    name: str, key: int, version: int, fields: tuple[Any, ...], answer: tuple[Any, ...]
) -> type[RequestStruct]:
    """A flexible request struct and its response (both end with tagged fields)."""
    response = type(
        f"{name}Response_v{version}",
        (Response,),
        {"API_KEY": key, "API_VERSION": version, "SCHEMA": Schema(*answer, ("tags", TaggedFields))},
    )
    return type(
        f"{name}Request_v{version}",
        (RequestStruct,),
        {
            "API_KEY": key,
            "API_VERSION": version,
            "FLEXIBLE_VERSION": True,
            "RESPONSE_TYPE": response,
            "SCHEMA": Schema(*fields, ("tags", TaggedFields)),
        },
    )


# -- ApiVersions v3: the finalized features ---------------------------------------------------


class ApiVersionsResponse_v3(Response):  # type: ignore[misc]
    API_KEY = 18
    API_VERSION = 3
    SCHEMA = Schema(
        ("error_code", Int16),
        (
            "api_keys",
            CompactArray(
                ("api_key", Int16),
                ("min_version", Int16),
                ("max_version", Int16),
                ("tags", TaggedFields),
            ),
        ),
        ("throttle_time_ms", Int32),
        # 0 SupportedFeatures, 1 FinalizedFeaturesEpoch, 2 FinalizedFeatures, 3 ZkMigrationReady
        ("tags", TaggedFields),
    )


class ApiVersionsRequest_v3(RequestStruct):  # type: ignore[misc]
    API_KEY = 18
    API_VERSION = 3
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = ApiVersionsResponse_v3
    SCHEMA = Schema(
        ("client_software_name", _STR),
        ("client_software_version", _STR),
        ("tags", TaggedFields),
    )

    def parse_response_header(self, read_buffer: Any) -> Any:
        # KIP-511: an ApiVersions answer always has the old header, so that a client that
        # asked with a version the broker does not speak can still read the error.
        return ResponseHeader_v0.decode(read_buffer)


_FINALIZED = CompactArray(
    ("name", _STR), ("max_level", Int16), ("min_level", Int16), ("tags", TaggedFields)
)


def finalized_features(response: Any) -> dict[str, int]:
    """The cluster's finalized feature levels (``{"transaction.version": 2, ...}``) from an
    ApiVersions v3 answer: its tagged field 2, each feature's maximum level."""
    raw = response.tags.get(2)
    if raw is None:
        return {}
    return {name: max_level for name, max_level, _min, _tags in _FINALIZED.decode(BytesIO(raw))}


# -- Produce v9-v12 ---------------------------------------------------------------------------

PRODUCE_FLEXIBLE: dict[int, type[RequestStruct]] = {
    v: _request(
        "Produce",
        0,
        v,
        (
            ("transactional_id", _STR),
            ("acks", Int16),
            ("timeout_ms", Int32),
            (
                "topics",
                CompactArray(
                    ("name", _STR),
                    (
                        "partitions",
                        CompactArray(
                            ("partition", Int32), ("records", CompactBytes), ("tags", TaggedFields)
                        ),
                    ),
                    ("tags", TaggedFields),
                ),
            ),
        ),
        # Read as aiokafka's v8 answer is: a partition's fields in the same order, then tags.
        (
            (
                "topics",
                CompactArray(
                    ("name", _STR),
                    (
                        "partitions",
                        CompactArray(
                            ("partition", Int32),
                            ("error_code", Int16),
                            ("base_offset", Int64),
                            ("log_append_time_ms", Int64),
                            ("log_start_offset", Int64),
                            (
                                "record_errors",
                                CompactArray(
                                    ("batch_index", Int32),
                                    ("message", _STR),
                                    ("tags", TaggedFields),
                                ),
                            ),
                            ("error_message", _STR),
                            ("tags", TaggedFields),
                        ),
                    ),
                    ("tags", TaggedFields),
                ),
            ),
            ("throttle_time_ms", Int32),
        ),
    )
    for v in (9, 10, 11, 12)  # 11: TRANSACTION_ABORTABLE; 12: TV2's implicit partition add
}
"""Produce v9-v12 structs (flexible); v13 names topics by id, which aiokafka cannot map."""


# -- transactions -----------------------------------------------------------------------------

_PRODUCER = (("transactional_id", _STR), ("producer_id", Int64), ("producer_epoch", Int16))
_ERROR = (("throttle_time_ms", Int32), ("error_code", Int16))

_INIT_PRODUCER_ID = {
    v: _request(
        "InitProducerId",
        22,
        v,
        (
            ("transactional_id", _STR),  # null: an idempotent producer
            ("transaction_timeout_ms", Int32),
            ("producer_id", Int64),  # -1, or the current one to bump its epoch (KIP-360)
            ("producer_epoch", Int16),
        ),
        (*_ERROR, ("producer_id", Int64), ("producer_epoch", Int16)),
    )
    for v in (3, 4, 5)  # 4: PRODUCER_FENCED, 5: TRANSACTION_ABORTABLE
}

_ADD_PARTITIONS = _request(
    "AddPartitionsToTxn",
    24,
    3,  # the last client version: above it the broker reads the request as TV2's
    (
        *_PRODUCER,
        (
            "topics",
            CompactArray(
                ("name", _STR), ("partitions", CompactArray(Int32)), ("tags", TaggedFields)
            ),
        ),
    ),
    (
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("name", _STR),
                (
                    "partitions",
                    CompactArray(
                        ("partition", Int32), ("error_code", Int16), ("tags", TaggedFields)
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
    ),
)

_ADD_OFFSETS = {
    v: _request("AddOffsetsToTxn", 25, v, (*_PRODUCER, ("group_id", _STR)), _ERROR) for v in (3, 4)
}

_END_TXN = {
    v: _request(
        "EndTxn",
        26,
        v,
        (*_PRODUCER, ("committed", Boolean)),
        # v5 (TV2) answers with the producer id and epoch to go on with (the epoch bumped).
        (*_ERROR, ("producer_id", Int64), ("producer_epoch", Int16)) if v >= 5 else _ERROR,
    )
    for v in (3, 4, 5)
}

_TXN_OFFSET_COMMIT = {
    v: _request(
        "TxnOffsetCommit",
        28,
        v,
        (
            ("transactional_id", _STR),
            ("group_id", _STR),
            ("producer_id", Int64),
            ("producer_epoch", Int16),
            ("generation_id", Int32),
            ("member_id", _STR),
            ("group_instance_id", _STR),
            (
                "topics",
                CompactArray(
                    ("name", _STR),
                    (
                        "partitions",
                        CompactArray(
                            ("partition", Int32),
                            ("committed_offset", Int64),
                            ("committed_leader_epoch", Int32),
                            ("committed_metadata", _STR),
                            ("tags", TaggedFields),
                        ),
                    ),
                    ("tags", TaggedFields),
                ),
            ),
        ),
        (
            ("throttle_time_ms", Int32),
            (
                "topics",
                CompactArray(
                    ("name", _STR),
                    (
                        "partitions",
                        CompactArray(
                            ("partition", Int32), ("error_code", Int16), ("tags", TaggedFields)
                        ),
                    ),
                    ("tags", TaggedFields),
                ),
            ),
        ),
    )
    for v in (3, 4, 5)  # 3: group metadata (KIP-447); 5: TV2, no AddOffsetsToTxn first
}


def init_producer_id_request(
    transactional_id: str, timeout_ms: int, producer_id: int = -1, epoch: int = -1
) -> Chosen:
    """InitProducerId v3-v5 for ``transactional_id``; ``producer_id`` and ``epoch`` set to
    the current ones ask for that producer's epoch to be bumped (KIP-360)."""
    return Chosen(
        22,
        tuple(_INIT_PRODUCER_ID),
        lambda v: _INIT_PRODUCER_ID[v](transactional_id, timeout_ms, producer_id, epoch, TAGS),
    )


def add_partitions_request(
    transactional_id: str, producer_id: int, epoch: int, partitions: Sequence[tuple[str, int]]
) -> Chosen:
    """AddPartitionsToTxn v3 (TV1): ``partitions`` join the transaction."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    topics = [(topic, ids, TAGS) for topic, ids in by_topic.items()]
    return Chosen(
        24, (3,), lambda v: _ADD_PARTITIONS(transactional_id, producer_id, epoch, topics, TAGS)
    )


def add_offsets_request(transactional_id: str, producer_id: int, epoch: int, group: str) -> Chosen:
    """AddOffsetsToTxn v3-v4 (TV1): ``group``'s offsets join the transaction."""
    return Chosen(
        25,
        tuple(_ADD_OFFSETS),
        lambda v: _ADD_OFFSETS[v](transactional_id, producer_id, epoch, group, TAGS),
    )


def end_txn_request(
    transactional_id: str, producer_id: int, epoch: int, commit: bool, *, v2: bool
) -> Chosen:
    """EndTxn: v5 under TV2 (its answer bumps the epoch), else v3-v4."""
    versions = (5,) if v2 else (3, 4)
    return Chosen(
        26, versions, lambda v: _END_TXN[v](transactional_id, producer_id, epoch, commit, TAGS)
    )


def txn_offset_commit_request(
    transactional_id: str,
    producer_id: int,
    epoch: int,
    group: str,
    generation: int,
    member_id: str,
    instance_id: str | None,
    offsets: Sequence[tuple[str, int, int, str]],
    *,
    v2: bool,
) -> Chosen:
    """TxnOffsetCommit with the member's generation, id and instance id (KIP-447): v5 under
    TV2 (no AddOffsetsToTxn needed first), else v3-v4. ``offsets``: (topic, partition,
    offset, metadata)."""
    by_topic: dict[str, list[tuple[int, int, int, str, dict[int, bytes]]]] = {}
    for topic, partition, offset, metadata in offsets:
        by_topic.setdefault(topic, []).append((partition, offset, -1, metadata, TAGS))
    topics = [(topic, parts, TAGS) for topic, parts in by_topic.items()]
    versions = (5,) if v2 else (3, 4)
    return Chosen(
        28,
        versions,
        lambda v: _TXN_OFFSET_COMMIT[v](
            transactional_id,
            group,
            producer_id,
            epoch,
            generation,
            member_id,
            instance_id,
            topics,
            TAGS,
        ),
    )


def api_versions_request() -> Chosen:
    """ApiVersions v3, for the finalized features of its answer."""
    return Chosen(18, (3,), lambda v: ApiVersionsRequest_v3("aiomq", "0", TAGS))
