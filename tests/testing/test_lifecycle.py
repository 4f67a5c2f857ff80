"""Local brokers leave nothing behind: failed starts, killed test runs, Ctrl-C, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aiomq.testing import KafkaStartError, LocalKafka
from aiomq.testing._dist import Distribution
from aiomq.testing._guard import alive

pytestmark = pytest.mark.kafka

LAUNCH = """
import sys, threading, time
from aiomq.testing import start_local_kafka

def launch():
    broker = start_local_kafka()
    print(broker.nodes[0].pid, broker.workdir, flush=True)

if sys.argv[1] == "thread":  # no PDEATHSIG from a worker thread: only the guardian is left
    worker = threading.Thread(target=launch)
    worker.start()
    worker.join()
else:
    launch()
time.sleep(600)
"""


def _eventually(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (the deadline is the point)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _launch(mode: str) -> tuple[subprocess.Popen[str], int, Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LAUNCH), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the script prints once the broker answers
    assert line, f"launcher script exited with {proc.wait()}"
    pid, workdir = line.split()
    return proc, int(pid), Path(workdir)


class TestCleanUp:
    def test_start_failure_raises_with_the_log_and_cleans_up(
        self, kafka_distribution: Distribution
    ) -> None:
        with socket.socket() as taken:  # bound, not listening: the broker's bind fails
            taken.bind(("127.0.0.1", 0))
            broker = LocalKafka(kafka_distribution, port=taken.getsockname()[1])
            with pytest.raises(KafkaStartError) as caught:
                broker.start(timeout=60)
        assert "Address already in use" in caught.value.log_tail
        assert "exited with code" in str(caught.value)
        assert not broker.workdir.exists()
        assert not broker.nodes[0].running

    def test_test_run_killed_with_sigkill_leaves_nothing(self) -> None:
        proc, pid, workdir = _launch("thread")
        assert alive(pid)
        assert workdir.is_dir()
        proc.kill()
        proc.wait()
        assert _eventually(lambda: not alive(pid) and not workdir.exists(), 30)

    def test_ctrl_c_stops_the_broker_before_exit(self) -> None:
        proc, pid, workdir = _launch("main")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) != 0  # KeyboardInterrupt, then atexit's clean stop
        assert not alive(pid)
        assert not workdir.exists()


class TestCommandLine:
    def test_start_status_stop(self, kafka_distribution: Distribution, tmp_path: Path) -> None:
        # KAFKA_HOME (the second way to a broker) pointing at the jars the session uses.
        home = tmp_path / "kafka-home"
        home.mkdir()
        (home / "libs").symlink_to(kafka_distribution.libs)
        cache = tmp_path / "cache"
        env = {**os.environ, "AIOMQ_CACHE_DIR": str(cache), "KAFKA_HOME": str(home)}

        def aiomq(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "aiomq.testing.kafka", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )

        started = aiomq("start")
        try:
            assert started.returncode == 0, started.stderr
            bootstrap = started.stdout.strip()
            assert f"KAFKA_HOME={home}" in started.stderr
            assert bootstrap.startswith("127.0.0.1:")
            status = aiomq("status")
            assert status.returncode == 0, status.stderr
            assert status.stdout.strip() == bootstrap
            assert "metadata lists 1 broker" in status.stderr
            again = aiomq("start")  # idempotent: the running broker's address
            assert again.stdout.strip() == bootstrap
        finally:
            stopped = aiomq("stop")
        assert stopped.returncode == 0, stopped.stderr
        assert not (cache / "run" / "kafka").exists()
        after = aiomq("status")
        assert after.returncode == 1
        assert "not running" in after.stderr
