"""aiomq: Go's concurrency toolkit and a sarama-style Kafka client for asyncio and trio."""

from .admin import Admin as Admin
from .admin import PartitionInfo as PartitionInfo
from .admin import TopicInfo as TopicInfo
from .chan import Chan as Chan
from .chan import RecvCase as RecvCase
from .chan import SendCase as SendCase
from .chan import WouldBlock as WouldBlock
from .chan import recv as recv
from .chan import recv_ok as recv_ok
from .chan import select as select
from .chan import send as send
from .client import Client as Client
from .client import connect as connect
from .codecs import Codec as Codec
from .codecs import codec as codec
from .config import Acks as Acks
from .config import Compression as Compression
from .config import Config as Config
from .config import ConsumerConfig as ConsumerConfig
from .config import FetchConfig as FetchConfig
from .config import GroupConfig as GroupConfig
from .config import NetConfig as NetConfig
from .config import Offset as Offset
from .config import OffsetsConfig as OffsetsConfig
from .config import ProducerConfig as ProducerConfig
from .config import RebalanceStrategy as RebalanceStrategy
from .config import SaslConfig as SaslConfig
from .config import SaslMechanism as SaslMechanism
from .config import TlsConfig as TlsConfig
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
from .errors import TopicExists as TopicExists
from .errors import UnknownTopic as UnknownTopic
from .message import Headers as Headers
from .message import Message as Message
from .message import ProducerMessage as ProducerMessage
from .message import RecordMetadata as RecordMetadata
from .message import validate_topic as validate_topic
from .partitioner import HashPartitioner as HashPartitioner
from .partitioner import ManualPartitioner as ManualPartitioner
from .partitioner import Partitioner as Partitioner
from .partitioner import RandomPartitioner as RandomPartitioner
from .partitioner import RoundRobinPartitioner as RoundRobinPartitioner
from .semaphore import Weighted as Weighted
from .semaphore import WeightedStats as WeightedStats
from .singleflight import Result as Result
from .singleflight import SingleFlight as SingleFlight
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

__version__ = "0.1.0"

__all__ = [
    "Acks",
    "Admin",
    "AiomqError",
    "AuthenticationError",
    "BrokerUnavailable",
    "CancelFunc",
    "Canceled",
    "Chan",
    "ChanClosed",
    "Client",
    "ClosedError",
    "Codec",
    "Compression",
    "Cond",
    "CondStats",
    "Config",
    "ConfigError",
    "ConsumerConfig",
    "Context",
    "DeadlineExceeded",
    "DecodeError",
    "EncodeError",
    "ErrGroup",
    "FetchConfig",
    "GroupConfig",
    "HashPartitioner",
    "Headers",
    "Locker",
    "ManualPartitioner",
    "Message",
    "MessageTooLarge",
    "Mutex",
    "MutexStats",
    "NetConfig",
    "Offset",
    "OffsetOutOfRange",
    "OffsetsConfig",
    "Once",
    "PartitionInfo",
    "Partitioner",
    "ProducerConfig",
    "ProducerError",
    "ProducerErrors",
    "ProducerMessage",
    "RWMutex",
    "RWMutexStats",
    "RandomPartitioner",
    "RebalanceStrategy",
    "RecordMetadata",
    "RecvCase",
    "Result",
    "RoundRobinPartitioner",
    "SaslConfig",
    "SaslMechanism",
    "SendCase",
    "SingleFlight",
    "TlsConfig",
    "TopicExists",
    "TopicInfo",
    "UnknownTopic",
    "WaitGroup",
    "Weighted",
    "WeightedStats",
    "WouldBlock",
    "after_func",
    "background",
    "codec",
    "connect",
    "once_func",
    "once_value",
    "recv",
    "recv_ok",
    "select",
    "send",
    "validate_topic",
    "with_cancel",
    "with_deadline",
    "with_timeout",
    "with_value",
]
