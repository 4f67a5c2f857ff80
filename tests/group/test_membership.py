"""Group membership end to end, on memory:// and Kafka, over both group protocols: members
driven by the classic state machine (cooperative-sticky or eager assignors) and by the
consumer protocol's (KIP-848: the coordinator assigns) against each backend's coordinator.

What a group promises and these check, at every step: no partition is ever owned by two
members at once; every partition of the topic is owned once the group settles; with
cooperative-sticky, a rebalance revokes only partitions that move.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import anyio
import pytest
import pytest_asyncio

from aiomq.backends.base import TopicPartition
from aiomq.backends.group import ConsumerGroupCoordinator, GroupCoordinator
from aiomq.client import Client, connect
from aiomq.config import Config, GroupProtocol, RebalanceStrategy
from aiomq.group._classic import ClassicMember
from aiomq.group._consumer import ConsumerMember
from aiomq.group._member import ClassicDriver, ConsumerDriver, Member, Rebalance
from aiomq.group.assignors import assignor_from
from tests.group.conftest import BOTH_PROTOCOLS
from tests.java import Java

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

Partitions = frozenset[TopicPartition]

CLASSIC_ONLY = pytest.mark.parametrize("protocol", [GroupProtocol.CLASSIC], ids=str, indirect=True)


def group_config(url: str, protocol: GroupProtocol = GroupProtocol.CLASSIC) -> Config:
    config = Config()
    config.group.protocol = protocol
    if protocol is GroupProtocol.CONSUMER:
        # The coordinator sets the session and the heartbeat interval (the test brokers'
        # are short: see the conftest and the launcher's group.consumer.* settings).
        config.group.rebalance_timeout = 10.0
        return config
    config.group.heartbeat_interval = 0.1
    # Kafka's brokers refuse sessions under group.min.session.timeout.ms (6 s); memory://
    # brokers of these tests are lowered to allow quicker ones (see quick_sessions).
    config.group.session_timeout = 6.0 if url.startswith("kafka") else 1.0
    config.group.rebalance_timeout = 10.0
    return config


class Ownership:
    """Who owns what, across every member of a test: fails the test the moment a partition
    is assigned to a member while another still owns it."""

    def __init__(self) -> None:
        self.owner: dict[TopicPartition, str] = {}
        self.revoked: dict[str, list[Partitions]] = {}
        self.changed = asyncio.Event()
        self.violations: list[str] = []

    def listener(self, name: str) -> _Listener:
        return _Listener(self, name)

    def owned_by(self, name: str) -> Partitions:
        return frozenset(tp for tp, who in self.owner.items() if who == name)

    async def settle(self, check: Callable[[], bool], seconds: float = 60) -> None:
        with anyio.fail_after(seconds):
            while not check():
                self.changed.clear()
                await self.changed.wait()
        assert self.violations == []


class _Listener:
    def __init__(self, ownership: Ownership, name: str) -> None:
        self.o = ownership
        self.name = name

    async def assign(self, partitions: Partitions) -> None:
        for tp in partitions:
            holder = self.o.owner.get(tp)
            if holder is not None and holder != self.name:
                self.o.violations.append(f"{tp} given to {self.name} while {holder} owns it")
            self.o.owner[tp] = self.name
        self.o.changed.set()

    async def revoke(self, partitions: Partitions) -> None:
        self.o.revoked.setdefault(self.name, []).append(partitions)
        self._release(partitions)

    async def lose(self, partitions: Partitions) -> None:
        self._release(partitions)

    def _release(self, partitions: Partitions) -> None:
        for tp in partitions:
            if self.o.owner.get(tp) == self.name:
                del self.o.owner[tp]
        self.o.changed.set()


class Runner:
    """Members of one group, each with its own client, run as tasks."""

    def __init__(self, url: str, topic: str, ownership: Ownership, protocol: GroupProtocol) -> None:
        self.url = url
        self.protocol = protocol
        self.topic = topic
        self.group = f"g-{uuid.uuid4().hex[:12]}"
        self.ownership = ownership
        self.members: dict[str, tuple[Client, Member[Any, Any], asyncio.Task[None]]] = {}
        self.rebalances: dict[str, list[Rebalance]] = {}
        self.errors: list[BaseException] = []

    async def start(
        self,
        name: str,
        strategy: RebalanceStrategy = RebalanceStrategy.COOPERATIVE_STICKY,
        instance_id: str | None = None,
    ) -> None:
        """Start member ``name``; ``strategy`` is the classic protocol's assignor."""
        client = await connect(self.url, group_config(self.url, self.protocol))
        reports = self.rebalances.setdefault(name, [])

        def on_rebalance(rebalance: Rebalance) -> None:
            reports.append(rebalance)
            self.ownership.changed.set()

        callbacks: dict[str, Any] = {"on_error": self.errors.append, "on_rebalance": on_rebalance}
        listener = self.ownership.listener(name)
        member: Member[Any, Any]
        if self.protocol is GroupProtocol.CONSUMER:
            machine = ConsumerMember(
                self.group,
                [self.topic],
                member_id=uuid.uuid4().hex,
                rebalance_timeout=10.0,
                instance_id=instance_id,
            )
            coordinator = cast(ConsumerGroupCoordinator, client.backend)
            member = ConsumerDriver(machine, coordinator, client._session, listener, **callbacks)
        else:
            classic = ClassicMember(
                self.group, [self.topic], [assignor_from(strategy.value)], instance_id=instance_id
            )
            coordinator_ = cast(GroupCoordinator, client.backend)
            member = ClassicDriver(classic, coordinator_, client._session, listener, **callbacks)
        task = asyncio.ensure_future(member.run())
        self.members[name] = (client, member, task)

    def quiet(self) -> bool:
        """No member is in a rebalance it has not reported yet."""
        return not any(member.rebalancing for _, member, _ in self.members.values())

    async def stop(self, name: str) -> None:
        client, member, task = self.members.pop(name)
        member.close()
        with anyio.fail_after(20):
            await task
        await client.aclose()

    async def kill(self, name: str) -> None:
        """End the member without leaving: it stops heartbeating, its partitions stay
        claimed until the coordinator's session timeout."""
        client, _, task = self.members.pop(name)
        task.cancel()
        with anyio.fail_after(20):
            await asyncio.gather(task, return_exceptions=True)
        await client.aclose()

    async def aclose(self) -> None:
        for name in list(self.members):
            await self.stop(name)


@pytest_asyncio.fixture
async def runner(backend_url: str, protocol: GroupProtocol) -> AsyncIterator[Runner]:
    topic = f"grp-{uuid.uuid4().hex[:12]}"
    async with connect(backend_url) as admin_client, admin_client.admin() as admin:
        await admin.create_topic(topic, 6)
    r = Runner(backend_url, topic, Ownership(), protocol)
    try:
        yield r
    finally:
        await r.aclose()
    assert r.errors == []
    assert r.ownership.violations == []


def balanced(o: Ownership, names: list[str], total: int = 6) -> Callable[[], bool]:
    def check() -> bool:
        counts = [len(o.owned_by(n)) for n in names]
        return sum(counts) == total == len(o.owner) and max(counts) - min(counts) <= 1

    return check


@BOTH_PROTOCOLS
async def test_scaling_one_two_three_two_one_revokes_only_what_moves(runner: Runner) -> None:
    o = runner.ownership
    await runner.start("a", RebalanceStrategy.COOPERATIVE_STICKY)
    await o.settle(balanced(o, ["a"]))
    history: list[dict[str, Partitions]] = []
    names = ["a"]
    for name in ["b", "c"]:
        before = {n: o.owned_by(n) for n in names}
        revoked_before = {n: len(o.revoked.get(n, [])) for n in names}
        await runner.start(name, RebalanceStrategy.COOPERATIVE_STICKY)
        names.append(name)
        await o.settle(balanced(o, names))
        after = {n: o.owned_by(n) for n in names}
        history.append(after)
        for n, had in before.items():
            # A member keeps what it kept, and only what it gave up was revoked.
            revoked = frozenset().union(*o.revoked.get(n, [])[revoked_before[n] :])
            assert revoked == had - after[n], (n, revoked, had, after[n])
            assert after[n] <= had
    for name in ["c", "b"]:
        kept = {n: o.owned_by(n) for n in names if n != name}
        await runner.stop(name)
        names.remove(name)
        await o.settle(balanced(o, names))
        for n, had in kept.items():
            assert had <= o.owned_by(n)  # the remaining members keep theirs and gain
    assert o.owned_by("a") == frozenset((runner.topic, p) for p in range(6))


@CLASSIC_ONLY
async def test_eager_range_members_share_the_topic(runner: Runner) -> None:
    o = runner.ownership
    await runner.start("a", RebalanceStrategy.RANGE)
    await runner.start("b", RebalanceStrategy.RANGE)
    await o.settle(balanced(o, ["a", "b"]))
    await runner.stop("a")
    await o.settle(balanced(o, ["b"]))


@BOTH_PROTOCOLS
async def test_a_member_killed_without_leaving_is_replaced_after_its_session(
    runner: Runner,
) -> None:
    o = runner.ownership
    await runner.start("a", RebalanceStrategy.COOPERATIVE_STICKY)
    await runner.start("b", RebalanceStrategy.COOPERATIVE_STICKY)
    await o.settle(balanced(o, ["a", "b"]))
    lost = o.owned_by("b")
    await runner.kill("b")
    for tp in lost:  # the killed member's claims end with it, as far as this test knows
        del o.owner[tp]
    await o.settle(balanced(o, ["a"]))


@BOTH_PROTOCOLS
@pytest.mark.parametrize("returning", ["follower", "leader"])
async def test_a_static_member_back_within_its_session_gets_its_partitions_without_a_rebalance(
    runner: Runner, returning: str
) -> None:
    o = runner.ownership
    # b comes back; under the classic protocol the first member to join leads the group.
    first, second = ("b", "a") if returning == "leader" else ("a", "b")
    await runner.start(first, RebalanceStrategy.COOPERATIVE_STICKY, instance_id=f"{first}-1")
    await o.settle(lambda: balanced(o, [first])() and runner.quiet())
    await runner.start(second, RebalanceStrategy.COOPERATIVE_STICKY, instance_id=f"{second}-1")
    # Settled means reported too: a's join is a rebalance it reports once the coordinator
    # has its acknowledgement, which may come after its listener ran.
    await o.settle(lambda: balanced(o, ["a", "b"])() and runner.quiet())
    held = o.owned_by("b")
    rebalances_of_a = len(runner.rebalances["a"])
    if runner.protocol is GroupProtocol.CONSUMER:
        # KIP-848: a static member that closes says it will be back (epoch -2); one that
        # vanished holds its instance id until its session ends (UNRELEASED_INSTANCE_ID).
        await runner.stop("b")
    else:
        await runner.kill("b")  # a restart: the process goes without leaving
        for tp in held:
            del o.owner[tp]
    await runner.start("b2", RebalanceStrategy.COOPERATIVE_STICKY, instance_id="b-1")
    await o.settle(lambda: o.owned_by("b2") == held and runner.quiet())
    assert len(runner.rebalances["a"]) == rebalances_of_a  # a saw no rebalance at all
    assert o.owned_by("a") | held == frozenset((runner.topic, p) for p in range(6))


@BOTH_PROTOCOLS
async def test_a_listener_that_raises_is_reported_and_the_member_goes_on(
    runner: Runner,
) -> None:
    o = runner.ownership
    original = _Listener.assign
    raised = asyncio.Event()

    async def failing_assign(self: _Listener, partitions: Partitions) -> None:
        await original(self, partitions)
        if partitions:
            raised.set()
            raise RuntimeError("the application's callback failed")

    _Listener.assign = failing_assign  # type: ignore[method-assign]
    try:
        await runner.start("a", RebalanceStrategy.COOPERATIVE_STICKY)
        with anyio.fail_after(30):
            await raised.wait()
        await o.settle(balanced(o, ["a"]))
    finally:
        _Listener.assign = original  # type: ignore[method-assign]
    [error] = runner.errors
    assert isinstance(error, RuntimeError)
    runner.errors.clear()  # reported, as it must be; the fixture checks for no others


@pytest.mark.parametrize(
    "backend_url", [pytest.param("kafka", marks=pytest.mark.kafka)], indirect=True
)
@BOTH_PROTOCOLS
async def test_two_aiomq_members_and_a_java_consumer_share_the_topic(
    runner: Runner, java: Java
) -> None:
    """A Java KafkaConsumer (kafka-clients; cooperative-sticky under the classic protocol,
    ``group.protocol=consumer`` under KIP-848) in the same group: the three split the
    partitions with no overlap; when it leaves, the aiomq members take its share."""
    o = runner.ownership
    everything = frozenset((runner.topic, p) for p in range(6))
    java_owned: set[TopicPartition] = set()
    left = asyncio.Event()
    bootstrap = runner.url.removeprefix("kafka://")
    process = java.start("GroupMember", bootstrap, runner.group, runner.topic, str(runner.protocol))

    async def read() -> None:
        out = process.stdout
        assert out is not None
        while line := await asyncio.to_thread(out.readline):
            words = line.split()
            if words and words[0] == "GEN":
                java_owned.clear()
                java_owned.update((runner.topic, int(p)) for p in words[2:])
                o.changed.set()
            elif words and words[0] == "LEFT":
                left.set()

    def split_three_ways() -> bool:
        a, b = o.owned_by("a"), o.owned_by("b")
        return (
            bool(a and b and java_owned)
            and a | b | java_owned == everything
            and not (a & java_owned or b & java_owned or a & b)
        )

    try:
        reader = asyncio.ensure_future(read())
        await runner.start("a", RebalanceStrategy.COOPERATIVE_STICKY)
        await runner.start("b", RebalanceStrategy.COOPERATIVE_STICKY)
        await o.settle(split_three_ways, seconds=90)
        assert process.stdin is not None
        process.stdin.write("stop\n")
        process.stdin.flush()
        with anyio.fail_after(30):
            await left.wait()
        await o.settle(balanced(o, ["a", "b"]), seconds=60)
    finally:
        process.kill()
        process.wait()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
