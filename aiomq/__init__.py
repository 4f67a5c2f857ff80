"""aiomq: Go's concurrency toolkit and a sarama-style Kafka client, rethought for coroutines.

The concurrency toolkit (``aiomq.concurrency``) runs on asyncio and trio; messaging (``connect``
and what a client makes) runs on asyncio.
"""

from .admin import Admin as Admin
from .admin import PartitionInfo as PartitionInfo
from .admin import TopicInfo as TopicInfo
from .client import Client as Client
from .client import connect as connect
from .codecs import Codec as Codec
from .codecs import codec as codec
from .concurrency import CancelFunc as CancelFunc
from .concurrency import Chan as Chan
from .concurrency import Cond as Cond
from .concurrency import CondStats as CondStats
from .concurrency import Context as Context
from .concurrency import ErrGroup as ErrGroup
from .concurrency import Locker as Locker
from .concurrency import Mutex as Mutex
from .concurrency import MutexStats as MutexStats
from .concurrency import Once as Once
from .concurrency import RWMutex as RWMutex
from .concurrency import RWMutexStats as RWMutexStats
from .concurrency import SingleFlight as SingleFlight
from .concurrency import SingleFlightResult as SingleFlightResult
from .concurrency import WaitGroup as WaitGroup
from .concurrency import Weighted as Weighted
from .concurrency import WeightedStats as WeightedStats
from .concurrency import WouldBlock as WouldBlock
from .concurrency import after_func as after_func
from .concurrency import background as background
from .concurrency import once_func as once_func
from .concurrency import once_value as once_value
from .concurrency import select as select
from .concurrency import with_cancel as with_cancel
from .concurrency import with_deadline as with_deadline
from .concurrency import with_timeout as with_timeout
from .concurrency import with_value as with_value
from .config import Acks as Acks
from .config import Compression as Compression
from .config import Config as Config
from .config import ConsumerConfig as ConsumerConfig
from .config import FetchConfig as FetchConfig
from .config import GroupConfig as GroupConfig
from .config import GroupProtocol as GroupProtocol
from .config import Isolation as Isolation
from .config import NetConfig as NetConfig
from .config import Offset as Offset
from .config import OffsetAt as OffsetAt
from .config import OffsetsConfig as OffsetsConfig
from .config import ProducerConfig as ProducerConfig
from .config import RebalanceStrategy as RebalanceStrategy
from .config import SaslConfig as SaslConfig
from .config import SaslMechanism as SaslMechanism
from .config import TlsConfig as TlsConfig
from .consumer import Consumer as Consumer
from .consumer import PartitionConsumer as PartitionConsumer
from .consumer import TopicStream as TopicStream
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
from .errors import FencedInstanceId as FencedInstanceId
from .errors import GroupError as GroupError
from .errors import GroupNotEmpty as GroupNotEmpty
from .errors import InconsistentGroupProtocol as InconsistentGroupProtocol
from .errors import MemberIdRequired as MemberIdRequired
from .errors import MessageTooLarge as MessageTooLarge
from .errors import OffsetOutOfRange as OffsetOutOfRange
from .errors import ProducerError as ProducerError
from .errors import ProducerErrors as ProducerErrors
from .errors import ProducerFenced as ProducerFenced
from .errors import RebalanceInProgress as RebalanceInProgress
from .errors import StaleMember as StaleMember
from .errors import TopicExists as TopicExists
from .errors import TransactionError as TransactionError
from .errors import UnknownTopic as UnknownTopic
from .group import ConsumerGroup as ConsumerGroup
from .group import Notification as Notification
from .group import NotificationType as NotificationType
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
from .producer import AsyncProducer as AsyncProducer
from .producer import SyncProducer as SyncProducer

__version__ = "0.1.0"

__all__ = [
    "Acks",
    "Admin",
    "AiomqError",
    "AsyncProducer",
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
    "Consumer",
    "ConsumerConfig",
    "ConsumerGroup",
    "Context",
    "DeadlineExceeded",
    "DecodeError",
    "EncodeError",
    "ErrGroup",
    "FencedInstanceId",
    "FetchConfig",
    "GroupConfig",
    "GroupError",
    "GroupNotEmpty",
    "GroupProtocol",
    "HashPartitioner",
    "Headers",
    "InconsistentGroupProtocol",
    "Isolation",
    "Locker",
    "ManualPartitioner",
    "MemberIdRequired",
    "Message",
    "MessageTooLarge",
    "Mutex",
    "MutexStats",
    "NetConfig",
    "Notification",
    "NotificationType",
    "Offset",
    "OffsetAt",
    "OffsetOutOfRange",
    "OffsetsConfig",
    "Once",
    "PartitionConsumer",
    "PartitionInfo",
    "Partitioner",
    "ProducerConfig",
    "ProducerError",
    "ProducerErrors",
    "ProducerFenced",
    "ProducerMessage",
    "RWMutex",
    "RWMutexStats",
    "RandomPartitioner",
    "RebalanceInProgress",
    "RebalanceStrategy",
    "RecordMetadata",
    "RoundRobinPartitioner",
    "SaslConfig",
    "SaslMechanism",
    "SingleFlight",
    "SingleFlightResult",
    "StaleMember",
    "SyncProducer",
    "TlsConfig",
    "TopicExists",
    "TopicInfo",
    "TopicStream",
    "TransactionError",
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
    "select",
    "validate_topic",
    "with_cancel",
    "with_deadline",
    "with_timeout",
    "with_value",
]
