"""``TopicIds``: a cluster's topic ids and names, as Metadata v12 tells them.

The consumer group protocol (KIP-848) names topics by id, aiomq's members by name. An id
never changes its topic, so the map from ids to names only grows; a name may get a new id
when its topic is deleted and created again, so the map from names to ids follows the
newest answer (an assignment's id included).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from typing import Any

from ...errors import BrokerUnavailable
from . import _group_protocol as wire
from ._cluster import COORDINATION, Cluster, Retry

__all__ = ["TopicIds"]


class TopicIds:
    """Topic ids and names of one ``Cluster``, cached; unknown ones asked once per call, of
    the broker given: a group's coordinator, which has just answered, and which knows every
    topic it assigns (it assigned them from its own metadata).

    The Go counterpart is franz-go's topic id map in its metadata (sarama has no topic ids).
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._names: dict[uuid.UUID, str] = {}
        self._ids: dict[str, uuid.UUID] = {}

    def learn(self, topic_id: uuid.UUID, name: str) -> None:
        """Record that ``topic_id`` is ``name``'s (its newest id)."""
        self._names[topic_id] = name
        self._ids[name] = topic_id

    async def names(
        self, ids: Iterable[uuid.UUID], node: int, deadline: float
    ) -> dict[uuid.UUID, str]:
        """The names of ``ids`` that are known, with one Metadata request to broker ``node``
        for those not in the cache. An id that request does not resolve (the topic was
        deleted), or every unknown one when ``node`` does not answer before ``deadline``,
        is left out: the caller asks again later."""
        wanted = set(ids)
        unknown = [i for i in wanted if i not in self._names]
        if unknown:
            with contextlib.suppress(Retry):
                await self._ask(wire.topics_by_id(unknown), node, deadline)
        return {i: self._names[i] for i in wanted if i in self._names}

    async def ids(self, names: Iterable[str], node: int, deadline: float) -> dict[str, uuid.UUID]:
        """The ids of ``names``, with one Metadata request to broker ``node`` for those not
        in the cache; a name it does not know (no such topic) is left out. ``Retry`` when
        ``node`` does not answer (nothing is known about those names then)."""
        wanted = set(names)
        unknown = [n for n in wanted if n not in self._ids]
        if unknown:
            await self._ask(wire.topics_by_name(unknown), node, deadline)
        return {n: self._ids[n] for n in wanted if n in self._ids}

    async def _ask(self, request: Any, node: int, deadline: float) -> None:
        """``request`` (Metadata v12) to ``node``; ``Retry`` when it does not answer."""
        cluster = self._cluster
        try:
            response = await cluster.send(
                node,
                request,
                deadline=deadline,
                context=f"topic ids from broker {node}",
                group=COORDINATION,
            )
        except BrokerUnavailable as exc:
            raise Retry(str(exc)) from None
        for code, name, topic_id, *_ in response.topics:
            if not code and name and topic_id != wire.NO_TOPIC_ID:
                self.learn(topic_id, name)
