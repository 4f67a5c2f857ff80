"""Finding or starting a broker, trying each way in a fixed order."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ._broker import KafkaBroker, KafkaNotFound, KafkaStartError
from ._dist import (
    Distribution,
    JavaNotFound,
    cached_jars,
    fetch_kafka_jars,
    find_java,
    from_kafka_home,
    kafka_version,
)
from ._docker import docker_answers, start_container
from ._local import LocalKafka, start_timeout
from ._probe import broker_count

__all__ = ["kafka_version", "local_distribution", "start_kafka", "start_local_kafka"]


def local_distribution(reasons: list[str] | None = None) -> Distribution:
    """Jars to run locally: ``$KAFKA_HOME``, else cached Maven jars, else a fresh fetch.

    Raises ``KafkaNotFound`` (with ``reasons`` plus its own) when neither ``KAFKA_HOME`` nor
    Maven is there, or there is no Java 17 to run the jars with, and ``KafkaStartError`` when
    a fetch fails.
    """
    reasons = list(reasons or [])
    home = os.environ.get("KAFKA_HOME")
    if home:
        try:
            distribution = from_kafka_home(Path(home))
        except ValueError as exc:
            raise KafkaNotFound([*reasons, str(exc)]) from exc
        try:
            find_java()  # the jars need a Java 17 all the same
        except JavaNotFound as exc:
            raise KafkaNotFound([*reasons, f"KAFKA_HOME={home} is set, but {exc}"]) from exc
        return distribution
    version = kafka_version()
    cached = cached_jars(version)
    try:
        find_java()
        if cached is not None:
            return cached
        if shutil.which("mvn") is None:
            raise JavaNotFound(
                f"mvn (Maven) is not on PATH, and Kafka {version}'s jars are not cached"
            )
        return fetch_kafka_jars(version)
    except JavaNotFound as exc:
        raise KafkaNotFound([*reasons, "KAFKA_HOME is not set", str(exc)]) from exc
    except (RuntimeError, OSError) as exc:
        raise KafkaStartError(f"fetching Kafka {version}'s jars with Maven failed: {exc}") from exc


def start_local_kafka(
    nodes: int = 1, *, security: bool = False, timeout: float | None = None
) -> LocalKafka:
    """Start ``nodes`` local Kafka JVMs (``KAFKA_HOME`` or Maven jars) and wait until ready."""
    return LocalKafka(local_distribution(), nodes, security=security).start(timeout)


def _wait_for_address(address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            broker_count(address, timeout=10.0)
            return
        except Exception as exc:  # the broker may still be starting (compose up -d)
            if time.monotonic() >= deadline:
                raise KafkaStartError(
                    f"AIOMQ_KAFKA_BOOTSTRAP={address} did not answer a metadata request "
                    f"within {timeout:.0f} s: {exc!r}"
                ) from exc
        time.sleep(0.5)


def start_kafka(*, security: bool = False, timeout: float | None = None) -> KafkaBroker:
    """Find or start one broker, trying in order:

    1. ``$AIOMQ_KAFKA_BOOTSTRAP``: that address, once it answers; nothing is started.
    2. ``$KAFKA_HOME``: the distribution's jars, run as a local JVM.
    3. A Docker daemon that answers (unless ``AIOMQ_KAFKA_DOCKER=0``), with testcontainers.
    4. Java 17 and Maven: Kafka's jars fetched once into the cache, run as a local JVM.

    ``security=True`` adds the secured listeners where aiomq launches the JVM itself (2 and
    4; see ``KafkaBroker.security``). Raises ``KafkaNotFound`` listing why each way was not
    usable, or ``KafkaStartError`` when the chosen way failed. Never waits without a bound.
    """
    timeout = start_timeout() if timeout is None else timeout
    address = os.environ.get("AIOMQ_KAFKA_BOOTSTRAP")
    if address:
        _wait_for_address(address, timeout)
        return KafkaBroker(address, origin="AIOMQ_KAFKA_BOOTSTRAP")
    reasons = ["AIOMQ_KAFKA_BOOTSTRAP is not set"]
    if os.environ.get("KAFKA_HOME"):
        return start_local_kafka(security=security, timeout=timeout)
    if os.environ.get("AIOMQ_KAFKA_DOCKER", "1") == "0":
        reasons.append("Docker is not tried (AIOMQ_KAFKA_DOCKER=0)")
    elif (endpoint := docker_answers()) is None:
        reasons.append("no Docker daemon answered GET /_ping (DOCKER_HOST or /var/run/docker.sock)")
    else:
        try:
            return start_container(timeout)
        except ImportError:
            reasons.append(
                f"Docker answers at {endpoint}, but testcontainers is not installed "
                "(pip install 'testcontainers[kafka]')"
            )
    return LocalKafka(local_distribution(reasons), security=security).start(timeout)
