"""Partition assignors: how a classic group's leader shares the partitions among the members.

An assignor is a pure function of the topics' partition counts and the members' decoded
subscriptions; the leader runs it between JoinGroup and SyncGroup. The names are Kafka's, so a
group can mix aiomq and Java members: the broker picks an assignor every member lists.

The Go counterpart is sarama's ``BalanceStrategy`` (``BalanceStrategyRange``,
``BalanceStrategyRoundRobin``, ``BalanceStrategySticky``).
"""

# Orders follow Java's wherever Java's result depends on one: strings compare by UTF-16 unit
# (``java_order``), and the range and round-robin assignors put static members first, by
# group.instance.id, then the others by member id (Java's ``MemberInfo.compareTo``), which
# keeps a group of static members' assignment across restarts, when member ids change.

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from ..backends.base import TopicPartition
from ..backends.consumer_protocol import (
    Subscription,
    decode_cooperative_user_data,
    encode_cooperative_user_data,
    java_order,
)
from ..errors import ConfigError, DecodeError

__all__ = [
    "Assignor",
    "CooperativeStickyAssignor",
    "RangeAssignor",
    "RoundRobinAssignor",
    "assignor_from",
]

Plan = dict[str, list[TopicPartition]]
Chain = list[tuple[str, TopicPartition, str]]  # moves (giver, partition, taker)


class Assignor(Protocol):
    """Shares partitions among a group's members; the leader calls ``assign``.

    ``name`` is Kafka's protocol name (what JoinGroup lists); ``cooperative`` says whether the
    members may keep their partitions through a rebalance (KIP-429: the assignor never gives
    a member a partition another member still owns) or must give them all up before joining
    (eager). ``subscription_user_data(generation)`` is the ``user_data`` a member sends with
    its subscription. ``assign(partitions, subscriptions)`` takes each topic's partition
    count and each member's subscription (by member id) and returns every member's
    partitions, an empty list included: each partition of a subscribed topic that exists
    goes to exactly one member subscribed to it, except those a cooperative assignor
    withholds for a round. Java's ``ConsumerPartitionAssignor``.
    """

    name: str
    cooperative: bool

    def subscription_user_data(self, generation: int) -> bytes | None: ...

    def assign(
        self, partitions: Mapping[str, int], subscriptions: Mapping[str, Subscription]
    ) -> Plan: ...


class RangeAssignor:
    """Per topic, consecutive ranges of partitions to the topic's members in order: the first
    ``count % members`` get one more. Eager.

    Members are ordered static ones first by group.instance.id, then by member id. Java's
    ``RangeAssignor`` (sarama's ``BalanceStrategyRange``), without rack awareness.
    """

    name: str = "range"
    cooperative: bool = False

    def subscription_user_data(self, generation: int) -> bytes | None:
        """None: the range assignor sends no user data."""
        return None

    def assign(
        self, partitions: Mapping[str, int], subscriptions: Mapping[str, Subscription]
    ) -> Plan:
        """See ``Assignor.assign``."""
        plan: Plan = {member: [] for member in subscriptions}
        for topic, members in _subscribers(subscriptions).items():
            count = max(partitions.get(topic, 0), 0)
            members.sort(key=lambda m: _member_order(m, subscriptions[m]))
            each, extra = divmod(count, len(members))
            start = 0
            for i, member in enumerate(members):
                end = start + each + (i < extra)
                plan[member].extend((topic, p) for p in range(start, end))
                start = end
        return plan


class RoundRobinAssignor:
    """All subscribed partitions, sorted by topic then partition, dealt to the members in
    turn, skipping a member not subscribed to the partition's topic. Eager.

    Members are ordered as ``RangeAssignor`` orders them. Java's ``RoundRobinAssignor``
    (sarama's ``BalanceStrategyRoundRobin``).
    """

    name: str = "roundrobin"
    cooperative: bool = False

    def subscription_user_data(self, generation: int) -> bytes | None:
        """None: the round-robin assignor sends no user data."""
        return None

    def assign(
        self, partitions: Mapping[str, int], subscriptions: Mapping[str, Subscription]
    ) -> Plan:
        """See ``Assignor.assign``."""
        plan: Plan = {member: [] for member in subscriptions}
        members = sorted(subscriptions, key=lambda m: _member_order(m, subscriptions[m]))
        topics = {m: set(subscriptions[m].topics) for m in members}
        turn = 0
        for topic in sorted(_subscribers(subscriptions), key=java_order):
            for partition in range(max(partitions.get(topic, 0), 0)):
                # Someone subscribes to ``topic``, so this ends within one lap.
                while topic not in topics[members[turn % len(members)]]:
                    turn += 1
                plan[members[turn % len(members)]].append((topic, partition))
                turn += 1
        return plan


class CooperativeStickyAssignor:
    """Balanced and sticky, and cooperative: a partition changes owner over two rebalances.

    Each member reports what it owns and the generation it got it in. Where members claim the
    same partition, the highest generation's claim stands; a tie voids them all. Members
    keep what they validly own as far as balance allows; the rest is dealt out. When every
    member subscribes to the same topics, partition counts differ by at most one and members
    keep the most they can (Java's constrained assignment, the same result where Java's does
    not depend on its hash-map order). Otherwise the assignment is as balanced as the
    subscriptions allow (no partition can move so that the spread narrows) and sticky, but
    not move for move Java's. Finally every partition that changes owner, or that another
    member still claims, is withheld: its owner revokes it and rejoins, and the next round
    hands it out. Java's ``CooperativeStickyAssignor`` (sarama's ``BalanceStrategySticky``
    is its eager sibling), without rack awareness.
    """

    name: str = "cooperative-sticky"
    cooperative: bool = True

    def subscription_user_data(self, generation: int) -> bytes | None:
        """The generation of the member's last assignment, -1 before the first, as 4 bytes."""
        return encode_cooperative_user_data(generation)

    def assign(
        self, partitions: Mapping[str, int], subscriptions: Mapping[str, Subscription]
    ) -> Plan:
        """See ``Assignor.assign``."""
        topics = {m: frozenset(s.topics) for m, s in subscriptions.items()}
        counts = {t: n for t in _subscribers(subscriptions) if (n := partitions.get(t, 0)) > 0}
        owner, claimants = _resolve_claims(counts, subscriptions)
        owned = {
            m: [tp for tp in dict.fromkeys(s.owned_partitions) if owner.get(tp) == m]
            for m, s in subscriptions.items()
        }
        owned = {m: [tp for tp in tps if tp[0] in topics[m]] for m, tps in owned.items()}
        if len(set(topics.values())) <= 1:
            plan = _constrained_assign(counts, owned)
        else:
            plan = _general_assign(counts, topics, owned)
        # Give a member a partition that someone else claims only once nobody else does:
        # the claimant revokes it first (KIP-429), unless the member's own claim is newer.
        return {
            m: [tp for tp in tps if owner.get(tp) == m or claimants.get(tp, {m}) == {m}]
            for m, tps in plan.items()
        }


_ASSIGNORS: dict[str, Callable[[], Assignor]] = {
    RangeAssignor.name: RangeAssignor,
    RoundRobinAssignor.name: RoundRobinAssignor,
    CooperativeStickyAssignor.name: CooperativeStickyAssignor,
}


def assignor_from(name: str) -> Assignor:
    """A new assignor for Kafka's protocol ``name``: ``"range"``, ``"roundrobin"`` or
    ``"cooperative-sticky"``; ``ConfigError("group.rebalance_strategy")`` for any other.

    Java's ``partition.assignment.strategy``; sarama's ``Group.Rebalance.GroupStrategies``.
    """
    try:
        return _ASSIGNORS[name]()
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in _ASSIGNORS)
        raise ConfigError(
            "group.rebalance_strategy", f"unknown assignor {name!r}; known: {known}"
        ) from None


def _member_order(member: str, sub: Subscription) -> tuple[int, bytes, bytes]:
    if sub.group_instance_id is not None:
        return (0, java_order(sub.group_instance_id), java_order(member))
    return (1, java_order(member), b"")


def _subscribers(subscriptions: Mapping[str, Subscription]) -> dict[str, list[str]]:
    """Each subscribed topic's members, in the subscriptions' order."""
    members: dict[str, list[str]] = {}
    for member, sub in subscriptions.items():
        for topic in dict.fromkeys(sub.topics):
            members.setdefault(topic, []).append(member)
    return members


def _generation(sub: Subscription) -> int:
    # Subscriptions before v2 carry no generation field: the cooperative user data has it.
    # Java takes -1 for user data it cannot read.
    if sub.generation >= 0 or sub.user_data is None:
        return sub.generation if sub.generation >= 0 else -1
    try:
        return decode_cooperative_user_data(sub.user_data)
    except DecodeError:
        return -1


def _resolve_claims(
    counts: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> tuple[dict[TopicPartition, str], dict[TopicPartition, set[str]]]:
    """Who validly owns each claimed partition (the claimant of the highest generation, if
    only one claims at that generation), and every member claiming each partition."""
    claimants: dict[TopicPartition, set[str]] = {}
    best: dict[TopicPartition, tuple[int, str | None]] = {}
    for member, sub in subscriptions.items():
        generation = _generation(sub)
        for tp in sub.owned_partitions:
            if not 0 <= tp[1] < counts.get(tp[0], 0):
                continue
            claimants.setdefault(tp, set()).add(member)
            top = best.get(tp)
            if top is None or generation > top[0]:
                best[tp] = (generation, member)
            elif generation == top[0] and top[1] != member:
                # Two owners in one generation: the claim is void (Java logs it as an error).
                best[tp] = (generation, None)
    owner = {tp: member for tp, (_, member) in best.items() if member is not None}
    return owner, claimants


def _all_partitions(counts: Mapping[str, int]) -> list[TopicPartition]:
    return [(t, p) for t in sorted(counts, key=java_order) for p in range(counts[t])]


def _constrained_assign(
    counts: Mapping[str, int], owned: Mapping[str, list[TopicPartition]]
) -> Plan:
    """Java's ``ConstrainedAssignmentBuilder`` (every member subscribes to the same topics).

    ``minQuota = P // N``; ``P % N`` members get one more. A member keeps its owned
    partitions up to its quota (the lowest partition numbers first); the others are dealt
    round-robin to the members under quota, sorted by member id. Java walks the members in
    its hash map's order where this walks them by member id: that order only decides which
    of several members owning more than the quota keep the extra one.
    """
    members = sorted(owned, key=java_order)
    if not members:
        return {}
    total = sum(counts.values())
    min_quota, expected_over = divmod(total, len(members))
    max_quota = min_quota + (expected_over > 0)
    over = 0
    plan: Plan = {}
    under_min: list[str] = []  # members still below minQuota
    at_min: list[str] = []  # members at minQuota that may still get one more
    for member in members:
        mine = sorted(owned[member], key=lambda tp: (tp[1], java_order(tp[0])))
        if len(mine) < min_quota:
            plan[member] = mine
            under_min.append(member)
        elif len(mine) >= max_quota and over < expected_over:
            plan[member] = mine[:max_quota]
            over += 1
            if over == expected_over:
                at_min.clear()
        else:
            plan[member] = mine[:min_quota]
            if over < expected_over:
                at_min.append(member)
    kept = {tp for tps in plan.values() for tp in tps}
    unassigned = [tp for tp in _all_partitions(counts) if tp not in kept]
    # Both lists are already in member-id order. Deal round-robin to the members under
    # minQuota, then one each to members at minQuota until P % N members are at maxQuota.
    turn = 0
    for tp in unassigned:
        if not under_min:
            plan[at_min.pop(0)].append(tp)
            continue
        turn %= len(under_min)
        member = under_min[turn]
        plan[member].append(tp)
        if len(plan[member]) == min_quota:
            del under_min[turn]
            at_min.append(member)
        else:
            turn += 1
    return plan


def _general_assign(
    counts: Mapping[str, int],
    topics: Mapping[str, frozenset[str]],
    owned: Mapping[str, list[TopicPartition]],
) -> Plan:
    """Sticky and balanced for members subscribing to different topics.

    Members keep their valid owned partitions; every other partition goes to the least
    loaded member subscribed to it (topics with the fewest subscribers first, as Java
    does); then partitions move along chains of members, from a member to one holding at
    least two fewer, until no such chain is left: that is the most even spread the
    subscriptions allow (each move narrows it). Newly placed partitions move first, owned
    ones only when no chain of new ones is left and as few as possible, so that a plan
    reached once is kept by the next round (whose only free partitions are those this
    round withheld).
    """
    spread = _Spread(counts, topics, owned)
    kept = {tp for tps in owned.values() for tp in tps}
    for topic in sorted(spread.topics, key=lambda t: len(spread.subscribers[t])):
        for tp in ((topic, p) for p in range(counts[topic])):
            if tp not in kept:
                spread.plan[min(spread.subscribers[topic], key=spread.load)][tp] = None
    spread.balance(owned_too=False)
    spread.balance(owned_too=True)
    return {m: list(tps) for m, tps in spread.plan.items()}


class _Spread:
    """A plan being balanced: members and topics in Java's string order, each topic's
    subscribers, what each member owned before this round and holds now."""

    def __init__(
        self,
        counts: Mapping[str, int],
        topics: Mapping[str, frozenset[str]],
        owned: Mapping[str, list[TopicPartition]],
    ) -> None:
        members = sorted(topics, key=java_order)
        self.topics = sorted(counts, key=java_order)
        self.topic_rank = {t: i for i, t in enumerate(self.topics)}
        self.subscribers = {t: [m for m in members if t in topics[m]] for t in self.topics}
        self.owned = {m: frozenset(owned[m]) for m in members}
        self.plan: dict[str, dict[TopicPartition, None]] = {
            m: dict.fromkeys(owned[m]) for m in members
        }
        self._gives: dict[str, list[tuple[str, TopicPartition]]] = {}  # _movable, by member

    def load(self, member: str) -> int:
        return len(self.plan[member])

    def balance(self, *, owned_too: bool) -> None:
        """Move partitions along chains from a member to one holding at least two fewer
        until there is no such chain; owned partitions only ``owned_too``, and as few of
        them as possible. The most loaded members give first."""
        self._gives.clear()
        while True:
            loads = sorted({self.load(m) for m in self.plan}, reverse=True)
            chains: list[Chain] = []
            for load in (n for n in loads if n >= loads[-1] + 2):
                givers = [m for m in self.plan if self.load(m) == load]
                chains = [c for m in givers if (c := self._chain(m, owned_too))]
                if chains:
                    break
            if not chains:
                return
            chain = min(chains, key=lambda c: (sum(tp in self.owned[g] for g, tp, _ in c), len(c)))
            for giver, tp, taker in chain:
                del self.plan[giver][tp]
                self.plan[taker][tp] = None
                self._gives.pop(giver, None)
                self._gives.pop(taker, None)

    def _chain(self, source: str, owned_too: bool) -> Chain | None:
        """The shortest chain of moves ``(giver, partition, taker)`` from ``source`` to a
        member holding at least two partitions fewer (the least loaded such member at that
        distance), or None."""
        limit = self.load(source) - 2
        came_from: dict[str, tuple[str, TopicPartition]] = {}
        spent: set[str] = set()  # topics whose subscribers are all reached already
        level = [source]
        while level:
            reached: list[str] = []
            for giver in level:
                for topic, tp in self._movable(giver, owned_too):
                    if topic in spent:
                        continue
                    spent.add(topic)
                    for taker in self.subscribers[topic]:
                        if taker != source and taker not in came_from:
                            came_from[taker] = (giver, tp)
                            reached.append(taker)
            ends = [m for m in reached if self.load(m) <= limit]
            if ends:
                taker = min(ends, key=self.load)
                chain: Chain = []
                while taker != source:
                    giver, tp = came_from[taker]
                    chain.append((giver, tp, taker))
                    taker = giver
                return chain[::-1]
            level = reached
        return None

    def _movable(self, member: str, owned_too: bool) -> list[tuple[str, TopicPartition]]:
        """Per topic ``member`` holds, the partition it would give away: one it did not own
        before this round if it has one, else (``owned_too``) an owned one; the highest
        numbered, as the constrained builder keeps the lowest."""
        cached = self._gives.get(member)
        if cached is not None:
            return cached
        owned = self.owned[member]
        best: dict[str, TopicPartition] = {}
        for tp in self.plan[member]:
            if tp in owned and not owned_too:
                continue
            other = best.get(tp[0])
            if other is None or (tp not in owned, tp[1]) > (other not in owned, other[1]):
                best[tp[0]] = tp
        gives = self._gives[member] = sorted(best.items(), key=lambda i: self.topic_rank[i[0]])
        return gives
