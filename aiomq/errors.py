"""aiomq's one exception hierarchy: the messaging errors, and the concurrency ones re-exported.

Every error aiomq raises on purpose is an ``AiomqError``. The concurrency toolkit keeps its
own (``Canceled``, ``DeadlineExceeded``, ``ChanClosed``) in ``aiomq.concurrency.errors``,
below every other layer; they are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .concurrency.errors import AiomqError, Canceled, ChanClosed, DeadlineExceeded

__all__ = [
    "AiomqError",
    "AuthenticationError",
    "BrokerUnavailable",
    "Canceled",
    "ChanClosed",
    "ClosedError",
    "ConfigError",
    "DeadlineExceeded",
    "DecodeError",
    "EncodeError",
    "MessageTooLarge",
    "OffsetOutOfRange",
    "ProducerError",
    "ProducerErrors",
    "TopicExists",
    "UnknownTopic",
]


class ConfigError(AiomqError, ValueError):
    """A configuration value is invalid; ``field`` names it (for example ``producer.timeout``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ClosedError(AiomqError):
    """A client, producer, consumer or admin was used after ``aclose()``."""


class BrokerUnavailable(AiomqError):
    """No broker could be reached, or the broker stopped answering."""


class UnknownTopic(AiomqError):
    """The topic (or the topic's partition) does not exist."""


class TopicExists(AiomqError):
    """A topic of that name already exists (Kafka's ``TOPIC_ALREADY_EXISTS``).

    Raised by ``create_topic``; sarama returns ``ErrTopicAlreadyExists``.
    """


class MessageTooLarge(AiomqError):
    """A record exceeds the broker's or the producer's maximum size."""


class EncodeError(AiomqError):
    """A codec could not encode a value or key."""


class DecodeError(AiomqError):
    """A codec could not decode a record's value or key."""


class OffsetOutOfRange(AiomqError):
    """A requested offset lies outside the partition's log (before its start or past its end)."""


class AuthenticationError(AiomqError):
    """The broker rejected the client's credentials or TLS handshake."""


class ProducerError(AiomqError):
    """One message could not be delivered; ``message`` is handed back with its ``cause``.

    Go's ``sarama.ProducerError``.
    """

    def __init__(self, message: Any, cause: BaseException) -> None:
        super().__init__(f"failed to deliver message: {cause!r}")
        self.message = message
        self.cause = cause
        self.__cause__ = cause


class ProducerErrors(AiomqError):
    """Several messages failed (Go's ``sarama.ProducerErrors``); ``errors`` holds each one."""

    def __init__(self, errors: Sequence[ProducerError]) -> None:
        super().__init__(f"{len(errors)} message(s) failed to deliver")
        self.errors = list(errors)
