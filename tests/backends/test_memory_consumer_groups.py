"""The in-process coordinator of Kafka 4's consumer group protocol (KIP-848), call by call.

The backend contract (test_contract_consumer_protocol.py) runs the common scenarios on
memory:// and Kafka; these pin what only the in-process broker can show quickly and
exactly: its server assignors as pure functions (valid, balanced, sticky, over many
random cases), its deadlines (a clock of the test's own), static members taken over, and
its settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiomq.backends.base import CommittedOffset, Membership, TopicPartition
from aiomq.backends.group import ConsumerGroupCoordinator, HeartbeatAnswer
from aiomq.backends.memory import MemoryBackend, MemoryBroker
from aiomq.backends.memory._consumer_groups import (
    DEFAULT_CONSUMER_HEARTBEAT_INTERVAL,
    DEFAULT_CONSUMER_SESSION_TIMEOUT,
    ConsumerCoordinator,
)
from aiomq.backends.memory._coordinator import Coordinator
from aiomq.backends.memory._server_assignors import (
    SERVER_ASSIGNORS,
    MemberSpec,
    assign_range,
    assign_uniform,
)
from aiomq.config import SERVER_ASSIGNORS as ASSIGNOR_NAMES
from aiomq.errors import ConfigError, FencedInstanceId, GroupError, GroupNotEmpty, StaleMember

Plan = dict[str, frozenset[TopicPartition]]

# -- the assignors, as pure functions ---------------------------------------------------------


def every_partition(
    members: Mapping[str, MemberSpec], partitions: Mapping[str, int]
) -> set[TopicPartition]:
    """The partitions some member subscribes to, of topics that exist."""
    topics = {t for spec in members.values() for t in spec.subscribed if t in partitions}
    return {(t, p) for t in topics for p in range(partitions[t])}


def assert_valid(
    plan: Plan, members: Mapping[str, MemberSpec], partitions: Mapping[str, int]
) -> None:
    """Every member has an entry, every subscribed partition goes to exactly one member,
    and only to a member subscribed to its topic."""
    assert set(plan) == set(members)
    given_out = [tp for tps in plan.values() for tp in tps]
    assert len(given_out) == len(set(given_out)), "a partition given twice"
    assert set(given_out) == every_partition(members, partitions)
    for member_id, tps in plan.items():
        assert all(t in members[member_id].subscribed for t, _ in tps), (member_id, tps)


@st.composite
def groups(draw: st.DrawFn, *, homogeneous: bool) -> tuple[dict[str, MemberSpec], dict[str, int]]:
    """Members with random previous targets (disjoint, some stale: partitions that no
    longer exist, of topics no longer subscribed) and topics, some of which do not exist."""
    partitions = draw(
        st.dictionaries(st.sampled_from("abcde"), st.integers(1, 12), min_size=1, max_size=4)
    )
    names = [*sorted(partitions), "missing"]
    ids = draw(
        st.lists(st.text("mnopqrs", min_size=1, max_size=3), min_size=1, max_size=7, unique=True)
    )
    common = draw(st.frozensets(st.sampled_from(names), min_size=1))
    previous = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(names), st.integers(0, 13)),
            st.sampled_from(ids),
            max_size=30,
        )
    )
    members = {}
    for member_id in ids:
        subscribed = common if homogeneous else draw(st.frozensets(st.sampled_from(names)))
        target = frozenset(tp for tp, owner in previous.items() if owner == member_id)
        members[member_id] = MemberSpec(subscribed, target)
    return members, partitions


def kept(plan: Plan, members: Mapping[str, MemberSpec]) -> int:
    return sum(len(plan[m] & spec.target) for m, spec in members.items())


class TestUniform:
    def test_names_are_kafkas_and_uniform_is_the_default(self) -> None:
        assert tuple(SERVER_ASSIGNORS) == ASSIGNOR_NAMES == ("uniform", "range")

    def test_a_second_member_takes_half_and_the_first_keeps_its_lowest(self) -> None:
        t = frozenset({"t"})
        everything = frozenset(("t", p) for p in range(4))
        plan = assign_uniform({"a": MemberSpec(t, everything), "b": MemberSpec(t)}, {"t": 4})
        assert plan == {"a": {("t", 0), ("t", 1)}, "b": {("t", 2), ("t", 3)}}

    def test_the_members_holding_most_keep_the_extra_partitions(self) -> None:
        # 5 partitions over 2 members: the one with 3 keeps its 3; nothing moves.
        t = frozenset({"t"})
        a = frozenset({("t", 0), ("t", 1), ("t", 2)})
        b = frozenset({("t", 3), ("t", 4)})
        members = {"a": MemberSpec(t, a), "b": MemberSpec(t, b)}
        assert assign_uniform(members, {"t": 5}) == {"a": a, "b": b}

    @settings(max_examples=200, deadline=None)
    @given(groups(homogeneous=True))
    def test_homogeneous_is_balanced_and_moves_as_few_as_possible(
        self, case: tuple[dict[str, MemberSpec], dict[str, int]]
    ) -> None:
        members, partitions = case
        plan = assign_uniform(members, partitions)
        assert_valid(plan, members, partitions)
        sizes = [len(tps) for tps in plan.values()]
        assert max(sizes) - min(sizes) <= 1
        # The most a balanced plan can keep: each member keeps up to its quota, the members
        # that may keep most getting the quotas one larger.
        every = every_partition(members, partitions)
        quota, extra = divmod(len(every), len(members))
        keepable = sorted((len(spec.target & every) for spec in members.values()), reverse=True)
        best = sum(min(c, quota + (1 if i < extra else 0)) for i, c in enumerate(keepable))
        assert kept(plan, members) == best

    @settings(max_examples=200, deadline=None)
    @given(groups(homogeneous=False))
    def test_heterogeneous_is_valid_and_no_move_would_balance_it_more(
        self, case: tuple[dict[str, MemberSpec], dict[str, int]]
    ) -> None:
        members, partitions = case
        plan = assign_uniform(members, partitions)
        assert_valid(plan, members, partitions)
        for t in {topic for topic, _ in every_partition(members, partitions)}:
            subscribers = [m for m, spec in members.items() if t in spec.subscribed]
            holders = [m for m in subscribers if any(tp[0] == t for tp in plan[m])]
            for giver in holders:
                for taker in subscribers:
                    assert len(plan[giver]) - len(plan[taker]) <= 1, (t, giver, taker, plan)

    @settings(max_examples=200, deadline=None)
    @given(groups(homogeneous=False))
    def test_a_plan_given_back_as_the_previous_one_stays_as_it_is(
        self, case: tuple[dict[str, MemberSpec], dict[str, int]]
    ) -> None:
        members, partitions = case
        plan = assign_uniform(members, partitions)
        again = {m: MemberSpec(spec.subscribed, plan[m]) for m, spec in members.items()}
        assert assign_uniform(again, partitions) == plan

    @settings(max_examples=200, deadline=None)
    @given(groups(homogeneous=True), st.integers(0, 6))
    def test_a_member_leaving_moves_only_its_partitions(
        self, case: tuple[dict[str, MemberSpec], dict[str, int]], which: int
    ) -> None:
        members, partitions = case
        plan = assign_uniform(members, partitions)
        if len(members) < 2:
            return
        gone = sorted(members)[which % len(members)]
        rest = {m: MemberSpec(spec.subscribed, plan[m]) for m, spec in members.items() if m != gone}
        after = assign_uniform(rest, partitions)
        for m in rest:
            # Only the leaver's partitions are handed out; the others keep theirs, unless a
            # member must give one up because the quotas shrank (never here: quotas grow).
            assert plan[m] <= after[m], (m, plan[m], after[m])


class TestRange:
    def test_kafkas_example_co_partitions_two_topics(self) -> None:
        both = frozenset({"t1", "t2"})
        plan = assign_range({"m0": MemberSpec(both), "m1": MemberSpec(both)}, {"t1": 3, "t2": 3})
        assert plan == {
            "m0": {("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1)},
            "m1": {("t1", 2), ("t2", 2)},
        }

    def test_static_members_come_first_by_instance_id_so_restarts_change_nothing(
        self,
    ) -> None:
        t = frozenset({"t"})
        before = assign_range(
            {
                "z": MemberSpec(t, instance_id="i-1"),
                "a": MemberSpec(t, instance_id="i-2"),
                "b": MemberSpec(t),
            },
            {"t": 5},
        )
        assert before == {"z": {("t", 0), ("t", 1)}, "a": {("t", 2), ("t", 3)}, "b": {("t", 4)}}
        # Both static members restart with new member ids that sort the other way round.
        after = assign_range(
            {
                "y": MemberSpec(t, instance_id="i-2"),
                "c": MemberSpec(t, instance_id="i-1"),
                "b": MemberSpec(t),
            },
            {"t": 5},
        )
        assert after["c"] == before["z"]
        assert after["y"] == before["a"]

    @settings(max_examples=200, deadline=None)
    @given(groups(homogeneous=False))
    def test_each_topic_is_split_in_contiguous_ranges_by_member_order(
        self, case: tuple[dict[str, MemberSpec], dict[str, int]]
    ) -> None:
        members, partitions = case
        plan = assign_range(members, partitions)
        assert_valid(plan, members, partitions)
        for t, n in partitions.items():
            subscribers = sorted(m for m, spec in members.items() if t in spec.subscribed)
            got = [sorted(p for topic, p in plan[m] if topic == t) for m in subscribers]
            assert [p for mine in got for p in mine] == list(range(n)) or not subscribers
            sizes = [len(mine) for mine in got]
            assert sizes == sorted(sizes, reverse=True)
            assert not sizes or max(sizes) - min(sizes) <= 1


# -- the coordinator, on a clock of the test's own ----------------------------------------------


class Clock:
    """The coordinator's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Member:
    """One member, driven call by call: joins, heartbeats, and acknowledges what it is
    told at its next heartbeat (as Java does once its callbacks ran)."""

    def __init__(
        self,
        c: ConsumerCoordinator,
        member_id: str,
        topics: Sequence[str] = ("t",),
        *,
        instance_id: str | None = None,
        rebalance_timeout: float = 30.0,
        assignor: str | None = None,
    ) -> None:
        self.c = c
        self.member_id = member_id
        self.topics = topics
        self.instance_id = instance_id
        self.rebalance_timeout = rebalance_timeout
        self.assignor = assignor
        self.epoch = 0
        self.owned: dict[str, tuple[int, ...]] = {}
        self.answer: HeartbeatAnswer | None = None

    def join(self) -> HeartbeatAnswer:
        self.epoch = 0
        self.owned = {}
        return self._took(
            self.c.heartbeat(
                "g",
                member_id=self.member_id,
                member_epoch=0,
                instance_id=self.instance_id,
                rebalance_timeout=self.rebalance_timeout,
                subscribed_topics=self.topics,
                server_assignor=self.assignor,
                owned={},
            )
        )

    def beat(
        self, *, ack: bool = True, owned: Mapping[str, Sequence[int]] | None = None
    ) -> HeartbeatAnswer:
        """A heartbeat; ``ack``: report what it owns (which acknowledges what it gave up)."""
        return self._took(
            self.c.heartbeat(
                "g",
                member_id=self.member_id,
                member_epoch=self.epoch,
                instance_id=self.instance_id,
                owned=owned if owned is not None else (self.owned if ack else None),
            )
        )

    def _took(self, answer: HeartbeatAnswer) -> HeartbeatAnswer:
        self.answer = answer
        self.epoch = answer.member_epoch
        if answer.assignment is not None:
            self.owned = dict(answer.assignment)
        return answer

    @property
    def partitions(self) -> set[int]:
        return set(self.owned.get("t", ()))


def coordinator(partitions: dict[str, int] | None = None) -> tuple[ConsumerCoordinator, Clock]:
    clock = Clock()
    counts = {"t": 4} if partitions is None else partitions
    return ConsumerCoordinator(Coordinator(), counts.get, clock), clock


def join_request(**changes: object) -> dict[str, object]:
    """The arguments of a valid join of member ``a`` to topic ``t``, with ``changes``."""
    request: dict[str, object] = {
        "member_id": "a",
        "member_epoch": 0,
        "rebalance_timeout": 30.0,
        "subscribed_topics": ["t"],
        "owned": {},
    }
    request.update(changes)
    return request


def pair(c: ConsumerCoordinator) -> tuple[Member, Member]:
    """Two members of ``g`` sharing topic ``t``'s 4 partitions, reconciled."""
    a, b = Member(c, "a"), Member(c, "b")
    a.join()
    b.join()
    a.beat()  # told to give half up
    a.beat()  # acknowledges
    b.beat()  # gets the other half
    assert a.partitions | b.partitions == {0, 1, 2, 3}
    assert not a.partitions & b.partitions
    assert c.describe_group("g").state == "Stable"  # type: ignore[union-attr]
    return a, b


class TestReconciliation:
    def test_revocation_first_then_the_new_owner(self) -> None:
        c, _ = coordinator()
        a, b = Member(c, "a"), Member(c, "b")
        assert a.join().assignment == {"t": (0, 1, 2, 3)}
        first = a.epoch
        joined = b.join()
        assert joined.assignment == {}
        assert joined.member_epoch > first
        told = a.beat(ack=False)
        assert told.member_epoch == first
        assert told.assignment == {"t": (0, 1)}
        assert b.beat().assignment is None  # nothing for b until a lets go
        assert a.beat().member_epoch == joined.member_epoch  # a acknowledged: target epoch
        assert b.beat().assignment == {"t": (2, 3)}

    def test_a_heartbeat_without_owned_acknowledges_nothing(self) -> None:
        c, _ = coordinator()
        a, b = Member(c, "a"), Member(c, "b")
        a.join()
        b.join()
        a.beat()
        assert a.beat(ack=False).member_epoch == 1  # owned not sent: still revoking
        assert b.beat().assignment is None

    def test_the_full_assignment_is_sent_on_a_full_request(self) -> None:
        c, _ = coordinator()
        a = Member(c, "a")
        a.join()
        assert a.beat().assignment is None
        full = c.heartbeat(
            "g",
            member_id="a",
            member_epoch=a.epoch,
            rebalance_timeout=30.0,
            subscribed_topics=["t"],
            owned=a.owned,
        )
        assert full.assignment == {"t": (0, 1, 2, 3)}

    def test_the_previous_epoch_passes_only_with_owned_within_the_assignment(self) -> None:
        c, _ = coordinator()
        a, b = Member(c, "a"), Member(c, "b")
        a.join()
        b.join()
        a.beat()
        old = a.epoch
        a.beat()  # the acknowledgement moves a on; say its answer was lost
        assert a.epoch == old + 1
        lost = c.heartbeat("g", member_id="a", member_epoch=old, owned={"t": [0, 1]})
        assert lost.member_epoch == old + 1
        with pytest.raises(StaleMember) as fenced:
            c.heartbeat("g", member_id="a", member_epoch=old, owned={"t": [0, 1, 2]})
        assert fenced.value.reason == "FENCED_MEMBER_EPOCH"
        with pytest.raises(StaleMember) as without:
            c.heartbeat("g", member_id="a", member_epoch=old)  # owned not sent
        assert without.value.reason == "FENCED_MEMBER_EPOCH"

    def test_a_topic_created_later_is_assigned_at_a_new_epoch(self) -> None:
        partitions: dict[str, int] = {}
        c = ConsumerCoordinator(Coordinator(), partitions.get, Clock())
        a = Member(c, "a")
        assert a.join().assignment == {}
        before = a.epoch
        partitions["t"] = 2
        got = a.beat()
        assert got.assignment == {"t": (0, 1)}
        assert got.member_epoch > before

    def test_the_group_is_assigning_after_a_member_leaves_until_a_heartbeat(self) -> None:
        c, _ = coordinator()
        a, _ = pair(c)
        c.heartbeat("g", member_id="b", member_epoch=-1)
        described = c.describe_group("g")
        assert described is not None
        assert described.state == "Assigning"
        assert described.group_epoch == described.assignment_epoch + 1
        assert a.beat().assignment == {"t": (0, 1, 2, 3)}
        assert c.describe_group("g").state == "Stable"  # type: ignore[union-attr]

    def test_the_assignor_most_members_ask_for_is_the_groups(self) -> None:
        c, _ = coordinator()
        Member(c, "a", assignor="range").join()
        described = c.describe_group("g")
        assert described is not None
        assert described.protocol == "range"

    def test_heterogeneous_members_get_only_their_topics(self) -> None:
        c, _ = coordinator({"t": 2, "u": 2})
        a, b = Member(c, "a", ["t", "u"]), Member(c, "b", ["u"])
        a.join()
        b.join()
        a.beat()
        a.beat()
        b.beat()
        assert {t for t in b.owned if b.owned[t]} == {"u"}
        owned = [(t, p) for m in (a, b) for t, ps in m.owned.items() for p in ps]
        assert sorted(owned) == [("t", 0), ("t", 1), ("u", 0), ("u", 1)]


class TestDeadlines:
    def test_a_silent_member_is_removed_at_its_session_timeout(self) -> None:
        c, clock = coordinator()
        c.consumer_session_timeout = 10.0
        a, b = pair(c)
        clock.now += 9.9
        b.beat()
        assert c.describe_group("g").members.__len__() == 2  # type: ignore[union-attr]
        clock.now += 0.1  # a's session: 10 s since its last heartbeat
        got = b.beat()
        assert got.assignment == {"t": (0, 1, 2, 3)}  # a's partitions are free at once
        with pytest.raises(StaleMember) as gone:
            a.beat()
        assert gone.value.reason == "UNKNOWN_MEMBER_ID"

    def test_a_member_that_does_not_revoke_in_its_rebalance_timeout_is_removed(self) -> None:
        c, clock = coordinator()
        a, b = Member(c, "a", rebalance_timeout=5.0), Member(c, "b")
        a.join()
        b.join()
        a.beat(ack=False)  # told to revoke 2 and 3: a's 5 s start now
        for _ in range(4):
            clock.now += 1.2
            a.beat(owned={"t": [0, 1, 2, 3]})  # alive, but still holding them
            assert b.beat().assignment is None
        clock.now += 0.2
        assert b.beat().assignment == {"t": (0, 1, 2, 3)}
        with pytest.raises(StaleMember) as gone:
            a.beat()
        assert gone.value.reason == "UNKNOWN_MEMBER_ID"

    def test_acknowledging_in_time_stops_the_rebalance_timeout(self) -> None:
        c, clock = coordinator()
        a, b = Member(c, "a", rebalance_timeout=5.0), Member(c, "b")
        a.join()
        b.join()
        a.beat(ack=False)
        clock.now += 4.9
        a.beat()  # acknowledged just in time
        clock.now += 10.0
        a.beat()
        b.beat()
        assert a.partitions == {0, 1}
        assert b.partitions == {2, 3}

    @pytest.mark.asyncio
    async def test_deadlines_need_no_task_or_timer(self) -> None:
        backend = MemoryBackend(MemoryBroker())
        await backend.create_topic("t", 2)
        loop = asyncio.get_running_loop()
        tasks, timers = len(asyncio.all_tasks()), len(loop._scheduled)  # type: ignore[attr-defined]
        await backend.consumer_group_heartbeat(
            "g",
            member_id="a",
            member_epoch=0,
            rebalance_timeout=1.0,
            subscribed_topics=["t"],
            owned={},
        )
        assert len(asyncio.all_tasks()) == tasks
        assert len(loop._scheduled) == timers  # type: ignore[attr-defined]
        await backend.aclose()


class TestStatic:
    def test_leaving_for_a_moment_keeps_the_assignment_until_the_session_ends(self) -> None:
        c, clock = coordinator()
        c.consumer_session_timeout = 10.0
        s, b = Member(c, "s1", instance_id="i"), Member(c, "b")
        s.join()
        b.join()
        s.beat()
        s.beat()
        b.beat()
        held = s.partitions
        assert c.heartbeat("g", member_id="s1", member_epoch=-2, instance_id="i").member_epoch == -2
        clock.now += 9.0
        assert b.beat().assignment is None  # s's partitions stay s's
        clock.now += 1.0  # s's session ends
        assert b.beat().assignment == {"t": (0, 1, 2, 3)}
        assert held <= b.partitions

    def test_a_new_member_id_takes_over_the_epoch_and_the_assignment(self) -> None:
        c, _ = coordinator()
        s1 = Member(c, "s1", instance_id="i")
        s1.join()
        epoch, held = s1.epoch, s1.owned
        c.heartbeat("g", member_id="s1", member_epoch=-2, instance_id="i")
        s2 = Member(c, "s2", instance_id="i")
        back = s2.join()
        assert (back.member_epoch, back.assignment) == (epoch, held)
        with pytest.raises(FencedInstanceId):
            s1.beat()
        described = c.describe_group("g")
        assert described is not None
        assert [m.member_id for m in described.members] == ["s2"]

    def test_the_instance_id_is_refused_while_its_member_has_not_left(self) -> None:
        c, _ = coordinator()
        Member(c, "s1", instance_id="i").join()
        with pytest.raises(FencedInstanceId, match="UNRELEASED_INSTANCE_ID"):
            Member(c, "s2", instance_id="i").join()

    def test_leaving_for_good_frees_the_partitions_at_once(self) -> None:
        c, _ = coordinator()
        s, b = Member(c, "s1", instance_id="i"), Member(c, "b")
        s.join()
        b.join()
        c.heartbeat("g", member_id="s1", member_epoch=-1, instance_id="i")
        assert b.beat().assignment == {"t": (0, 1, 2, 3)}


class TestRequests:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"rebalance_timeout": None}, "RebalanceTimeoutMs must be provided"),
            ({"owned": None}, "TopicPartitions must be empty"),
            ({"owned": {"t": [0]}}, "TopicPartitions must be empty"),
            ({"subscribed_topics": None}, "SubscribedTopicNames or SubscribedTopicRegex"),
        ],
    )
    def test_a_join_without_what_it_must_send_is_refused_as_kafka_refuses_it(
        self, changes: dict[str, object], message: str
    ) -> None:
        c, _ = coordinator()
        request = join_request(**changes)
        with pytest.raises(GroupError, match=message):
            c.heartbeat("g", **request)  # type: ignore[arg-type]

    def test_a_temporary_leave_needs_an_instance_id(self) -> None:
        c, _ = coordinator()
        Member(c, "a").join()
        with pytest.raises(GroupError, match="InstanceId"):
            c.heartbeat("g", member_id="a", member_epoch=-2)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"member_id": ""}, "member_id"),
            ({"member_epoch": -3}, "member_epoch"),
            ({"member_epoch": True}, "member_epoch"),
            ({"instance_id": ""}, "instance_id"),
            ({"rebalance_timeout": 0}, "group.rebalance_timeout"),
            ({"rebalance_timeout": float("nan")}, "group.rebalance_timeout"),
            ({"subscribed_topics": "t"}, "subscribed_topics"),
            ({"server_assignor": ""}, "group.remote_assignor"),
            ({"server_assignor": "sticky"}, "group.remote_assignor"),
            ({"owned": {"t": [-1]}}, "owned"),
            ({"owned": [("t", 0)]}, "owned"),
        ],
    )
    def test_bad_arguments_are_config_errors_naming_them(
        self, changes: dict[str, object], field: str
    ) -> None:
        c, _ = coordinator()
        request = join_request(**changes)
        with pytest.raises(ConfigError) as bad:
            c.heartbeat("g", **request)  # type: ignore[arg-type]
        assert bad.value.field == field
        assert not c.known("g")  # nothing was created

    def test_an_unknown_group_or_member(self) -> None:
        c, _ = coordinator()
        with pytest.raises(GroupError):
            c.heartbeat("g", member_id="a", member_epoch=3)
        Member(c, "a").join()
        with pytest.raises(StaleMember) as unknown:
            c.heartbeat("g", member_id="nobody", member_epoch=3)
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"


class TestSettings:
    def test_kafkas_session_timeout_and_a_short_heartbeat_interval(self) -> None:
        c, _ = coordinator()
        assert c.consumer_session_timeout == DEFAULT_CONSUMER_SESSION_TIMEOUT == 45.0
        assert (
            Member(c, "a").join().heartbeat_interval == DEFAULT_CONSUMER_HEARTBEAT_INTERVAL == 0.5
        )
        c.consumer_heartbeat_interval = 2.0
        assert Member(c, "b").join().heartbeat_interval == 2.0

    @pytest.mark.asyncio
    async def test_a_broker_without_the_protocol(self) -> None:
        backend = MemoryBackend(MemoryBroker())
        assert isinstance(backend, ConsumerGroupCoordinator)
        assert await backend.supports_consumer_protocol()
        backend.broker.consumer_coordinator.consumer_protocol = False
        assert not await backend.supports_consumer_protocol()
        with pytest.raises(ConfigError) as refused:
            await backend.consumer_group_heartbeat(
                "g",
                member_id="a",
                member_epoch=0,
                rebalance_timeout=1.0,
                subscribed_topics=[],
                owned={},
            )
        assert refused.value.field == "group.protocol"


class TestGroupTypes:
    @pytest.mark.asyncio
    async def test_a_group_id_is_classic_or_consumer_never_both(self) -> None:
        backend = MemoryBackend(MemoryBroker())
        await backend.create_topic("t", 2)
        joined = join_request(rebalance_timeout=10.0)
        await backend.consumer_group_heartbeat("g", **joined)  # type: ignore[arg-type]
        with pytest.raises(GroupError, match="consumer group"):
            await backend.join_group(
                "g",
                member_id="",
                instance_id="i",
                session_timeout=10.0,
                rebalance_timeout=10.0,
                protocol_type="consumer",
                protocols=[("range", b"")],
            )
        await backend.consumer_group_heartbeat("g", member_id="a", member_epoch=-1)
        # Empty: a classic member may take the id over, and then the other way round.
        classic = await backend.join_group(
            "g",
            member_id="",
            instance_id="i",
            session_timeout=10.0,
            rebalance_timeout=10.0,
            protocol_type="consumer",
            protocols=[("range", b"")],
        )
        assert (await backend.describe_group("g")).group_type == "classic"
        with pytest.raises(GroupError, match="classic group"):
            await backend.consumer_group_heartbeat("g", **joined)  # type: ignore[arg-type]
        await backend.leave_group("g", [(classic.member_id, "i")])
        await backend.consumer_group_heartbeat("g", **joined)  # type: ignore[arg-type]
        assert (await backend.describe_group("g")).group_type == "consumer"

    @pytest.mark.asyncio
    async def test_offsets_plain_commits_and_deletion(self) -> None:
        backend = MemoryBackend(MemoryBroker())
        await backend.create_topic("t", 2)
        answer = await backend.consumer_group_heartbeat(
            "g",
            member_id="a",
            member_epoch=0,
            rebalance_timeout=10.0,
            subscribed_topics=["t"],
            owned={},
        )
        offsets = {("t", 0): CommittedOffset(5)}
        with pytest.raises(StaleMember):
            await backend.commit_offsets("g", offsets)  # outside group management
        await backend.commit_member_offsets(Membership("g", answer.member_epoch, "a"), offsets)
        with pytest.raises(GroupNotEmpty):
            await backend.delete_group("g")
        await backend.consumer_group_heartbeat("g", member_id="a", member_epoch=-1)
        await backend.commit_offsets("g", {("t", 1): CommittedOffset(7)})  # empty: allowed
        assert await backend.group_offsets("g") == {**offsets, ("t", 1): CommittedOffset(7)}
        await backend.delete_group("g")
        assert await backend.group_offsets("g") == {}
        assert [g.group for g in await backend.list_groups()] == []
