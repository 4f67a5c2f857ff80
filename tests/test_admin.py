"""Admin: its lifecycle, and topic administration on both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from aiomq.admin import Admin, PartitionInfo, TopicExists, TopicInfo
from aiomq.client import Client, connect
from aiomq.config import Config, GroupProtocol, Offset
from aiomq.errors import AiomqError, ClosedError, GroupNotEmpty, UnknownTopic
from tests.backends.common import BACKENDS, backend_urls

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from backend_urls(request, "admin")


@pytest_asyncio.fixture
async def client(backend_url: str) -> AsyncIterator[Client]:
    async with connect(backend_url) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"admin-{uuid.uuid4().hex[:16]}"


async def default_replication(client: Client) -> int:
    """The broker's ``default.replication.factor``, asked of it directly (1 in process)."""
    if not client.url.startswith("kafka://"):
        return 1
    admin = AIOKafkaAdminClient(bootstrap_servers=client.url.removeprefix("kafka://"))
    await admin.start()
    try:
        node = (await admin.describe_cluster())["brokers"][0]["node_id"]
        resource = ConfigResource(
            ConfigResourceType.BROKER, str(node), configs={"default.replication.factor": None}
        )
        (response,) = await admin.describe_configs([resource])
    finally:
        await admin.close()
    (entries,) = [r[4] for r in response.resources]
    return int(dict((e[0], e[1]) for e in entries)["default.replication.factor"])


class TestLifecycle:
    async def test_closing_the_admin_leaves_the_client_open(self, client: Client) -> None:
        async with client.admin() as admin:
            assert isinstance(admin, Admin)
        assert admin.closed
        assert not client.closed
        await admin.aclose()  # idempotent
        with pytest.raises(ClosedError):
            await admin.list_topics()
        with pytest.raises(ClosedError):
            await admin.create_topic("x")
        async with client.admin() as again:
            await again.list_topics()

    async def test_topic_exists_is_an_aiomq_error(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic)
            with pytest.raises(AiomqError) as caught:  # what a broad handler catches
                await admin.create_topic(topic)
        assert isinstance(caught.value, TopicExists)


class TestTopics:
    async def test_describe_reports_each_partition(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic, partitions=2)
            info = await admin.describe_topic(topic)
        assert isinstance(info, TopicInfo)
        assert info == TopicInfo(topic, info.partitions, internal=False)
        assert [p.id for p in info.partitions] == [0, 1]
        for part in info.partitions:
            assert isinstance(part, PartitionInfo)
            assert part.leader in part.replicas
            assert part.leader in part.isr

    async def test_default_replication_is_the_brokers(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic, partitions=2)
            info = await admin.describe_topic(topic)
        expected = await default_replication(client)
        assert [len(p.replicas) for p in info.partitions] == [expected, expected]

    async def test_topic_config_is_accepted(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic, config={"retention.ms": "3600000"})
            assert topic in await admin.list_topics()

    async def test_describe_never_creates(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            with pytest.raises(UnknownTopic):
                await admin.describe_topic(topic)
            assert topic not in await admin.list_topics()

    async def test_delete_then_create_again(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            await admin.create_topic(topic, partitions=1)
            await admin.delete_topic(topic)
            await admin.create_topic(topic, partitions=2)
            assert len((await admin.describe_topic(topic)).partitions) == 2
            assert await client.partitions(topic) == [0, 1]

    async def test_invalid_topic_config_is_a_value_error(self, client: Client, topic: str) -> None:
        async with client.admin() as admin:
            with pytest.raises(ValueError, match=r"retention\.bytes|InvalidConfiguration"):
                await admin.create_topic(topic, config={"retention.bytes": "lots"})


class TestGroups:
    @pytest.mark.parametrize("protocol", [GroupProtocol.CLASSIC, GroupProtocol.CONSUMER], ids=str)
    async def test_describe_list_reset_and_delete_a_group(
        self, backend_url: str, topic: str, protocol: GroupProtocol
    ) -> None:
        topic_name = topic
        config = Config()
        config.group.protocol = protocol
        if protocol is GroupProtocol.CLASSIC:
            config.group.heartbeat_interval = 0.2
        config.consumer.offsets.initial = Offset.OLDEST
        group_id = f"g-{topic_name}"
        async with connect(backend_url, config) as client, client.admin() as admin:
            await admin.create_topic(topic_name, 2)
            async with client.sync_producer() as producer:
                for i in range(10):
                    await producer.send(topic_name, b"%d" % i, partition=i % 2)
            async with client.group(group_id, [topic_name]) as group:
                taken = 0
                with anyio.fail_after(30):
                    async for message in group:
                        group.mark_offset(message)
                        taken += 1
                        if taken == 6:
                            break
                await group.commit()
                info = await admin.describe_group(group_id)
                assert info.state == "Stable"
                assert info.group_type == str(protocol)
                [member] = info.members
                assert member.assignment == {(topic_name, 0), (topic_name, 1)}
                assert member.target == member.assignment
                if protocol is GroupProtocol.CONSUMER:
                    assert info.assignor == "uniform"  # the coordinator's default
                    assert member.epoch == info.epoch > 0
                    membership = group.metadata()
                    assert membership is not None
                    assert membership.generation == member.epoch
                with pytest.raises(GroupNotEmpty):
                    await admin.reset_offsets(group_id, topic_name, Offset.OLDEST)
                with pytest.raises(GroupNotEmpty):
                    await admin.delete_group(group_id)
            # Left the group: what it marked was committed; lag counts what it did not take.
            info = await admin.describe_group(group_id)
            assert info.members == ()
            assert sum(o.offset for o in info.offsets.values()) == 6
            assert sum(info.lag.values()) == 4
            [listed] = [g for g in await admin.list_groups() if g.group == group_id]
            assert listed.group_type == str(protocol)
            reset = await admin.reset_offsets(group_id, topic_name, Offset.NEWEST)
            assert {tp: o.offset for tp, o in reset.items()} == {
                (topic_name, 0): 5,
                (topic_name, 1): 5,
            }
            assert sum((await admin.describe_group(group_id)).lag.values()) == 0
            await admin.reset_offsets(group_id, topic_name, {0: 1})
            assert (await admin.describe_group(group_id)).offsets[(topic_name, 0)].offset == 1
            await admin.delete_group(group_id)
            gone = await admin.describe_group(group_id)
            assert (gone.state, gone.offsets) == ("Dead", {})
