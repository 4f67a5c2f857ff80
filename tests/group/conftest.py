"""Group tests are pure (no broker); those marked ``kafka`` compare with Kafka's Java client."""

from __future__ import annotations

from tests.java import java, kafka_libs  # noqa: F401  (the Java reference fixtures)
