"""A producer's transactions: ``async with producer.transaction():`` begin, send, commit; abort
on an exception.

One ``Transactions`` per producer with ``producer.transactional_id``. The backend's
``TransactionalProducer`` is opened on first use (that fences any older producer with the
same id and aborts what it left open); then every batch the producer sends goes through it.
Outside a transaction such a producer refuses to send: a record there would belong to no
transaction. A transaction commits only when every record sent in it was delivered; a
failed record, or an exception in the block, aborts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import anyio

from .._session import Session
from ..backends.base import CommittedOffset, Membership, TopicPartition, TransactionalProducer
from ..errors import AiomqError, ConfigError, ProducerFenced, TransactionError
from ._engine import Batch, Engine

__all__ = ["Transactions"]


class Transactions:
    """The transactional side of one producer; see the module docstring."""

    __slots__ = ("_engine", "_failed", "_lock", "_open", "_producer", "_session")

    def __init__(self, session: Session, engine: Engine) -> None:
        self._session = session
        self._engine = engine
        self._producer: TransactionalProducer | None = None
        self._lock = asyncio.Lock()
        self._open = False
        self._failed: BaseException | None = None

    @property
    def enabled(self) -> bool:
        """Whether the producer has a ``transactional_id`` (and so sends only in a
        transaction)."""
        return self._session.config.producer.transactional_id is not None

    @property
    def open(self) -> bool:
        """Whether a transaction is under way."""
        return self._open

    def check_send(self) -> None:
        """Refuse a send outside a transaction (it would belong to none)."""
        if self.enabled and not self._open:
            raise TransactionError(
                "this producer has a transactional_id: send inside `async with "
                "producer.transaction():`"
            )

    def batch_done(self, batch: Batch) -> None:
        """The engine's report of a finished batch: a failure dooms the transaction."""
        if not batch.future.cancelled():
            self.record_failed(batch.future.exception())

    def record_failed(self, error: BaseException | None) -> None:
        """A record of the open transaction failed (``error``; None: it did not)."""
        if self._open and self._failed is None:
            self._failed = error

    async def _opened(self) -> TransactionalProducer:
        async with self._lock:
            if self._producer is None:
                settings = self._session.config.producer
                assert settings.transactional_id is not None
                self._producer = await self._session.backend.transactional_producer(
                    settings.transactional_id,
                    transaction_timeout=settings.transaction_timeout,
                )
                self._engine.produce = self._producer.produce
            return self._producer

    @contextlib.asynccontextmanager
    async def transaction(
        self, flush: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        """Begin; on leaving, deliver everything sent in the block (``flush``, the engine's
        by default) and commit, or abort when the block raised or a record failed
        (``TransactionError``, chained to the cause)."""
        if not self.enabled:
            raise ConfigError("producer.transactional_id", "is needed for transactions")
        if self._open:
            raise TransactionError("a transaction is already open on this producer")
        if flush is not None:
            await flush()  # what was accepted before the block belongs to no transaction
        producer = await self._opened()
        await producer.begin()
        self._open = True
        self._failed = None
        try:
            yield
            await (flush or self._engine.flush)()
            if self._failed is not None:
                raise TransactionError(
                    f"a record of the transaction failed: {self._failed!r}"
                ) from self._failed
            await producer.commit()
        except BaseException as exc:
            await self._abort(producer, exc)
            raise
        finally:
            self._open = False

    async def _abort(self, producer: TransactionalProducer, cause: BaseException) -> None:
        # Shielded and bounded: a cancelled block still aborts, once the batches in flight
        # have their answers (an abort may not overtake them).
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._session.config.producer.timeout):
                await self._engine.flush()
            if isinstance(cause, ProducerFenced):
                return  # nothing to abort: the producer is done for
            try:
                await producer.abort()
            except ProducerFenced:
                raise
            except AiomqError:
                pass  # the transaction is over either way; the block's error says why

    async def send_offsets(
        self, offsets: Mapping[TopicPartition, int | CommittedOffset], membership: Membership
    ) -> None:
        """Commit ``offsets`` for ``membership``'s group in the open transaction."""
        if not self._open:
            raise TransactionError("send_offsets needs an open transaction")
        producer = await self._opened()
        await producer.send_offsets(
            membership,
            {
                tp: offset if isinstance(offset, CommittedOffset) else CommittedOffset(offset)
                for tp, offset in offsets.items()
            },
        )

    async def aclose(self) -> None:
        """Release the transactional producer (aborting a transaction left open)."""
        if self._producer is not None:
            await self._producer.aclose()
