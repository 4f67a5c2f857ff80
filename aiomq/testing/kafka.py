"""A real Kafka for tests and development: find one, or start one, and stop it cleanly.

``start_kafka()`` tries, in order, an address in ``$AIOMQ_KAFKA_BOOTSTRAP``, an unpacked
distribution in ``$KAFKA_HOME``, a Docker daemon (testcontainers), and Java 17 with Maven
(Kafka's jars fetched once into ``~/.cache/aiomq``). ``start_local_kafka(nodes=3)`` runs a
cluster of local JVMs for fault tests. There is no Go counterpart: sarama's tests run
against brokers that a Docker Compose file starts; aiomq starts its own when it can.

``python -m aiomq.testing.kafka start|stop|status|fetch`` is the same as ``aiomq kafka ...``.
"""

from __future__ import annotations

from ._broker import KafkaBroker as KafkaBroker
from ._broker import KafkaNotFound as KafkaNotFound
from ._broker import KafkaSecurity as KafkaSecurity
from ._broker import KafkaStartError as KafkaStartError
from ._cli import kafka as command
from ._dist import DEFAULT_KAFKA_VERSION as DEFAULT_KAFKA_VERSION
from ._dist import Distribution as Distribution
from ._dist import JavaNotFound as JavaNotFound
from ._dist import cache_dir as cache_dir
from ._dist import fetch_kafka_jars as fetch_kafka_jars
from ._dist import find_java as find_java
from ._docker import docker_answers as docker_answers
from ._find import local_distribution as local_distribution
from ._find import start_kafka as start_kafka
from ._find import start_local_kafka as start_local_kafka
from ._local import KafkaNode as KafkaNode
from ._local import LocalKafka as LocalKafka

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "Distribution",
    "JavaNotFound",
    "KafkaBroker",
    "KafkaNode",
    "KafkaNotFound",
    "KafkaSecurity",
    "KafkaStartError",
    "LocalKafka",
    "cache_dir",
    "command",
    "docker_answers",
    "fetch_kafka_jars",
    "find_java",
    "local_distribution",
    "main",
    "start_kafka",
    "start_local_kafka",
]


def main() -> None:
    """The ``kafka`` command group, as ``python -m aiomq.testing.kafka``."""
    command(prog_name="python -m aiomq.testing.kafka")


if __name__ == "__main__":
    main()
