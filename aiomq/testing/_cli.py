"""``aiomq kafka start|stop|status|fetch``: a detached local broker for development.

``start`` launches the JVMs detached, records them in ``<cache>/run/kafka.json`` and prints
the bootstrap address alone on stdout (details go to stderr), so
``export AIOMQ_KAFKA_BOOTSTRAP=$(aiomq kafka start)`` works. There is one such broker per
cache directory, that is per user unless ``AIOMQ_CACHE_DIR`` says otherwise: every checkout
of that user sees the same one. ``stop`` stops it and removes its data (``--keep-data``
keeps it); ``start`` after a node died, or after ``stop --keep-data``, starts the stopped
nodes again on their ports with their data (``--fresh`` starts over instead), which is how
to try crash recovery by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import click

from ._broker import KafkaNotFound, KafkaStartError
from ._dist import Distribution, JavaNotFound, cache_dir, fetch_kafka_jars
from ._find import kafka_version, local_distribution
from ._guard import alive, terminate_groups
from ._local import KafkaNode, LocalKafka
from ._probe import broker_count

__all__ = ["kafka"]


def _run_dir() -> Path:
    return cache_dir() / "run"


def _state_file() -> Path:
    return _run_dir() / "kafka.json"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner can read (it holds the SASL password).

    Created 0600 from the start, never readable by others for a moment; a file already
    there is replaced, whatever its mode was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _read_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    return state


def _ours(pid: int, workdir: str) -> bool:
    # A recorded pid may have been reused by an unrelated process since: only a JVM whose
    # command line names our work directory is ours to stop.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return alive(pid) and workdir.encode() in cmdline


def _live_pids(state: dict[str, Any]) -> list[int]:
    return [n["pid"] for n in state["nodes"] if n.get("pid") and _ours(n["pid"], state["workdir"])]


_CLUSTER_GRACE = 5.0


def _stop_nodes(state: dict[str, Any], timeout: float) -> None:
    """SIGTERM every live node at once; SIGKILL what still runs after the grace period.

    A lone node shuts down cleanly within ``timeout``. The nodes of a cluster are also its
    controller quorum: once some have gone the rest can no longer complete a controlled
    shutdown and would each wait out the whole ``timeout`` (stopped one by one, or all at
    once), so a cluster gets a few seconds and is then killed. Kafka recovers its logs from
    an unclean stop on the next start, as it does after a crash.
    """
    pids = set(_live_pids(state))
    if not pids:
        return
    grace = timeout if len(state["nodes"]) == 1 else min(timeout, _CLUSTER_GRACE)
    terminate_groups(pids, grace)


def _remove(state: dict[str, Any], timeout: float = 30.0) -> None:
    _stop_nodes(state, timeout)
    shutil.rmtree(state["workdir"], ignore_errors=True)
    _state_file().unlink(missing_ok=True)


def _record(broker: LocalKafka, workdir: Path) -> dict[str, Any]:
    record: dict[str, Any] = {
        "bootstrap": broker.bootstrap,
        "version": broker.version,
        "origin": broker.origin,
        "workdir": str(workdir),
        "nodes": [
            {
                "node_id": n.node_id,
                "pid": n.pid,
                "port": n.port,
                "controller_port": n.controller_port,
                "secure_ports": n.secure_ports,
                "log": str(n.log),
            }
            for n in broker.nodes
        ],
    }
    if broker.security is not None:
        record["security"] = {
            **dataclasses.asdict(broker.security),
            "ca_file": str(broker.security.ca_file),
        }
    return record


def _reopen(state: dict[str, Any], distribution: Distribution) -> LocalKafka:
    """The cluster ``state`` describes, as a ``LocalKafka`` on its ports, data and password."""
    workdir = Path(state["workdir"])
    nodes = tuple(
        KafkaNode(
            node_id=n["node_id"],
            port=n["port"],
            controller_port=n["controller_port"],
            directory=workdir / f"node-{n['node_id']}",
            secure_ports=dict(n.get("secure_ports") or {}),
        )
        for n in state["nodes"]
    )
    security = state.get("security")
    return LocalKafka(
        distribution,
        len(nodes),
        security=security is not None,
        workdir=workdir,
        detach=True,
        existing=nodes,
        password=security["password"] if security else None,
    )


def _restartable(state: dict[str, Any]) -> bool:
    return Path(state["workdir"]).is_dir() and all("controller_port" in n for n in state["nodes"])


@click.group("kafka")
def kafka() -> None:
    """Run a local Kafka broker (or cluster) for development, detached from this shell."""


@kafka.command()
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True)
@click.option("--port", type=int, default=None, help="Client port of node 1 (node n: port+n-1).")
@click.option("--security", is_flag=True, help="Add SASL_PLAINTEXT, SSL and SASL_SSL listeners.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for readiness.")
@click.option("--fresh", is_flag=True, help="Discard a stopped broker's data and start anew.")
def start(nodes: int, port: int | None, security: bool, timeout: float | None, fresh: bool) -> None:
    """Start a broker and print its bootstrap address.

    A broker recorded here whose nodes stopped (killed, or ``stop --keep-data``) is started
    again on its ports with its data, unless ``--fresh``.
    """
    state = _read_state()
    try:
        distribution = local_distribution()
    except (KafkaNotFound, KafkaStartError) as exc:
        raise click.ClickException(str(exc)) from exc
    if state is not None and not fresh and _restartable(state):
        live = set(_live_pids(state))
        stopped = [n["node_id"] for n in state["nodes"] if n.get("pid") not in live or not n["pid"]]
        if not stopped:
            click.echo(f"already running (pids {sorted(live)})", err=True)
            click.echo(state["bootstrap"])
            return
        broker = _reopen(state, distribution)
        try:
            broker.start_nodes(stopped, timeout)
        except KafkaStartError as exc:
            raise click.ClickException(str(exc)) from exc
        record = _record(broker, Path(state["workdir"]))
        for node, old in zip(record["nodes"], state["nodes"], strict=True):
            if node["pid"] is None:  # still running from before: not a child of this process
                node["pid"] = old["pid"]
        _write_private(_state_file(), json.dumps(record, indent=2) + "\n")
        shown = ", ".join(str(n) for n in stopped)
        click.echo(f"started node(s) {shown} again with their data in {state['workdir']}", err=True)
        click.echo(state["bootstrap"])
        return
    if state is not None:
        _remove(state)
    workdir = _run_dir() / "kafka"
    shutil.rmtree(workdir, ignore_errors=True)
    broker = LocalKafka(
        distribution, nodes, security=security, workdir=workdir, detach=True, port=port
    )
    try:
        broker.start(timeout)
    except KafkaStartError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise click.ClickException(str(exc)) from exc
    record = _record(broker, workdir)
    _write_private(_state_file(), json.dumps(record, indent=2) + "\n")
    click.echo(
        f"Kafka {broker.version} ({broker.origin}), {nodes} node(s), data in {workdir}", err=True
    )
    if broker.security is not None:
        for key, value in record["security"].items():
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"  {key}: {shown}", err=True)
    click.echo(broker.bootstrap)


@kafka.command()
@click.option("--timeout", type=float, default=30.0, show_default=True)
@click.option("--keep-data", is_flag=True, help="Keep the data: the next start resumes it.")
def stop(timeout: float, keep_data: bool) -> None:
    """Stop the broker that start launched, and remove its data (unless ``--keep-data``)."""
    state = _read_state()
    if state is None:
        click.echo("not running", err=True)
        return
    if keep_data:
        _stop_nodes(state, timeout)
        click.echo(f"stopped {state['bootstrap']}; data kept in {state['workdir']}", err=True)
        return
    _remove(state, timeout)
    click.echo(f"stopped {state['bootstrap']}", err=True)


@kafka.command()
def status() -> None:
    """Report each node of the broker that start launched; exit status 1 unless all run.

    The broker is this user's (one per cache directory, shared by every checkout).
    """
    state = _read_state()
    click.echo(f"state: {_state_file()} (one broker per cache directory)", err=True)
    if state is None:
        click.echo("not running", err=True)
        click.get_current_context().exit(1)
    live = _live_pids(state)
    down = []
    for node in state["nodes"]:
        running = bool(node.get("pid")) and node["pid"] in live
        if not running:
            down.append(node["node_id"])
        mark = "running" if running else "stopped"
        click.echo(f"node {node['node_id']}: pid {node['pid']} {mark}, log {node['log']}", err=True)
    if len(down) == len(state["nodes"]):
        click.echo(f"{state['bootstrap']}: no node runs", err=True)
        click.get_current_context().exit(1)
    if down:
        # Said before the cluster is asked: with a node gone, the metadata request may be
        # sent to it and go unanswered, which must not hide which node is down.
        shown = ", ".join(str(n) for n in down)
        click.echo(f"node(s) {shown} down: `aiomq kafka start` starts them again", err=True)
    try:
        count = broker_count(state["bootstrap"], timeout=10.0)
    except Exception as exc:
        click.echo(f"{state['bootstrap']}: no answer ({exc!r})", err=True)
        click.get_current_context().exit(1)
    click.echo(f"Kafka {state['version']}: metadata lists {count} broker(s)", err=True)
    click.echo(state["bootstrap"])
    if down:
        click.get_current_context().exit(1)


@kafka.command()
def fetch() -> None:
    """Fetch Kafka's jars into the cache (once) and print their directory."""
    try:
        distribution = fetch_kafka_jars(kafka_version())
    except (JavaNotFound, RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(distribution.libs)
