"""The task that drives a group member: performs its state machine's actions, one at a time,
and heartbeats alongside.

``Member.run()`` joins the group and keeps the member in it until ``close()`` (which revokes,
commits and leaves) or a fatal error (which it raises). What the member owns reaches the
consumer through a ``Listener``: ``assign`` and ``revoke`` (commit what was consumed, the
generation is still valid) and ``lose`` (do not commit: another member may own them now).
A listener that raises does not stop the member: the error is reported through ``on_error``
and the rebalance goes on, as the group's errors channel promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import anyio

from .._session import Session
from ..backends.group import GroupCoordinator
from ..concurrency import ErrGroup
from ..errors import AiomqError, UnknownTopic
from ._classic import (
    Action,
    Assign,
    ClassicMember,
    Fail,
    Join,
    Leave,
    Lose,
    Metadata,
    Partitions,
    Revoke,
    State,
    Sync,
)

__all__ = ["Listener", "Member", "Rebalance"]

log = logging.getLogger("aiomq")

_BACKOFF = 0.1  # first pause before retrying a failed join; doubles up to _MAX_BACKOFF
_MAX_BACKOFF = 2.0


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
    after it (sarama-cluster's ``Notification``)."""

    generation: int
    claimed: Partitions
    released: Partitions
    current: Partitions


class Member:
    """Runs one ``ClassicMember`` against a coordinator; see the module docstring."""

    def __init__(
        self,
        machine: ClassicMember,
        coordinator: GroupCoordinator,
        session: Session,
        listener: Listener,
        *,
        on_error: Callable[[BaseException], None],
        on_rebalance: Callable[[Rebalance], None] | None = None,
        on_rebalance_start: Callable[[], None] | None = None,
    ) -> None:
        settings = session.config.group
        self.machine = machine
        self._coordinator = coordinator
        self._session = session
        self._listener = listener
        self._on_error = on_error
        self._on_rebalance = on_rebalance
        self._on_rebalance_start = on_rebalance_start
        self._session_timeout = settings.session_timeout
        self._rebalance_timeout = settings.rebalance_timeout
        self._heartbeat_interval = settings.heartbeat_interval
        self._inbox: deque[Action] = deque()
        self._work = asyncio.Event()  # the inbox has actions, or closing began
        self._stop = asyncio.Event()  # closing began
        self._closing = False
        self._request: anyio.CancelScope | None = None  # the join or sync under way
        self._rebalancing = False
        self._claimed: set[tuple[str, int]] = set()
        self._released: set[tuple[str, int]] = set()

    # -- the driver ------------------------------------------------------------------------

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
                queue.append(self._inbox.popleft())
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
            if not self._rebalancing:
                self._claimed.clear()
                self._released.clear()
            if self._closing:  # closing while a rejoin was queued: leave instead
                return machine.leave()
            if not self._rebalancing:  # one start per rebalance, however many joins it takes
                self._rebalancing = True
                if self._on_rebalance_start is not None:
                    self._on_rebalance_start()
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
                self._rebalanced()
            return actions
        if isinstance(action, Leave):
            try:
                with anyio.fail_after(self._session.config.net.request_timeout):
                    await coordinator.leave_group(
                        group, [(action.member_id, action.instance_id)], "the consumer is closing"
                    )
            except (AiomqError, TimeoutError) as exc:  # best effort: the session timeout ends it
                log.warning("aiomq: group %r: leaving failed: %r", group, exc)
            machine.left()
            return []
        assert isinstance(action, Fail)
        raise action.error

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

    def _rebalanced(self) -> None:
        self._rebalancing = False
        if self._on_rebalance is not None:
            self._on_rebalance(
                Rebalance(
                    self.machine.generation,
                    frozenset(self._claimed),
                    frozenset(self._released),
                    self.machine.owned,
                )
            )

    # -- heartbeats --------------------------------------------------------------------------

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
                with anyio.fail_after(self._session.config.net.request_timeout):
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

    def _push(self, actions: list[Action]) -> None:
        if actions:
            self._inbox.extend(actions)
            self._work.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if closing begins."""
        with anyio.move_on_after(seconds):
            await self._stop.wait()

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

    # -- closing -----------------------------------------------------------------------------

    def request_rejoin(self, reason: str) -> None:
        """Rejoin soon (the subscribed topics changed)."""
        self._push(self.machine.rejoin(reason))

    def close(self) -> None:
        """Ask ``run()`` to revoke (committing), leave and return; a join or sync under way
        is cut short."""
        self._closing = True
        self._stop.set()
        self._work.set()
        if self._request is not None:
            self._request.cancel()


class _Interrupted(Exception):
    """A join or sync was cut short by ``close()``."""
