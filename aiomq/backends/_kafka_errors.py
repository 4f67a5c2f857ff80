"""aiokafka's exceptions and Kafka's error codes, mapped to aiomq's in one place.

Every call into aiokafka runs under ``map_errors()``, and every error code read from a
response goes through ``raise_for_code``; no other module of aiomq names an aiokafka error.
httpcore's ``map_exceptions`` is the model.
"""

from __future__ import annotations

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

__all__ = ["RETRIABLE_METADATA", "map_errors", "raise_for_code", "translate"]

_MAP: tuple[tuple[tuple[type[BaseException], ...], type[Exception]], ...] = (
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

RETRIABLE_METADATA: tuple[type[ak.KafkaError], ...] = (
    ak.NotLeaderForPartitionError,
    ak.LeaderNotAvailableError,
    ak.UnknownTopicOrPartitionError,
    ak.NotCoordinatorForGroupError,
    ak.GroupCoordinatorNotAvailableError,
    ak.GroupLoadInProgressError,
)
"""Errors after which a request is retried once the cached metadata (leaders,
coordinators) has been refreshed."""


def translate(exc: BaseException) -> Exception:
    """The aiomq exception for an aiokafka one (or a socket error or timeout).

    Retriable errors not listed become ``BrokerUnavailable``; anything else ``AiomqError``
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
