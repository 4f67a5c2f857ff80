"""Consumers: read partitions of topics, one task per partition, whole batches at a time.

``Consumer`` (sarama's ``Consumer``, made by ``client.consumer()``) opens a
``PartitionConsumer`` per partition or a ``TopicStream`` over a whole topic. Under each of
them, and under the consumer group's partitions too, runs ``_fetcher.PartitionFetcher``:
one partition's fetch loop, which decodes each fetch once and hands it on whole.
"""

from ._consumer import Consumer as Consumer
from ._partition import PartitionConsumer as PartitionConsumer
from ._stream import TopicStream as TopicStream

__all__ = ["Consumer", "PartitionConsumer", "TopicStream"]
