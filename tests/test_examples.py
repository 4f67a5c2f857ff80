"""Every example runs to completion on its own (they are documentation that must not rot).

Concurrency examples run on asyncio and trio. Each runs in a fresh interpreter, as a reader
would run it, and must exit 0 within its time bound.
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


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("example", CONCURRENCY)
def test_concurrency_example_runs(example: str, backend: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Traceback" not in done.stderr
