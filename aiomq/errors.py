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
    "FencedInstanceId",
    "GroupError",
    "GroupNotEmpty",
    "InconsistentGroupProtocol",
    "MemberIdRequired",
    "MessageTooLarge",
    "OffsetOutOfRange",
    "ProducerError",
    "ProducerErrors",
    "ProducerFenced",
    "RebalanceInProgress",
    "StaleMember",
    "TopicExists",
    "TransactionError",
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


class GroupError(AiomqError):
    """A consumer-group request was refused; the subclass says why."""


class RebalanceInProgress(GroupError):
    """The group is rebalancing: the member must rejoin (Kafka's ``REBALANCE_IN_PROGRESS``).

    A commit refused with it can be retried once the member has rejoined.
    """


class StaleMember(GroupError):
    """The member's generation (or KIP-848 epoch) is no longer the group's, or the group no
    longer knows the member: what it asks (a commit, a heartbeat) is refused, and the
    partitions it held may already belong to another member. Java's
    ``CommitFailedException`` for a commit; Kafka's ``ILLEGAL_GENERATION``,
    ``UNKNOWN_MEMBER_ID``, ``FENCED_MEMBER_EPOCH`` and ``STALE_MEMBER_EPOCH``, named by
    ``reason``."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class MemberIdRequired(GroupError):
    """The coordinator assigned ``member_id`` and wants the join repeated with it (Kafka's
    ``MEMBER_ID_REQUIRED``, KIP-394): the membership state machine handles it."""

    def __init__(self, message: str, member_id: str) -> None:
        super().__init__(message)
        self.member_id = member_id


class FencedInstanceId(GroupError):
    """Another member joined with this member's ``group.instance_id`` and replaced it
    (Kafka's ``FENCED_INSTANCE_ID``, or ``UNRELEASED_INSTANCE_ID`` while the other still
    holds it): this member can only stop."""


class InconsistentGroupProtocol(GroupError):
    """The member's assignors (or protocol type) share nothing with the group's other members
    (Kafka's ``INCONSISTENT_GROUP_PROTOCOL``): a configuration to fix, not a state to retry."""


class GroupNotEmpty(GroupError):
    """The operation needs a group without members (resetting or deleting it; Kafka's
    ``NON_EMPTY_GROUP``)."""


class TransactionError(AiomqError):
    """A transaction could not be completed and was aborted; the producer can begin another."""


class ProducerFenced(TransactionError):
    """A newer producer with the same ``transactional_id`` took over (Kafka's
    ``PRODUCER_FENCED``): this producer can only be closed."""
