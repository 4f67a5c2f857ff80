"""Producer transactions: ``async with producer.transaction():`` commits everything sent in
it at once, or nothing; a newer producer with the same id fences the old one; offsets sent
with it take effect only on commit."""

from __future__ import annotations

import uuid

import anyio
import pytest

from aiomq.backends.base import CommittedOffset, Membership, Record
from aiomq.client import Client, connect
from aiomq.config import Config
from aiomq.errors import ConfigError, ProducerFenced, TransactionError
from tests.polling import until
from tests.producer.test_sync_producer import create

pytestmark = pytest.mark.asyncio


def transactional(url: str, transactional_id: str) -> Client:
    config = Config()
    config.producer.transactional_id = transactional_id
    return connect(url, config)


async def committed_view(client: Client, topic: str, count: int) -> list[Record]:
    """What a read_committed consumer sees of partition 0 (waits for ``count`` records)."""
    out: list[Record] = []
    offset = 0
    with anyio.fail_after(20):
        while len(out) < count:
            got = await client.backend.fetch(topic, 0, offset, max_wait=1, read_committed=True)
            out.extend(got.records)
            offset = got.next_offset
    return out


async def everything(client: Client, topic: str) -> list[Record]:
    """Every data record of partition 0 up to the high watermark (read_uncommitted)."""
    out: list[Record] = []
    offset = 0
    with anyio.fail_after(20):
        while True:
            got = await client.backend.fetch(topic, 0, offset, max_wait=0.2)
            out.extend(got.records)
            offset = got.next_offset
            if offset >= got.high_watermark:
                return out


async def test_commit_makes_the_records_visible_and_an_abort_hides_them(
    client: Client, topic: str, backend_url: str
) -> None:
    await create(client, topic)
    async with (
        transactional(backend_url, f"tx-{uuid.uuid4().hex[:8]}") as tx_client,
        tx_client.sync_producer() as producer,
    ):
        async with producer.transaction():
            for i in range(3):
                await producer.send(topic, b"kept-%d" % i)

        async def fail_mid_transaction() -> None:
            async with producer.transaction():
                await producer.send(topic, b"dropped")
                raise RuntimeError("the application failed mid-transaction")

        with pytest.raises(RuntimeError):
            await fail_mid_transaction()
        async with producer.transaction():
            await producer.send(topic, b"kept-3")
    visible = await committed_view(client, topic, 4)
    assert [r[3] for r in visible] == [b"kept-0", b"kept-1", b"kept-2", b"kept-3"]
    assert b"dropped" in [r[3] for r in await everything(client, topic)]  # written, aborted


async def test_sending_outside_a_transaction_is_refused(
    client: Client, topic: str, backend_url: str
) -> None:
    async with (
        transactional(backend_url, f"tx-{uuid.uuid4().hex[:8]}") as tx_client,
        tx_client.sync_producer() as producer,
    ):
        with pytest.raises(TransactionError, match="inside"):
            await producer.send(topic, b"x")
        async with producer.transaction():
            with pytest.raises(TransactionError, match="already open"):
                await producer.transaction().__aenter__()


async def test_transactions_need_a_transactional_id(client: Client) -> None:
    async with client.sync_producer() as producer:
        with pytest.raises(ConfigError, match="transactional_id"):
            async with producer.transaction():
                pass


async def test_a_newer_producer_fences_the_older_one(
    client: Client, topic: str, backend_url: str
) -> None:
    await create(client, topic)
    tid = f"tx-{uuid.uuid4().hex[:8]}"
    async with (
        transactional(backend_url, tid) as old_client,
        transactional(backend_url, tid) as new_client,
    ):
        old = old_client.sync_producer()
        async with old.transaction():
            await old.send(topic, b"old-committed")

        async def fenced_mid_transaction() -> None:
            async with old.transaction():
                await old.send(topic, b"old-open")
                async with new_client.sync_producer() as new, new.transaction():
                    await new.send(topic, b"new")  # the newer producer takes over here
                await old.send(topic, b"old-late")

        with pytest.raises(ProducerFenced):
            await fenced_mid_transaction()
    visible = [r[3] for r in await committed_view(client, topic, 2)]
    assert visible == [b"old-committed", b"new"]


async def test_offsets_sent_in_a_transaction_count_only_if_it_commits(
    client: Client, topic: str, backend_url: str
) -> None:
    await create(client, topic)
    group = f"g-{uuid.uuid4().hex[:8]}"
    plain = Membership(group, -1, "")  # a group without members: Kafka's simple commit
    async with (
        transactional(backend_url, f"tx-{uuid.uuid4().hex[:8]}") as tx_client,
        tx_client.sync_producer() as producer,
    ):

        async def aborted() -> None:
            async with producer.transaction():
                await producer.send(topic, b"x")
                await producer.send_offsets({(topic, 0): 7}, plain)
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            await aborted()
        assert await client.backend.committed_offsets(group, [(topic, 0)]) == {}
        async with producer.transaction():
            await producer.send(topic, b"y")
            await producer.send_offsets({(topic, 0): 9}, plain)

    async def landed() -> bool:  # Kafka writes the commit markers just after EndTxn
        got = await client.backend.committed_offsets(group, [(topic, 0)])
        return got == {(topic, 0): CommittedOffset(9)}

    await until(landed, 10)


async def test_an_async_producer_commits_what_was_accepted_in_the_block(
    client: Client, topic: str, backend_url: str
) -> None:
    await create(client, topic)
    async with transactional(backend_url, f"tx-{uuid.uuid4().hex[:8]}") as tx_client:
        producer = tx_client.async_producer()
        await producer.send(topic, b"outside")  # accepted, then refused: no transaction
        async with producer.transaction():
            for i in range(5):
                await producer.send(topic, b"in-%d" % i)
        await producer.aclose()
        [refused] = [e async for e in producer.errors]
    assert refused.message.value == b"outside"
    assert isinstance(refused.cause, TransactionError)
    visible = await committed_view(client, topic, 5)
    assert [r[3] for r in visible] == [b"in-%d" % i for i in range(5)]
