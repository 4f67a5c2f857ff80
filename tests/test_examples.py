"""Every example runs to completion on its own (they are documentation that must not rot).

Concurrency examples run on asyncio and trio; messaging examples on ``memory://`` and, marked
``kafka``, against the session's broker (``--brokers``). Each runs in a fresh interpreter, as
a reader would run it, and must exit 0 within its time bound.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONCURRENCY = sorted(
    p.name for p in EXAMPLES.glob("*.py") if "--backend" in p.read_text(encoding="utf-8")
)
MESSAGING = {
    "sync_producer.py": ["--count", "3"],
    "async_producer.py": ["--count", "3", "--interval", "0"],
    "consumer.py": ["--count", "3"],
    "consumer_group.py": ["--count", "3", "--produce", "3"],
}


def run(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example), *args],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("example", CONCURRENCY)
def test_concurrency_example_runs(example: str, backend: str) -> None:
    done = run(example, "--backend", backend)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Traceback" not in done.stderr


def test_every_example_is_run_here() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == {*CONCURRENCY, *MESSAGING}


@pytest.mark.parametrize("example", sorted(MESSAGING))
def test_messaging_example_runs_on_memory(example: str) -> None:
    done = run(example, *MESSAGING[example])
    assert done.returncode == 0, done.stderr
    assert "offset" in done.stdout


@pytest.mark.kafka
@pytest.mark.parametrize("example", sorted(MESSAGING))
def test_messaging_example_runs_on_kafka(example: str, request: pytest.FixtureRequest) -> None:
    from tests.backends.common import kafka_bootstrap

    done = run(example, "--brokers", kafka_bootstrap(request), *MESSAGING[example])
    assert done.returncode == 0, done.stderr
    assert "offset" in done.stdout
