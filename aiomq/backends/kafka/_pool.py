"""Fetch connections: one per concurrent fetch, a few kept idle per broker for the next.

A broker answers one request per connection at a time, in order, so a long poll on one
connection would hold up every request behind it. Each fetch therefore takes a connection
of its own: an idle one of the partition leader's, or a new one. After the answer the
connection goes back to the idle list unless ``MAX_IDLE`` are already there, in which case
it is closed: a burst of 500 concurrent fetches opens 500 connections, and leaves at most
``MAX_IDLE`` per broker open afterwards. A fetch that fails or is cancelled closes its
connection (a cancelled request would still be answered on it later).

sarama keeps one connection per broker and queues fetches on it; Kafka's Java consumer
sends one fetch per broker at a time. aiomq's consumers fetch per partition, hence the pool.
"""

from __future__ import annotations

from typing import Any

from aiokafka.conn import AIOKafkaConnection

from ._cluster import Cluster

__all__ = ["MAX_IDLE", "FetchPool"]

MAX_IDLE = 4
"""Idle fetch connections kept per broker; more are closed when their fetch ends."""


class FetchPool:
    """Connections for fetches, per broker; see the module docstring for the bound."""

    def __init__(self, cluster: Cluster, max_idle: int = MAX_IDLE) -> None:
        self._cluster = cluster
        self._max_idle = max_idle
        # Invariant: a connection is idle here or carries exactly one fetch, never both; each
        # list holds at most max_idle connections.
        self._idle: dict[int, list[AIOKafkaConnection]] = {}

    def idle(self, node: int) -> int:
        """How many idle connections to broker ``node`` the pool keeps right now."""
        return len(self._idle.get(node, ()))

    async def _take(self, node: int, deadline: float) -> AIOKafkaConnection:
        idle = self._idle.get(node)
        while idle:
            conn = idle.pop()
            if conn.connected():
                return conn
            self._cluster.drop(conn)
        return await self._cluster.dial(node, deadline)

    def _give_back(self, node: int, conn: AIOKafkaConnection) -> None:
        idle = self._idle.setdefault(node, [])
        if len(idle) < self._max_idle and not self._cluster.closed:
            idle.append(conn)
        else:
            self._cluster.drop(conn)

    async def request(self, node: int, request: Any, *, deadline: float, context: str) -> Any:
        """Send ``request`` to broker ``node`` on a connection that carries nothing else."""
        cluster = self._cluster
        conn = await self._take(node, deadline)
        try:
            response = await cluster.request(conn, request, deadline=deadline, context=context)
        except BaseException:
            cluster.drop(conn)  # a cancelled request would still answer on this connection
            raise
        if cluster.closed:
            cluster.drop(conn)
            raise cluster.closed_error()
        self._give_back(node, conn)
        return response

    def clear(self) -> None:
        """Forget the idle connections (``Cluster.aclose`` closes them)."""
        self._idle.clear()
