"""What the benchmark scripts share: interleaved paired runs, and the table they print.

Not a benchmark itself; the scripts import it as ``_common`` (Python puts the script's own
folder first on ``sys.path``).

The machine these run on is shared with other processes, so a best-of-N figure says more
about the quietest moment than about the code. Each row is instead measured in rounds: in
every round aiomq's side and the baseline run back to back (which goes first alternates), so
the two runs of a pair see about the same load, and the ratio of that pair is one sample. A
row reports the median rate of each side and the median, minimum and maximum of the paired
ratios over the rounds.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Pair", "Row", "header", "print_table", "run_rows", "timed"]


def timed(run: Callable[[], object]) -> float:
    """Seconds ``run()`` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclass
class Pair:
    """Rates measured for one row: ``ours[i]`` and ``theirs[i]`` ran back to back."""

    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [o / t for o, t in zip(self.ours, self.theirs, strict=True)]

    def summary(self) -> tuple[float, float, float, float, float]:
        """Median of ours, median of theirs, and median, min, max of the paired ratios."""
        ratios = self.ratios
        return (
            statistics.median(self.ours),
            statistics.median(self.theirs),
            statistics.median(ratios),
            min(ratios),
            max(ratios),
        )


@dataclass
class Row:
    """One comparison: ``ours()`` and ``theirs()`` each do ``ops`` operations per call."""

    backend: str
    name: str
    ours: Callable[[], object]
    base_name: str
    theirs: Callable[[], object]
    ops: int
    pair: Pair = field(default_factory=Pair)

    def measure_once(self, baseline_first: bool) -> None:
        sides = [(self.theirs, self.pair.theirs), (self.ours, self.pair.ours)]
        if not baseline_first:
            sides.reverse()
        for run, rates in sides:
            rates.append(self.ops / timed(run))


def header(title: str, rounds: int) -> None:
    """Print what was measured, when, on which commit and how busy the machine was.

    ``AIOMQ_BENCH_COMMIT`` names the commit when the scripts run from an exported tree
    (``git archive``) rather than a checkout.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    commit = os.environ.get("AIOMQ_BENCH_COMMIT", commit)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(title)
    print(
        f"{datetime.date.today().isoformat()}, commit {commit}, "
        f"CPython {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"
    )
    print(
        f"{rounds} interleaved rounds per row: median rate of each side, and the median "
        "[min-max] of the ratio of each back-to-back pair"
    )


def run_rows(rows: Sequence[Row], rounds: int, *, unit: str, warmup: bool = True) -> None:
    """Measure every row ``rounds`` times, round by round, and print the table."""
    if warmup:
        for row in rows:
            row.ours()
            row.theirs()
    for i in range(rounds):
        for row in rows:
            row.measure_once(baseline_first=i % 2 == 0)
    print_table([(r.backend, r.name, r.base_name, r.pair) for r in rows], unit=unit)


def print_table(entries: Sequence[tuple[str, str, str, Pair]], *, unit: str) -> None:
    """One line per ``(backend, aiomq's side, baseline, pair)``, then the load average."""
    name_w = max(len(name) for _, name, _, _ in entries)
    base_w = max(len(base) for _, _, base, _ in entries)
    print(
        f"{'backend':8} {'aiomq':{name_w}} {unit:>12}  {'baseline':{base_w}} {unit:>12}  "
        "ratio [min-max]"
    )
    for backend, name, base, pair in entries:
        ours, theirs, ratio, low, high = pair.summary()
        print(
            f"{backend:8} {name:{name_w}} {ours:12,.0f}  "
            f"{base:{base_w}} {theirs:12,.0f}  {ratio:5.2f}x [{low:.2f}-{high:.2f}]"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
