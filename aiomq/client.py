"""The client: one connection to a cluster, the factory of admins, producers and consumers.

``async with aiomq.connect(url, config) as client`` is sarama's ``NewClient(addrs, config)``:
it owns the backend (``memory://`` or ``kafka://``), the resolved codecs and partitioner,
and a cache of topic partitions. Everything it makes is an async context manager with an
idempotent ``aclose()``, and closing the client closes all of it, newest first. Unlike
sarama, a client is not shared across event loops: it belongs to the loop that opened it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

import anyio

from .admin import Admin
from .backends import Backend, backend_from_url
from .codecs import Codec, resolve
from .config import Config
from .errors import ClosedError, ConfigError, UnknownTopic
from .partitioner import Partitioner, partitioner_from, select_partition

__all__ = ["Client", "connect"]

log = logging.getLogger("aiomq")


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


_C = TypeVar("_C", bound=_Closeable)

_NEW, _OPEN, _CLOSING, _CLOSED = range(4)


def connect(url: str = "memory://", config: Config | None = None) -> Client:
    """Return a client for ``url``; open it with ``async with`` (or ``await``).

    ``url`` is ``memory://[name]`` (the in-process broker; the default) or
    ``kafka://host:port[,host:port]``; options go in the query string (see
    ``aiomq.backends``). ``config`` defaults to ``Config()`` and is validated here, so a bad
    URL or config raises ``ConfigError`` before anything connects. Go's
    ``sarama.NewClient(addrs, config)``, which connects at once; here connecting happens on
    entering the ``async with``.
    """
    return Client(url, config)


class Client:
    """A connection to one cluster (sarama's ``Client``); make one with ``aiomq.connect``.

    ``admin()`` makes an ``Admin``; producers, consumers and groups (``sync_producer()``,
    ``async_producer()``, ``consumer()``, ``group()``) hang off the client the same way.
    Everything made is closed with the client. After ``aclose()`` every method raises
    ``ClosedError``. The client keeps the ``Config`` it was given, validated; treat it as
    frozen from then on (sarama copies its config; aiomq does not).
    """

    __slots__ = (
        "_backend",
        "_children",
        "_closed_event",
        "_config",
        "_key_codec",
        "_partitioner",
        "_partitions",
        "_state",
        "_url",
        "_value_codec",
    )

    # Invariant: _children holds what this client made and has not seen closed; it is
    # empty once _state is _CLOSED.

    def __init__(self, url: str = "memory://", config: Config | None = None) -> None:
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise ConfigError("config", f"must be an aiomq.Config, not {type(config).__name__}")
        config.validate()
        self._config = config
        self._url = url
        self._backend: Backend = backend_from_url(url, config)
        self._key_codec: Codec[Any] = resolve(config.key_codec)
        self._value_codec: Codec[Any] = resolve(config.value_codec)
        self._partitioner: Partitioner = partitioner_from(config.producer.partitioner)
        self._partitions: dict[str, list[int]] = {}
        self._children: dict[_Closeable, None] = {}  # a dict: an ordered set
        self._state = _NEW
        self._closed_event: asyncio.Event | None = None

    def __repr__(self) -> str:
        state = ("new", "open", "closing", "closed")[self._state]
        return f"<Client {self._url!r} {state}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> Client:
        """Connect the backend; idempotent. ``async with`` and ``await connect(...)`` call it.

        Raises ``BrokerUnavailable`` when no broker answers, ``AuthenticationError`` when the
        login or TLS handshake is refused, ``ClosedError`` after close, also when
        ``aclose()`` ran while this call was connecting (the client stays closed).
        """
        self._check()
        if self._state == _NEW:
            await self._backend.open()
            if self._state >= _CLOSING:
                # aclose() ran while the backend was connecting; it may not have seen the
                # connection (closing twice is harmless: aclose is idempotent).
                await self._backend.aclose()
                raise ClosedError(f"client {self._url!r} was closed while opening")
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
        self._closed_event = asyncio.Event()
        first: Exception | None = None
        interrupted: BaseException | None = None
        try:
            for close, what in self._closers():
                try:
                    if interrupted is None:
                        await close()
                    else:
                        with anyio.CancelScope(shield=True):
                            await close()
                except Exception as exc:
                    log.exception("aiomq: closing %r failed", what)
                    first = first or exc
                except BaseException as exc:  # cancellation: finish closing, then re-raise
                    interrupted = interrupted or exc
        finally:
            self._state = _CLOSED
            self._partitions.clear()
            self._closed_event.set()
        if interrupted is not None:
            raise interrupted
        if first is not None:
            raise first

    def _closers(self) -> Iterator[tuple[Callable[[], Awaitable[None]], object]]:
        """What ``aclose()`` closes, in order: the children, newest first, then the backend.

        Children are taken one at a time, so one made while closing is closed too.
        """
        while self._children:
            child = next(reversed(self._children))
            self._children.pop(child, None)
            yield child.aclose, child
        yield self._backend.aclose, self._backend

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has started."""
        return self._state >= _CLOSING

    def _check(self) -> None:
        if self._state >= _CLOSING:
            raise ClosedError(f"client {self._url!r} is closed")

    # -- what the client makes -----------------------------------------------------------

    def admin(self) -> Admin:
        """A new ``Admin`` over this client (sarama's ``NewClusterAdminFromClient``)."""
        return self._adopt(Admin(self))

    # Producers, consumers and groups register here the same way: ``sync_producer()``,
    # ``async_producer()``, ``consumer()`` and ``group(group_id, topics)`` each build their
    # object over ``self.backend`` and return ``self._adopt(obj)``; the object calls
    # ``client._release(self)`` from its own ``aclose()``.

    def _adopt(self, child: _C) -> _C:
        """Register ``child`` to be closed with the client. ``ClosedError`` if closed."""
        self._check()
        self._children[child] = None
        return child

    def _release(self, child: _Closeable) -> None:
        """Forget ``child`` (it closed itself). Unknown children are ignored."""
        self._children.pop(child, None)

    # -- what producers and consumers need -----------------------------------------------

    @property
    def url(self) -> str:
        """The URL the client was created with."""
        return self._url

    @property
    def config(self) -> Config:
        """The validated configuration."""
        return self._config

    @property
    def backend(self) -> Backend:
        """The backend records go through. ``ClosedError`` once the client is closed."""
        self._check()
        return self._backend

    @property
    def key_codec(self) -> Codec[Any]:
        """The codec of record keys (``config.key_codec``, resolved)."""
        return self._key_codec

    @property
    def value_codec(self) -> Codec[Any]:
        """The codec of record values (``config.value_codec``, resolved)."""
        return self._value_codec

    @property
    def partitioner(self) -> Partitioner:
        """The client's partitioner (``config.producer.partitioner``, resolved once)."""
        return self._partitioner

    async def partitions(self, topic: str, *, refresh: bool = False) -> list[int]:
        """The partition ids of ``topic`` (sarama's ``Client.Partitions``), cached.

        Creates the topic when missing and auto-creation is on; else ``UnknownTopic``.
        ``refresh=True`` asks the backend again (sarama's ``RefreshMetadata``), as a producer
        does after an ``UnknownTopic`` from a send.
        """
        self._check()
        if not refresh:
            cached = self._partitions.get(topic)
            if cached is not None:
                return cached
        try:
            found = await self._backend.partitions(topic)
        except UnknownTopic:
            self._partitions.pop(topic, None)
            raise
        self._partitions[topic] = found
        return found

    def _forget_topic(self, topic: str) -> None:
        """Drop ``topic`` from the partition cache (after the admin created or deleted it)."""
        self._partitions.pop(topic, None)

    async def partition_for(
        self, topic: str, key: bytes | None, partition: int | None = None
    ) -> int:
        """The partition a record with encoded ``key`` goes to: ``partition`` if given, else
        the partitioner's choice over the topic's partitions (``select_partition``).

        Equal keys map to equal partitions while the partition count stays the same.
        """
        partitions = await self.partitions(topic)
        return select_partition(self._partitioner, topic, key, len(partitions), partition)
