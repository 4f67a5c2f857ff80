"""Consumer groups: the partition assignors a classic group's leader runs."""

from __future__ import annotations

from .assignors import Assignor as Assignor
from .assignors import CooperativeStickyAssignor as CooperativeStickyAssignor
from .assignors import RangeAssignor as RangeAssignor
from .assignors import RoundRobinAssignor as RoundRobinAssignor
from .assignors import assignor_from as assignor_from

__all__ = [
    "Assignor",
    "CooperativeStickyAssignor",
    "RangeAssignor",
    "RoundRobinAssignor",
    "assignor_from",
]
