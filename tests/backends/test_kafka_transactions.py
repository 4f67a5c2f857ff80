"""Kafka transactions beyond the contract suite: Kafka's own Java client on the other side,
both transaction protocols, KIP-447's membership check, and closing.

The contract (tests/backends/test_contract_transactions.py) runs on the cluster's protocol,
TV2 on Kafka 4.1. ``tv`` runs a test under TV1 as well, by making the producer read a
finalized ``transaction.version`` of 1 (a cluster not yet upgraded): the broker still
speaks TV1's requests (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn v4). Java programs run
through the ``java`` fixture (tests/java); the one that holds a transaction open while aiomq
takes its id over is compiled here, from ``TXN_HOLD``.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
import pytest_asyncio
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.group import JoinGroupRequest, SyncGroupRequest

from aiomq.backends import LATEST, CommittedOffset, Record
from aiomq.backends.base import Membership, TransactionalProducer
from aiomq.backends.kafka import KafkaBackend
from aiomq.backends.kafka._cluster import Cluster
from aiomq.backends.kafka._transactional import KafkaTransactionalProducer
from aiomq.client import Client, connect
from aiomq.errors import FencedInstanceId, ProducerFenced, StaleMember, TransactionError
from aiomq.testing._dist import find_java
from tests.backends.common import HEADERS, KEY, LONG_WAIT, OFFSET, VALUE, kafka_bootstrap, values
from tests.java import Java, java, kafka_libs  # noqa: F401  (the Java reference fixtures)

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]

NO_CHECK = -1, ""


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    return kafka_bootstrap(request)


@pytest.fixture(params=["tv2", "tv1"])
def tv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transaction protocol: the cluster's (TV2), or TV1 as on a cluster below it."""
    if request.param == "tv1":
        features = Cluster.features

        async def tv1(self: Cluster, deadline: float) -> dict[str, int]:
            return {**await features(self, deadline), "transaction.version": 1}

        monkeypatch.setattr(Cluster, "features", tv1)
    return str(request.param)


@pytest_asyncio.fixture
async def client(bootstrap: str) -> AsyncIterator[Client]:
    """A client on the session's broker: transactions of the cluster's protocol."""
    async with connect(f"kafka://{bootstrap}") as opened:
        yield opened


@pytest_asyncio.fixture
async def tv_client(bootstrap: str, tv: str) -> AsyncIterator[Client]:
    """A client whose transactions use each protocol in turn (``tv``)."""
    async with connect(f"kafka://{bootstrap}") as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    return f"kt-{uuid.uuid4().hex[:16]}"


def new_id() -> str:
    return f"ktx-{uuid.uuid4().hex[:16]}"


async def create(client: Client, topic: str, partitions: int = 1) -> None:
    async with client.admin() as admin:
        await admin.create_topic(topic, partitions)


async def open_producer(client: Client, transactional_id: str) -> KafkaTransactionalProducer:
    producer = await client.backend.transactional_producer(
        transactional_id, transaction_timeout=60.0
    )
    assert isinstance(producer, KafkaTransactionalProducer)
    return producer


async def read_all(
    client: Client, topic: str, partition: int, end: int, *, read_committed: bool
) -> list[Record]:
    """Every record readable before offset ``end`` (markers included in the count)."""
    records: list[Record] = []
    offset = 0
    with anyio.fail_after(LONG_WAIT * 1.5):
        while offset < end:
            result = await client.backend.fetch(
                topic, partition, offset, max_wait=LONG_WAIT, read_committed=read_committed
            )
            records.extend(result.records)
            offset = result.next_offset
    return records


async def end_offset(client: Client, topic: str, partition: int = 0) -> int:
    return (await client.backend.list_offsets(topic, {partition: LATEST}))[partition] or 0


async def committed_eventually(
    client: Client, group: str, expected: dict[tuple[str, int], CommittedOffset]
) -> None:
    """Wait until ``group``'s offsets are ``expected``: Kafka stores a committed
    transaction's offsets when its marker reaches ``__consumer_offsets``, after EndTxn."""
    with anyio.fail_after(LONG_WAIT):
        while True:
            if await client.backend.committed_offsets(group, list(expected)) == expected:
                return
            await anyio.sleep(0.05)  # polled: nothing tells a client the marker landed


def java_records(output: str) -> set[tuple[int, int, str]]:
    """``(partition, offset, value)`` of each record a Java ``Consume`` printed."""
    records = set()
    for line in output.splitlines():
        partition, offset, _key, value, *_ = line.split(" ")
        records.add((int(partition), int(offset), value))
    return records


class TestJava:
    async def test_a_java_read_committed_consumer_sees_only_committed_records(
        self,
        tv_client: Client,
        topic: str,
        bootstrap: str,
        java: Java,  # noqa: F811
    ) -> None:
        client = tv_client
        await create(client, topic, partitions=2)
        plain = client.backend
        written: dict[str, set[tuple[int, int, str]]] = {"committed": set(), "aborted": set()}

        async def write(partition: int, value: str, outcome: str) -> None:
            result = await producer.produce(topic, partition, [(None, value.encode(), (), None)])
            written[outcome].add((partition, result.base_offset, value))

        producer = await open_producer(client, new_id())
        try:
            for n, outcome in enumerate(["committed", "aborted", "committed", "aborted"]):
                await producer.begin()
                for partition in (0, 1):
                    await write(partition, f"t{n}-p{partition}-a", outcome)
                    result = await plain.produce(topic, partition, [(None, b"plain", (), None)])
                    written["committed"].add((partition, result.base_offset, "plain"))
                    await write(partition, f"t{n}-p{partition}-b", outcome)
                await (producer.commit() if outcome == "committed" else producer.abort())
        finally:
            await producer.aclose()
        committed = written["committed"]
        seen = await asyncio.to_thread(
            java.run, "Consume", bootstrap, topic, "read_committed", str(len(committed)), "30"
        )
        assert java_records(seen) == committed
        everything = committed | written["aborted"]
        seen = await asyncio.to_thread(
            java.run, "Consume", bootstrap, topic, "read_uncommitted", str(len(everything)), "30"
        )
        assert java_records(seen) == everything

    async def test_aiomq_reads_java_s_committed_and_aborted_transactions(
        self,
        client: Client,
        topic: str,
        bootstrap: str,
        java: Java,  # noqa: F811
    ) -> None:
        await create(client, topic, partitions=2)
        transactional_id = new_id()
        # Java aborts without flushing: of the aborted run, the batches already sent land.
        for count, outcome in (("50", "commit"), ("2000", "abort"), ("30", "commit")):
            await asyncio.to_thread(
                java.run, "Produce", bootstrap, topic, count, "none", transactional_id, outcome
            )
        landed = 0
        for partition in (0, 1):
            end = await end_offset(client, topic, partition)
            committed = await read_all(client, topic, partition, end, read_committed=True)
            everything = await read_all(client, topic, partition, end, read_committed=False)
            # Record i went to partition i % 2: v0, v2, ... of each committed run, in order.
            expected = [f"v{i}".encode() for n in (50, 30) for i in range(partition, n, 2)]
            assert [r[VALUE] for r in committed] == expected
            assert all(r[KEY] == b"k" + r[VALUE][1:] for r in committed if r[VALUE])
            assert committed[0][HEADERS] == (("h", b"x"), ("n", None))
            assert {r[OFFSET] for r in committed} <= {r[OFFSET] for r in everything}
            landed += len(everything) - len(committed)
        assert landed > 0, "no record of the aborted run reached the log: nothing was tested"

    async def test_a_java_producer_fences_an_aiomq_one(
        self,
        client: Client,
        topic: str,
        bootstrap: str,
        java: Java,  # noqa: F811
    ) -> None:
        await create(client, topic)
        transactional_id = new_id()
        producer = await open_producer(client, transactional_id)
        try:
            await producer.begin()
            await producer.produce(topic, 0, values(3))
            await asyncio.to_thread(
                java.run, "Produce", bootstrap, topic, "2", "none", transactional_id, "commit"
            )
            with pytest.raises(ProducerFenced):
                await producer.commit()
        finally:
            await producer.aclose()
        end = await end_offset(client, topic)
        got = await read_all(client, topic, 0, end, read_committed=True)
        assert [r[VALUE] for r in got] == [b"v0", b"v1"]  # Java's; aiomq's were aborted

    async def test_an_aiomq_producer_fences_a_java_one(
        self, client: Client, topic: str, bootstrap: str, held: Java
    ) -> None:
        await create(client, topic)
        transactional_id = new_id()
        process = held.start("TxnHold", bootstrap, topic, transactional_id)
        try:
            assert await line_of(process) == "open"
            producer = await open_producer(client, transactional_id)  # fences Java
            try:
                await producer.begin()
                await producer.produce(topic, 0, values(2))
                await producer.commit()
            finally:
                await producer.aclose()
            assert process.stdin is not None
            process.stdin.write("commit\n")
            process.stdin.flush()
            assert await line_of(process) == "ProducerFencedException"
        finally:
            process.kill()
            process.wait()
        end = await end_offset(client, topic)
        got = await read_all(client, topic, 0, end, read_committed=True)
        assert [r[VALUE] for r in got] == [b"v0", b"v1"]


TXN_HOLD = """
import java.io.*;
import java.util.Properties;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;

// Opens a transaction with one record in it, says "open", waits for a line on stdin, then
// commits: prints "committed", or the simple name of the exception the commit threw.
public class TxnHold {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("transactional.id", a[2]);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(a[1], 0, null, "java")).get();
      System.out.println("open");
      in.readLine();
      try {
        producer.commitTransaction();
        System.out.println("committed");
      } catch (Exception e) {
        System.out.println(e.getClass().getSimpleName());
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def held(java: Java, tmp_path_factory: pytest.TempPathFactory) -> Java:  # noqa: F811
    """``java`` with ``TxnHold`` compiled in too."""
    folder = tmp_path_factory.mktemp("txn-hold")
    source = folder / "TxnHold.java"
    source.write_text(TXN_HOLD)
    javac = find_java().with_name("javac")
    done = subprocess.run(
        [str(javac), "-nowarn", "-d", str(folder), "-cp", java.classpath, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"javac failed:\n{done.stderr}")
    return Java(java.java, f"{folder}:{java.classpath}")


async def line_of(process: subprocess.Popen[str]) -> str:
    """The next line the program prints, within 60 s."""
    assert process.stdout is not None
    with anyio.fail_after(60):
        return (await asyncio.to_thread(process.stdout.readline)).strip()


# -- KIP-447 -------------------------------------------------------------------------------


class Member:
    """One member of a classic group, joined with raw JoinGroup and SyncGroup requests."""

    def __init__(self, bootstrap: str, group: str, instance_id: str | None = None) -> None:
        self.client = AIOKafkaClient(bootstrap_servers=bootstrap)
        self.group = group
        self.instance_id = instance_id
        self.member_id = ""
        self.generation = -1

    async def join(self) -> Membership:
        """Join (or rejoin: a new generation) and sync; the membership it now has."""
        await self.client.bootstrap()
        with anyio.fail_after(30):
            while True:
                response = await self.client.send(
                    self.client.get_random_node(), FindCoordinatorRequest(self.group, 0)
                )
                if response.error_code == 0:
                    break
                await anyio.sleep(0.1)
            node = response.coordinator_id
            while True:
                request = JoinGroupRequest(
                    self.group,
                    30000,
                    30000,
                    self.member_id,
                    self.instance_id,  # nullable on the wire
                    "aiomq-test",
                    [("only", b"")],
                )
                joined = await self.client.send(node, request)
                if joined.error_code == 79:  # MEMBER_ID_REQUIRED: join again with it
                    self.member_id = joined.member_id
                    continue
                assert joined.error_code == 0, joined
                break
            self.member_id, self.generation = joined.member_id, joined.generation_id
            synced = await self.client.send(
                node,
                SyncGroupRequest(
                    self.group,
                    self.generation,
                    self.member_id,
                    self.instance_id,
                    [(self.member_id, b"")],
                ),
            )
            assert synced.error_code == 0, synced
        return Membership(self.group, self.generation, self.member_id, self.instance_id)


@pytest_asyncio.fixture
async def member(bootstrap: str) -> AsyncIterator[Member]:
    joined = Member(bootstrap, f"g-{uuid.uuid4().hex[:12]}")
    yield joined
    await joined.client.close()


class TestMembership:
    async def test_offsets_of_a_generation_the_group_left_behind_are_refused(
        self, tv_client: Client, topic: str, member: Member
    ) -> None:
        client = tv_client
        await create(client, topic)
        old = await member.join()
        current = await member.join()  # a rebalance: the next generation
        assert current.generation == old.generation + 1
        tp = (topic, 0)
        producer = await open_producer(client, new_id())
        try:
            await producer.begin()
            await producer.produce(topic, 0, values(1))
            with pytest.raises(StaleMember) as caught:
                await producer.send_offsets(old, {tp: CommittedOffset(1)})
            assert caught.value.reason == "ILLEGAL_GENERATION"
            with pytest.raises(TransactionError, match=r"abort\(\)"):
                await producer.commit()
            await producer.abort()
            await producer.begin()
            await producer.send_offsets(current, {tp: CommittedOffset(1, "current")})
            await producer.commit()
        finally:
            await producer.aclose()
        await committed_eventually(client, member.group, {tp: CommittedOffset(1, "current")})

    async def test_offsets_of_a_member_the_group_does_not_know_are_refused(
        self, tv_client: Client, topic: str, member: Member
    ) -> None:
        client = tv_client
        await create(client, topic)
        current = await member.join()
        stranger = Membership(current.group, current.generation, "stranger")
        producer = await open_producer(client, new_id())
        try:
            await producer.begin()
            with pytest.raises(StaleMember) as caught:
                await producer.send_offsets(stranger, {(topic, 0): CommittedOffset(1)})
            assert caught.value.reason == "UNKNOWN_MEMBER_ID"
            await producer.abort()
        finally:
            await producer.aclose()
        assert await client.backend.committed_offsets(current.group, [(topic, 0)]) == {}

    async def test_a_static_member_replaced_under_its_instance_id_is_fenced(
        self, tv_client: Client, topic: str, bootstrap: str
    ) -> None:
        client = tv_client
        await create(client, topic)
        group = f"g-{uuid.uuid4().hex[:12]}"
        first, second = Member(bootstrap, group, "i-1"), Member(bootstrap, group, "i-1")
        try:
            replaced = await first.join()
            await second.join()  # the same instance id: the first member is gone
            producer = await open_producer(client, new_id())
            try:
                await producer.begin()
                with pytest.raises(FencedInstanceId):
                    await producer.send_offsets(replaced, {(topic, 0): CommittedOffset(1)})
                with pytest.raises(TransactionError):
                    await producer.produce(topic, 0, values(1))
                await producer.abort()
            finally:
                await producer.aclose()
        finally:
            await first.client.close()
            await second.client.close()


# -- both protocols ------------------------------------------------------------------------


class TestProtocols:
    async def test_the_producer_follows_the_cluster_s_transaction_version(
        self, tv_client: Client, topic: str, tv: str
    ) -> None:
        client = tv_client
        await create(client, topic)
        producer = await open_producer(client, new_id())
        try:
            epoch = producer.epoch
            await producer.begin()
            await producer.produce(topic, 0, values(1))
            await producer.commit()
            # TV2: every EndTxn bumps the epoch; TV1 keeps it.
            assert producer.epoch == (epoch + 1 if tv == "tv2" else epoch)
        finally:
            await producer.aclose()

    async def test_commit_abort_and_offsets(self, tv_client: Client, topic: str) -> None:
        client = tv_client
        await create(client, topic, partitions=2)
        group = f"g-{topic}"
        tp = (topic, 1)
        producer = await open_producer(client, new_id())
        try:
            for n, outcome in enumerate(["commit", "abort", "commit"]):
                await producer.begin()
                for partition in (0, 1):
                    await producer.produce(topic, partition, values(2, 2 * n))
                await producer.send_offsets(
                    Membership(group, *NO_CHECK), {tp: CommittedOffset(n + 1)}
                )
                await (producer.commit() if outcome == "commit" else producer.abort())
        finally:
            await producer.aclose()
        for partition in (0, 1):
            got = await read_all(client, topic, partition, 9, read_committed=True)
            assert [r[VALUE] for r in got] == [b"v0", b"v1", b"v4", b"v5"]
        await committed_eventually(client, group, {tp: CommittedOffset(3)})

    async def test_a_producer_fenced_while_idle_learns_it_on_produce(
        self, tv_client: Client, topic: str
    ) -> None:
        client = tv_client
        await create(client, topic)
        transactional_id = new_id()
        old = await open_producer(client, transactional_id)
        new = await open_producer(client, transactional_id)
        try:
            await old.begin()
            with pytest.raises(ProducerFenced):
                await old.produce(topic, 0, values(1))
            with pytest.raises(ProducerFenced):
                await old.abort()
            await new.begin()
            await new.produce(topic, 0, values(1))
            await new.commit()
        finally:
            await old.aclose()
            await new.aclose()
        got = await read_all(client, topic, 0, 2, read_committed=True)
        assert [r[VALUE] for r in got] == [b"v0"]

    async def test_a_timed_out_transaction_is_not_a_fence(
        self, tv_client: Client, topic: str
    ) -> None:
        client = tv_client
        await create(client, topic)
        producer = await client.backend.transactional_producer(new_id(), transaction_timeout=1.0)
        try:
            await producer.begin()
            await producer.produce(topic, 0, values(1))
            # The coordinator aborts it within a second or two (its check runs every second).
            await read_all(client, topic, 0, 2, read_committed=True)
            with pytest.raises(TransactionError) as caught:
                await producer.send_offsets(
                    Membership(f"g-{topic}", *NO_CHECK), {(topic, 0): CommittedOffset(1)}
                )
            assert not isinstance(caught.value, ProducerFenced)
            await producer.abort()
            await producer.begin()
            await producer.produce(topic, 0, values(1, 1))
            await producer.commit()
        finally:
            await producer.aclose()
        got = await read_all(client, topic, 0, 4, read_committed=True)
        assert [r[VALUE] for r in got] == [b"v1"]

    async def test_a_produce_cancelled_on_the_wire_fails_the_transaction(
        self, tv_client: Client, topic: str
    ) -> None:
        # Its records may or may not have been written: the transaction cannot commit.
        client = tv_client
        await create(client, topic)
        producer = await open_producer(client, new_id())
        try:
            await producer.begin()
            await producer.produce(topic, 0, values(1))  # leaders known, partition added
            producing = asyncio.ensure_future(producer.produce(topic, 0, values(1, 1)))
            await asyncio.sleep(0)  # its request is on the wire
            producing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await producing
            with pytest.raises(TransactionError, match=r"abort\(\)"):
                await producer.commit()
            await producer.abort()
            with anyio.fail_after(10):  # no partition left waiting for the lost batch
                await producer.begin()
                await producer.produce(topic, 0, values(1, 2))
                await producer.commit()
        finally:
            await producer.aclose()
        end = await end_offset(client, topic)
        got = await read_all(client, topic, 0, end, read_committed=True)
        assert [r[VALUE] for r in got] == [b"v2"]


# -- closing -------------------------------------------------------------------------------


class TestClosing:
    async def test_closing_the_backend_aborts_its_open_transactions(
        self, client: Client, topic: str, bootstrap: str
    ) -> None:
        await create(client, topic)
        async with connect(f"kafka://{bootstrap}") as other:
            producer = await open_producer(other, new_id())
            await producer.begin()
            await producer.produce(topic, 0, values(2))
        got = await read_all(client, topic, 0, 3, read_committed=True)
        assert got == []  # the abort marker at 2 released the reader

    async def test_a_cancelled_close_still_aborts(self, client: Client, topic: str) -> None:
        await create(client, topic)
        producer = await open_producer(client, new_id())
        await producer.begin()
        await producer.produce(topic, 0, values(2))
        closing = asyncio.ensure_future(producer.aclose())
        await asyncio.sleep(0)  # the abort request is on its way
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        # Aborted all the same (the transaction timeout, 60 s, is far off): the abort marker
        # at 2 releases a read_committed reader.
        assert await read_all(client, topic, 0, 3, read_committed=True) == []
        assert isinstance(producer, TransactionalProducer)
        assert isinstance(client.backend, KafkaBackend)
