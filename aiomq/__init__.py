"""aiomq: Go's concurrency toolkit and a sarama-style Kafka client for asyncio and trio."""

from .context import CancelFunc as CancelFunc
from .context import Context as Context
from .context import after_func as after_func
from .context import background as background
from .context import with_cancel as with_cancel
from .context import with_deadline as with_deadline
from .context import with_timeout as with_timeout
from .context import with_value as with_value
from .errors import AiomqError as AiomqError
from .errors import AuthenticationError as AuthenticationError
from .errors import BrokerUnavailable as BrokerUnavailable
from .errors import Canceled as Canceled
from .errors import ChanClosed as ChanClosed
from .errors import ClosedError as ClosedError
from .errors import ConfigError as ConfigError
from .errors import DeadlineExceeded as DeadlineExceeded
from .errors import DecodeError as DecodeError
from .errors import EncodeError as EncodeError
from .errors import MessageTooLarge as MessageTooLarge
from .errors import OffsetOutOfRange as OffsetOutOfRange
from .errors import ProducerError as ProducerError
from .errors import ProducerErrors as ProducerErrors
from .errors import UnknownTopic as UnknownTopic
from .sync import WaitGroup as WaitGroup

__version__ = "0.1.0"
