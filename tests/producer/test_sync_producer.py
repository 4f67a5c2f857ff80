"""SyncProducer: where records land, what comes back, what is refused, how it closes."""

from __future__ import annotations

import asyncio
import random

import anyio
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from aiomq.backends.base import Record
from aiomq.client import Client, connect
from aiomq.config import Config
from aiomq.errors import (
    ClosedError,
    ConfigError,
    EncodeError,
    MessageTooLarge,
    ProducerError,
    ProducerErrors,
    UnknownTopic,
)
from aiomq.message import ProducerMessage, RecordMetadata, record_size
from aiomq.partitioner import HashPartitioner, murmur2, to_positive
from tests.producer.conftest import gate

pytestmark = pytest.mark.asyncio


async def create(client: Client, topic: str, partitions: int = 1) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, partitions)


async def read(client: Client, topic: str, partition: int, count: int) -> list[Record]:
    out: list[Record] = []
    offset = 0
    with anyio.fail_after(20):
        while len(out) < count:
            got = await client.backend.fetch(topic, partition, offset, max_wait=5)
            out.extend(got.records)
            offset = got.next_offset
    return out


class TestSend:
    async def test_returns_where_the_record_landed(self, client: Client, topic: str) -> None:
        await create(client, topic)
        async with client.sync_producer() as producer:
            first = await producer.send(topic, b"a", key=b"k", headers={"h": b"1"}, timestamp=5)
            second = await producer.send(topic, b"b")
        assert first == RecordMetadata(topic, 0, 0, 5)
        assert (second.partition, second.offset) == (0, 1)
        records = await read(client, topic, 0, 2)
        assert [(r[0], r[1], r[2], r[3], r[4]) for r in records[:1]] == [
            (0, 5, b"k", b"a", (("h", b"1"),))
        ]
        assert records[1][3] == b"b"
        assert records[1][1] == second.timestamp  # stamped at send, as recorded

    async def test_keys_go_where_java_puts_them(self, client: Client, topic: str) -> None:
        await create(client, topic, 5)
        async with client.sync_producer() as producer:
            for key in (b"alpha", b"beta", b"gamma", b"delta"):
                sent = await producer.send(topic, b"v", key=key)
                assert sent.partition == to_positive(murmur2(key)) % 5

    async def test_an_explicit_partition_is_honoured(self, client: Client, topic: str) -> None:
        await create(client, topic, 3)
        async with client.sync_producer() as producer:
            assert (await producer.send(topic, b"v", key=b"k", partition=2)).partition == 2
            with pytest.raises(UnknownTopic):
                await producer.send(topic, b"v", partition=3)

    async def test_sequential_sends_keep_their_order(self, client: Client, topic: str) -> None:
        await create(client, topic)
        async with client.sync_producer() as producer:
            offsets = [(await producer.send(topic, b"%d" % i)).offset for i in range(50)]
        assert offsets == list(range(50))
        assert [r[3] for r in await read(client, topic, 0, 50)] == [b"%d" % i for i in range(50)]

    async def test_concurrent_sends_share_batches(self, client: Client, topic: str) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        async with client.sync_producer() as producer:
            sends = [asyncio.ensure_future(producer.send(topic, b"%d" % i)) for i in range(200)]
            with anyio.fail_after(5):
                await held.entered.wait()  # a batch is in flight; later sends gather
                await anyio.wait_all_tasks_blocked()
            held.open.set()
            with anyio.fail_after(20):
                sent = await asyncio.gather(*sends)
        assert sorted(m.offset for m in sent) == list(range(200))
        # One request per batch, not per record: the first batch, then what gathered behind it.
        assert len(held.calls) <= 2
        assert sum(n for _, _, n in held.calls) == 200


class TestSharedBatches:
    async def test_one_sender_giving_up_does_not_fail_the_batch_it_shares(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.idempotent = False  # one batch in flight: a and b share the next
        held = gate(client)
        held.open.clear()
        async with client.sync_producer() as producer:
            first = asyncio.ensure_future(producer.send(topic, b"first"))
            with anyio.fail_after(5):
                await held.entered.wait()
            a = asyncio.ensure_future(producer.send(topic, b"a"))
            b = asyncio.ensure_future(producer.send(topic, b"b"))
            await anyio.wait_all_tasks_blocked()
            a.cancel()
            await asyncio.gather(a, return_exceptions=True)
            held.open.set()
            with anyio.fail_after(10):
                assert (await b).offset == 2
                assert (await first).offset == 0
        assert a.cancelled()
        assert len(held.calls) == 2  # first, then a and b together
        assert [r[3] for r in await read(client, topic, 0, 3)] == [b"first", b"a", b"b"]


class TestBadInput:
    async def test_each_is_refused_with_a_typed_error_before_sending(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        held = gate(client)
        async with client.sync_producer() as producer:
            with pytest.raises(ConfigError, match="topic"):
                await producer.send(["a", "b"], b"v")  # type: ignore[arg-type]
            with pytest.raises(EncodeError):
                await producer.send(topic, "text")  # the default codec is bytes
            with pytest.raises(ConfigError, match="timestamp"):
                await producer.send(topic, b"v", timestamp=-1)
            with pytest.raises(ConfigError, match="headers"):
                await producer.send(topic, b"v", headers={"h": "not bytes"})  # type: ignore[dict-item]
            with pytest.raises(ConfigError, match="partition"):
                await producer.send(topic, b"v", partition=True)
        assert held.calls == []

    async def test_whatever_a_codec_raises_or_returns_wrong_is_an_encode_error(
        self, backend_url: str, topic: str
    ) -> None:
        class Careless:  # a user's codec with two bugs
            name = "careless"

            def encode(self, value: object) -> bytes:
                if value == "boom":
                    raise ValueError("no")
                return value  # type: ignore[return-value]  # a str goes back as it is

            def decode(self, data: bytes) -> object:
                return data

        async with connect(backend_url, Config(value_codec=Careless())) as client:
            await create(client, topic)
            async with client.sync_producer() as producer:
                with pytest.raises(EncodeError, match="careless codec cannot encode"):
                    await producer.send(topic, "boom")
                messages = [ProducerMessage(topic, v) for v in (b"a", "text", b"b")]
                with pytest.raises(ProducerErrors) as caught:
                    await producer.send_many(messages)
            [error] = caught.value.errors  # only the message the codec got wrong
            assert error.message is messages[1]
            assert isinstance(error.cause, EncodeError)
            assert "a codec must return bytes" in str(error.cause)
            assert [r[3] for r in await read(client, topic, 0, 2)] == [b"a", b"b"]

    async def test_a_record_over_max_message_bytes_fails_before_sending(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.max_message_bytes = 1000
        held = gate(client)
        async with client.sync_producer() as producer:
            with pytest.raises(MessageTooLarge):
                await producer.send(topic, b"x" * 1000)
            await producer.send(topic, b"x" * 100)
        assert len(held.calls) == 1


class TestSendMany:
    async def test_metadata_in_order_and_messages_updated(self, client: Client, topic: str) -> None:
        await create(client, topic, 2)
        messages = [ProducerMessage(topic, b"%d" % i, partition=i % 2) for i in range(10)]
        async with client.sync_producer() as producer:
            sent = await producer.send_many(messages)
        assert all(type(m) is RecordMetadata and m.topic == topic for m in sent)
        assert [(m.partition, m.offset) for m in sent] == [(i % 2, i // 2) for i in range(10)]
        assert [m.timestamp for m in sent] == [m.timestamp for m in messages]
        assert [(m.partition, m.offset) for m in messages] == [(i % 2, i // 2) for i in range(10)]
        assert all(m.timestamp is not None and m.timestamp > 0 for m in messages)

    async def test_every_kind_of_message_in_one_call_lands_as_sent(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        messages = [
            ProducerMessage(topic, b"plain"),
            ProducerMessage(topic, b"stamped", timestamp=5),
            ProducerMessage(topic, b"keyed", key=b"k", partition=0),
            ProducerMessage(topic, b"headed", headers={"h": b"1"}),
            ProducerMessage(topic, bytearray(b"copied")),
            ProducerMessage(topic, None),  # a tombstone
            ProducerMessage(topic, b"plain again"),
        ]
        async with client.sync_producer() as producer:
            sent = await producer.send_many(messages)
        assert [m.offset for m in sent] == list(range(7))
        assert sent[1].timestamp == 5
        records = await read(client, topic, 0, 7)
        assert [(r[2], r[3], r[4]) for r in records] == [
            (None, b"plain", ()),
            (None, b"stamped", ()),
            (b"k", b"keyed", ()),
            (None, b"headed", (("h", b"1"),)),
            (None, b"copied", ()),
            (None, None, ()),
            (None, b"plain again", ()),
        ]
        assert [r[1] for r in records] == [m.timestamp for m in sent]

    async def test_a_partial_failure_names_each_failed_message(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.max_message_bytes = 1000
        good = [ProducerMessage(topic, b"ok-%d" % i) for i in range(3)]
        big = ProducerMessage(topic, b"x" * 2000)
        text = ProducerMessage(topic, "not bytes")
        async with client.sync_producer() as producer:
            with pytest.raises(ProducerErrors) as caught:
                await producer.send_many([good[0], big, good[1], text, good[2]])
        errors = caught.value.errors
        assert [e.message for e in errors] == [big, text]
        assert isinstance(errors[0].cause, MessageTooLarge)
        assert isinstance(errors[1].cause, EncodeError)
        assert all(isinstance(e, ProducerError) for e in errors)
        assert [m.offset for m in good] == [0, 1, 2]  # the others were delivered
        assert [r[3] for r in await read(client, topic, 0, 3)] == [b"ok-0", b"ok-1", b"ok-2"]

    async def test_metadata_is_where_each_message_landed_when_another_send_cut_in(
        self, client: Client, topic: str
    ) -> None:
        # The buffer is full after a0 (c0's big record is in flight): a1 waits for room while
        # b0 fits and lands in the open batch right after a0; a1 follows it once c0 is
        # delivered. a1's metadata must say where a1 landed, not where b0 did.
        await create(client, topic, 2)
        small = record_size(None, b"a0")
        big = b"c" * 1000
        client.config.producer.batch_size = 1000  # c0 fills a batch: it goes at once
        client.config.producer.buffer_bytes = record_size(None, big) + 2 * small
        client.config.producer.linger = 0.5  # the batch of partition 0 stays open meanwhile
        async with client.sync_producer() as producer:
            with anyio.fail_after(20):
                c, a, b = await asyncio.gather(
                    producer.send_many([ProducerMessage(topic, big, partition=1)]),
                    producer.send_many(
                        [
                            ProducerMessage(topic, b"a0", partition=0),
                            ProducerMessage(topic, b"a1" * small, partition=0),
                        ]
                    ),
                    producer.send_many([ProducerMessage(topic, b"b0", partition=0)]),
                )
        records = await read(client, topic, 0, 3)
        assert [r[3] for r in records] == [b"a0", b"b0", b"a1" * small], "nothing was tested"
        assert [m.offset for m in a] == [0, 2]
        assert [m.offset for m in b] == [1]
        assert [(m.partition, m.offset) for m in c] == [(1, 0)]


class TestClosing:
    async def test_use_after_close_and_close_with_the_client(
        self, client: Client, topic: str
    ) -> None:
        producer = client.sync_producer()
        await producer.aclose()
        await producer.aclose()  # idempotent
        with pytest.raises(ClosedError):
            await producer.send(topic, b"v")
        other = client.sync_producer()
        await client.aclose()
        assert other.closed
        with pytest.raises(ClosedError):
            await other.send(topic, b"v")

    async def test_close_delivers_what_was_sent(self, client: Client, topic: str) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        producer = client.sync_producer()
        sends = [asyncio.ensure_future(producer.send(topic, b"%d" % i)) for i in range(20)]
        with anyio.fail_after(5):
            await held.entered.wait()
        closing = asyncio.ensure_future(producer.aclose())
        await anyio.wait_all_tasks_blocked()
        assert not closing.done()
        held.open.set()
        with anyio.fail_after(20):
            await closing
            sent = await asyncio.gather(*sends)
        assert sorted(m.offset for m in sent) == list(range(20))

    async def test_close_with_a_timeout_fails_what_could_not_be_delivered(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        producer = client.sync_producer()
        sends = [asyncio.ensure_future(producer.send(topic, b"%d" % i)) for i in range(5)]
        with anyio.fail_after(5):
            await held.entered.wait()
        with anyio.fail_after(5):
            await producer.aclose(timeout=0.1)
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        assert all(isinstance(o, ClosedError) for o in outcomes), outcomes

    async def test_a_cancelled_close_still_closes(self, client: Client, topic: str) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        producer = client.sync_producer()
        send = asyncio.ensure_future(producer.send(topic, b"v"))
        with anyio.fail_after(5):
            await held.entered.wait()
        closing = asyncio.ensure_future(producer.aclose(timeout=30))
        await anyio.wait_all_tasks_blocked()
        closing.cancel()
        with anyio.fail_after(5), pytest.raises(asyncio.CancelledError):
            await closing
        assert producer.closed
        with anyio.fail_after(5):
            assert isinstance(await asyncio.gather(send, return_exceptions=True), list)
        assert send.done()


class TestBuffer:
    async def test_a_full_buffer_blocks_then_fails_after_block_timeout(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.buffer_bytes = 1000
        client.config.producer.block_timeout = 0.2
        held = gate(client)
        held.open.clear()
        async with client.sync_producer() as producer:
            first = asyncio.ensure_future(producer.send(topic, b"x" * 900))
            with anyio.fail_after(5):
                await held.entered.wait()
            with anyio.fail_after(5), pytest.raises(ProducerError, match="block_timeout"):
                await producer.send(topic, b"y" * 900)
            held.open.set()
            with anyio.fail_after(5):
                assert (await first).offset == 0


class TestBatching:
    async def test_a_batch_holds_batch_size_bytes_as_a_kafka_record_batch(
        self, client: Client, topic: str
    ) -> None:
        # Each record's size alone counts a batch header: summing those filled a 16 KiB
        # batch with 10 KiB of records.
        await create(client, topic)
        calls = gate(client).calls
        value = b"x" * 100
        async with client.sync_producer() as producer:
            await producer.send_many([ProducerMessage(topic, value) for _ in range(1000)])
        first = calls[0][2]
        builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 30)
        for i in range(first):
            builder.append(i, 1_700_000_000_000 + i, None, value, [])
        limit = client.config.producer.batch_size
        assert builder.size() <= limit < builder.size() + record_size(None, value)


class TestStickyPartitioning:
    async def test_keyless_records_fill_a_batch_on_one_partition_then_move(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, 4)
        size = record_size(None, b"x" * 100, ())
        batch = client.config.producer.batch_size  # the sticky partition moves after this
        async with client.sync_producer() as producer:
            sent = [await producer.send(topic, b"x" * 100) for _ in range(400)]
        runs: list[list[int]] = []
        for message in sent:
            if runs and runs[-1][0] == message.partition:
                runs[-1][1] += 1
            else:
                runs.append([message.partition, 1])
        # Every run but the last is one batch worth of records on one partition; then the
        # sticky partition moves (possibly to the same one again, chosen at random).
        per_batch = -(-batch // size)  # records until batch_size bytes were sent
        for _, count in runs[:-1]:
            assert count % per_batch == 0
        assert sum(count for _, count in runs) == 400

    async def test_send_many_places_each_record_where_place_keyless_would(
        self, backend_url: str, topic: str
    ) -> None:
        config = Config()
        sticky = config.producer.batch_size
        config.producer.partitioner = HashPartitioner(sticky_bytes=sticky, rng=random.Random(5))
        reference = HashPartitioner(sticky_bytes=sticky, rng=random.Random(5))
        values = [b"x" * (50 + 37 * i % 400) for i in range(600)]
        expected = [reference.place_keyless(topic, 4, record_size(None, v)) for v in values]
        async with connect(backend_url, config) as client:
            await create(client, topic, 4)
            async with client.sync_producer() as producer:
                sent = []
                for part in (values[:250], values[250:]):  # what one call leased, the next sees
                    sent += await producer.send_many([ProducerMessage(topic, v) for v in part])
        assert [m.partition for m in sent] == expected
        assert len(set(expected)) > 1  # the sticky partition moved on, several times
