"""Consumer groups: ``ConsumerGroup`` (consume as a member of a group, offsets committed from
``mark_offset``), the membership it runs on (the classic protocol's state machine and the task
that drives it) and the partition assignors a classic group's leader runs."""

from __future__ import annotations

from ._consumer_group import ConsumerGroup as ConsumerGroup
from ._consumer_group import Notification as Notification
from ._consumer_group import NotificationType as NotificationType
from .assignors import Assignor as Assignor
from .assignors import CooperativeStickyAssignor as CooperativeStickyAssignor
from .assignors import RangeAssignor as RangeAssignor
from .assignors import RoundRobinAssignor as RoundRobinAssignor
from .assignors import assignor_from as assignor_from

__all__ = [
    "Assignor",
    "ConsumerGroup",
    "CooperativeStickyAssignor",
    "Notification",
    "NotificationType",
    "RangeAssignor",
    "RoundRobinAssignor",
    "assignor_from",
]
