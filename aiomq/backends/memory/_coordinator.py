"""The in-process broker's group coordinator: Kafka's classic group protocol, in process.

``Coordinator`` keeps, per group, the members, the generation, the chosen protocol, the
leader and the assignment, and answers JoinGroup, SyncGroup, Heartbeat, LeaveGroup and
membership-checked commits with Kafka's rules (GroupCoordinator / ClassicGroup):

- a dynamic member's first join gets ``MemberIdRequired`` with the id to join with;
- a join from a member of a stable group starts a rebalance (``PreparingRebalance``) unless
  it is a follower whose metadata did not change; the join phase ends when every member has
  rejoined or the rebalance timeout passes, dropping those that did not; then the generation
  moves on, the protocol every member offers with the most first choices wins, and the
  leader (kept if it rejoined) gets every member's metadata;
- a member that neither heartbeats nor rejoins for its session timeout is removed, which
  starts a rebalance; heartbeats from the others then answer ``RebalanceInProgress``;
- a static member (``instance_id``) that joins again replaces its former self without a
  rebalance when nothing else changed (the old member id is fenced), and a leader coming
  back that way is told to skip the assignment;
- commits are checked against the member's generation; a plain commit (no membership) to a
  group with members is refused, as Kafka refuses generation -1.

Deadlines (sessions, rebalance timeouts) are checked against the clock whenever the group is
touched, and a join waiting for the others parks with a timer for the rebalance deadline:
no background task.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...concurrency._park import Parker, current
from ...errors import (
    ConfigError,
    FencedInstanceId,
    GroupNotEmpty,
    InconsistentGroupProtocol,
    MemberIdRequired,
    RebalanceInProgress,
    StaleMember,
)
from ..base import Membership
from ..group import GroupDescription, GroupListing, GroupMember, JoinResult, MemberDescription

__all__ = ["Coordinator"]

EMPTY, PREPARING, COMPLETING, STABLE, DEAD = (
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
)

MIN_SESSION_TIMEOUT = 6.0  # Kafka's group.min.session.timeout.ms default
MAX_SESSION_TIMEOUT = 1800.0  # Kafka's group.max.session.timeout.ms default


@dataclass(eq=False)
class _Member:
    member_id: str
    instance_id: str | None
    client_id: str
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout: float
    rebalance_timeout: float
    expires: float  # when the coordinator drops it without a heartbeat
    joining: Parker[JoinResult | BaseException] | None = None
    syncing: Parker[bytes | BaseException] | None = None
    assignment: bytes = b""

    def metadata(self, protocol: str) -> bytes:
        return next(data for name, data in self.protocols if name == protocol)


@dataclass(eq=False)
class _Group:
    name: str
    state: str = EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    members: dict[str, _Member] = field(default_factory=dict)
    static: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending: set[str] = field(default_factory=set)  # ids handed out by MemberIdRequired
    rebalance_deadline: float = 0.0


class Coordinator:
    """The group coordinator of one ``MemoryBroker``; see the module docstring. The broker
    stores committed offsets itself, once ``check_commit`` let them through."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}
        # The bounds of a member's session timeout (Kafka's group.min/max.session.timeout.ms),
        # settable like the broker's other settings (tests lower the minimum).
        self.min_session_timeout = MIN_SESSION_TIMEOUT
        self.max_session_timeout = MAX_SESSION_TIMEOUT

    # -- join --------------------------------------------------------------------------------

    async def join_group(
        self,
        group: str,
        *,
        member_id: str,
        instance_id: str | None,
        session_timeout: float,
        rebalance_timeout: float,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        reason: str | None = None,
        client_id: str = "aiomq",
    ) -> JoinResult:
        """Kafka's JoinGroup; see ``GroupCoordinator.join_group``."""
        if not self.min_session_timeout <= session_timeout <= self.max_session_timeout:
            raise ConfigError(
                "group.session_timeout",
                f"{session_timeout} s is outside the coordinator's bounds "
                f"[{self.min_session_timeout}, {self.max_session_timeout}]",
            )
        if not protocols:
            raise InconsistentGroupProtocol("a member must offer at least one protocol")
        loop = asyncio.get_running_loop()
        now = loop.time()
        g = self._group(group)
        self._expire(g, now)
        if g.members and protocol_type != g.protocol_type:
            raise InconsistentGroupProtocol(
                f"group {group!r} runs protocol type {g.protocol_type!r}, not {protocol_type!r}"
            )
        offered = {name for name, _ in protocols}
        others = [m for m in g.members.values() if m.member_id != member_id]
        if others and not all(offered & {n for n, _ in m.protocols} for m in others):
            raise InconsistentGroupProtocol(
                f"group {group!r}: none of {sorted(offered)} is supported by every member"
            )
        protocols = tuple(protocols)
        if not member_id:
            if instance_id is None:
                fresh = f"{client_id}-{uuid.uuid4()}"
                g.pending.add(fresh)
                raise MemberIdRequired("join again with the member id given", fresh)
            return await self._join_static(
                g,
                instance_id,
                client_id,
                protocol_type,
                protocols,
                now,
                session_timeout,
                rebalance_timeout,
                loop,
            )
        member = g.members.get(member_id)
        if member is None:
            if member_id not in g.pending:
                raise StaleMember(
                    f"group {group!r} has no member {member_id!r}", "UNKNOWN_MEMBER_ID"
                )
            g.pending.discard(member_id)
            member = _Member(
                member_id,
                instance_id,
                client_id,
                protocols,
                session_timeout,
                rebalance_timeout,
                now + session_timeout,
            )
            g.members[member_id] = member
            self._prepare(g, now)
        else:
            if instance_id is not None and g.static.get(instance_id) != member_id:
                raise FencedInstanceId(f"instance {instance_id!r} was taken by another member")
            changed = member.protocols != protocols
            member.protocols = protocols
            member.session_timeout = session_timeout
            member.rebalance_timeout = rebalance_timeout
            member.expires = now + session_timeout
            if g.state is STABLE and not changed and member_id != g.leader:
                return self._result(g, member)  # nothing changed: the current generation
            if g.state in (STABLE, COMPLETING):
                self._prepare(g, now)
        if g.protocol_type == "":
            g.protocol_type = protocol_type
        return await self._await_join(g, member, loop)

    async def _join_static(
        self,
        g: _Group,
        instance_id: str,
        client_id: str,
        protocol_type: str,
        protocols: tuple[tuple[str, bytes], ...],
        now: float,
        session_timeout: float,
        rebalance_timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> JoinResult:
        fresh = f"{instance_id}-{uuid.uuid4()}"
        old_id = g.static.get(instance_id)
        old = g.members.pop(old_id, None) if old_id is not None else None
        member = _Member(
            fresh,
            instance_id,
            client_id,
            protocols,
            session_timeout,
            rebalance_timeout,
            now + session_timeout,
        )
        g.members[fresh] = member
        g.static[instance_id] = fresh
        if g.protocol_type == "":
            g.protocol_type = protocol_type
        if old is not None:
            # The former self is fenced: whatever it waits on fails with FencedInstanceId.
            fenced = FencedInstanceId(f"instance {instance_id!r} joined again as {fresh!r}")
            for parker in (old.joining, old.syncing):
                if parker is not None:
                    parker.wake(fenced)
            member.assignment = old.assignment
            if g.leader == old.member_id:
                g.leader = fresh
            if g.state is STABLE and _select_protocol(g) == g.protocol:
                # Back within the session timeout, the group's protocol unchanged: no
                # rebalance (KIP-345), whatever its subscription says now (Kafka's
                # GroupMetadataManager compares the protocol the group would select).
                return self._result(g, member, skip_assignment=g.leader == fresh)
        self._prepare(g, now)
        return await self._await_join(g, member, loop)

    def _prepare(self, g: _Group, now: float) -> None:
        """Start (or keep) a rebalance: every member must rejoin by the deadline."""
        if g.state is not PREPARING:
            g.state = PREPARING
            timeout = max((m.rebalance_timeout for m in g.members.values()), default=0.0)
            g.rebalance_deadline = now + timeout
            # Members waiting in SyncGroup must rejoin: wake them with the news.
            for m in g.members.values():
                if m.syncing is not None:
                    m.syncing.wake(RebalanceInProgress("the group is rebalancing again"))
                    m.syncing = None

    async def _await_join(
        self, g: _Group, member: _Member, loop: asyncio.AbstractEventLoop
    ) -> JoinResult:
        """Wait until the join phase ends: every member rejoined, or the deadline passed
        (a timer handle checks then; no task)."""
        parker: Parker[JoinResult | BaseException] = current().parker()
        member.joining = parker
        self._maybe_complete_join(g, loop.time())
        timer = None
        if not parker.woken:
            timer = loop.call_at(g.rebalance_deadline, self._deadline_passed, g)
        try:
            outcome = await parker.park()
        finally:
            if timer is not None:
                timer.cancel()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _deadline_passed(self, g: _Group) -> None:
        self._maybe_complete_join(g, asyncio.get_running_loop().time())

    def _maybe_complete_join(self, g: _Group, now: float) -> None:
        if g.state is not PREPARING:
            return
        # A member whose join was cancelled while it waited still counts as joined (Kafka
        # keeps it; its session runs from the end of the join phase).
        waiting = [m for m in g.members.values() if m.joining is not None]
        if len(waiting) < len(g.members) and now < g.rebalance_deadline:
            return
        # Those that did not rejoin in time are dropped.
        for m in [m for m in g.members.values() if m not in waiting]:
            self._remove(g, m)
        if not g.members:
            g.state = EMPTY
            g.generation += 1
            return
        g.generation += 1
        g.protocol = _select_protocol(g)
        if g.leader not in g.members:
            g.leader = next(iter(g.members))
        g.state = COMPLETING
        leader_view = tuple(
            GroupMember(m.member_id, m.instance_id, m.metadata(g.protocol))
            for m in g.members.values()
        )
        for m in g.members.values():
            m.expires = now + m.session_timeout
            m.assignment = b""
            parker = m.joining
            m.joining = None
            if parker is not None:
                parker.wake(self._result(g, m, members=leader_view))

    def _result(
        self,
        g: _Group,
        m: _Member,
        *,
        members: tuple[GroupMember, ...] = (),
        skip_assignment: bool = False,
    ) -> JoinResult:
        is_leader = m.member_id == g.leader
        view = members if is_leader else ()
        if is_leader and not view:
            view = tuple(
                GroupMember(o.member_id, o.instance_id, o.metadata(g.protocol))
                for o in g.members.values()
            )
        return JoinResult(g.generation, g.protocol, g.leader, m.member_id, view, skip_assignment)

    # -- sync, heartbeat, leave ------------------------------------------------------------

    async def sync_group(
        self,
        group: str,
        *,
        generation: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str,
        protocol: str,
        assignments: Mapping[str, bytes],
    ) -> bytes:
        """Kafka's SyncGroup; see ``GroupCoordinator.sync_group``."""
        now = asyncio.get_running_loop().time()
        g = self._group(group)
        self._expire(g, now)
        member = self._member(g, generation, member_id, instance_id)
        if g.state is PREPARING:
            raise RebalanceInProgress(f"group {group!r} is rebalancing")
        if g.state is STABLE:
            return member.assignment
        if member_id == g.leader:
            for m in g.members.values():
                m.assignment = bytes(assignments.get(m.member_id, b""))
            g.state = STABLE
            for m in g.members.values():
                if m.syncing is not None:
                    m.syncing.wake(m.assignment)
                    m.syncing = None
            return member.assignment
        parker: Parker[bytes | BaseException] = current().parker()
        member.syncing = parker
        try:
            outcome = await parker.park()
        finally:
            if member.syncing is parker:
                member.syncing = None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def heartbeat(
        self, group: str, *, generation: int, member_id: str, instance_id: str | None
    ) -> None:
        """Kafka's Heartbeat; see ``GroupCoordinator.heartbeat``."""
        now = asyncio.get_running_loop().time()
        g = self._group(group)
        self._expire(g, now)
        member = self._member(g, generation, member_id, instance_id)
        member.expires = now + member.session_timeout
        if g.state is PREPARING:
            raise RebalanceInProgress(f"group {group!r} is rebalancing: rejoin")
        await _checkpoint()

    async def leave_group(
        self, group: str, members: Sequence[tuple[str, str | None]], reason: str | None = None
    ) -> None:
        """Kafka's LeaveGroup; unknown members are ignored."""
        now = asyncio.get_running_loop().time()
        g = self._groups.get(group)
        if g is not None:
            for member_id, instance_id in members:
                if instance_id is not None and member_id == "":
                    member_id = g.static.get(instance_id, "")
                m = g.members.get(member_id)
                if m is not None:
                    self._remove(g, m)
                    self._rebalance_after_loss(g, now)
        await _checkpoint()

    # -- commits and admin -------------------------------------------------------------------

    def check_commit(self, group: str, membership: Membership | None) -> None:
        """Refuse a commit whose membership is not current, as Kafka does: a plain commit
        (no membership, or generation -1) while the group has members; a generation of 0 or
        more that is not the group's, or from a member it does not know (``StaleMember``);
        any commit while the group completes a rebalance (``RebalanceInProgress``)."""
        g = self._groups.get(group)
        if g is not None:
            self._expire(g, asyncio.get_running_loop().time())
        if membership is None or membership.generation < 0:
            if g is not None and g.members:
                raise StaleMember(
                    f"group {group!r} has members: commit with a member's generation",
                    "UNKNOWN_MEMBER_ID",
                )
            return
        if g is None:
            raise StaleMember(
                f"group {group!r} has no generation {membership.generation}", "ILLEGAL_GENERATION"
            )
        self._member(g, membership.generation, membership.member_id, membership.instance_id)
        if g.state is COMPLETING:
            raise RebalanceInProgress(f"group {group!r} is completing a rebalance")

    def list_groups(self) -> list[GroupListing]:
        now = asyncio.get_running_loop().time()
        out = []
        for g in self._groups.values():
            self._expire(g, now)
            out.append(GroupListing(g.name, g.state, g.protocol_type))
        return out

    def describe_group(self, group: str) -> GroupDescription:
        g = self._groups.get(group)
        if g is None:
            return GroupDescription(group, DEAD, "", "")
        self._expire(g, asyncio.get_running_loop().time())
        # As Kafka: outside Stable the protocol and each member's bytes are not reported.
        stable = g.state is STABLE
        members = tuple(
            MemberDescription(
                m.member_id,
                m.instance_id,
                m.client_id,
                "/127.0.0.1",
                m.metadata(g.protocol) if stable else b"",
                m.assignment if stable else b"",
            )
            for m in g.members.values()
        )
        protocol = g.protocol if stable else ""
        return GroupDescription(group, g.state, g.protocol_type, protocol, members)

    def delete_group(self, group: str) -> None:
        g = self._groups.get(group)
        if g is not None:
            self._expire(g, asyncio.get_running_loop().time())
            if g.members:
                raise GroupNotEmpty(f"group {group!r} still has members")
            del self._groups[group]

    def known(self, group: str) -> bool:
        return group in self._groups

    # -- bookkeeping -------------------------------------------------------------------------

    def _group(self, name: str) -> _Group:
        g = self._groups.get(name)
        if g is None:
            g = self._groups[name] = _Group(name)
        return g

    def _member(
        self, g: _Group, generation: int, member_id: str, instance_id: str | None
    ) -> _Member:
        if instance_id is not None and g.static.get(instance_id) not in (None, member_id):
            raise FencedInstanceId(f"instance {instance_id!r} was taken by another member")
        member = g.members.get(member_id)
        if member is None:
            raise StaleMember(f"group {g.name!r} has no member {member_id!r}", "UNKNOWN_MEMBER_ID")
        if generation != g.generation:
            raise StaleMember(
                f"generation {generation} of group {g.name!r} is over (now {g.generation})",
                "ILLEGAL_GENERATION",
            )
        return member

    def _expire(self, g: _Group, now: float) -> None:
        """Drop members whose session ran out; the group then rebalances without them."""
        expired = [m for m in g.members.values() if m.expires <= now and m.joining is None]
        for m in expired:
            self._remove(g, m)
        if expired:
            self._rebalance_after_loss(g, now)
        if g.state is PREPARING:
            self._maybe_complete_join(g, now)

    def _remove(self, g: _Group, m: _Member) -> None:
        g.members.pop(m.member_id, None)
        if m.instance_id is not None and g.static.get(m.instance_id) == m.member_id:
            del g.static[m.instance_id]
        gone = StaleMember(f"member {m.member_id!r} left group {g.name!r}", "UNKNOWN_MEMBER_ID")
        for parker in (m.joining, m.syncing):
            if parker is not None:
                parker.wake(gone)
        m.joining = m.syncing = None

    def _rebalance_after_loss(self, g: _Group, now: float) -> None:
        if not g.members:
            g.state = EMPTY
            g.generation += 1
            g.leader = ""
            g.protocol = ""
            return
        if g.state in (STABLE, COMPLETING):
            self._prepare(g, now)
        self._maybe_complete_join(g, now)


async def _checkpoint() -> None:
    await current().checkpoint()


def _select_protocol(g: _Group) -> str:
    """The protocol the group's members would select: each votes for its first one that
    every member supports; the most votes win, ties to the first name (Kafka's
    ``ClassicGroup.selectProtocol``)."""
    votes = Counter(
        next(
            name
            for name, _ in m.protocols
            if all(name in {n for n, _ in o.protocols} for o in g.members.values())
        )
        for m in g.members.values()
    )
    return max(sorted(votes), key=lambda name: votes[name])
