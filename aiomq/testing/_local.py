"""Kafka brokers run as local JVMs: one node, or a cluster of combined broker+controller nodes.

Each node is a KRaft process playing both roles, on 127.0.0.1 with ports picked here (the
advertised listeners need the real ports). Storage is formatted once per node; a restarted
node reuses its data directory. Nothing is left behind: see ``_process`` for how.
"""

from __future__ import annotations

import atexit
import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._broker import KafkaBroker, KafkaSecurity, KafkaStartError
from ._dist import Distribution, find_java
from ._probe import broker_count, port_open
from ._process import Guardian, free_ports, log_tail, spawn, stop_process

__all__ = ["KafkaNode", "LocalKafka", "start_timeout"]

_SECURE_LISTENERS = ("SASL_PLAINTEXT", "SSL", "SASL_SSL")
_JAAS = {
    "plain": 'org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{pw}";',
    "scram-sha-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    "scram-sha-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
}
_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = warn
"""
_LOG4J1 = """\
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""


def start_timeout() -> float:
    """Seconds a start may take: ``$AIOMQ_KAFKA_START_TIMEOUT``, else 120."""
    return float(os.environ.get("AIOMQ_KAFKA_START_TIMEOUT") or 120)


def _cluster_id() -> str:
    # KRaft's format: 16 random bytes, URL-safe base64 without padding, not starting with "-".
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@dataclass
class KafkaNode:
    """One broker+controller JVM of a ``LocalKafka``; its files live in ``directory``."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    secure_ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """The node's PLAINTEXT client address, ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The node's log (the JVM's stdout and stderr)."""
        return self.directory / "broker.log"

    @property
    def pid(self) -> int | None:
        """The JVM's pid while it runs, else None."""
        return self.process.pid if self.running and self.process else None

    @property
    def running(self) -> bool:
        """Whether the node's JVM is alive."""
        return self.process is not None and self.process.poll() is None


_live: set[LocalKafka] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_live() -> None:
    # The normal path stops brokers from a fixture's teardown; this one covers an interpreter
    # that exits without it (an uncaught exception, sys.exit in a script, a second Ctrl-C).
    with _live_lock:
        brokers = list(_live)
    for broker in brokers:
        broker.stop()
    Guardian.close_current()


class LocalKafka(KafkaBroker):
    """``nodes`` Kafka JVMs on 127.0.0.1, started by ``start()``, stopped by ``stop()``.

    ``security=True`` adds SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512), SSL and SASL_SSL client
    listeners with certificates made here (see ``security``). A cluster (``nodes > 1``) uses
    replication factor ``nodes`` and min ISR 2 for its internal topics. ``detach=True`` leaves
    the JVMs running when this process exits (the ``aiomq kafka start`` command); otherwise
    they and the temporary directory are removed however this process ends.
    """

    def __init__(
        self,
        distribution: Distribution,
        nodes: int = 1,
        *,
        security: bool = False,
        workdir: Path | None = None,
        detach: bool = False,
        port: int | None = None,
        heap: str = "512m",
        java: Path | None = None,
        existing: tuple[KafkaNode, ...] = (),
        password: str | None = None,
    ) -> None:
        """``existing``: the nodes of a cluster whose ``workdir`` holds their configuration
        and data already (``reopen``); they keep their ports and their data."""
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, not {nodes}")
        self.distribution = distribution
        self.java = java or find_java()
        self.detach = detach
        self.heap = heap
        self._owns_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="aiomq-kafka-"))
        self._guardian = None if detach else Guardian.get()
        if self._guardian is not None and self._owns_workdir:
            self._guardian.watch_dir(self.workdir)
        self._want_security = security
        self._fixed_port = port
        self._password = password or secrets.token_hex(8)
        self.nodes: tuple[KafkaNode, ...] = ()
        if existing:
            self._use_nodes(existing)
        else:
            self._choose_ports(nodes)
        super().__init__(
            bootstrap=self.bootstrap,
            origin=distribution.origin,
            version=distribution.version,
            security=self.security,
            _on_stop=self._stop,
        )

    def _choose_ports(self, count: int) -> None:
        per_node = 2 + (len(_SECURE_LISTENERS) if self._want_security else 0)
        ports = free_ports(per_node * count)
        nodes = []
        for index in range(count):
            mine = ports[index * per_node : (index + 1) * per_node]
            client = mine[0] if self._fixed_port is None else self._fixed_port + index
            nodes.append(
                KafkaNode(
                    node_id=index + 1,
                    port=client,
                    controller_port=mine[1],
                    directory=self.workdir / f"node-{index + 1}",
                    secure_ports=dict(zip(_SECURE_LISTENERS, mine[2:], strict=False)),
                )
            )
        self._use_nodes(tuple(nodes))

    def _use_nodes(self, nodes: tuple[KafkaNode, ...]) -> None:
        self.nodes = nodes
        self.bootstrap = ",".join(node.address for node in self.nodes)
        self.security = None
        if self._want_security:
            certs = self.workdir / "certs"
            addresses = {
                name: ",".join(f"127.0.0.1:{n.secure_ports[name]}" for n in self.nodes)
                for name in _SECURE_LISTENERS
            }
            self.security = KafkaSecurity(
                sasl_plaintext=addresses["SASL_PLAINTEXT"],
                ssl=addresses["SSL"],
                sasl_ssl=addresses["SASL_SSL"],
                ca_file=certs / "ca.pem",
                username="aiomq",
                password=self._password,
            )

    def node(self, node_id: int) -> KafkaNode:
        """The node with id ``node_id`` (1-based); ``ValueError`` if there is none."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ValueError(f"no node {node_id}; nodes are 1..{len(self.nodes)}")

    # -- configuration ---------------------------------------------------------------------

    def _properties(self, node: KafkaNode) -> dict[str, str]:
        size = len(self.nodes)
        replicas = str(min(size, 3))
        min_isr = "2" if size >= 3 else "1"
        internal_partitions = "3" if size > 1 else "1"
        listeners = [
            f"PLAINTEXT://{node.address}",
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
        ]
        advertised = [f"PLAINTEXT://{node.address}"]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        for name, port in node.secure_ports.items():
            listeners.append(f"{name}://127.0.0.1:{port}")
            advertised.append(f"{name}://127.0.0.1:{port}")
            protocols.append(f"{name}:{name}")
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": ",".join(
                f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes
            ),
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(node.directory / "data"),
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": internal_partitions,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": internal_partitions,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            # Consumer-protocol groups (KIP-848) take their heartbeat interval and session
            # timeout from the broker (defaults 5 s and 45 s, and the minimums are the same):
            # members learn of a rebalance on their next heartbeat and a silent member is
            # fenced after the session, so tests of either take seconds, not minutes.
            "group.consumer.heartbeat.interval.ms": "500",
            "group.consumer.min.heartbeat.interval.ms": "100",
            "group.consumer.session.timeout.ms": "6000",
            "group.consumer.min.session.timeout.ms": "1000",
            "auto.create.topics.enable": "true",
            # The transaction coordinator looks for transactions open past their timeout
            # every second (default 10 s), so a test of that abort takes seconds.
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            # Two shared cores: fewer threads than the defaults (3 network, 8 I/O, 10 background).
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
        }
        if size > 1:
            # A follower killed with -9 leaves the ISR after this long (default 30 s); until
            # then acks=all writes to its partitions wait for it.
            props["replica.lag.time.max.ms"] = "10000"
            # A node killed with -9 is fenced, and its partitions get new leaders, once it
            # has missed heartbeats this long (default 9 s, heartbeats every 2 s).
            props["broker.session.timeout.ms"] = "4000"
            props["broker.heartbeat.interval.ms"] = "1000"
        if node.secure_ports:
            assert self.security is not None
            props["sasl.enabled.mechanisms"] = ",".join(self.security.mechanisms)
            for listener in ("sasl_plaintext", "sasl_ssl"):
                for mechanism, jaas in _JAAS.items():
                    key = f"listener.name.{listener}.{mechanism}.sasl.jaas.config"
                    props[key] = jaas.format(user=self.security.username, pw=self._password)
            props["ssl.keystore.type"] = "PEM"
            props["ssl.keystore.location"] = str(self.workdir / "certs" / "server.pem")
            props["ssl.client.auth"] = "none"
        return props

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "log4j2.properties").write_text(_LOG4J2)
        (self.workdir / "log4j.properties").write_text(_LOG4J1)
        if self.security is not None:
            from ._tls import write_certificates

            write_certificates(self.workdir / "certs")
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            text = "".join(f"{k}={v}\n" for k, v in self._properties(node).items())
            (node.directory / "server.properties").write_text(text)

    def _java_argv(self, main: str, *args: str) -> list[str]:
        return [
            str(self.java),
            f"-Xmx{self.heap}",
            "-Xms64m",
            # Serial GC and the C1 compiler only: a test broker is small, and on two shared
            # cores G1's and C2's background threads cost more start-up time than they save.
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            self.distribution.classpath,
            main,
            *args,
        ]

    def _format(self) -> None:
        cluster_id = _cluster_id()
        extra: list[str] = []
        if self.security is not None:
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                user = f"name={self.security.username},password={self._password}"
                extra += ["--add-scram", f"{mechanism}=[{user}]"]
        # Static voters (controller.quorum.voters): no --standalone, which 4.1+ rejects here.
        running = [
            subprocess.Popen(
                self._java_argv(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(node.directory / "server.properties"),
                    *extra,
                ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for node in self.nodes
        ]
        failures = []
        for node, proc in zip(self.nodes, running, strict=True):
            try:
                out, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            if proc.returncode != 0:
                text = out.decode("utf-8", "replace").strip()
                failures.append(f"node {node.node_id}: exit {proc.returncode}\n{text[-3000:]}")
        if failures:
            raise KafkaStartError("formatting Kafka storage failed", "\n".join(failures))

    # -- life cycle ------------------------------------------------------------------------

    def _spawn(self, node: KafkaNode) -> None:
        argv = self._java_argv("kafka.Kafka", str(node.directory / "server.properties"))
        node.process = spawn(argv, node.log, detach=self.detach)
        if self._guardian is not None:
            self._guardian.watch_pid(node.process.pid)

    def start(self, timeout: float | None = None) -> LocalKafka:
        """Write the configuration, format storage, start every node and wait until ready.

        Ready means a metadata request lists every node. Raises ``KafkaStartError`` with the
        end of the failing node's log if a node exits or ``timeout`` seconds (default
        ``start_timeout()``) pass; everything started is stopped again before it raises.
        """
        timeout = start_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            for attempt in range(3):
                self._write_config()
                self._format()
                for node in self.nodes:
                    self._spawn(node)
                try:
                    self._wait_ready(self.nodes, deadline, timeout)
                    break
                except KafkaStartError as exc:
                    # Another process took a port between our pick and the JVM's bind.
                    clash = "Address already in use" in exc.log_tail
                    if not clash or attempt == 2 or self._fixed_port is not None:
                        raise
                self._stop_nodes()
                for node in self.nodes:
                    shutil.rmtree(node.directory, ignore_errors=True)
                self._choose_ports(len(self.nodes))
        except BaseException:
            self._stop()
            raise
        if not self.detach:
            with _live_lock:
                _live.add(self)
        return self

    def _wait_ready(self, nodes: Iterable[KafkaNode], deadline: float, timeout: float) -> None:
        nodes = list(nodes)
        expected = len(self.nodes)
        # Asked through the nodes waited for: a metadata answer *from* a restarted node shows
        # it serves requests, while the others may still list it from before it was killed.
        bootstrap = ",".join(node.address for node in nodes)
        last = "no node accepted connections yet"
        while True:
            for node in nodes:
                assert node.process is not None
                code = node.process.poll()
                if code is not None:
                    raise KafkaStartError(
                        f"Kafka node {node.node_id} exited with code {code} while starting "
                        f"(log: {node.log})",
                        log_tail(node.log),
                    )
            if all(port_open("127.0.0.1", node.port) for node in nodes):
                try:
                    count = broker_count(bootstrap, timeout=10.0)
                except Exception as exc:  # not ready yet: any failure means "ask again"
                    last = f"metadata request failed: {exc!r}"
                else:
                    if count >= expected:
                        return
                    last = f"metadata lists {count} of {expected} brokers"
            if time.monotonic() >= deadline:
                tails = "\n".join(
                    f"[node {n.node_id}: {n.log}]\n{log_tail(n.log, 40 // len(nodes))}"
                    for n in nodes
                )
                raise KafkaStartError(
                    f"Kafka did not become ready within {timeout:.0f} s: {last}", tails
                )
            time.sleep(0.2)

    def start_nodes(self, node_ids: Iterable[int], timeout: float | None = None) -> LocalKafka:
        """Start nodes of an existing cluster (``existing=``) on their ports and data, and
        wait until every node is listed: how a cluster comes back after a crash."""
        timeout = start_timeout() if timeout is None else timeout
        nodes = [self.node(node_id) for node_id in node_ids]
        for node in nodes:
            self._spawn(node)
        self._wait_ready(nodes or self.nodes, time.monotonic() + timeout, timeout)
        return self

    def kill(self, node_id: int) -> None:
        """Kill node ``node_id`` with SIGKILL (``kill -9``) and reap it; its data stays."""
        node = self.node(node_id)
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(30)
        if node.process is not None and self._guardian is not None:
            self._guardian.forget_pid(node.process.pid)

    def restart(self, node_id: int, timeout: float | None = None) -> None:
        """Start node ``node_id`` again on its ports and data; wait until all nodes are listed."""
        node = self.node(node_id)
        if node.running:
            raise RuntimeError(f"node {node_id} is still running")
        timeout = start_timeout() if timeout is None else timeout
        self._spawn(node)
        self._wait_ready([node], time.monotonic() + timeout, timeout)

    def _stop_nodes(self, timeout: float = 20.0) -> None:
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        # All at once: each node's controlled shutdown then overlaps with the others'.
        threads = [
            threading.Thread(target=stop_process, args=(n.process, timeout)) for n in running
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for node in self.nodes:
            if node.process is not None and self._guardian is not None:
                self._guardian.forget_pid(node.process.pid)

    def _stop(self) -> None:
        with _live_lock:
            _live.discard(self)
        self._stop_nodes()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self._guardian is not None:
                self._guardian.forget_dir(self.workdir)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other
