"""aiokafka's exceptions and Kafka's error codes, mapped to aiomq's in one place.

Every call into aiokafka runs under ``map_errors()``, and every error code read from a
response goes through ``raise_for_code``; no other module of aiomq names an aiokafka error.
The codes after which the Kafka backend refreshes its metadata and retries live here too
(``RETRY_LEADER``, ``RETRY_COORDINATOR``). httpcore's ``map_exceptions`` is the model.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import aiokafka.errors as ak

from ..errors import (
    AiomqError,
    AuthenticationError,
    BrokerUnavailable,
    ClosedError,
    MessageTooLarge,
    OffsetOutOfRange,
    UnknownTopic,
)
from .base import TopicExists

__all__ = [
    "LEADER_NOT_AVAILABLE",
    "RETRY_COORDINATOR",
    "RETRY_LEADER",
    "UNKNOWN_TOPIC",
    "map_errors",
    "raise_for_code",
    "translate",
]

UNKNOWN_TOPIC: int = ak.UnknownTopicOrPartitionError.errno
"""UNKNOWN_TOPIC_OR_PARTITION (3): missing, or not known yet to the broker asked."""

LEADER_NOT_AVAILABLE: int = ak.LeaderNotAvailableError.errno
"""LEADER_NOT_AVAILABLE (5): a topic being created, or a partition between leaders."""

RETRY_LEADER: frozenset[int] = frozenset(
    error.errno
    for error in (
        ak.UnknownTopicOrPartitionError,
        ak.LeaderNotAvailableError,
        ak.NotLeaderForPartitionError,
    )
)
"""Codes after which a partition request is retried once its leader is looked up again."""

RETRY_COORDINATOR: frozenset[int] = frozenset(
    error.errno
    for error in (
        ak.GroupLoadInProgressError,
        ak.GroupCoordinatorNotAvailableError,
        ak.NotCoordinatorForGroupError,
    )
)
"""Codes after which a group request is retried once its coordinator is looked up again."""

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
            ak.InvalidTopicError,
            ak.InvalidPartitionsError,
            ak.InvalidReplicationFactorError,
            ak.InvalidReplicationAssignmentError,
            ak.InvalidConfigurationError,
            ak.PolicyViolationError,
            ak.InvalidGroupIdError,
            ak.OffsetMetadataTooLargeError,
            ak.InvalidTimestampError,
        ),
        ValueError,
    ),
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

    TLS failures other than a cut connection become ``AuthenticationError``; retriable
    errors not listed become ``BrokerUnavailable``; anything else ``AiomqError``
    naming the Kafka error. The original is kept as ``__cause__`` by the callers.
    """
    for kinds, mapped in _MAP:
        if isinstance(exc, kinds):
            return mapped(_describe(exc))
    if isinstance(exc, OSError):  # socket errors and TimeoutError
        return BrokerUnavailable(_describe(exc))
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


def raise_for_code(code: int, context: str) -> None:
    """Raise the aiomq error for a Kafka response ``code`` (0 is success: returns)."""
    if code == 0:
        return
    error = ak.for_code(code)
    with map_errors(context):
        raise error()
