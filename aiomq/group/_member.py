"""The tasks that drive a group member: they perform its state machine's actions, one at a
time, and heartbeat alongside.

``run()`` joins the group and keeps the member in it until ``close()`` (which revokes,
commits and leaves) or a fatal error (which it raises). What the member owns reaches the
consumer through a ``Listener``: ``assign`` and ``revoke`` (commit what was consumed, the
membership is still valid) and ``lose`` (do not commit: another member may own them now).
A listener that raises does not stop the member: the error is reported through ``on_error``
and the rebalance goes on, as the group's errors channel promises.

``ClassicDriver`` runs a ``ClassicMember`` (JoinGroup, SyncGroup, Heartbeat, LeaveGroup);
``ConsumerDriver`` runs a ``ConsumerMember`` (KIP-848: every exchange is a heartbeat, sent by
one task while the callbacks run in another, so a long revocation never stops the member's
heartbeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio

from .._session import Session
from ..backends.group import (
    ConsumerGroupCoordinator,
    GroupCoordinator,
    HeartbeatAnswer,
    Membership,
)
from ..concurrency import ErrGroup
from ..config import CLASSIC_HEARTBEAT_INTERVAL, CLASSIC_SESSION_TIMEOUT
from ..errors import AiomqError, StaleMember, UnknownTopic
from ._actions import Assign, Fail, Lose, Partitions, Revoke
from ._classic import Action, ClassicMember, Join, Leave, Metadata, State, Sync
from ._consumer import ConsumerMember, Heartbeat

__all__ = ["ClassicDriver", "ConsumerDriver", "Listener", "Member", "Rebalance"]

log = logging.getLogger("aiomq")

_BACKOFF = 0.1  # first pause before retrying a failed request; doubles up to _MAX_BACKOFF
_MAX_BACKOFF = 2.0

_M = TypeVar("_M", ClassicMember, ConsumerMember)
_C = TypeVar("_C", GroupCoordinator, ConsumerGroupCoordinator)
_A = TypeVar("_A")


class Listener(Protocol):
    """What the member tells the consumer. Each call is awaited before the next action."""

    async def assign(self, partitions: Partitions) -> None:
        """Start consuming ``partitions`` (possibly none)."""
        ...

    async def revoke(self, partitions: Partitions) -> None:
        """Stop consuming ``partitions`` and commit their marked offsets."""
        ...

    async def lose(self, partitions: Partitions) -> None:
        """Stop consuming ``partitions``; committing would be refused or wrong."""
        ...


@dataclass(frozen=True, slots=True)
class Rebalance:
    """One rebalance as the member saw it: ``claimed`` and ``released`` in it, ``current``
    after it (sarama-cluster's ``Notification``); ``generation`` is the classic generation
    or the member epoch."""

    generation: int
    claimed: Partitions
    released: Partitions
    current: Partitions


class Member(Generic[_M, _C]):
    """What both drivers share: the listener calls, the rebalance reports, the inbox of
    actions pushed by the heartbeat task, and closing. See the module docstring."""

    def __init__(
        self,
        machine: _M,
        coordinator: _C,
        session: Session,
        listener: Listener,
        *,
        on_error: Callable[[BaseException], None],
        on_rebalance: Callable[[Rebalance], None] | None = None,
        on_rebalance_start: Callable[[], None] | None = None,
    ) -> None:
        self.machine: _M = machine
        self._coordinator: _C = coordinator
        self._session = session
        self._listener = listener
        self._on_error = on_error
        self._on_rebalance = on_rebalance
        self._on_rebalance_start = on_rebalance_start
        self._rebalance_timeout = session.config.group.rebalance_timeout
        self._request_timeout = session.config.net.request_timeout
        self._inbox: deque[object] = deque()
        self._work = asyncio.Event()  # the inbox has actions, or closing began
        self._stop = asyncio.Event()  # closing began
        self._beat = asyncio.Event()  # a heartbeat may be due (the consumer protocol's)
        self._closing = False
        self._rebalancing = False
        self._claimed: set[tuple[str, int]] = set()
        self._released: set[tuple[str, int]] = set()

    @property
    def rebalancing(self) -> bool:
        """A rebalance began (the member joins, or its assignment changes) and is not yet
        reported: the member does not own what it was given, or the coordinator does not
        know it does."""
        return self._rebalancing

    @property
    def membership(self) -> Membership | None:
        """What offsets are committed with now; None while the member has none."""
        return self.machine.membership

    async def run(self) -> None:
        """Join, then keep the member in the group until ``close()``; a fatal error (the
        member was fenced, its configuration is refused) is raised."""
        raise NotImplementedError

    async def _call_listener(self, action: Revoke | Lose | Assign) -> None:
        if isinstance(action, Assign):
            self._claimed |= action.partitions
            call = self._listener.assign
        elif isinstance(action, Revoke):
            self._released |= action.partitions
            call = self._listener.revoke
        else:
            self._released |= action.partitions
            call = self._listener.lose
        try:
            # Bounded: a member stuck in a callback past the rebalance timeout is dropped by
            # the coordinator anyway.
            with anyio.fail_after(self._rebalance_timeout):
                await call(action.partitions)
        except Exception as exc:  # the user's callback: report it, never swallow it
            self._on_error(exc)

    def _rebalance_started(self) -> None:
        if self._rebalancing:
            return  # one start per rebalance, however many rounds it takes
        self._rebalancing = True
        self._claimed.clear()
        self._released.clear()
        if self._on_rebalance_start is not None:
            self._on_rebalance_start()

    def _rebalanced(self, generation: int, current: Partitions) -> None:
        self._rebalancing = False
        if self._on_rebalance is not None:
            self._on_rebalance(
                Rebalance(generation, frozenset(self._claimed), frozenset(self._released), current)
            )

    def _push(self, actions: list[_A]) -> None:
        if actions:
            self._inbox.extend(actions)
            self._work.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if closing begins."""
        with anyio.move_on_after(seconds):
            await self._stop.wait()

    def close(self) -> None:
        """Ask ``run()`` to revoke (committing), leave and return."""
        self._closing = True
        self._stop.set()
        self._work.set()


class ClassicDriver(Member[ClassicMember, GroupCoordinator]):
    """Runs one ``ClassicMember`` against a coordinator; see the module docstring."""

    _request: anyio.CancelScope | None = None  # the join or sync under way

    @property
    def _session_timeout(self) -> float:
        return self._session.config.group.session_timeout or CLASSIC_SESSION_TIMEOUT

    @property
    def _heartbeat_interval(self) -> float:
        return self._session.config.group.heartbeat_interval or CLASSIC_HEARTBEAT_INTERVAL

    async def run(self) -> None:
        """Join, then keep the member in the group until ``close()``; a fatal error (the
        member was fenced, its configuration is refused) is raised."""
        async with ErrGroup() as group:
            await group.go(self._heartbeats)
            try:
                await self._drive(self.machine.start())
            finally:
                self._closing = True
                self._stop.set()

    async def _drive(self, first: list[Action]) -> None:
        machine = self.machine
        queue: deque[Action] = deque(first)
        backoff = _BACKOFF
        while True:
            while self._inbox:
                queue.append(self._inbox.popleft())  # type: ignore[arg-type]
            if not queue:
                if machine.state in (State.LEFT, State.FAILED):
                    return
                if machine.state is State.LEAVING:
                    machine.left()
                    return
                if self._closing:
                    queue.extend(machine.leave())
                    continue
                if machine.state is State.UNJOINED:  # a join failed for a passing reason
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    queue.extend(machine.retry())
                    continue
                self._work.clear()
                await self._work.wait()
                continue
            action = queue.popleft()
            queue.extend(await self._perform(action))
            if machine.state is State.STABLE:
                backoff = _BACKOFF

    async def _perform(self, action: Action) -> list[Action]:
        machine = self.machine
        coordinator = self._coordinator
        group = machine.group
        if isinstance(action, Join):
            if self._closing:  # closing while a rejoin was queued: leave instead
                return machine.leave()
            self._rebalance_started()
            try:
                with self._interruptible():
                    result = await coordinator.join_group(
                        group,
                        member_id=action.member_id,
                        instance_id=action.instance_id,
                        session_timeout=self._session_timeout,
                        rebalance_timeout=self._rebalance_timeout,
                        protocol_type="consumer",
                        protocols=action.protocols,
                        reason=action.reason,
                    )
            except AiomqError as exc:
                return machine.join_failed(exc)
            except _Interrupted:
                return machine.leave()
            return machine.joined(result)
        if isinstance(action, Metadata):
            counts: dict[str, int] = {}
            for topic in action.topics:
                try:
                    counts[topic] = len(await self._session.partitions(topic, refresh=True))
                except UnknownTopic:
                    continue  # nobody can consume a topic that does not exist (yet)
            return machine.metadata(counts)
        if isinstance(action, Sync):
            try:
                with self._interruptible():
                    data = await coordinator.sync_group(
                        group,
                        generation=action.generation,
                        member_id=action.member_id,
                        instance_id=action.instance_id,
                        protocol_type="consumer",
                        protocol=action.protocol,
                        assignments=action.assignments,
                    )
            except AiomqError as exc:
                return machine.sync_failed(exc)
            except _Interrupted:
                return machine.leave()
            return machine.synced(data)
        if isinstance(action, Revoke | Lose | Assign):
            await self._call_listener(action)
            actions = machine.callbacks_done()
            if machine.state is State.STABLE and not actions:
                self._rebalanced(machine.generation, machine.owned)
            return actions
        if isinstance(action, Leave):
            try:
                with anyio.fail_after(self._request_timeout):
                    await coordinator.leave_group(
                        group, [(action.member_id, action.instance_id)], "the consumer is closing"
                    )
            except (AiomqError, TimeoutError) as exc:  # best effort: the session timeout ends it
                log.warning("aiomq: group %r: leaving failed: %r", group, exc)
            machine.left()
            return []
        assert isinstance(action, Fail)
        raise action.error

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        machine = self.machine
        last_ok = loop.time()
        while True:
            await self._sleep(self._heartbeat_interval)
            if self._closing:
                return
            if not machine.heartbeating:
                last_ok = loop.time()
                continue
            generation = machine.generation
            try:
                with anyio.fail_after(self._request_timeout):
                    await self._coordinator.heartbeat(
                        machine.group,
                        generation=generation,
                        member_id=machine.member_id,
                        instance_id=machine.instance_id,
                    )
            except (AiomqError, TimeoutError) as exc:
                self._push(machine.heartbeat_failed(generation, exc))
                if loop.time() - last_ok > self._session_timeout:
                    self._push(machine.session_expired())
                continue
            last_ok = loop.time()

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A join or sync that ``close()`` may cut short (it raises ``_Interrupted``): a
        JoinGroup can wait a whole rebalance timeout for the other members."""
        scope = anyio.CancelScope()
        self._request = scope
        try:
            with scope:
                yield
        finally:
            self._request = None
        if scope.cancelled_caught:
            raise _Interrupted

    def request_rejoin(self, reason: str) -> None:
        """Rejoin soon (the subscribed topics changed)."""
        self._push(self.machine.rejoin(reason))

    def close(self) -> None:
        """Ask ``run()`` to revoke (committing), leave and return; a join or sync under way
        is cut short."""
        super().close()
        if self._request is not None:
            self._request.cancel()


class _Interrupted(Exception):
    """A join or sync was cut short by ``close()``."""


class ConsumerDriver(Member[ConsumerMember, ConsumerGroupCoordinator]):
    """Runs one ``ConsumerMember`` against a coordinator; see the module docstring."""

    async def run(self) -> None:
        """Join, then keep the member in the group until ``close()``; a fatal error (the
        member was fenced by another process with its instance id, its configuration is
        refused) is raised."""
        self.machine.start()
        async with ErrGroup() as group:
            await group.go(self._heartbeats)
            try:
                await self._drive()
            finally:
                self._closing = True
                self._stop.set()
                self._beat.set()

    async def _drive(self) -> None:
        """Run the callbacks the machine returns, in order; leave when closing."""
        machine = self.machine
        leaving = False
        while True:
            if self._inbox:
                action = self._inbox.popleft()
                assert isinstance(action, Revoke | Lose | Assign | Fail)
                if isinstance(action, Fail):
                    raise action.error
                await self._call_listener(action)
                self._push(machine.callbacks_done())
                self._beat.set()  # an acknowledgement or the leave may be due now
                self._check_converged()
                continue
            if machine.done:
                return
            if self._closing and not leaving:
                leaving = True
                self._push(machine.leave())
                self._beat.set()
                continue
            self._work.clear()
            await self._work.wait()

    async def _heartbeats(self) -> None:
        """Send the machine's heartbeats, one at a time: at once when one is urgent, else
        every interval the coordinator asked for; back off after failures."""
        loop = asyncio.get_running_loop()
        machine = self.machine
        last = -float("inf")
        failures = 0
        while not machine.done:
            wait = 0.0 if machine.urgent else last + machine.interval - loop.time()
            if wait > 0:
                self._beat.clear()
                with anyio.move_on_after(wait):
                    await self._beat.wait()
                continue
            request = machine.heartbeat()
            if request is None:
                self._beat.clear()
                await self._beat.wait()
                continue
            last = loop.time()
            try:
                answer = await self._send(request)
            except (AiomqError, TimeoutError) as exc:
                failures += 1
                self._note(machine.failed(request, exc))
                if not isinstance(exc, StaleMember) or failures > 1:
                    log.info("aiomq: group %r: heartbeat failed: %r", machine.group, exc)
                    await self._sleep(min(_BACKOFF * 2 ** (failures - 1), _MAX_BACKOFF))
                continue
            failures = 0
            self._note(machine.answered(request, answer))
        self._work.set()  # the driver sees the member done

    async def _send(self, request: Heartbeat) -> HeartbeatAnswer:
        with anyio.fail_after(self._request_timeout):
            return await self._coordinator.consumer_group_heartbeat(
                self.machine.group,
                member_id=request.member_id,
                member_epoch=request.member_epoch,
                instance_id=request.instance_id,
                rebalance_timeout=request.rebalance_timeout,
                subscribed_topics=request.subscribed_topics,
                server_assignor=request.server_assignor,
                owned=request.owned,
                subscribed_topic_regex=request.subscribed_topic_regex,
            )

    def _note(self, actions: list[Revoke | Lose | Assign | Fail]) -> None:
        if any(isinstance(a, Revoke | Lose | Assign) for a in actions):
            self._rebalance_started()
        self._push(actions)
        self._check_converged()

    def _check_converged(self) -> None:
        """Report the rebalance once the member owns what it was given and the coordinator
        knows it (the acknowledgement got through)."""
        machine = self.machine
        if self._rebalancing and machine.converged and not self._inbox:
            self._rebalanced(machine.epoch, machine.owned)
