"""Every concurrency test fails by name after ``BOUND`` seconds instead of hanging the run.

A lost wake-up or a deadlock in a primitive shows up as a test that waits forever; the
``fail_after`` marker (tests/conftest.py) cancels it and fails it, pointing at the await
that never returned. A test or class may set its own ``fail_after`` marker instead.
Synchronous tests (the hypothesis properties) bound each example with ``bounded``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.concurrency._helpers import BOUND

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(_HERE) and item.get_closest_marker("fail_after") is None:
            item.add_marker(pytest.mark.fail_after(BOUND))
