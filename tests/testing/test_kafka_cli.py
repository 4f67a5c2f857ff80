"""``aiomq kafka start|stop|status`` on a real three-node cluster: crash recovery by hand.

A node killed with -9 shows in ``status`` (exit 1, naming it); ``start`` brings it back on its
port with its data; ``stop`` of a cluster with a node down takes seconds, not its timeout.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from aiomq.testing._cli import kafka
from aiomq.testing._dist import Distribution
from aiomq.testing._guard import alive
from aiomq.testing._probe import create_topic

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.timeout(240)]


@pytest.fixture
def cli_env(
    tmp_path: Path, kafka_distribution: Distribution, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A cache directory of this test's own (its own broker state), the session's jars."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AIOMQ_CACHE_DIR", str(cache))
    monkeypatch.setenv("KAFKA_HOME", str(kafka_distribution.libs.parent))
    yield cache
    state = cache / "run" / "kafka.json"
    if state.exists():  # the test failed half way: leave no JVM behind
        CliRunner().invoke(kafka, ["stop", "--timeout", "5"])


def run(*args: str) -> Result:
    return CliRunner().invoke(kafka, list(args), catch_exceptions=False)


def state(cache: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((cache / "run" / "kafka.json").read_text())
    return loaded


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_a_killed_node_is_reported_restarted_with_its_data_and_stop_is_quick(
    cli_env: Path,
) -> None:
    started = run("start", "--nodes", "3")
    assert started.exit_code == 0, started.output
    bootstrap = started.stdout.strip()
    first = state(cli_env)
    assert run("status").exit_code == 0

    create_topic(bootstrap, "kept", 1, replication=3)
    victim = first["nodes"][1]
    kill(victim["pid"])

    status = run("status")
    assert status.exit_code == 1
    assert f"node {victim['node_id']}: pid {victim['pid']} stopped" in status.stderr
    assert "down" in status.stderr

    restarted = run("start")
    assert restarted.exit_code == 0, restarted.output
    assert restarted.stdout.strip() == bootstrap  # same ports
    assert "again with their data" in restarted.stderr
    after = state(cli_env)
    assert [n["port"] for n in after["nodes"]] == [n["port"] for n in first["nodes"]]
    assert after["nodes"][0]["pid"] == first["nodes"][0]["pid"]  # untouched
    assert after["nodes"][1]["pid"] != victim["pid"]
    assert run("status").exit_code == 0
    # The topic made before the crash is still there: its data was kept, not reformatted.
    assert Path(after["workdir"], "node-2", "data").is_dir()
    assert any(
        p.name.startswith("kept-") for p in Path(after["workdir"], "node-2", "data").iterdir()
    )

    kill(after["nodes"][2]["pid"])
    began = time.monotonic()
    stopped = run("stop", "--timeout", "60")
    took = time.monotonic() - began
    assert stopped.exit_code == 0
    # A cluster that lost a node cannot shut down cleanly; stop must not wait the timeout out.
    assert took < 30, f"stop took {took:.1f} s"
    assert not any(alive(n["pid"]) for n in after["nodes"])
    assert run("status").exit_code == 1
    assert not (cli_env / "run" / "kafka.json").exists()


def test_stop_keep_data_then_start_resumes(cli_env: Path) -> None:
    started = run("start")
    assert started.exit_code == 0, started.output
    bootstrap = started.stdout.strip()
    create_topic(bootstrap, "resumed", 2)
    stopped = run("stop", "--keep-data")
    assert stopped.exit_code == 0
    assert "data kept" in stopped.stderr
    assert run("status").exit_code == 1

    resumed = run("start")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.strip() == bootstrap
    workdir = Path(state(cli_env)["workdir"])
    names = {p.name for p in (workdir / "node-1" / "data").iterdir()}
    assert {"resumed-0", "resumed-1"} <= names

    assert run("stop", "--keep-data").exit_code == 0
    fresh = run("start", "--fresh")  # the kept data is discarded
    assert fresh.exit_code == 0, fresh.output
    names = {p.name for p in (Path(state(cli_env)["workdir"]) / "node-1" / "data").iterdir()}
    assert not any(name.startswith("resumed-") for name in names)
    assert run("stop").exit_code == 0
    assert not workdir.exists()
