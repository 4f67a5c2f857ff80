"""AsyncProducer: every message comes back on successes or errors; it never deadlocks."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from aiomq.client import Client
from aiomq.config import Config
from aiomq.errors import (
    ClosedError,
    EncodeError,
    MessageTooLarge,
    ProducerError,
    ProducerErrors,
)
from aiomq.message import ProducerMessage, record_size
from tests.producer.conftest import gate
from tests.producer.test_sync_producer import create, read

pytestmark = pytest.mark.asyncio


@pytest.fixture
def config() -> Config:
    config = Config()
    config.producer.return_successes = True
    config.channel_buffer_size = 16
    return config


class TestDelivery:
    async def test_successes_carry_partition_offset_and_metadata(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, 2)
        async with client.async_producer() as producer:
            assert producer.successes is not None
            for i in range(10):
                await producer.input.send(
                    ProducerMessage(topic, b"%d" % i, partition=i % 2, metadata=i)
                )
            got = []
            with anyio.fail_after(20):
                for _ in range(10):
                    got.append(await producer.successes.recv())
        assert sorted(m.metadata for m in got) == list(range(10))
        for message in got:
            assert message.partition == message.metadata % 2
            assert message.offset == message.metadata // 2
            assert message.timestamp is not None
        assert [r[3] for r in await read(client, topic, 1, 5)] == [b"1", b"3", b"5", b"7", b"9"]

    async def test_each_failure_comes_back_with_its_message(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.max_message_bytes = 1000
        async with client.async_producer() as producer:
            big = await producer.send(topic, b"x" * 2000, metadata="big")
            text = await producer.send(topic, "text", metadata="text")
            fine = await producer.send(topic, b"fine", metadata="fine")
            with anyio.fail_after(20):
                failures = [await producer.errors.recv(), await producer.errors.recv()]
                assert producer.successes is not None
                assert await producer.successes.recv() is fine
        assert [f.message for f in failures] == [big, text]
        assert isinstance(failures[0].cause, MessageTooLarge)
        assert isinstance(failures[1].cause, EncodeError)

    async def test_without_return_successes_there_is_no_successes_channel(
        self, client: Client, topic: str
    ) -> None:
        client.config.producer.return_successes = False
        async with client.async_producer() as producer:
            assert producer.successes is None
            await producer.send(topic, b"v")
        assert [r[3] for r in await read(client, topic, 0, 1)] == [b"v"]


class TestSendMany:
    async def test_more_than_input_holds_are_accepted_in_order_and_delivered(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic, 2)
        messages = [
            ProducerMessage(topic, b"%d" % i, partition=i % 2, metadata=i) for i in range(50)
        ]
        async with client.async_producer() as producer:
            assert producer.successes is not None
            results = producer.successes
            got: list[ProducerMessage] = []

            async def drain() -> None:
                while len(got) < 50:
                    got.extend(await results.recv_many(50))

            with anyio.fail_after(20):
                # input and successes hold 16 each: the call waits for room, several times
                await asyncio.gather(producer.send_many(iter(messages)), drain())
        assert sorted(m.metadata for m in got) == list(range(50))
        for message in got:
            assert (message.partition, message.offset) == (
                message.metadata % 2,
                message.metadata // 2,
            )
        assert [r[3] for r in await read(client, topic, 1, 25)] == [
            b"%d" % i for i in range(1, 50, 2)
        ]

    async def test_what_finds_no_room_in_time_is_refused_by_name(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        client.config.producer.block_timeout = 0.3
        client.config.producer.buffer_bytes = 2000
        producer = client.async_producer()
        messages = [ProducerMessage(topic, b"%03d" % i, metadata=i) for i in range(200)]
        with anyio.fail_after(20), pytest.raises(ProducerErrors) as caught:
            await producer.send_many(messages)  # nobody reads successes
        refused = caught.value.errors
        assert all(isinstance(e.cause, TimeoutError) for e in refused)
        accepted = 200 - len(refused)
        assert [e.message for e in refused] == messages[accepted:]  # the rest, in order
        # Bounded as with send: the successes channel, the input, and the buffer between.
        assert 16 <= accepted <= 16 + 16 + 2000 // record_size(None, b"000", ()) + 2
        assert producer.successes is not None
        with anyio.fail_after(20):
            await producer.aclose(timeout=1)  # successes nobody reads are not errors
        delivered = [m async for m in producer.successes]
        failed = [e async for e in producer.errors]
        # Each accepted message comes back once: on successes (16 fit), on errors, or was
        # let go by close as a success nobody read; none of the refused ones does.
        assert {m.metadata for m in delivered} <= set(range(accepted))
        assert not {e.message.metadata for e in failed} & {e.message.metadata for e in refused}
        assert [m.metadata for m in delivered] == list(range(len(delivered)))

    async def test_after_close_it_is_refused(self, client: Client, topic: str) -> None:
        producer = client.async_producer()
        await producer.aclose()
        with pytest.raises(ClosedError):
            await producer.send_many([ProducerMessage(topic, b"v")])


class TestNeverDeadlocks:
    async def test_undrained_results_stop_the_input_and_send_times_out(
        self, client: Client, topic: str
    ) -> None:
        """Nobody reads successes: input back-pressure, a bounded send, a bounded close."""
        await create(client, topic)
        client.config.producer.block_timeout = 0.3
        client.config.producer.buffer_bytes = 2000
        producer = client.async_producer()
        accepted = 0

        async def send_until_refused() -> None:
            nonlocal accepted
            while True:
                await producer.send(topic, b"%d" % accepted)
                accepted += 1

        with anyio.fail_after(20), pytest.raises(ProducerError, match="block_timeout"):
            await send_until_refused()
        # Bounded: what it holds is the successes channel (16), the input (16) and what the
        # buffer holds between them (buffer_bytes): nothing grows without limit.
        size = record_size(None, b"%d" % accepted, ())
        assert 16 <= accepted <= 16 + 16 + 2000 // size + 2
        assert producer.successes is not None
        with anyio.fail_after(20):
            await producer.aclose(timeout=1)  # successes nobody reads are not errors
        delivered = [m async for m in producer.successes]
        assert len(delivered) >= 16  # what fit stays readable after close
        assert [m.offset for m in delivered] == list(range(len(delivered)))

    async def test_undelivered_errors_are_raised_by_close(self, client: Client, topic: str) -> None:
        await create(client, topic)
        client.config.producer.max_message_bytes = 500
        producer = client.async_producer()
        # Every one fails. What fits: errors (16), one more waiting for room there (the
        # producer then takes no more input), and the input (16).
        with anyio.fail_after(20):
            for i in range(30):
                await producer.send(topic, b"x" * 1000, metadata=i)
        with anyio.fail_after(20), pytest.raises(ProducerErrors) as caught:
            await producer.aclose(timeout=1)
        in_channel = [e async for e in producer.errors]
        reported = caught.value.errors
        assert len(in_channel) == 16
        # Each failed message is reported exactly once: on errors, or by aclose.
        assert sorted(e.message.metadata for e in [*in_channel, *reported]) == list(range(30))


class TestClosing:
    async def test_close_delivers_what_was_accepted_then_closes_the_channels(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        producer = client.async_producer()
        for i in range(10):
            await producer.send(topic, b"%d" % i, metadata=i)
        with anyio.fail_after(5):
            await held.entered.wait()
        closing = asyncio.ensure_future(producer.aclose())
        await anyio.wait_all_tasks_blocked()
        assert not closing.done()
        with pytest.raises(ClosedError):
            await producer.send(topic, b"late")
        held.open.set()
        with anyio.fail_after(20):
            await closing
        assert producer.successes is not None
        assert [m.metadata async for m in producer.successes] == list(range(10))
        assert [e async for e in producer.errors] == []

    async def test_close_with_a_timeout_fails_the_rest_onto_errors(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        producer = client.async_producer()
        for i in range(5):
            await producer.send(topic, b"%d" % i, metadata=i)
        with anyio.fail_after(5):
            await held.entered.wait()
        with anyio.fail_after(5):
            await producer.aclose(timeout=0.1)
        failed = [e async for e in producer.errors]
        assert sorted(e.message.metadata for e in failed) == list(range(5))
        assert all(isinstance(e.cause, ClosedError) for e in failed)

    async def test_close_with_a_timeout_fails_a_message_waiting_for_buffer_room_too(
        self, client: Client, topic: str
    ) -> None:
        await create(client, topic)
        held = gate(client)
        held.open.clear()
        client.config.producer.buffer_bytes = 2 * record_size(None, b"0")  # two records
        producer = client.async_producer()
        for i in range(6):
            await producer.send(topic, b"%d" % i, metadata=i)
        with anyio.fail_after(5):
            await held.entered.wait()
        # 0 is held in flight, 1 waits in the next batch, 2 waits for room, 3-5 in input.
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            await producer.aclose(timeout=0.2)
        failed = [e async for e in producer.errors]
        assert sorted(e.message.metadata for e in failed) == list(range(6))
        assert all(isinstance(e.cause, ClosedError) for e in failed)

    async def test_closing_the_client_closes_it(self, client: Client, topic: str) -> None:
        producer = client.async_producer()
        await producer.send(topic, b"v")
        await client.aclose()
        assert producer.closed
        with pytest.raises(ClosedError):
            await producer.send(topic, b"v")
