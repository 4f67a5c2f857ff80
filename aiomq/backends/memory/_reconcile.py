"""How a consumer-protocol member moves towards its target assignment (Kafka 4.1's
``CurrentAssignmentBuilder``), as a pure function over its ``Progress``.

A member first gives up what it must (``UNREVOKED``: it keeps its epoch until a heartbeat
whose owned partitions lack them), then takes the target epoch, and is given a partition of
its target only once no other member holds it (``UNRELEASED`` until then).

The Go counterpart: none (sarama speaks the classic protocol only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..base import TopicPartition

__all__ = ["STABLE", "UNRELEASED", "UNREVOKED", "Progress", "reconcile"]

STABLE = "stable"
"""The member owns what it may of its target, at the target epoch."""

UNREVOKED = "unrevoked_partitions"
"""The member must give up ``revoking`` first; it stays at its epoch until it acknowledges."""

UNRELEASED = "unreleased_partitions"
"""At the target epoch, waiting for partitions of its target that others still hold."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A member's reconciliation: its state, epoch (and the one before it, accepted from a
    member whose answer was lost), what it is assigned and what it must give up."""

    state: str = STABLE
    epoch: int = 0
    previous_epoch: int = 0
    assigned: frozenset[TopicPartition] = frozenset()
    revoking: frozenset[TopicPartition] = frozenset()

    def reconciled_to(self, target_epoch: int) -> bool:
        """Whether the member has caught up with the target assignment of ``target_epoch``."""
        return self.state == STABLE and self.epoch == target_epoch

    def moved_to(self, state: str, epoch: int, **changes: frozenset[TopicPartition]) -> Progress:
        """The member in ``state`` at ``epoch`` (Kafka's ``updateMemberEpoch``: the epoch it
        leaves becomes its previous one)."""
        return replace(self, state=state, epoch=epoch, previous_epoch=self.epoch, **changes)


def reconcile(
    member: Progress,
    target_epoch: int,
    target: frozenset[TopicPartition],
    owned: frozenset[TopicPartition] | None,
    held_by_another: Callable[[TopicPartition], bool],
) -> Progress:
    """The member's next step towards ``target`` (of ``target_epoch``), given what it
    reports it ``owned`` in this heartbeat (None: not reported, so nothing is
    acknowledged) and which partitions other members still hold."""

    def still_owns(partitions: frozenset[TopicPartition]) -> bool:
        return owned is None or not owned.isdisjoint(partitions)

    if member.state == STABLE:
        if member.epoch == target_epoch:
            return member
        return _next(member, member.epoch, target_epoch, target, still_owns, held_by_another)
    if member.state == UNREVOKED:
        if still_owns(member.revoking):
            return member
        # Kafka moves the acknowledging member one epoch on; _next raises it to the target
        # unless something new must be revoked first.
        return _next(member, member.epoch + 1, target_epoch, target, still_owns, held_by_another)
    return _next(member, member.epoch, target_epoch, target, still_owns, held_by_another)


def _next(
    member: Progress,
    epoch: int,
    target_epoch: int,
    target: frozenset[TopicPartition],
    still_owns: Callable[[frozenset[TopicPartition]], bool],
    held_by_another: Callable[[TopicPartition], bool],
) -> Progress:
    assigned = member.assigned & target
    revoking = member.assigned - assigned
    pending = target - assigned
    # A partition this member is itself still revoking is not held by another.
    unreleased = frozenset(
        tp for tp in pending if tp not in member.revoking and held_by_another(tp)
    )
    pending -= unreleased
    if revoking and still_owns(revoking):
        return member.moved_to(UNREVOKED, epoch, assigned=assigned, revoking=revoking)
    state = UNRELEASED if unreleased else STABLE
    return member.moved_to(state, target_epoch, assigned=assigned | pending, revoking=frozenset())
