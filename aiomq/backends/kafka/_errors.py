"""aiokafka's exceptions and Kafka's error codes, mapped to aiomq's in one place.

Every call into aiokafka runs under ``map_errors()``, and every error code read from a
response goes through ``raise_for_code``; no other module of aiomq names an aiokafka error.
Kafka's codes are matched as integers: aiokafka 0.14 has no class for many of them (87
INVALID_RECORD, 90 PRODUCER_FENCED, ...) and names code 13 wrongly. The codes after which
the backend looks a leader or coordinator up again and retries live here too.
httpcore's ``map_exceptions`` is the model.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import aiokafka.errors as ak

from ...errors import (
    AiomqError,
    AuthenticationError,
    BrokerUnavailable,
    ClosedError,
    ConfigError,
    MessageTooLarge,
    OffsetOutOfRange,
    TopicExists,
    UnknownTopic,
)

__all__ = [
    "CONCURRENT_TRANSACTIONS",
    "DUPLICATE_SEQUENCE",
    "FENCED_INSTANCE_ID",
    "ILLEGAL_GENERATION",
    "INVALID_PRODUCER_EPOCH",
    "INVALID_TRANSACTION_TIMEOUT",
    "INVALID_TXN_STATE",
    "LEADER_NOT_AVAILABLE",
    "MESSAGE_TOO_LARGE",
    "OUT_OF_ORDER_SEQUENCE",
    "PRODUCER_FENCED",
    "RETRIABLE",
    "RETRY_COORDINATOR",
    "RETRY_LEADER",
    "UNKNOWN_PRODUCER_ID",
    "TRANSACTION_ABORTABLE",
    "UNKNOWN_MEMBER_ID",
    "UNKNOWN_TOPIC",
    "error_for_code",
    "error_name",
    "map_errors",
    "raise_for_code",
    "translate",
]

UNKNOWN_TOPIC = 3
"""UNKNOWN_TOPIC_OR_PARTITION: missing, or not known yet to the broker asked."""

LEADER_NOT_AVAILABLE = 5
"""LEADER_NOT_AVAILABLE: a topic being created, or a partition between leaders."""

MESSAGE_TOO_LARGE = 10
RECORD_LIST_TOO_LARGE = 18
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
OUT_OF_ORDER_SEQUENCE = 45
DUPLICATE_SEQUENCE = 46
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
UNKNOWN_PRODUCER_ID = 59
FENCED_INSTANCE_ID = 82
PRODUCER_FENCED = 90
TRANSACTION_ABORTABLE = 120

RETRY_LEADER: frozenset[int] = frozenset(
    {
        UNKNOWN_TOPIC,
        LEADER_NOT_AVAILABLE,
        6,  # NOT_LEADER_OR_FOLLOWER
        13,  # NETWORK_EXCEPTION (aiokafka's StaleLeaderEpochCodeError)
        56,  # KAFKA_STORAGE_ERROR: the replica's log directory is offline
        74,  # FENCED_LEADER_EPOCH
        75,  # UNKNOWN_LEADER_EPOCH
    }
)
"""Codes after which a partition request is retried once its leader is looked up again."""

RETRY_COORDINATOR: frozenset[int] = frozenset(
    {
        14,  # COORDINATOR_LOAD_IN_PROGRESS
        15,  # COORDINATOR_NOT_AVAILABLE
        16,  # NOT_COORDINATOR
    }
)
"""Codes after which a group request is retried once its coordinator is looked up again."""

RETRIABLE: frozenset[int] = (
    RETRY_LEADER
    | RETRY_COORDINATOR
    | frozenset(
        {
            2,  # CORRUPT_MESSAGE: damaged on the way; the Java client sends it again
            7,  # REQUEST_TIMED_OUT: the broker's wait for acks ran out
            19,  # NOT_ENOUGH_REPLICAS
            20,  # NOT_ENOUGH_REPLICAS_AFTER_APPEND
            CONCURRENT_TRANSACTIONS,
            89,  # THROTTLING_QUOTA_EXCEEDED
        }
    )
)
"""Codes a request may be sent again after, unchanged (Kafka's ``RetriableException``)."""

# Codes that say an argument was wrong, and which argument (decisions: ConfigError naming it).
_ARGUMENT: dict[int, str] = {
    12: "metadata",  # OFFSET_METADATA_TOO_LARGE
    17: "topic",  # INVALID_TOPIC_EXCEPTION
    24: "group",  # INVALID_GROUP_ID
    32: "timestamp",  # INVALID_TIMESTAMP
    37: "partitions",  # INVALID_PARTITIONS
    38: "replication",  # INVALID_REPLICATION_FACTOR
    39: "replication",  # INVALID_REPLICATION_ASSIGNMENT
    40: "config",  # INVALID_CONFIG
    44: "config",  # POLICY_VIOLATION
    87: "records",  # INVALID_RECORD (a key-less record on a compacted topic, say)
}

# Names of the codes aiokafka 0.14 has no class for (it stops at 72 and 79) or names wrongly;
# those after 79 as Kafka 4.1.2's ``Errors`` lists them.
_NAMES: dict[int, str] = {
    13: "NETWORK_EXCEPTION",
    45: "OUT_OF_ORDER_SEQUENCE_NUMBER",
    47: "INVALID_PRODUCER_EPOCH",
    59: "UNKNOWN_PRODUCER_ID",
    74: "FENCED_LEADER_EPOCH",
    75: "UNKNOWN_LEADER_EPOCH",
    80: "PREFERRED_LEADER_NOT_AVAILABLE",
    81: "GROUP_MAX_SIZE_REACHED",
    82: "FENCED_INSTANCE_ID",
    83: "ELIGIBLE_LEADERS_NOT_AVAILABLE",
    84: "ELECTION_NOT_NEEDED",
    85: "NO_REASSIGNMENT_IN_PROGRESS",
    86: "GROUP_SUBSCRIBED_TO_TOPIC",
    87: "INVALID_RECORD",
    88: "UNSTABLE_OFFSET_COMMIT",
    89: "THROTTLING_QUOTA_EXCEEDED",
    90: "PRODUCER_FENCED",
    91: "RESOURCE_NOT_FOUND",
    92: "DUPLICATE_RESOURCE",
    93: "UNACCEPTABLE_CREDENTIAL",
    94: "INCONSISTENT_VOTER_SET",
    95: "INVALID_UPDATE_VERSION",
    96: "FEATURE_UPDATE_FAILED",
    97: "PRINCIPAL_DESERIALIZATION_FAILURE",
    98: "SNAPSHOT_NOT_FOUND",
    99: "POSITION_OUT_OF_RANGE",
    100: "UNKNOWN_TOPIC_ID",
    101: "DUPLICATE_BROKER_REGISTRATION",
    102: "BROKER_ID_NOT_REGISTERED",
    103: "INCONSISTENT_TOPIC_ID",
    104: "INCONSISTENT_CLUSTER_ID",
    105: "TRANSACTIONAL_ID_NOT_FOUND",
    106: "FETCH_SESSION_TOPIC_ID_ERROR",
    107: "INELIGIBLE_REPLICA",
    108: "NEW_LEADER_ELECTED",
    109: "OFFSET_MOVED_TO_TIERED_STORAGE",
    110: "FENCED_MEMBER_EPOCH",
    111: "UNRELEASED_INSTANCE_ID",
    112: "UNSUPPORTED_ASSIGNOR",
    113: "STALE_MEMBER_EPOCH",
    120: "TRANSACTION_ABORTABLE",
    128: "INVALID_REGULAR_EXPRESSION",
}

_MAP: tuple[tuple[tuple[type[BaseException], ...], type[Exception]], ...] = (
    # A TLS connection cut short is a network failure; any other TLS error (an untrusted or
    # expired certificate, a wrong host name, TLS spoken to a plain port) is the
    # credentials' fault, and retrying cannot help.
    ((ssl.SSLEOFError, ssl.SSLZeroReturnError), BrokerUnavailable),
    ((ssl.SSLError,), AuthenticationError),
    ((ak.UnknownTopicOrPartitionError,), UnknownTopic),
    ((ak.OffsetOutOfRangeError,), OffsetOutOfRange),
    (
        (
            ak.MessageSizeTooLargeError,
            ak.RecordTooLargeError,
            ak.RecordListTooLargeError,
        ),
        MessageTooLarge,
    ),
    ((ak.TopicAlreadyExistsError,), TopicExists),
    (
        (
            ak.AuthenticationFailedError,
            ak.AuthenticationMethodNotSupported,
            ak.SaslAuthenticationFailed,
            ak.UnsupportedSaslMechanismError,
            ak.IllegalSaslStateError,
            ak.TopicAuthorizationFailedError,
            ak.GroupAuthorizationFailedError,
            ak.ClusterAuthorizationFailedError,
        ),
        AuthenticationError,
    ),
    ((ak.ProducerClosed,), ClosedError),
    (
        (
            ak.KafkaConnectionError,
            ak.NodeNotReadyError,
            ak.NoBrokersAvailable,
            ak.KafkaTimeoutError,
            ak.RequestTimedOutError,
            ak.LeaderNotAvailableError,
            ak.NotLeaderForPartitionError,
            ak.BrokerNotAvailableError,
            ak.GroupCoordinatorNotAvailableError,
            ak.NotCoordinatorForGroupError,
            ak.GroupLoadInProgressError,
            ak.NotControllerError,
            ak.NotEnoughReplicasError,
            ak.NotEnoughReplicasAfterAppendError,
            ak.KafkaUnavailableError,
        ),
        BrokerUnavailable,
    ),
)


def translate(exc: BaseException) -> Exception:
    """The aiomq exception for an aiokafka one (or a socket, TLS or timeout error).

    TLS failures other than a cut connection become ``AuthenticationError``; an error code
    that names a bad argument becomes ``ConfigError`` naming it; retriable errors not listed
    become ``BrokerUnavailable``; anything else ``AiomqError`` naming the Kafka error. The
    original is kept as ``__cause__`` by the callers.
    """
    if isinstance(exc, ak.UnsupportedCodecError):
        return ConfigError("producer.compression", _describe(exc))
    errno = getattr(exc, "errno", None)
    if isinstance(exc, ak.KafkaError) and isinstance(errno, int) and errno in _ARGUMENT:
        return ConfigError(_ARGUMENT[errno], _describe(exc))
    for kinds, mapped in _MAP:
        if isinstance(exc, kinds):
            return mapped(_describe(exc))
    if isinstance(exc, OSError):  # socket errors and TimeoutError
        return BrokerUnavailable(_describe(exc) or "timed out")
    if isinstance(exc, ak.KafkaError) and exc.retriable:
        return BrokerUnavailable(_describe(exc))
    return AiomqError(_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


@contextmanager
def map_errors(context: str = "") -> Iterator[None]:
    """Run a block that calls aiokafka; re-raise its errors as aiomq's.

    aiomq's own errors pass through unchanged (a ``DeadlineExceeded`` is a ``TimeoutError``
    but must stay itself), and so does cancellation. ``context`` is prefixed to the message.
    """
    try:
        yield
    except AiomqError:
        raise
    except (ak.KafkaError, OSError) as exc:  # TimeoutError is an OSError
        mapped = translate(exc)
        if context:
            mapped.args = (f"{context}: {mapped}",)
        raise mapped from exc


def error_for_code(code: int, context: str, message: str | None = None) -> Exception:
    """The aiomq error for a non-zero Kafka response ``code``, ``message`` the broker's text.

    Codes that name a bad argument give ``ConfigError`` naming it; codes aiokafka has no
    class for are named from Kafka's list, or by number.
    """
    detail = f" ({message})" if message else ""
    if code in _ARGUMENT:
        return ConfigError(_ARGUMENT[code], f"{context}: {error_name(code)}{detail}")
    kind = ak.for_code(code)
    if kind is ak.UnknownError or code in _NAMES:
        mapped: Exception = (BrokerUnavailable if code in RETRIABLE else AiomqError)(
            f"{context}: {error_name(code)}{detail}"
        )
        return mapped
    mapped = translate(kind())
    mapped.args = (f"{context}: {mapped}{detail}",)
    return mapped


def error_name(code: int) -> str:
    """Kafka's name of error ``code`` with the number: ``"FENCED_MEMBER_EPOCH (error 110)"``
    (aiokafka's class name where aiomq has none, ``"Kafka error <n>"`` for a code unknown
    to both)."""
    if code in _NAMES:
        return f"{_NAMES[code]} (error {code})"
    kind = ak.for_code(code)
    if kind is ak.UnknownError:
        return f"Kafka error {code}"
    return f"{kind.__name__} (error {code})"


def raise_for_code(code: int, context: str, message: str | None = None) -> None:
    """Raise the aiomq error for a Kafka response ``code`` (0 is success: returns)."""
    if code:
        raise error_for_code(code, context, message)
