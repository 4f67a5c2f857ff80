"""Go's concurrency toolkit for coroutines, on asyncio and trio: ``context``, ``errgroup``,
``sync``, ``semaphore.Weighted``, ``singleflight`` and channels with ``select``.

This package imports nothing from the rest of aiomq; the messaging layers are built on it.
Every public name is importable from here and, except the ``select`` case constructors
(``recv_case``, ``recv_ok_case``, ``send_case``), from ``aiomq`` too. docs/concurrency.md maps
Go to aiomq, primitive by primitive, and lists where the two differ.
"""

from .chan import Chan as Chan
from .chan import RecvCase as RecvCase
from .chan import SendCase as SendCase
from .chan import WouldBlock as WouldBlock
from .chan import recv_case as recv_case
from .chan import recv_ok_case as recv_ok_case
from .chan import select as select
from .chan import send_case as send_case
from .context import CancelFunc as CancelFunc
from .context import Context as Context
from .context import after_func as after_func
from .context import background as background
from .context import with_cancel as with_cancel
from .context import with_deadline as with_deadline
from .context import with_timeout as with_timeout
from .context import with_value as with_value
from .errgroup import ErrGroup as ErrGroup
from .errors import AiomqError as AiomqError
from .errors import Canceled as Canceled
from .errors import ChanClosed as ChanClosed
from .errors import DeadlineExceeded as DeadlineExceeded
from .semaphore import Weighted as Weighted
from .semaphore import WeightedStats as WeightedStats
from .singleflight import SingleFlight as SingleFlight
from .singleflight import SingleFlightResult as SingleFlightResult
from .sync import Cond as Cond
from .sync import CondStats as CondStats
from .sync import Locker as Locker
from .sync import Mutex as Mutex
from .sync import MutexStats as MutexStats
from .sync import Once as Once
from .sync import RWMutex as RWMutex
from .sync import RWMutexStats as RWMutexStats
from .sync import WaitGroup as WaitGroup
from .sync import once_func as once_func
from .sync import once_value as once_value

__all__ = [
    "AiomqError",
    "CancelFunc",
    "Canceled",
    "Chan",
    "ChanClosed",
    "Cond",
    "CondStats",
    "Context",
    "DeadlineExceeded",
    "ErrGroup",
    "Locker",
    "Mutex",
    "MutexStats",
    "Once",
    "RWMutex",
    "RWMutexStats",
    "RecvCase",
    "SendCase",
    "SingleFlight",
    "SingleFlightResult",
    "WaitGroup",
    "Weighted",
    "WeightedStats",
    "WouldBlock",
    "after_func",
    "background",
    "once_func",
    "once_value",
    "recv_case",
    "recv_ok_case",
    "select",
    "send_case",
    "with_cancel",
    "with_deadline",
    "with_timeout",
    "with_value",
]
