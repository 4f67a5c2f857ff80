"""Fixtures for testing the launcher itself (the ``aiomq_*`` ones come from the plugin)."""

from __future__ import annotations

import pytest

from aiomq.testing._dist import Distribution
from aiomq.testing.plugin import unavailable

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def kafka_distribution() -> Distribution:
    """Jars to run local JVMs with (the same search as the cluster fixture's)."""
    from aiomq.testing import KafkaNotFound
    from aiomq.testing.kafka import local_distribution

    try:
        return local_distribution()
    except KafkaNotFound as exc:
        unavailable(str(exc))
