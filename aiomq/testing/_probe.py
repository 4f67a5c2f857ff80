"""Synchronous questions to a broker, asked through aiokafka on a private event loop.

The launcher and the pytest fixtures are synchronous, and may be called from a thread whose
event loop is running; each call here therefore runs its coroutine with ``asyncio.run`` in a
worker thread and waits for it with a bound, so a broker that never answers cannot hang it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["broker_count", "create_topic", "delete_topic", "port_open", "run_sync"]

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """Run ``factory()`` on a fresh event loop in a worker thread; at most ``timeout`` seconds.

    Raises what the coroutine raised, or ``TimeoutError``.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    def work() -> None:
        try:
            outcome.append(asyncio.run(bounded()))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=work, name="aiomq-kafka-probe", daemon=True)
    thread.start()
    thread.join(timeout + 10.0)  # wait_for needs a moment past its bound to clean up
    if failure:
        raise failure[0]
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:.0f} s")
    return outcome[0]


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _admin(bootstrap: str, **security: Any) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security)


def broker_count(bootstrap: str, timeout: float = 15.0) -> int:
    """How many brokers a metadata request to ``bootstrap`` lists."""

    async def ask() -> int:
        admin = _admin(bootstrap)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return len(cluster["brokers"])
        finally:
            await admin.close()

    return run_sync(ask, timeout)


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    replication: int = 1,
    config: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create topic ``name`` and wait until its partitions have leaders."""
    from aiokafka.admin import NewTopic

    async def create() -> None:
        admin = _admin(bootstrap)
        try:
            await admin.start()
            topic = NewTopic(name, partitions, replication, topic_configs=config or {})
            response = await admin.create_topics([topic], timeout_ms=int(timeout * 1000))
            for topic_name, code, *rest in response.topic_errors:
                if code != 0:
                    raise RuntimeError(f"create topic {topic_name}: error {code} {rest}")
            while True:  # a topic exists once every partition has a leader in metadata
                (described,) = await admin.describe_topics([name])
                parts = described.get("partitions") or []
                if len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                    return
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    run_sync(create, timeout)


def delete_topic(bootstrap: str, name: str, timeout: float = 30.0) -> None:
    """Delete topic ``name``; ``RuntimeError`` with Kafka's error code if the broker refuses
    (the topic does not exist, say)."""

    async def delete() -> None:
        admin = _admin(bootstrap)
        try:
            await admin.start()
            response = await admin.delete_topics([name], timeout_ms=int(timeout * 1000))
            for topic_name, code, *rest in response.topic_error_codes:
                if code != 0:
                    raise RuntimeError(f"delete topic {topic_name}: error {code} {rest}")
        finally:
            await admin.close()

    run_sync(delete, timeout)
