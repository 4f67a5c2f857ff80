"""``aiomq kafka start|stop|status|fetch``: a detached local broker for development.

``start`` launches the JVMs detached, records them in ``<cache>/run/kafka.json`` and prints
the bootstrap address alone on stdout (details go to stderr), so
``export AIOMQ_KAFKA_BOOTSTRAP=$(aiomq kafka start)`` works. One such broker per cache
directory; ``stop`` stops it and removes its data.
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
from ._dist import JavaNotFound, cache_dir, fetch_kafka_jars
from ._find import kafka_version, local_distribution
from ._guard import alive
from ._local import LocalKafka
from ._probe import broker_count
from ._process import stop_group

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
    return [n["pid"] for n in state["nodes"] if _ours(n["pid"], state["workdir"])]


def _remove(state: dict[str, Any], timeout: float = 30.0) -> None:
    for pid in _live_pids(state):
        stop_group(pid, timeout)
    shutil.rmtree(state["workdir"], ignore_errors=True)
    _state_file().unlink(missing_ok=True)


@click.group("kafka")
def kafka() -> None:
    """Run a local Kafka broker (or cluster) for development, detached from this shell."""


@kafka.command()
@click.option("--nodes", type=click.IntRange(1, 9), default=1, show_default=True)
@click.option("--port", type=int, default=None, help="Client port of node 1 (node n: port+n-1).")
@click.option("--security", is_flag=True, help="Add SASL_PLAINTEXT, SSL and SASL_SSL listeners.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for readiness.")
def start(nodes: int, port: int | None, security: bool, timeout: float | None) -> None:
    """Start a broker and print its bootstrap address."""
    state = _read_state()
    if state is not None and _live_pids(state):
        click.echo(f"already running (pids {_live_pids(state)})", err=True)
        click.echo(state["bootstrap"])
        return
    if state is not None:
        _remove(state)
    try:
        distribution = local_distribution()
    except (KafkaNotFound, KafkaStartError) as exc:
        raise click.ClickException(str(exc)) from exc
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
    record: dict[str, Any] = {
        "bootstrap": broker.bootstrap,
        "version": broker.version,
        "origin": broker.origin,
        "workdir": str(workdir),
        "nodes": [
            {"node_id": n.node_id, "pid": n.pid, "port": n.port, "log": str(n.log)}
            for n in broker.nodes
        ],
    }
    if broker.security is not None:
        record["security"] = {
            **dataclasses.asdict(broker.security),
            "ca_file": str(broker.security.ca_file),
        }
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
def stop(timeout: float) -> None:
    """Stop the broker that start launched, and remove its data."""
    state = _read_state()
    if state is None:
        click.echo("not running", err=True)
        return
    _remove(state, timeout)
    click.echo(f"stopped {state['bootstrap']}", err=True)


@kafka.command()
def status() -> None:
    """Report whether the broker runs; exit status 1 when it does not."""
    state = _read_state()
    if state is None:
        click.echo("not running", err=True)
        click.get_current_context().exit(1)
    live = _live_pids(state)
    for node in state["nodes"]:
        mark = "running" if node["pid"] in live else "stopped"
        click.echo(f"node {node['node_id']}: pid {node['pid']} {mark}, log {node['log']}", err=True)
    try:
        count = broker_count(state["bootstrap"], timeout=10.0)
    except Exception as exc:
        click.echo(f"{state['bootstrap']}: no answer ({exc!r})", err=True)
        click.get_current_context().exit(1)
    click.echo(f"Kafka {state['version']}: metadata lists {count} broker(s)", err=True)
    click.echo(state["bootstrap"])


@kafka.command()
def fetch() -> None:
    """Fetch Kafka's jars into the cache (once) and print their directory."""
    try:
        distribution = fetch_kafka_jars(kafka_version())
    except (JavaNotFound, RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(distribution.libs)
