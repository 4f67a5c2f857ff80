"""What a member's state machine asks its driver to do with partitions, under either group
protocol: the driver runs these callbacks in order, one at a time, and reports each one done.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.base import TopicPartition
from ..errors import AiomqError, BrokerUnavailable, ConfigError, GroupError, RebalanceInProgress

__all__ = ["Assign", "Fail", "Lose", "Partitions", "Revoke", "is_transient"]

Partitions = frozenset[TopicPartition]


@dataclass(frozen=True, slots=True)
class Revoke:
    """Stop consuming ``partitions`` and commit their offsets (the membership is still
    valid), then report ``callbacks_done``."""

    partitions: Partitions


@dataclass(frozen=True, slots=True)
class Lose:
    """Stop consuming ``partitions`` without committing (they may have a new owner
    already), then report ``callbacks_done``."""

    partitions: Partitions


@dataclass(frozen=True, slots=True)
class Assign:
    """Start consuming ``partitions``, then report ``callbacks_done``."""

    partitions: Partitions


@dataclass(frozen=True, slots=True)
class Fail:
    """Stop: ``error`` ends the member (the group reports it)."""

    error: BaseException


def is_transient(error: BaseException) -> bool:
    """Whether a coordinator error is worth retrying after a pause (the rest are final)."""
    return isinstance(error, BrokerUnavailable | RebalanceInProgress | TimeoutError) or (
        isinstance(error, AiomqError) and not isinstance(error, GroupError | ConfigError)
    )
