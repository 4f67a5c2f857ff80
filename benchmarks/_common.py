"""What the benchmark scripts share: best-of-N rates and the aiomq-against-baseline table.

Not a benchmark itself; the scripts import it as ``_common`` (Python puts the script's own
folder first on ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

B = TypeVar("B")


def best_rate(run: Callable[[], object], n: int, repeat: int) -> float:
    """Operations per second of ``run`` (which does ``n`` of them), best of ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = max(best, n / (time.perf_counter() - start))
    return best


def compare(
    rows: Sequence[tuple[str, str, B, str, B]],
    rate: Callable[[str, B], float],
    *,
    header: str,
    unit: str,
    name_width: int,
    base_width: int,
    rate_width: int,
) -> None:
    """Print one line per ``(backend, name, bench, baseline name, baseline)`` row: the rate
    ``rate(backend, bench)`` of each side and the ratio of aiomq's to the baseline's."""
    print(
        f"{'backend':8} {header:{name_width}} {unit:>{rate_width}}  "
        f"{'baseline':{base_width}} {unit:>{rate_width}}  ratio"
    )
    for backend, name, bench, base_name, base in rows:
        ours = rate(backend, bench)
        theirs = rate(backend, base)
        print(
            f"{backend:8} {name:{name_width}} {ours:{rate_width},.0f}  "
            f"{base_name:{base_width}} {theirs:{rate_width},.0f}  {ours / theirs:5.2f}x"
        )
