"""The Kafka backend's consumer group protocol (KIP-848) against a real broker, call by call.

ConsumerGroupHeartbeat as a member sends it (join with epoch 0, acknowledge by sending what
it owns, leave with -1 or -2), the epochs Kafka 4.1 gives (a member revokes at its old
epoch, reaches the group's once it has nothing left to revoke, and the partitions it freed
reach the other member at that same epoch), the errors as aiomq's, offsets committed with
the member epoch, and the group as ConsumerGroupDescribe and ListGroups report it. The
broker aiomq launches heartbeats consumer groups every 0.5 s (``aiomq.testing``), so the
steps that wait for the coordinator take about that long.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
import pytest_asyncio

from aiomq.backends import backend_from_url
from aiomq.backends.base import CommittedOffset, Membership
from aiomq.backends.group import HeartbeatAnswer
from aiomq.backends.kafka import _group_protocol as wire
from aiomq.backends.kafka._cluster import Retry
from aiomq.backends.kafka._group import consumer_heartbeat_error
from aiomq.backends.kafka.backend import KafkaBackend
from aiomq.config import Config
from aiomq.errors import (
    AuthenticationError,
    BrokerUnavailable,
    ConfigError,
    FencedInstanceId,
    GroupError,
    GroupNotEmpty,
    StaleMember,
)
from tests.backends.common import kafka_bootstrap

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]

PARTITIONS = 4
REBALANCE = 30.0
WAIT = 15.0  # bound on waiting for the coordinator to assign (a new topic takes a moment)

Assigned = dict[str, tuple[int, ...]]


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    return kafka_bootstrap(request)


@pytest_asyncio.fixture
async def backend(bootstrap: str) -> AsyncIterator[KafkaBackend]:
    opened = backend_from_url(f"kafka://{bootstrap}", Config())
    assert isinstance(opened, KafkaBackend)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def g() -> str:
    """A fresh group id (Kafka's groups outlive a test)."""
    return f"cg-{uuid.uuid4().hex[:16]}"


@pytest_asyncio.fixture
async def topic(backend: KafkaBackend, g: str) -> str:
    name = f"t-{g}"
    await backend.create_topic(name, PARTITIONS)
    return name


def member_id() -> str:
    """A member id as Java's consumer makes one (a Kafka Uuid string)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


async def join(
    backend: KafkaBackend, g: str, topic: str, mid: str, **kwargs: Any
) -> HeartbeatAnswer:
    """The first heartbeat of a member: epoch 0, every field."""
    return await backend.consumer_group_heartbeat(
        g,
        member_id=mid,
        member_epoch=0,
        rebalance_timeout=REBALANCE,
        subscribed_topics=[topic],
        owned={},
        **kwargs,
    )


async def until_assigned(
    backend: KafkaBackend,
    g: str,
    answer: HeartbeatAnswer,
    done: Callable[[Assigned], bool],
    **kwargs: Any,
) -> HeartbeatAnswer:
    """Heartbeat (sending nothing new) until an answer's assignment satisfies ``done``."""
    with anyio.fail_after(WAIT):
        while answer.assignment is None or not done(dict(answer.assignment)):
            await anyio.sleep(answer.heartbeat_interval)
            answer = await backend.consumer_group_heartbeat(
                g, member_id=answer.member_id, member_epoch=answer.member_epoch, **kwargs
            )
    return answer


def count(assigned: Mapping[str, tuple[int, ...]] | None) -> int:
    return sum(len(parts) for parts in (assigned or {}).values())


async def stable(backend: KafkaBackend, g: str, topic: str, mid: str) -> HeartbeatAnswer:
    """A lone member owning every partition, acknowledged."""
    answer = await join(backend, g, topic, mid)
    answer = await until_assigned(backend, g, answer, lambda a: count(a) == PARTITIONS)
    assert answer.assignment == {topic: tuple(range(PARTITIONS))}
    return await backend.consumer_group_heartbeat(
        g, member_id=mid, member_epoch=answer.member_epoch, owned=answer.assignment
    )


class TestMembership:
    async def test_the_broker_offers_the_protocol(self, backend: KafkaBackend) -> None:
        assert await backend.supports_consumer_protocol() is True

    async def test_joining_gives_an_epoch_an_interval_and_then_every_partition(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        mid = member_id()
        answer = await join(backend, g, topic, mid)
        assert answer.member_id == mid  # v1: the member's own id
        assert answer.member_epoch >= 1
        assert 0 < answer.heartbeat_interval < 60  # seconds, not milliseconds
        assert answer.assignment is not None  # a join is always answered with one
        answer = await until_assigned(backend, g, answer, lambda a: count(a) > 0)
        assert answer.assignment == {topic: tuple(range(PARTITIONS))}
        # Acknowledged: nothing new to hand over.
        acked = await backend.consumer_group_heartbeat(
            g, member_id=mid, member_epoch=answer.member_epoch, owned=answer.assignment
        )
        assert (acked.member_epoch, acked.assignment) == (answer.member_epoch, None)

    async def test_a_second_member_gets_what_the_first_revoked_at_the_epoch_it_reached(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        a_id, b_id = member_id(), member_id()
        a = await stable(backend, g, topic, a_id)
        a_owned = {topic: tuple(range(PARTITIONS))}

        b = await join(backend, g, topic, b_id)
        assert b.member_epoch > a.member_epoch  # the group's new epoch
        assert b.assignment == {}  # everything is still A's

        # A is asked to revoke, at its old epoch: it still owns what it gives up.
        revoke = await backend.consumer_group_heartbeat(
            g, member_id=a_id, member_epoch=a.member_epoch
        )
        assert revoke.member_epoch == a.member_epoch
        assert revoke.assignment is not None
        kept = set(revoke.assignment[topic])
        assert len(kept) == PARTITIONS // 2
        assert revoke.assignment.keys() == {topic}

        # Until A acknowledges, B is handed none of A's partitions.
        waiting = await backend.consumer_group_heartbeat(
            g, member_id=b_id, member_epoch=b.member_epoch
        )
        assert count(waiting.assignment) == 0

        # A's acknowledgement moves it to the group's epoch ...
        acked = await backend.consumer_group_heartbeat(
            g, member_id=a_id, member_epoch=revoke.member_epoch, owned=revoke.assignment
        )
        assert acked.member_epoch == b.member_epoch > revoke.member_epoch
        a_owned = dict(revoke.assignment)

        # ... and B then gets the rest, at that same epoch.
        got = await until_assigned(backend, g, waiting, lambda x: count(x) > 0)
        assert got.member_epoch == b.member_epoch
        assert got.assignment == {topic: tuple(sorted(set(range(PARTITIONS)) - kept))}
        assert not set(got.assignment[topic]) & set(a_owned[topic])

    async def test_a_wrong_epoch_or_an_unknown_member_is_stale(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        mid = member_id()
        a = await join(backend, g, topic, mid)
        with pytest.raises(StaleMember) as fenced:
            await backend.consumer_group_heartbeat(
                g, member_id=mid, member_epoch=a.member_epoch + 5
            )
        assert fenced.value.reason == "FENCED_MEMBER_EPOCH"
        assert "greater member epoch" in str(fenced.value)  # the broker's own words
        with pytest.raises(StaleMember) as unknown:
            await backend.consumer_group_heartbeat(g, member_id=member_id(), member_epoch=3)
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        # Being refused changed nothing: the member goes on at its epoch.
        same = await backend.consumer_group_heartbeat(g, member_id=mid, member_epoch=a.member_epoch)
        assert same.member_epoch >= a.member_epoch

    async def test_leaving_is_answered_with_the_leave_epoch(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        a_id, b_id = member_id(), member_id()
        a = await stable(backend, g, topic, a_id)
        b = await join(backend, g, topic, b_id)
        left = await backend.consumer_group_heartbeat(g, member_id=b_id, member_epoch=-1)
        assert (left.member_id, left.member_epoch, left.assignment) == (b_id, -1, None)
        with pytest.raises(StaleMember) as gone:  # its epoch means nothing any more
            await backend.consumer_group_heartbeat(g, member_id=b_id, member_epoch=b.member_epoch)
        assert gone.value.reason == "UNKNOWN_MEMBER_ID"
        # A keeps all it had, at the group's newest epoch: B left before A revoked.
        again = await backend.consumer_group_heartbeat(
            g, member_id=a_id, member_epoch=a.member_epoch
        )
        assert again.member_epoch > b.member_epoch
        assert again.assignment is None
        described = await backend.describe_group(g)
        [member] = described.members
        assert member.target == {(topic, p) for p in range(PARTITIONS)}


class TestStaticMembers:
    async def test_a_static_member_leaving_for_a_moment_is_replaced_by_its_instance_id(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        s1 = member_id()
        first = await join(backend, g, topic, s1, instance_id="static-1")
        first = await until_assigned(
            backend, g, first, lambda a: count(a) == PARTITIONS, instance_id="static-1"
        )
        await backend.consumer_group_heartbeat(
            g,
            member_id=s1,
            member_epoch=first.member_epoch,
            instance_id="static-1",
            owned=first.assignment,
        )
        left = await backend.consumer_group_heartbeat(
            g, member_id=s1, member_epoch=-2, instance_id="static-1"
        )
        assert left.member_epoch == -2
        # A new process with the same instance id takes the place over, epoch and
        # partitions included: no rebalance.
        s2 = member_id()
        second = await join(backend, g, topic, s2, instance_id="static-1")
        assert second.member_id == s2
        assert second.member_epoch == first.member_epoch
        assert second.assignment == first.assignment
        with pytest.raises(FencedInstanceId) as fenced:
            await backend.consumer_group_heartbeat(
                g, member_id=s1, member_epoch=first.member_epoch, instance_id="static-1"
            )
        assert "FENCED_INSTANCE_ID" in str(fenced.value)

    async def test_an_instance_id_still_held_is_refused(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        await join(backend, g, topic, member_id(), instance_id="static-1")
        with pytest.raises(FencedInstanceId) as unreleased:
            await join(backend, g, topic, member_id(), instance_id="static-1")
        assert "UNRELEASED_INSTANCE_ID" in str(unreleased.value)


class TestErrors:
    async def test_an_assignor_the_broker_lacks_is_a_config_error_naming_those_it_has(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            await join(backend, g, topic, member_id(), server_assignor="sticky")
        assert caught.value.field == "group.remote_assignor"
        assert "uniform" in str(caught.value)
        assert "range" in str(caught.value)
        joined = await join(backend, g, topic, member_id(), server_assignor="range")
        assert joined.member_epoch >= 1

    async def test_a_first_heartbeat_without_its_fields_is_a_group_error_saying_why(
        self, backend: KafkaBackend, g: str
    ) -> None:
        with pytest.raises(GroupError) as caught:
            await backend.consumer_group_heartbeat(g, member_id=member_id(), member_epoch=0)
        assert "RebalanceTimeoutMs" in str(caught.value)  # the broker's message

    async def test_a_coordinator_without_the_protocol_is_a_config_error(
        self, backend: KafkaBackend, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        coordinator = backend._groups
        offered = coordinator._api_versions

        async def without_68(
            node: int, deadline: float, group: str | None = None
        ) -> dict[int, tuple[int, int]]:
            versions = dict(await offered(node, deadline, group))
            del versions[wire.CONSUMER_GROUP_HEARTBEAT]
            return versions

        monkeypatch.setattr(coordinator, "_api_versions", without_68)
        with pytest.raises(ConfigError) as caught:
            await join(backend, g, topic, member_id())
        assert caught.value.field == "group.protocol"

    async def test_a_coordinator_that_moved_or_loads_is_asked_again(
        self, backend: KafkaBackend, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        coordinator = backend._groups
        cluster = backend._cluster
        answers = iter([16, 15, 14])  # NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, LOADING
        ask, forget = coordinator._ask, cluster.forget_coordinator
        forgotten: list[str] = []

        async def moving(group: str, request: Any, deadline: float, context: str) -> Any:
            code = next(answers, 0)
            if code:
                return SimpleNamespace(error_code=code, error_message=None)
            return await ask(group, request, deadline, context)

        def forgetting(group: str, **kwargs: Any) -> None:
            forgotten.append(group)
            forget(group, **kwargs)

        monkeypatch.setattr(coordinator, "_ask", moving)
        monkeypatch.setattr(cluster, "forget_coordinator", forgetting)
        joined = await join(backend, g, topic, member_id())
        assert joined.member_epoch >= 1
        assert forgotten == [g, g, g]  # looked up again after each refusal

    async def test_a_coordinator_loading_past_the_request_timeout_is_unavailable(
        self, bootstrap: str, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = Config()
        config.net.request_timeout = 1.0
        opened = backend_from_url(f"kafka://{bootstrap}", config)
        assert isinstance(opened, KafkaBackend)
        try:
            coordinator = opened._groups

            async def loading(group: str, request: Any, deadline: float, context: str) -> Any:
                return SimpleNamespace(error_code=14, error_message=None)

            monkeypatch.setattr(coordinator, "_ask", loading)
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(BrokerUnavailable) as caught:
                await join(opened, g, topic, member_id())
            assert 0.5 <= time.monotonic() - started <= 5
            assert "error 14" in str(caught.value)
        finally:
            await opened.aclose()

    async def test_bad_arguments_are_config_errors_naming_them(
        self, backend: KafkaBackend, g: str
    ) -> None:
        def beat(**changes: Any) -> Coroutine[Any, Any, Any]:
            kwargs: dict[str, Any] = dict(member_id="m", member_epoch=0)
            kwargs.update(changes)
            return backend.consumer_group_heartbeat(g, **kwargs)

        cases: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = [
            ("group", lambda: backend.consumer_group_heartbeat("", member_id="m", member_epoch=0)),
            ("member_id", lambda: beat(member_id="")),
            ("member_id", lambda: beat(member_id=7)),
            ("member_epoch", lambda: beat(member_epoch=-3)),
            ("member_epoch", lambda: beat(member_epoch=True)),
            ("member_epoch", lambda: beat(member_epoch=2**31)),
            ("instance_id", lambda: beat(instance_id="")),
            ("group.rebalance_timeout", lambda: beat(rebalance_timeout=0)),
            ("subscribed_topics", lambda: beat(subscribed_topics="t")),
            ("topic", lambda: beat(subscribed_topics=["bad topic"])),
            ("group.remote_assignor", lambda: beat(server_assignor="")),
            ("owned", lambda: beat(owned=[("t", [0])])),
            ("owned", lambda: beat(owned={"t": [-1]})),
            ("owned", lambda: beat(owned={"t": 0})),
            ("pattern", lambda: beat(subscribed_topic_regex=7)),
        ]
        for field_name, call in cases:
            with pytest.raises(ConfigError) as caught:
                await call()
            assert caught.value.field == field_name, field_name


class TestTopicIds:
    async def test_an_assignment_is_handed_over_whole_once_its_topic_ids_resolve(
        self, backend: KafkaBackend, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # While no look-up of the assignment's topic id gets an answer, the member is
        # handed the assignment without that topic; once one does, the whole of it,
        # although the coordinator does not send it again.
        ids = backend._groups._topic_ids
        ask = ids._ask
        failures = 0
        blocked = True

        async def unanswered(request: Any, node: int, deadline: float) -> None:
            nonlocal failures
            if blocked:
                failures += 1
                raise Retry("no answer")
            await ask(request, node, deadline)

        monkeypatch.setattr(ids, "_ask", unanswered)
        mid = member_id()
        answer = await join(backend, g, topic, mid)
        with anyio.fail_after(WAIT):
            while not failures:
                await anyio.sleep(answer.heartbeat_interval)
                answer = await backend.consumer_group_heartbeat(
                    g, member_id=mid, member_epoch=answer.member_epoch
                )
        assert answer.assignment == {}  # the topic left out
        again = await backend.consumer_group_heartbeat(
            g, member_id=mid, member_epoch=answer.member_epoch
        )
        assert again.assignment is None  # still unresolved: nothing new to tell
        blocked = False
        told = await backend.consumer_group_heartbeat(
            g, member_id=mid, member_epoch=again.member_epoch
        )
        assert told.assignment == {topic: tuple(range(PARTITIONS))}
        acked = await backend.consumer_group_heartbeat(
            g, member_id=mid, member_epoch=told.member_epoch, owned=told.assignment
        )
        assert acked.assignment is None

    async def test_an_owned_topic_that_does_not_exist_is_left_out(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        mid = member_id()
        answer = await join(backend, g, topic, mid)
        answer = await until_assigned(backend, g, answer, lambda a: count(a) == PARTITIONS)
        owned: dict[str, Any] = {**(answer.assignment or {}), f"{topic}-gone": [0]}
        acked = await backend.consumer_group_heartbeat(
            g, member_id=mid, member_epoch=answer.member_epoch, owned=owned
        )
        assert acked.member_epoch == answer.member_epoch
        described = await backend.describe_group(g)
        [member] = described.members
        assert member.assigned == {(topic, p) for p in range(PARTITIONS)}


class TestOffsets:
    async def test_commits_are_checked_against_the_member_epoch(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        mid = member_id()
        a = await stable(backend, g, topic, mid)
        offsets = {(topic, 0): CommittedOffset(5, "m"), (topic, 3): CommittedOffset(9)}
        for stale_epoch in (a.member_epoch - 1, a.member_epoch + 1):
            with pytest.raises(StaleMember) as stale:
                await backend.commit_member_offsets(Membership(g, stale_epoch, mid), offsets)
            assert stale.value.reason == "STALE_MEMBER_EPOCH"
        with pytest.raises(StaleMember) as unknown:
            await backend.commit_member_offsets(Membership(g, a.member_epoch, member_id()), offsets)
        assert unknown.value.reason == "UNKNOWN_MEMBER_ID"
        assert await backend.committed_offsets(g, [(topic, 0)]) == {}
        await backend.commit_member_offsets(Membership(g, a.member_epoch, mid), offsets)
        assert await backend.committed_offsets(g, [(topic, 0), (topic, 1), (topic, 3)]) == offsets
        assert await backend.group_offsets(g) == offsets


class TestAdmin:
    async def test_describe_reports_epochs_and_each_members_target(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        a_id, b_id = member_id(), member_id()
        a = await stable(backend, g, topic, a_id)
        b = await join(backend, g, topic, b_id, instance_id="static-b")
        every = {(topic, p) for p in range(PARTITIONS)}

        # B joined; A has not revoked yet: B's target is what A still owns.
        described = await backend.describe_group(g)
        assert (described.group_type, described.protocol_type, described.protocol) == (
            "consumer",
            "consumer",
            "uniform",
        )
        assert described.state in ("Assigning", "Reconciling")
        assert described.group_epoch == b.member_epoch
        assert described.assignment_epoch == b.member_epoch
        members = {m.member_id: m for m in described.members}
        ma, mb = members[a_id], members[b_id]
        assert (ma.member_type, ma.member_epoch, ma.instance_id) == (
            "consumer",
            a.member_epoch,
            None,
        )
        assert (mb.member_epoch, mb.instance_id) == (b.member_epoch, "static-b")
        assert ma.subscribed_topics == mb.subscribed_topics == (topic,)
        assert ma.assigned == every
        assert mb.assigned == frozenset()
        assert ma.target | mb.target == every
        assert not ma.target & mb.target
        assert ma.client_id == "aiomq"

        # Both reconcile: every member then owns its target, at the group's epoch.
        revoke = await backend.consumer_group_heartbeat(
            g, member_id=a_id, member_epoch=a.member_epoch
        )
        await backend.consumer_group_heartbeat(
            g, member_id=a_id, member_epoch=revoke.member_epoch, owned=revoke.assignment
        )
        got = await until_assigned(backend, g, b, lambda x: count(x) > 0, instance_id="static-b")
        await backend.consumer_group_heartbeat(
            g,
            member_id=b_id,
            member_epoch=got.member_epoch,
            instance_id="static-b",
            owned=got.assignment,
        )
        described = await backend.describe_group(g)
        assert described.state == "Stable"
        for member in described.members:
            assert member.assigned == member.target
            assert member.member_epoch == described.group_epoch

    async def test_list_delete_and_offsets_of_a_consumer_group(
        self, backend: KafkaBackend, g: str, topic: str
    ) -> None:
        mid = member_id()
        a = await join(backend, g, topic, mid)
        listed = {x.group: x for x in await backend.list_groups()}
        assert (listed[g].group_type, listed[g].protocol_type) == ("consumer", "consumer")
        with pytest.raises(GroupNotEmpty):
            await backend.delete_group(g)
        await backend.commit_member_offsets(
            Membership(g, a.member_epoch, mid), {(topic, 1): CommittedOffset(4)}
        )
        await backend.consumer_group_heartbeat(g, member_id=mid, member_epoch=-1)
        empty = await backend.describe_group(g)
        assert (empty.state, empty.group_type, empty.members) == ("Empty", "consumer", ())
        assert await backend.group_offsets(g) == {(topic, 1): CommittedOffset(4)}
        await backend.delete_group(g)
        gone = await backend.describe_group(g)
        assert (gone.state, gone.group_type) == ("Dead", "classic")
        assert await backend.group_offsets(g) == {}


class TestVersions:
    async def test_v0_has_the_coordinator_make_the_member_id(
        self, backend: KafkaBackend, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # What a Kafka 3.7-3.9 broker answers: ConsumerGroupHeartbeat v0 and
        # ConsumerGroupDescribe v0 (no member type).
        for api in (wire._CONSUMER_GROUP_HEARTBEAT, wire._CONSUMER_GROUP_DESCRIBE):
            monkeypatch.setattr(api, "structs", api.structs[:1])
        mine = member_id()
        joined = await join(backend, g, topic, mine)
        assert joined.member_id != mine
        assert joined.member_id
        assert joined.member_epoch >= 1
        described = await backend.describe_group(g)
        [member] = described.members
        assert (member.member_id, member.member_type) == (joined.member_id, "consumer")
        left = await backend.consumer_group_heartbeat(
            g, member_id=joined.member_id, member_epoch=-1
        )
        assert left.member_epoch == -1

    async def test_v0_refuses_a_pattern_before_sending_it(
        self, backend: KafkaBackend, g: str, topic: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api = wire._CONSUMER_GROUP_HEARTBEAT
        monkeypatch.setattr(api, "structs", api.structs[:1])
        with pytest.raises(ConfigError) as caught:
            await join(backend, g, topic, member_id(), subscribed_topic_regex=f"{topic}.*")
        assert caught.value.field == "pattern"
        assert "v1" in str(caught.value)
        # No expression ("") is simply not sent.
        joined = await join(backend, g, topic, member_id(), subscribed_topic_regex="")
        assert joined.member_epoch >= 1


async def test_invalid_regular_expression_is_a_config_error_naming_the_pattern() -> None:
    error = consumer_heartbeat_error(128, "SubscribedTopicRegex `(` is not valid", "group 'g'")
    assert type(error) is ConfigError
    assert error.field == "pattern"
    assert "group 'g'" in str(error)
    assert "SubscribedTopicRegex `(`" in str(error)


@pytest.mark.parametrize(
    ("code", "expected", "reason"),
    [
        (110, StaleMember, "FENCED_MEMBER_EPOCH"),
        (25, StaleMember, "UNKNOWN_MEMBER_ID"),
        (82, FencedInstanceId, None),
        (111, FencedInstanceId, None),
        (112, ConfigError, None),
        (30, AuthenticationError, None),  # as the classic operations report it
        (42, GroupError, None),
        (81, GroupError, None),
    ],
)
async def test_heartbeat_error_codes_map_to_the_contracts_errors(
    code: int, expected: type[Exception], reason: str | None
) -> None:
    error = consumer_heartbeat_error(code, "the broker's words", "group 'g'")
    assert type(error) is expected
    assert "group 'g'" in str(error)
    if reason is not None:
        assert isinstance(error, StaleMember)
        assert error.reason == reason
    if isinstance(error, ConfigError):
        assert error.field == "group.remote_assignor"
