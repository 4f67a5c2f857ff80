"""``aiomq demo``, the README's first command: it tells the seed's story and ends by itself.

It is run from a fresh clone of the repository (what CI checks out), from a directory outside
it, so that it reads no file of the source tree; on memory:// and, marked kafka, on the
session broker. ``--forever`` stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SECTIONS = ["== sync producer", "== async producer", "== consumer:", "== consumer group"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the committed tree."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    target = tmp_path_factory.mktemp("clone") / "aiomq"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(target)],
        check=True,
        timeout=60,
    )
    return target


def demo(*args: str) -> list[str]:
    return [sys.executable, "-c", "from aiomq.cli import main; main()", "demo", *args]


def environment(clone: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(clone)}


def run_demo(clone: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    began = time.monotonic()
    done = subprocess.run(
        demo(*args),
        cwd=cwd,
        env=environment(clone),
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - began < 30, "the demo should take seconds, not half a minute"
    return done


def test_the_demo_tells_the_story_on_memory(clone: Path, tmp_path: Path) -> None:
    done = run_demo(clone, tmp_path)
    out = done.stdout
    for section in SECTIONS:
        assert section in out, out
    assert out.count("  sent: partition") == 4
    assert out.count("  delivered ") >= 8
    assert out.count("  partition ") == 8  # the consumer read what both producers sent
    assert out.count("  group got partition") == 4
    assert "[rebalance ok]" in out
    assert out.rstrip().endswith("done")
    assert str(ROOT) not in done.stderr


@pytest.mark.kafka
def test_the_demo_runs_on_kafka(
    clone: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.backends.common import kafka_bootstrap

    done = run_demo(clone, tmp_path, "--brokers", kafka_bootstrap(request))
    for section in SECTIONS:
        assert section in done.stdout
    assert done.stdout.rstrip().endswith("done")


def test_forever_stops_cleanly_on_ctrl_c(clone: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        demo("--forever"),
        cwd=tmp_path,
        env=environment(clone),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        got = 0
        for text in process.stdout:  # the group reads what the producer sends every second
            if "group got" in text:
                got += 1
                if got == 2:
                    break
            assert time.monotonic() < deadline
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
