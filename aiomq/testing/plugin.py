"""aiomq's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures, all synchronous (they manage processes, not clients):

- ``aiomq_kafka`` (session): a broker found or started by ``start_kafka``; ``.bootstrap``.
- ``aiomq_kafka_security`` (session): that broker's ``KafkaSecurity`` (SASL and TLS
  listeners), present when aiomq launched the broker itself.
- ``aiomq_kafka_cluster`` (session): three local nodes (``LocalKafka``) for fault tests.
- ``aiomq_kafka_topic`` (function): a new, uniquely named topic on ``aiomq_kafka``; one
  partition, or ``n`` through ``@pytest.mark.parametrize("aiomq_kafka_topic", [n],
  indirect=True)``.

A test that uses one of them is marked ``kafka`` (and ``cluster`` for the cluster), so
``-m "not kafka"`` deselects it and no broker starts; a broker starts at the first selected
test that needs it, and stops at the end of the session. When none can be had, the tests
skip with the reason, except under ``CI=true``, where they fail with it: CI must not pass
by skipping its Kafka tests.
"""

from __future__ import annotations

import importlib.util
import os
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from ._broker import KafkaBroker, KafkaSecurity
    from ._local import LocalKafka

_KAFKA_FIXTURES = frozenset({"aiomq_kafka", "aiomq_kafka_security", "aiomq_kafka_topic"})
_CLUSTER_FIXTURES = frozenset({"aiomq_kafka_cluster"})


def in_ci() -> bool:
    """Whether ``$CI`` says this is a CI run (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; under CI, fail it instead."""
    if in_ci():
        pytest.fail(f"{reason}\n(CI is set: Kafka tests fail rather than skip)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    # Declared here too, for projects that use the fixtures without aiomq's pyproject.
    config.addinivalue_line("markers", "kafka: needs a real Kafka broker (aiomq.testing)")
    config.addinivalue_line("markers", "cluster: needs the three-node Kafka cluster")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the markers must be on the items before `-m` deselects by them.
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & (_KAFKA_FIXTURES | _CLUSTER_FIXTURES) and not item.get_closest_marker("kafka"):
            item.add_marker(pytest.mark.kafka)
        if names & _CLUSTER_FIXTURES and not item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def aiomq_kafka() -> Iterator[KafkaBroker]:
    """The session's broker: started on first use, stopped when the session ends."""
    from ._broker import KafkaNotFound
    from ._find import start_kafka

    # The secured listeners need certificates, made with `cryptography` (aiomq[testing]).
    security = importlib.util.find_spec("cryptography") is not None
    try:
        broker = start_kafka(security=security)
    except KafkaNotFound as exc:
        unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def aiomq_kafka_security(aiomq_kafka: KafkaBroker) -> KafkaSecurity:
    """The session broker's SASL/TLS listeners and credentials."""
    if aiomq_kafka.security is None:
        unavailable(
            f"the broker from {aiomq_kafka.origin} has no SASL/TLS listeners: only brokers "
            "that aiomq launches itself (KAFKA_HOME, or Java 17 + Maven) have them"
        )
    return aiomq_kafka.security


@pytest.fixture(scope="session")
def aiomq_kafka_cluster() -> Iterator[LocalKafka]:
    """Three local Kafka nodes (RF 3, min ISR 2) whose nodes tests may kill and restart."""
    from ._broker import KafkaNotFound
    from ._find import start_local_kafka

    try:
        cluster = start_local_kafka(nodes=3)
    except KafkaNotFound as exc:
        unavailable(f"the three-node cluster runs local JVMs only:\n{exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def aiomq_kafka_topic(aiomq_kafka: KafkaBroker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A topic created for this test alone (unique name), deleted afterwards."""
    from ._probe import create_topic, delete_topic

    partitions = int(getattr(request, "param", 1))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60].strip("-.")
    name = f"aiomq-{stem}-{uuid.uuid4().hex[:8]}"
    create_topic(aiomq_kafka.bootstrap, name, partitions)
    yield name
    try:
        delete_topic(aiomq_kafka.bootstrap, name)
    except Exception as exc:  # the test's result stands; a leftover topic is harmless
        request.node.warn(pytest.PytestWarning(f"could not delete topic {name}: {exc!r}"))
