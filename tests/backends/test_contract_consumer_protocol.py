"""The consumer group protocol contract (KIP-848): what a consumer-protocol member relies on
from ``ConsumerGroupCoordinator``, on every backend.

Each test runs on ``memory://`` and, with ``-m kafka``, on a real Kafka 4.1 broker, as
tests/backends/test_contract.py does. The coordinator never pushes: a member learns of a
change from its next heartbeat, and Kafka may answer a first join before it has the new
topic's metadata, so what a test waits for is heartbeated for in a bounded loop
(``Member.until``), never slept for.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping
from typing import cast

import anyio
import pytest
import pytest_asyncio

from aiomq.backends.base import CommittedOffset, Membership, TopicPartition
from aiomq.backends.group import ConsumerGroupCoordinator, GroupCoordinator, HeartbeatAnswer
from aiomq.backends.memory import MemoryBackend
from aiomq.client import Client
from aiomq.errors import ConfigError, FencedInstanceId, GroupError, GroupNotEmpty, StaleMember
from tests.backends.common import create

pytestmark = pytest.mark.asyncio

PARTITIONS = 4
WAIT = 20.0  # bound on waiting for the coordinator (Kafka: a new topic's metadata, heartbeats)
PAUSE = 0.1  # between the heartbeats of a wait; coordinators answer early heartbeats too
SESSION_WAIT = 30.0  # bound on a session's end: the Kafka test broker's sessions are 6 s
# Bound on a regular expression's new match: Kafka 4.1 resolves a group's expressions at most
# once every 10 s (10.1 s measured for a topic created right after the join).
PATTERN_WAIT = 40.0

Assignment = Mapping[str, tuple[int, ...]]


def new_member_id() -> str:
    """A member id as Java's consumer makes one (a Kafka Uuid string)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def count(assignment: Assignment | None) -> int:
    return sum(len(parts) for parts in (assignment or {}).values())


def partitions(assignment: Assignment | None) -> set[TopicPartition]:
    return {(t, p) for t, parts in (assignment or {}).items() for p in parts}


class Member:
    """One consumer-protocol member of ``group``, made of raw heartbeats: it remembers its
    epoch and the last assignment it was sent (``assigned``), and reports what it owns only
    when told to (``ack=True``), which acknowledges what it gave up."""

    def __init__(
        self,
        client: Client,
        group: str,
        topic: str,
        *,
        instance_id: str | None = None,
        server_assignor: str | None = None,
        rebalance_timeout: float = 30.0,
        pattern: str | None = None,
    ) -> None:
        self.coordinator = cast(ConsumerGroupCoordinator, client.backend)
        self.pattern = pattern
        self.rebalance_timeout = rebalance_timeout
        self.group = group
        self.topic = topic
        self.member_id = new_member_id()
        self.instance_id = instance_id
        self.server_assignor = server_assignor
        self.epoch = 0
        self.assigned: Assignment = {}

    async def join(self) -> HeartbeatAnswer:
        return self._took(
            await self.coordinator.consumer_group_heartbeat(
                self.group,
                member_id=self.member_id,
                member_epoch=0,
                instance_id=self.instance_id,
                rebalance_timeout=self.rebalance_timeout,
                subscribed_topics=[self.topic] if self.topic else [],
                server_assignor=self.server_assignor,
                owned={},
                subscribed_topic_regex=self.pattern,
            )
        )

    async def beat(self, *, ack: bool = False, epoch: int | None = None) -> HeartbeatAnswer:
        return self._took(
            await self.coordinator.consumer_group_heartbeat(
                self.group,
                member_id=self.member_id,
                member_epoch=self.epoch if epoch is None else epoch,
                instance_id=self.instance_id,
                owned=self.assigned if ack else None,
            )
        )

    async def until(
        self, done: Callable[[HeartbeatAnswer], bool], *, ack: bool = False, wait: float = WAIT
    ) -> HeartbeatAnswer:
        """Heartbeat until an answer satisfies ``done`` (bounded by ``wait``)."""
        with anyio.fail_after(wait):
            while True:
                answer = await self.beat(ack=ack)
                if done(answer):
                    return answer
                await anyio.sleep(PAUSE)

    async def leave(self, epoch: int = -1) -> HeartbeatAnswer:
        return await self.coordinator.consumer_group_heartbeat(
            self.group, member_id=self.member_id, member_epoch=epoch, instance_id=self.instance_id
        )

    def _took(self, answer: HeartbeatAnswer) -> HeartbeatAnswer:
        assert answer.member_id == self.member_id
        self.epoch = answer.member_epoch
        if answer.assignment is not None:
            self.assigned = dict(answer.assignment)
        return answer


async def alone(member: Member) -> HeartbeatAnswer:
    """``member`` joins and owns every partition, acknowledged."""
    await member.join()
    await member.until(lambda _: count(member.assigned) == PARTITIONS)
    return await member.beat(ack=True)


async def two(client: Client, group: str, topic: str) -> tuple[Member, Member]:
    """A owns every partition, then B joins: ``(a, b)``, nothing reconciled yet."""
    a = Member(client, group, topic)
    await alone(a)
    b = Member(client, group, topic)
    await b.join()
    return a, b


async def reconciled(a: Member, b: Member) -> None:
    """A gives up its half and acknowledges, then B gets it."""
    await a.until(lambda _: count(a.assigned) < PARTITIONS)
    await a.beat(ack=True)
    await b.until(lambda _: count(b.assigned) > 0)
    await b.beat(ack=True)


@pytest_asyncio.fixture
async def topic(client: Client, topic_name: str) -> str:
    await create(client, topic_name, PARTITIONS)
    return topic_name


@pytest.fixture
def group(topic_name: str) -> str:
    return f"g-{topic_name}"


async def test_both_backends_speak_the_protocol(client: Client) -> None:
    assert isinstance(client.backend, ConsumerGroupCoordinator)
    assert await client.backend.supports_consumer_protocol()


class TestEpochs:
    async def test_a_join_gives_an_epoch_an_interval_and_every_partition(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic)
        joined = await a.join()
        assert joined.member_epoch > 0
        assert 0 < joined.heartbeat_interval < 60  # seconds
        assert joined.assignment is not None  # a join is always answered with one
        got = await a.until(lambda _: count(a.assigned) == PARTITIONS)
        assert a.assigned == {topic: tuple(range(PARTITIONS))}
        assert got.member_epoch >= joined.member_epoch

    async def test_the_assignment_is_sent_when_it_changed_or_all_fields_were_sent(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic)
        stable = await alone(a)
        assert stable.assignment is None  # acknowledged: nothing new
        assert (await a.beat()).assignment is None
        full = await a.coordinator.consumer_group_heartbeat(
            group,
            member_id=a.member_id,
            member_epoch=a.epoch,
            rebalance_timeout=30.0,
            subscribed_topics=[topic],
            owned=a.assigned,
        )  # what a member sends after an error
        assert full.assignment == {topic: tuple(range(PARTITIONS))}

    async def test_a_second_member_gets_partitions_only_once_the_first_revoked_them(
        self, client: Client, group: str, topic: str
    ) -> None:
        a, b = await two(client, group, topic)
        first = a.epoch
        assert b.epoch > first  # the group's new epoch
        assert b.assigned == {}  # everything is still A's

        told = await a.beat()  # A is told to revoke, at its old epoch
        assert told.member_epoch == first
        assert 0 < count(told.assignment) < PARTITIONS
        given_up = {(topic, p) for p in range(PARTITIONS)} - partitions(told.assignment)

        b_epoch = b.epoch
        waiting = await b.beat()  # nothing for B until A lets go, and no new epoch either
        assert count(b.assigned) == 0
        assert waiting.member_epoch == b_epoch

        acked = await a.beat(ack=True)  # A has nothing left to revoke: the group's epoch
        assert acked.member_epoch == b.epoch

        got = await b.until(lambda _: count(b.assigned) > 0)
        assert got.member_epoch == acked.member_epoch  # the same epoch, no new one
        assert partitions(b.assigned) == given_up

    async def test_an_epoch_ahead_or_behind_is_fenced_unless_it_is_the_previous_one(
        self, client: Client, group: str, topic: str
    ) -> None:
        a, _ = await two(client, group, topic)
        told = await a.beat()
        previous = told.member_epoch
        await a.beat(ack=True)  # moves A on from ``previous``
        with pytest.raises(StaleMember) as ahead:
            await a.beat(epoch=a.epoch + 5)
        assert ahead.value.reason == "FENCED_MEMBER_EPOCH"
        # The previous epoch passes with owned partitions within the assignment (the
        # member's last answer was lost), not with a partition it gave up.
        lost = await a.coordinator.consumer_group_heartbeat(
            group, member_id=a.member_id, member_epoch=previous, owned=a.assigned
        )
        assert lost.member_epoch == a.epoch
        with pytest.raises(StaleMember) as behind:
            await a.coordinator.consumer_group_heartbeat(
                group,
                member_id=a.member_id,
                member_epoch=previous,
                owned={topic: tuple(range(PARTITIONS))},
            )
        assert behind.value.reason == "FENCED_MEMBER_EPOCH"
        with pytest.raises(StaleMember) as unknown:
            await a.coordinator.consumer_group_heartbeat(
                group, member_id=new_member_id(), member_epoch=3
            )
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        # Being refused changed nothing: A goes on at its epoch.
        assert (await a.beat()).member_epoch == a.epoch


class TestTopics:
    async def test_a_topic_created_after_the_join_is_assigned_at_a_new_epoch(
        self, client: Client, group: str, topic_name: str
    ) -> None:
        a = Member(client, group, topic_name)
        joined = await a.join()
        assert joined.assignment == {}  # nothing to assign: the topic does not exist
        await create(client, topic_name, 2)
        got = await a.until(lambda _: count(a.assigned) == 2)
        assert got.member_epoch > joined.member_epoch

    async def test_a_member_dropping_a_topic_from_its_subscription_gives_it_up(
        self, client: Client, group: str, topic: str
    ) -> None:
        other = f"{topic}-2"
        await create(client, other, 2)
        a = Member(client, group, topic)
        await alone(a)
        before = a.epoch
        coordinator = cast(ConsumerGroupCoordinator, client.backend)
        both = await coordinator.consumer_group_heartbeat(
            group, member_id=a.member_id, member_epoch=a.epoch, subscribed_topics=[topic, other]
        )
        a._took(both)
        await a.until(lambda _: count(a.assigned) == PARTITIONS + 2, ack=True)
        assert a.epoch > before
        only = await coordinator.consumer_group_heartbeat(
            group, member_id=a.member_id, member_epoch=a.epoch, subscribed_topics=[other]
        )
        assert only.assignment == {other: (0, 1)}


class TestPatterns:
    """Subscribing by a regular expression (KIP-848's SubscribedTopicRegex). Kafka resolves
    it asynchronously, so what a member gets is heartbeated for, never expected at once."""

    async def test_a_pattern_is_assigned_the_topics_whose_whole_name_it_matches(
        self, client: Client, group: str, topic_name: str
    ) -> None:
        for suffix, partitions_ in (("a", 2), ("b", 1), ("a-not", 1)):
            await create(client, f"{topic_name}-{suffix}", partitions_)
        await create(client, f"x{topic_name}-a", 1)
        pattern = f"{topic_name}-[ab]"
        a = Member(client, group, "", pattern=pattern)
        await a.join()
        await a.until(lambda _: count(a.assigned) >= 3, ack=True)
        assert a.assigned == {f"{topic_name}-a": (0, 1), f"{topic_name}-b": (0,)}
        described = await cast(GroupCoordinator, client.backend).describe_group(group)
        [member] = described.members
        assert (member.subscribed_pattern, member.subscribed_topics) == (pattern, ())

    async def test_a_topic_created_later_that_matches_is_assigned_a_deleted_one_given_up(
        self, client: Client, group: str, topic_name: str
    ) -> None:
        first, later = f"{topic_name}-1", f"{topic_name}-2"
        await create(client, first, 2)
        a = Member(client, group, "", pattern=f"{topic_name}-[0-9]+")
        await a.join()
        await a.until(lambda _: count(a.assigned) == 2, ack=True)
        before = a.epoch
        await create(client, later, 1)
        await a.until(lambda _: later in a.assigned, ack=True, wait=PATTERN_WAIT)
        assert a.assigned == {first: (0, 1), later: (0,)}
        assert a.epoch > before
        async with client.admin() as admin:
            await admin.delete_topic(first)
        await a.until(lambda _: first not in a.assigned, ack=True, wait=PATTERN_WAIT)
        assert a.assigned == {later: (0,)}

    async def test_an_invalid_pattern_is_a_config_error(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic)
        await alone(a)
        joined = a.epoch
        # The second is valid in Python's re, not in RE2J (no lookarounds).
        for pattern in ("(unclosed", f"{topic}(?=x)"):
            with pytest.raises(ConfigError) as caught:
                await Member(client, group, topic, pattern=pattern).join()
            assert caught.value.field == "pattern"
            assert pattern in str(caught.value)
        # Refused before joining: the group did not change.
        assert (await a.beat()).member_epoch == joined
        described = await cast(GroupCoordinator, client.backend).describe_group(group)
        assert [m.member_id for m in described.members] == [a.member_id]
        assert described.group_epoch == joined

    async def test_names_and_a_pattern_subscribe_to_the_union_and_an_empty_pattern_drops_it(
        self, client: Client, group: str, topic: str
    ) -> None:
        matched = f"{topic}-m"
        await create(client, matched, 1)
        a = Member(client, group, topic, pattern=f"{topic}-.*")
        await a.join()
        await a.until(lambda _: count(a.assigned) == PARTITIONS + 1, ack=True)
        assert a.assigned == {topic: tuple(range(PARTITIONS)), matched: (0,)}
        before = a.epoch
        dropped = await a.coordinator.consumer_group_heartbeat(
            group, member_id=a.member_id, member_epoch=a.epoch, subscribed_topic_regex=""
        )
        a._took(dropped)
        await a.until(lambda _: matched not in a.assigned, ack=True, wait=PATTERN_WAIT)
        assert a.assigned == {topic: tuple(range(PARTITIONS))}
        assert a.epoch > before
        described = await cast(GroupCoordinator, client.backend).describe_group(group)
        [member] = described.members
        assert (member.subscribed_pattern, member.subscribed_topics) == (None, (topic,))


class TestLeaving:
    async def test_a_member_leaving_frees_its_partitions_for_the_other(
        self, client: Client, group: str, topic: str
    ) -> None:
        a, b = await two(client, group, topic)
        await reconciled(a, b)
        held = a.epoch
        left = await b.leave()
        assert (left.member_id, left.member_epoch, left.assignment) == (b.member_id, -1, None)
        got = await a.until(lambda _: count(a.assigned) == PARTITIONS)
        assert got.member_epoch > held
        with pytest.raises(StaleMember) as gone:
            await b.beat()
        assert gone.value.reason == "UNKNOWN_MEMBER_ID"

    async def test_a_static_member_away_for_a_moment_keeps_its_partitions_until_its_session_ends(
        self, client: Client, group: str, topic: str
    ) -> None:
        if isinstance(client.backend, MemoryBackend):
            client.backend.broker.consumer_coordinator.consumer_session_timeout = 1.0
        s1 = Member(client, group, topic, instance_id="static-1")
        await alone(s1)
        b = Member(client, group, topic)
        await b.join()
        await s1.until(lambda _: count(s1.assigned) < PARTITIONS)
        await s1.beat(ack=True)
        await b.until(lambda _: count(b.assigned) > 0, ack=True)
        kept = partitions(s1.assigned)
        away = time.monotonic()
        await s1.leave(-2)
        # B gets none of S1's partitions while S1 may come back, all of them once its
        # session has ended.
        got = await b.until(lambda _: count(b.assigned) == PARTITIONS, ack=True, wait=SESSION_WAIT)
        assert time.monotonic() - away >= 0.9
        assert kept <= partitions(got.assignment)

    async def test_a_static_member_is_taken_over_by_its_instance_id(
        self, client: Client, group: str, topic: str
    ) -> None:
        s1 = Member(client, group, topic, instance_id="static-1")
        await alone(s1)
        with pytest.raises(FencedInstanceId, match="UNRELEASED_INSTANCE_ID"):
            await Member(client, group, topic, instance_id="static-1").join()
        left = await s1.leave(-2)
        assert left.member_epoch == -2
        s2 = Member(client, group, topic, instance_id="static-1")
        back = await s2.join()
        assert back.member_epoch == s1.epoch  # its place, epoch and partitions: no rebalance
        assert back.assignment == s1.assigned
        with pytest.raises(FencedInstanceId, match="FENCED_INSTANCE_ID"):
            await s1.beat()
        described = await cast(GroupCoordinator, client.backend).describe_group(group)
        assert [m.member_id for m in described.members] == [s2.member_id]
        assert described.members[0].instance_id == "static-1"


class TestDeadlines:
    async def test_a_silent_member_is_removed_when_its_session_ends(
        self, client: Client, group: str, topic: str
    ) -> None:
        if isinstance(client.backend, MemoryBackend):
            # The broker's setting, shorter than the Kafka test broker's 6 s (Kafka: 45 s).
            client.backend.broker.consumer_coordinator.consumer_session_timeout = 1.0
        a, b = await two(client, group, topic)
        await reconciled(a, b)
        # B falls silent; A, heartbeating on, is given B's partitions once B's session ends.
        got = await a.until(lambda _: count(a.assigned) == PARTITIONS, ack=True, wait=SESSION_WAIT)
        assert got.member_epoch > b.epoch
        with pytest.raises(StaleMember) as gone:
            await b.beat()
        assert gone.value.reason == "UNKNOWN_MEMBER_ID"

    async def test_a_member_that_does_not_revoke_within_its_rebalance_timeout_is_removed(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic, rebalance_timeout=2.0)
        await alone(a)
        b = Member(client, group, topic)
        await b.join()
        await a.until(lambda _: count(a.assigned) < PARTITIONS)  # told to revoke
        told = time.monotonic()
        # A heartbeats on but never acknowledges: B gets nothing of A's meanwhile, and once
        # A's rebalance timeout has passed, A is no longer a member.
        removed: StaleMember | None = None
        with anyio.fail_after(WAIT):
            while removed is None:
                try:
                    await a.beat()
                except StaleMember as gone:
                    removed = gone
                    break
                await b.beat()
                assert count(b.assigned) == 0
                await anyio.sleep(PAUSE)
        assert removed.reason == "UNKNOWN_MEMBER_ID"
        assert time.monotonic() - told >= 1.9
        await b.until(lambda _: count(b.assigned) == PARTITIONS, ack=True)


class TestRequests:
    async def test_an_assignor_the_coordinator_lacks_is_a_config_error(
        self, client: Client, group: str, topic: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            await Member(client, group, topic, server_assignor="sticky").join()
        assert caught.value.field == "group.remote_assignor"
        assert "uniform" in str(caught.value)
        assert "range" in str(caught.value)
        await Member(client, group, topic, server_assignor="range").join()
        described = await cast(GroupCoordinator, client.backend).describe_group(group)
        assert described.protocol == "range"

    async def test_a_join_without_a_rebalance_timeout_is_a_group_error(
        self, client: Client, group: str, topic: str
    ) -> None:
        coordinator = cast(ConsumerGroupCoordinator, client.backend)
        with pytest.raises(GroupError, match="RebalanceTimeoutMs"):
            await coordinator.consumer_group_heartbeat(
                group,
                member_id=new_member_id(),
                member_epoch=0,
                subscribed_topics=[topic],
                owned={},
            )


class TestOffsets:
    async def test_commits_are_checked_against_the_member_epoch(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic)
        await alone(a)
        backend = cast(GroupCoordinator, client.backend)
        offsets = {(topic, 0): CommittedOffset(5, "m"), (topic, 3): CommittedOffset(9)}
        for stale_epoch in (a.epoch - 1, a.epoch + 1):
            with pytest.raises(StaleMember) as stale:
                await backend.commit_member_offsets(
                    Membership(group, stale_epoch, a.member_id), offsets
                )
            assert stale.value.reason == "STALE_MEMBER_EPOCH"
        with pytest.raises(StaleMember) as unknown:
            await backend.commit_member_offsets(
                Membership(group, a.epoch, new_member_id()), offsets
            )
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        assert await backend.group_offsets(group) == {}
        await backend.commit_member_offsets(Membership(group, a.epoch, a.member_id), offsets)
        assert await backend.group_offsets(group) == offsets


class TestDescribe:
    async def test_target_and_assigned_differ_while_members_reconcile(
        self, client: Client, group: str, topic: str
    ) -> None:
        backend = cast(GroupCoordinator, client.backend)
        every = {(topic, p) for p in range(PARTITIONS)}
        a, b = await two(client, group, topic)

        described = await backend.describe_group(group)
        assert (described.group_type, described.state) == ("consumer", "Reconciling")
        assert described.group_epoch == described.assignment_epoch == b.epoch
        members = {m.member_id: m for m in described.members}
        ma, mb = members[a.member_id], members[b.member_id]
        assert (ma.member_type, ma.member_epoch, ma.subscribed_topics) == (
            "consumer",
            a.epoch,
            (topic,),
        )
        assert ma.assigned == every  # A has not heard of B yet
        assert mb.assigned == frozenset()
        assert mb.target
        assert ma.target | mb.target == every
        assert not ma.target & mb.target

        await a.beat()  # told to revoke: what it keeps is its assignment now
        described = await backend.describe_group(group)
        members = {m.member_id: m for m in described.members}
        assert members[a.member_id].assigned == members[a.member_id].target
        assert members[b.member_id].assigned == frozenset()  # A has not acknowledged

        await a.beat(ack=True)
        await b.until(lambda _: count(b.assigned) > 0)
        described = await backend.describe_group(group)
        assert described.state == "Stable"
        for member in described.members:
            assert member.assigned == member.target
            assert member.member_epoch == described.group_epoch

    async def test_list_groups_reports_a_consumer_group(
        self, client: Client, group: str, topic: str
    ) -> None:
        a = Member(client, group, topic)
        await a.join()
        listed = {g.group: g for g in await cast(GroupCoordinator, client.backend).list_groups()}
        assert (listed[group].group_type, listed[group].protocol_type) == ("consumer", "consumer")
        await a.leave()
        listed = {g.group: g for g in await cast(GroupCoordinator, client.backend).list_groups()}
        assert (listed[group].group_type, listed[group].state) == ("consumer", "Empty")

    async def test_a_consumer_group_is_deleted_with_its_offsets_once_empty(
        self, client: Client, group: str, topic: str
    ) -> None:
        backend = cast(GroupCoordinator, client.backend)
        a = Member(client, group, topic)
        await a.join()
        await backend.commit_member_offsets(
            Membership(group, a.epoch, a.member_id), {(topic, 1): CommittedOffset(4)}
        )
        with pytest.raises(GroupNotEmpty):
            await backend.delete_group(group)
        await a.leave()
        empty = await backend.describe_group(group)
        assert (empty.state, empty.group_type, empty.members) == ("Empty", "consumer", ())
        assert await backend.group_offsets(group) == {(topic, 1): CommittedOffset(4)}
        await backend.delete_group(group)
        assert await backend.group_offsets(group) == {}
        gone = await backend.describe_group(group)
        assert (gone.state, gone.members) == ("Dead", ())
