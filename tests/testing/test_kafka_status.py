"""``aiomq kafka status`` with a node of a cluster down: the node is named whatever the
cluster answers (a metadata request may go to the node that is gone and fail)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiomq.testing import _cli
from aiomq.testing._cli import kafka


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIOMQ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "run" / "kafka"


@pytest.fixture
def running(workdir: Path) -> Iterator[int]:
    """A process that counts as a node of ``workdir`` (its command line names it).

    Waits for the process to say it runs: right after ``Popen`` returns, the kernel may not
    have set the new program's command line yet (``/proc/<pid>/cmdline`` reads empty).
    """
    process = subprocess.Popen(
        [sys.executable, "-c", "print(flush=True); import sys; sys.stdin.read()", str(workdir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == b"\n"
        yield process.pid
    finally:
        process.kill()
        process.wait()


def write_state(workdir: Path, pids: list[int]) -> None:
    nodes = [
        {"node_id": i + 1, "pid": pid, "port": 9092 + i, "log": str(workdir / f"node-{i + 1}")}
        for i, pid in enumerate(pids)
    ]
    state = {
        "bootstrap": ",".join(f"127.0.0.1:{n['port']}" for n in nodes),
        "version": "4.1.2",
        "workdir": str(workdir),
        "nodes": nodes,
    }
    path = workdir.parent / "kafka.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state))


def test_a_node_down_is_named_when_the_cluster_does_not_answer(
    workdir: Path, running: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unanswered(bootstrap: str, timeout: float) -> int:
        raise TimeoutError("the metadata request went to the node that is gone")

    monkeypatch.setattr(_cli, "broker_count", unanswered)
    gone = 2**22 + 1  # above the default pid_max: never a live process
    write_state(workdir, [running, gone])
    status = CliRunner().invoke(kafka, ["status"], catch_exceptions=False)
    assert status.exit_code == 1
    assert f"node 2: pid {gone} stopped" in status.stderr
    assert "node(s) 2 down: `aiomq kafka start` starts them again" in status.stderr


def test_a_node_down_is_named_when_the_others_answer(
    workdir: Path, running: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cli, "broker_count", lambda bootstrap, timeout: 2)
    write_state(workdir, [running, 2**22 + 1])
    status = CliRunner().invoke(kafka, ["status"], catch_exceptions=False)
    assert status.exit_code == 1
    assert "metadata lists 2 broker(s)" in status.stderr
    assert "node(s) 2 down" in status.stderr
