"""The client: one connection to a cluster, the factory of admins, producers and consumers.

``async with aiomq.connect(url, config) as client`` is sarama's ``NewClient(addrs, config)``:
it owns the backend (``memory://`` or ``kafka://``) and a ``Session`` (the resolved codecs
and partitioner, a cache of topic partitions, the registry of what it made). Everything it
makes is an async context manager with an idempotent ``aclose()``, and closing the client
closes all of it, newest first. Unlike sarama, a client is not shared across event loops: it
belongs to the asyncio loop that opened it (messaging runs on asyncio only: aiokafka does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio

from ._session import Closeable, Session
from .admin import Admin
from .backends import Backend, backend_from_url
from .backends.base import check_group
from .codecs import Codec
from .concurrency._park import TRIO, current
from .config import Config
from .consumer import Consumer
from .errors import AiomqError, ClosedError, ConfigError
from .group import ConsumerGroup
from .partitioner import Partitioner
from .producer import AsyncProducer, SyncProducer

__all__ = ["Client", "connect"]

log = logging.getLogger("aiomq")

_C = TypeVar("_C", bound=Closeable)

_NEW, _OPEN, _CLOSING, _CLOSED = range(4)


def connect(url: str = "memory://", config: Config | None = None) -> Client:
    """Return a client for ``url``; open it with ``async with`` (or ``await``).

    ``url`` is ``memory://[name]`` (the in-process broker; the default) or
    ``kafka://host:port[,host:port]``; options go in the query string (see
    ``aiomq.backends``). ``config`` defaults to ``Config()`` and is validated here, so a bad
    URL or config raises ``ConfigError`` before anything connects. Under trio it raises
    ``AiomqError``: messaging runs on asyncio (the concurrency toolkit runs on both). Go's
    ``sarama.NewClient(addrs, config)``, which connects at once; here connecting happens on
    entering the ``async with``.
    """
    return Client(url, config)


def _check_asyncio() -> None:
    if current() is TRIO:
        raise AiomqError(
            "aiomq's messaging (connect, producers, consumers, admin) runs on asyncio, not "
            "trio: aiokafka is asyncio-only. The concurrency toolkit (aiomq.concurrency) "
            "runs on both."
        )


class Client:
    """A connection to one cluster (sarama's ``Client``); make one with ``aiomq.connect``.

    ``admin()`` makes an ``Admin``; producers, consumers and groups hang off the client the
    same way. Everything made is closed with the client. After ``aclose()`` every method
    raises ``ClosedError``. The client keeps the ``Config`` it was given, validated; treat it
    as frozen from then on (sarama copies its config; aiomq does not).
    """

    __slots__ = ("_closed_event", "_session", "_state")

    def __init__(self, url: str = "memory://", config: Config | None = None) -> None:
        _check_asyncio()
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise ConfigError("config", f"must be an aiomq.Config, not {type(config).__name__}")
        config.validate()
        self._session = Session(url, config, backend_from_url(url, config))
        self._state = _NEW
        self._closed_event: asyncio.Event | None = None

    def __repr__(self) -> str:
        state = ("new", "open", "closing", "closed")[self._state]
        return f"<Client {self._session.url!r} {state}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> Client:
        """Connect the backend; idempotent. ``async with`` and ``await connect(...)`` call it.

        Raises ``BrokerUnavailable`` when no broker answers, ``AuthenticationError`` when the
        login or TLS handshake is refused, ``ClosedError`` after close, also when
        ``aclose()`` ran while this call was connecting (the client stays closed), and
        ``AiomqError`` under trio.
        """
        _check_asyncio()
        self._session.check()
        if self._state == _NEW:
            await self._session.backend.open()
            if self._state >= _CLOSING:
                # aclose() ran while the backend was connecting; it may not have seen the
                # connection (closing twice is harmless: aclose is idempotent).
                await self._session.backend.aclose()
                raise ClosedError(f"client {self._session.url!r} was closed while opening")
            self._state = _OPEN
        return self

    def __await__(self) -> Generator[Any, None, Client]:
        return self.open().__await__()

    async def __aenter__(self) -> Client:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close everything this client made, newest first, then the backend. Idempotent.

        A second concurrent call waits for the first to finish. If closing a child raises,
        the others are still closed and the first error is raised at the end. If the call
        is cancelled, the close under way is interrupted but the rest (the other children,
        then the backend) is still closed, shielded from further cancellation, before the
        cancellation propagates: a client is never left half closed.
        """
        if self._state == _CLOSED:
            return
        if self._state == _CLOSING:
            assert self._closed_event is not None
            await self._closed_event.wait()
            return
        self._state = _CLOSING
        self._session.closed = True
        self._closed_event = asyncio.Event()
        first: Exception | None = None
        interrupted: BaseException | None = None
        try:
            while True:
                child = self._session.pop_newest()
                what: Closeable | Backend = child if child is not None else self._session.backend
                try:
                    if interrupted is None:
                        await what.aclose()
                    else:
                        with anyio.CancelScope(shield=True):
                            await what.aclose()
                except Exception as exc:
                    log.exception("aiomq: closing %r failed", what)
                    first = first or exc
                except BaseException as exc:  # cancellation: finish closing, then re-raise
                    interrupted = interrupted or exc
                if child is None:
                    break
        finally:
            self._state = _CLOSED
            self._session.forget_topics()
            self._closed_event.set()
        if interrupted is not None:
            raise interrupted
        if first is not None:
            raise first

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has started."""
        return self._state >= _CLOSING

    # -- what the client makes -----------------------------------------------------------

    def admin(self) -> Admin:
        """A new ``Admin`` over this client (sarama's ``NewClusterAdminFromClient``)."""
        return self._adopt(Admin(self._session))

    def sync_producer(self) -> SyncProducer:
        """A new ``SyncProducer`` (sarama's ``NewSyncProducerFromClient``)."""
        return self._adopt(SyncProducer(self._session))

    def async_producer(self) -> AsyncProducer:
        """A new ``AsyncProducer`` (sarama's ``NewAsyncProducerFromClient``); its tasks start
        at once, so call it from a running event loop."""
        self._session.check()
        return self._adopt(AsyncProducer(self._session))

    def group(
        self, group_id: str, topics: Sequence[str] = (), *, pattern: str | None = None
    ) -> ConsumerGroup:
        """A new ``ConsumerGroup`` consuming ``topics`` as a member of ``group_id``
        (sarama-cluster's ``NewConsumerFromClient``). It joins the group when iterated or
        entered (``async with``). ``pattern`` subscribes to every topic whose whole name
        matches that regular expression too, now and as topics are created (the consumer
        protocol only: see ``ConsumerGroup``; Java's ``subscribe(SubscriptionPattern)``)."""
        self._session.check()
        check_group(group_id)
        return self._adopt(ConsumerGroup(self._session, group_id, topics, pattern))

    def consumer(self) -> Consumer:
        """A new ``Consumer``: partitions read from offsets the caller chooses, outside any
        group (sarama's ``NewConsumerFromClient``)."""
        return self._adopt(Consumer(self._session))

    def _adopt(self, child: _C) -> _C:
        """Register ``child`` to be closed with the client. ``ClosedError`` if closed."""
        self._session.adopt(child)
        return child

    # -- what producers and consumers need -----------------------------------------------

    @property
    def url(self) -> str:
        """The URL the client was created with."""
        return self._session.url

    @property
    def config(self) -> Config:
        """The validated configuration."""
        return self._session.config

    @property
    def backend(self) -> Backend:
        """The backend records go through. ``ClosedError`` once the client is closed."""
        self._session.check()
        return self._session.backend

    @property
    def key_codec(self) -> Codec[Any]:
        """The codec of record keys (``config.key_codec``, resolved)."""
        return self._session.key_codec

    @property
    def value_codec(self) -> Codec[Any]:
        """The codec of record values (``config.value_codec``, resolved)."""
        return self._session.value_codec

    @property
    def partitioner(self) -> Partitioner:
        """The client's partitioner (``config.producer.partitioner``, resolved once)."""
        return self._session.partitioner

    async def partitions(self, topic: str, *, refresh: bool = False) -> list[int]:
        """The partition ids of ``topic`` (sarama's ``Client.Partitions``), cached.

        Creates the topic when missing and auto-creation is on; else ``UnknownTopic``.
        ``refresh=True`` asks the backend again (sarama's ``RefreshMetadata``), as a producer
        does after an ``UnknownTopic`` from a send.
        """
        return await self._session.partitions(topic, refresh=refresh)

    async def partition_for(
        self, topic: str, key: bytes | None, partition: int | None = None
    ) -> int:
        """The partition a record with encoded ``key`` goes to: ``partition`` if given, else
        the partitioner's choice over the topic's partitions (``select_partition``).

        Equal keys map to equal partitions while the partition count stays the same.
        """
        return await self._session.partition_for(topic, key, partition)
