"""The server-side assignors of the in-process coordinator's consumer groups (KIP-848):
Kafka 4.1's ``uniform`` and ``range``, as pure functions.

Each takes every member's ``MemberSpec`` (its subscribed topics, its static instance id,
the target assignment it had) and the partition count of each topic that exists, and
returns every member's new target assignment. Partitions of subscribed topics that do not
exist are never assigned; a member subscribed to nothing that exists gets nothing.

The Go counterpart: none (sarama's assignors run in the client, under the classic protocol).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from ..base import TopicPartition

__all__ = ["SERVER_ASSIGNORS", "Assignor", "MemberSpec", "assign_range", "assign_uniform"]

Assignment: TypeAlias = frozenset[TopicPartition]


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """What an assignor knows of a member: its subscription, its static instance id, and
    the target assignment it had before (what ``uniform`` keeps where balance allows)."""

    subscribed: frozenset[str]
    target: Assignment = frozenset()
    instance_id: str | None = None


Assignor: TypeAlias = Callable[[Mapping[str, MemberSpec], Mapping[str, int]], dict[str, Assignment]]
"""``(members by id, partition count by topic) -> new target assignment by member id``."""


def assign_uniform(
    members: Mapping[str, MemberSpec], partitions: Mapping[str, int]
) -> dict[str, Assignment]:
    """Kafka's ``UniformAssignor``: balanced first, then sticky.

    When every member subscribes to the same topics (Kafka's homogeneous case), each
    member gets ``total // members`` partitions or one more, and keeps as many of its
    previous ones as that allows: the members that hold the most keep the extra
    partitions, so the fewest partitions move (Kafka hands the extras out in its map's
    order, which may move more). Otherwise each partition goes to one of its topic's
    subscribers: a member keeps its previous partitions of topics it still subscribes to,
    the unassigned ones go to the least loaded subscriber, topic by topic (most partitions
    per subscriber first), and then partitions move from the most to the least loaded
    subscriber of a topic until no subscriber of any topic holds two more than another.
    """
    subscriptions = {
        member_id: frozenset(t for t in spec.subscribed if t in partitions)
        for member_id, spec in members.items()
    }
    if len(set(subscriptions.values())) <= 1:
        return _homogeneous(members, subscriptions, partitions)
    return _heterogeneous(members, subscriptions, partitions)


def _kept(
    members: Mapping[str, MemberSpec],
    subscriptions: Mapping[str, frozenset[str]],
    partitions: Mapping[str, int],
) -> dict[str, list[TopicPartition]]:
    """Each member's previous partitions that it may keep (still subscribed, still there,
    not claimed by a member before it), sorted."""
    claimed: set[TopicPartition] = set()
    kept: dict[str, list[TopicPartition]] = {}
    for member_id in sorted(members):
        topics = subscriptions[member_id]
        mine = [
            tp
            for tp in sorted(members[member_id].target)
            if tp[0] in topics and tp[1] < partitions[tp[0]] and tp not in claimed
        ]
        claimed.update(mine)
        kept[member_id] = mine
    return kept


def _homogeneous(
    members: Mapping[str, MemberSpec],
    subscriptions: Mapping[str, frozenset[str]],
    partitions: Mapping[str, int],
) -> dict[str, Assignment]:
    topics = sorted(next(iter(subscriptions.values()), frozenset()))
    if not topics:
        return {member_id: frozenset() for member_id in members}
    every = [(t, p) for t in topics for p in range(partitions[t])]
    quota, extra = divmod(len(every), len(members))
    kept = _kept(members, subscriptions, partitions)
    out: dict[str, list[TopicPartition]] = {}
    unfilled: list[tuple[str, int]] = []
    # The extra partitions go to the members holding the most: fewest partitions move.
    for member_id in sorted(kept, key=lambda m: (-len(kept[m]), m)):
        limit = quota + (1 if extra > 0 else 0)
        extra -= 1
        out[member_id] = kept[member_id][:limit]
        if len(out[member_id]) < limit:
            unfilled.append((member_id, limit - len(out[member_id])))
    taken = {tp for mine in out.values() for tp in mine}
    free = iter(tp for tp in every if tp not in taken)
    for member_id, missing in sorted(unfilled):
        out[member_id].extend(next(free) for _ in range(missing))
    return {member_id: frozenset(mine) for member_id, mine in out.items()}


def _heterogeneous(
    members: Mapping[str, MemberSpec],
    subscriptions: Mapping[str, frozenset[str]],
    partitions: Mapping[str, int],
) -> dict[str, Assignment]:
    order = {member_id: i for i, member_id in enumerate(sorted(members))}
    subscribers: dict[str, list[str]] = {}
    for member_id in sorted(members):
        for topic in subscriptions[member_id]:
            subscribers.setdefault(topic, []).append(member_id)
    out = {
        member_id: set(mine)
        for member_id, mine in _kept(members, subscriptions, partitions).items()
    }
    size = {member_id: len(mine) for member_id, mine in out.items()}

    def load(member_id: str) -> tuple[int, int]:
        return size[member_id], order[member_id]

    # Kafka's order: most partitions per subscriber first, then fewest subscribers, then id.
    topics = sorted(
        subscribers,
        key=lambda t: (-partitions[t] / len(subscribers[t]), len(subscribers[t]), t),
    )
    owned = {tp for mine in out.values() for tp in mine}
    for topic in topics:
        for partition in range(partitions[topic]):
            if (topic, partition) not in owned:
                least = min(subscribers[topic], key=load)
                out[least].add((topic, partition))
                size[least] += 1
    # Balance by moves within a topic's subscribers. Each move takes a partition from a
    # member holding at least two more than the one receiving it, so the sum of squared
    # sizes falls and the loop ends (Kafka also stops after 16 rounds; it never needs to).
    moved = True
    while moved:
        moved = False
        for topic in topics:
            while len(subscribers[topic]) > 1:
                holders = [m for m in subscribers[topic] if any(tp[0] == topic for tp in out[m])]
                most = max(holders, key=load)
                least = min(subscribers[topic], key=load)
                if size[most] - size[least] <= 1:
                    break
                given = max(tp for tp in out[most] if tp[0] == topic)
                out[most].remove(given)
                out[least].add(given)
                size[most] -= 1
                size[least] += 1
                moved = True
    return {member_id: frozenset(mine) for member_id, mine in out.items()}


def assign_range(
    members: Mapping[str, MemberSpec], partitions: Mapping[str, int]
) -> dict[str, Assignment]:
    """Kafka's server-side ``RangeAssignor`` (4.x): per topic, its subscribers in order
    (static members first, by instance id, then the others by member id) get contiguous
    ranges of ``partitions // subscribers`` partitions, the first ``partitions %
    subscribers`` one more. It ignores the previous assignment: it is sticky only in that
    the order of static members does not change when they restart with new member ids,
    and co-partitioned topics (equal partition counts, same subscribers) give each member
    the same partition numbers of each.
    """
    order = sorted(
        members,
        key=lambda m: (members[m].instance_id is None, members[m].instance_id or "", m),
    )
    out: dict[str, set[TopicPartition]] = {member_id: set() for member_id in members}
    topics = {t for spec in members.values() for t in spec.subscribed if t in partitions}
    for topic in topics:
        subscribed = [m for m in order if topic in members[m].subscribed]
        quota, extra = divmod(partitions[topic], len(subscribed))
        start = 0
        for i, member_id in enumerate(subscribed):
            end = start + quota + (1 if i < extra else 0)
            out[member_id].update((topic, p) for p in range(start, end))
            start = end
    return {member_id: frozenset(mine) for member_id, mine in out.items()}


SERVER_ASSIGNORS: Mapping[str, Assignor] = {"uniform": assign_uniform, "range": assign_range}
"""The assignors by Kafka's names, the default (``group.consumer.assignors``' first) first."""
