"""Test support for aiomq users: a pytest plugin and a Kafka launcher.

The plugin (``aiomq.testing.plugin``, loaded through the ``pytest11`` entry point) provides
the ``aiomq_*`` fixtures; the launcher finds or starts a broker (see ``aiomq.testing.kafka``
and docs/testing.md). Importing this package starts nothing and imports neither aiokafka
nor testcontainers.
"""

from ._broker import KafkaBroker as KafkaBroker
from ._broker import KafkaNotFound as KafkaNotFound
from ._broker import KafkaSecurity as KafkaSecurity
from ._broker import KafkaStartError as KafkaStartError
from ._find import start_kafka as start_kafka
from ._find import start_local_kafka as start_local_kafka
from ._local import KafkaNode as KafkaNode
from ._local import LocalKafka as LocalKafka

__all__ = [
    "KafkaBroker",
    "KafkaNode",
    "KafkaNotFound",
    "KafkaSecurity",
    "KafkaStartError",
    "LocalKafka",
    "start_kafka",
    "start_local_kafka",
]
