"""The client: connecting, URLs, lifecycle, what it hands producers and consumers."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import anyio
import pytest
import trio

from aiomq.admin import Admin
from aiomq.backends import MemoryBackend, broker, drop_broker, parse_bootstrap
from aiomq.client import Client, connect
from aiomq.codecs import StrCodec
from aiomq.config import Config
from aiomq.errors import AiomqError, BrokerUnavailable, ClosedError, ConfigError, UnknownTopic
from aiomq.partitioner import HashPartitioner, murmur2

# A client that fails to close something fails its test by name instead of hanging it.
pytestmark = pytest.mark.fail_after(5)


@pytest.fixture
def url() -> Iterator[str]:
    name = f"client-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    drop_broker(name)


class Child:
    """Something a client made: records when it is closed."""

    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    async def aclose(self) -> None:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError(f"{self.name} failed to close")


@pytest.mark.asyncio
class TestConnect:
    async def test_default_is_the_shared_memory_broker(self) -> None:
        async with connect() as client:
            assert client.url == "memory://"
            assert isinstance(client.backend, MemoryBackend)
            assert client.backend.broker is broker()

    async def test_await_opens_it_too(self, url: str) -> None:
        client = await connect(url)
        try:
            assert not client.closed
            await client.admin().create_topic("t")
        finally:
            await client.aclose()

    @pytest.mark.parametrize(
        "bad",
        [
            "redis://localhost",
            "memory",
            "memory://a/b",
            "memory://a#frag",
            "memory://a?bogus=1",
            "memory://a?auto_create_topics=maybe",
            "kafka://",
            "kafka://host:port",
            "kafka://host:0",
            "kafka://host:70000",
            "kafka://:9092",
            "kafka://user:pw@host:9092",
            "kafka://host:9092/path",
        ],
    )
    async def test_a_bad_url_is_a_config_error_naming_url(self, bad: str) -> None:
        with pytest.raises(ConfigError) as info:
            connect(bad)
        assert info.value.field == "url"

    async def test_a_url_must_be_a_string(self) -> None:
        with pytest.raises(ConfigError) as info:
            connect(b"memory://")  # type: ignore[arg-type]
        assert info.value.field == "url"

    async def test_config_is_validated(self, url: str) -> None:
        config = Config()
        config.producer.timeout = -1
        with pytest.raises(ConfigError) as info:
            connect(url, config)
        assert info.value.field == "producer.timeout"
        with pytest.raises(ConfigError) as info:
            connect(url, {"client_id": "x"})  # type: ignore[arg-type]
        assert info.value.field == "config"

    async def test_config_reaches_the_client(self, url: str) -> None:
        config = Config(key_codec="str", value_codec="json")
        async with connect(url, config) as client:
            assert client.config is config
            assert isinstance(client.key_codec, StrCodec)
            assert client.value_codec.decode(b'{"a": 1}') == {"a": 1}
            assert isinstance(client.partitioner, HashPartitioner)

    async def test_a_kafka_url_with_nothing_listening_is_broker_unavailable(self) -> None:
        with socket.socket() as sock:  # a port that was free a moment ago
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(BrokerUnavailable):
            async with connect(f"kafka://127.0.0.1:{port}"):
                pass


class TestBootstrap:
    def test_hosts_and_default_port(self) -> None:
        assert parse_bootstrap("a:1,b,c:3") == [("a", 1), ("b", 9092), ("c", 3)]

    def test_ipv6_literal(self) -> None:
        assert parse_bootstrap("[::1]:9093") == [("::1", 9093)]
        assert parse_bootstrap("[::1]") == [("::1", 9092)]
        assert parse_bootstrap("h:1,[fe80::1]:2") == [("h", 1), ("fe80::1", 2)]

    @pytest.mark.parametrize(
        "bad", ["::1", "::1:9092", "[::1", "[::1]x", "[::1]:", "[]:1", "[host]:1", "a:b:c"]
    )
    def test_a_bad_address_is_a_config_error(self, bad: str) -> None:
        with pytest.raises(ConfigError) as info:
            parse_bootstrap(bad)
        assert info.value.field == "url"


@pytest.mark.asyncio
class TestLifecycle:
    async def test_use_after_close_raises_closed_error(self, url: str) -> None:
        async with connect(url) as client:
            pass
        assert client.closed
        with pytest.raises(ClosedError):
            _ = client.backend
        with pytest.raises(ClosedError):
            client.admin()
        with pytest.raises(ClosedError):
            await client.partitions("t")
        with pytest.raises(ClosedError):
            await client.open()

    async def test_aclose_is_idempotent(self, url: str) -> None:
        client = await connect(url)
        await client.aclose()
        await client.aclose()
        assert client.closed

    async def test_concurrent_acloses_both_wait_for_the_end(self, url: str) -> None:
        client = await connect(url)
        gate = asyncio.Event()
        log: list[str] = []

        class Slow:
            async def aclose(self) -> None:
                await gate.wait()
                log.append("slow")

        client._adopt(Slow())
        first = asyncio.ensure_future(client.aclose())
        second = asyncio.ensure_future(client.aclose())
        await anyio.wait_all_tasks_blocked()
        assert not first.done()
        assert not second.done()
        gate.set()
        await asyncio.gather(first, second)
        assert log == ["slow"]

    async def test_closing_while_opening_leaves_it_closed(self, url: str) -> None:
        client = Client(url)
        gate = asyncio.Event()
        closed: list[str] = []

        class SlowBackend(MemoryBackend):
            async def open(self) -> None:
                await gate.wait()

            async def aclose(self) -> None:
                closed.append("backend")
                await super().aclose()

        client._session.backend = SlowBackend(broker(url.removeprefix("memory://")), url=url)
        opening = asyncio.ensure_future(client.open())
        await anyio.wait_all_tasks_blocked()
        await client.aclose()
        gate.set()
        with pytest.raises(ClosedError):
            await opening
        assert client.closed
        assert "closed" in repr(client)
        assert closed  # the backend is closed, whichever call saw it last
        with pytest.raises(ClosedError):
            client.admin()

    async def test_a_cancelled_aclose_still_closes_the_rest(self, url: str) -> None:
        client = await connect(url)
        backend = client.backend
        log: list[str] = []
        entered = asyncio.Event()

        class Stuck:
            async def aclose(self) -> None:
                entered.set()
                await asyncio.Event().wait()  # never set: only a cancellation ends it

        client._adopt(Child(log, "older"))
        client._adopt(Stuck())
        closing = asyncio.ensure_future(client.aclose())
        await anyio.wait_all_tasks_blocked()
        assert entered.is_set()  # aclose went to the newest child first, and waits in it
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert log == ["older"]  # closed after the cancellation, not skipped
        assert client.closed
        with pytest.raises(ClosedError):
            await backend.open()  # the backend is closed too
        await client.aclose()  # and a later call has nothing left to do

    async def test_closing_the_client_closes_what_it_made_newest_first(self, url: str) -> None:
        log: list[str] = []
        async with connect(url) as client:
            client._adopt(Child(log, "first"))
            admin = client.admin()
            client._adopt(Child(log, "last"))
        assert log == ["last", "first"]
        assert admin.closed
        with pytest.raises(ClosedError):
            await admin.list_topics()

    async def test_a_failing_child_does_not_stop_the_others(self, url: str) -> None:
        log: list[str] = []
        client = await connect(url)
        client._adopt(Child(log, "a"))
        client._adopt(Child(log, "b", fail=True))
        client._adopt(Child(log, "c"))
        with pytest.raises(RuntimeError, match="b failed"):
            await client.aclose()
        assert log == ["c", "b", "a"]
        assert client.closed

    async def test_a_released_child_is_not_closed_again(self, url: str) -> None:
        log: list[str] = []
        async with connect(url) as client:
            child = client._adopt(Child(log, "x"))
            client._session.release(child)
        assert log == []

    async def test_leaving_with_an_error_still_closes(self, url: str) -> None:
        with pytest.raises(KeyError):
            async with connect(url) as client:
                raise KeyError("boom")
        assert client.closed


@pytest.mark.asyncio
class TestPartitions:
    async def test_partitions_are_cached_until_refreshed(self, url: str) -> None:
        async with connect(url) as client:
            await client.admin().create_topic("t", partitions=2)
            assert await client.partitions("t") == [0, 1]
            mem = client.backend.broker  # type: ignore[attr-defined]
            mem.delete_topic("t")
            mem.create_topic("t", partitions=3)
            assert await client.partitions("t") == [0, 1]
            assert await client.partitions("t", refresh=True) == [0, 1, 2]

    async def test_the_admin_keeps_the_cache_honest(self, url: str) -> None:
        async with connect(url) as client, client.admin() as admin:
            await admin.create_topic("t", partitions=2)
            assert await client.partitions("t") == [0, 1]
            await admin.delete_topic("t")
            await admin.create_topic("t", partitions=4)
            assert await client.partitions("t") == [0, 1, 2, 3]

    async def test_an_unknown_topic_is_not_cached(self, url: str) -> None:
        async with connect(url + "?auto_create_topics=false") as client:
            with pytest.raises(UnknownTopic):
                await client.partitions("later")
            await client.admin().create_topic("later")
            assert await client.partitions("later") == [0]

    async def test_partition_for_uses_the_java_hash(self, url: str) -> None:
        async with connect(url) as client:
            await client.admin().create_topic("t", partitions=6)
            for key in (b"a", b"user-42", b"\x00\xff"):
                expected = (murmur2(key) & 0x7FFFFFFF) % 6
                assert await client.partition_for("t", key) == expected

    async def test_partition_for_follows_the_configured_partitioner(self, url: str) -> None:
        config = Config()
        config.producer.partitioner = "round_robin"
        async with connect(url, config) as client:
            await client.admin().create_topic("t", partitions=3)
            got = [await client.partition_for("t", b"same") for _ in range(4)]
        assert got == [0, 1, 2, 0]


@pytest.mark.asyncio
async def test_repr_says_the_state(url: str) -> None:
    client = Client(url)
    assert "new" in repr(client)
    await client.open()
    assert "open" in repr(client)
    await client.aclose()
    assert "closed" in repr(client)
    late = Admin(client._session)  # made behind a closed client's back: closed, and says so
    assert late.closed
    with pytest.raises(ClosedError):
        await late.list_topics()


def test_connect_under_trio_is_a_clear_aiomq_error() -> None:
    """Messaging is asyncio's; under trio connecting fails at once with an error that says
    so (not an asyncio error from deep inside aiokafka)."""

    async def main() -> None:
        with pytest.raises(AiomqError, match="asyncio, not trio"):
            connect("memory://")
        with pytest.raises(AiomqError, match="asyncio, not trio"):
            async with Client("memory://"):
                pass  # pragma: no cover

    trio.run(main)
