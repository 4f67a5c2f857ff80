"""A broker in a Docker container, through testcontainers (an optional dependency).

Docker is detected by asking a daemon (``GET /_ping`` on its socket), not by finding the
``docker`` command: a client without a reachable daemon is common and useless here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ._broker import KafkaBroker, KafkaStartError

__all__ = ["DEFAULT_IMAGE", "docker_answers", "start_container"]

# testcontainers' KafkaContainer drives Confluent's images (its KRaft set-up edits their
# start scripts); cp-kafka 7.9 is Apache Kafka 3.9.
DEFAULT_IMAGE = "confluentinc/cp-kafka:7.9.0"


def _endpoints() -> list[str]:
    host = os.environ.get("DOCKER_HOST")
    if host:
        return [host]
    candidates = [Path("/var/run/docker.sock")]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        candidates.append(Path(runtime) / "docker.sock")
    candidates.append(Path.home() / ".docker" / "run" / "docker.sock")
    return [f"unix://{path}" for path in candidates if path.exists()]


def _ping(endpoint: str, timeout: float) -> bool:
    url = urlparse(endpoint)
    try:
        if url.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        elif url.scheme in ("tcp", "http") and url.hostname:
            sock = socket.create_connection((url.hostname, url.port or 2375), timeout=timeout)
        else:
            return False  # ssh:// and TLS endpoints: leave those to a bootstrap address
        with sock:  # closed however the exchange ends, a failed connect included
            if url.scheme == "unix":
                sock.settimeout(timeout)
                sock.connect(url.path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def docker_answers(timeout: float = 2.0) -> str | None:
    """The endpoint of a Docker daemon that answers ``/_ping``, or None."""
    for endpoint in _endpoints():
        if _ping(endpoint, timeout):
            return endpoint
    return None


def start_container(timeout: float) -> KafkaBroker:
    """Start a single-node KRaft broker container; ``ImportError`` without testcontainers."""
    from testcontainers.kafka import KafkaContainer

    image = os.environ.get("AIOMQ_KAFKA_IMAGE") or DEFAULT_IMAGE
    container = KafkaContainer(image).with_kraft()
    try:
        container.start(timeout=int(timeout))
        bootstrap = str(container.get_bootstrap_server())
    except Exception as exc:
        try:
            logs = b"".join(container.get_logs()).decode("utf-8", "replace")
        except Exception:
            logs = ""
        container.stop()
        raise KafkaStartError(
            f"Kafka container {image} did not start: {exc!r}", logs[-4000:]
        ) from exc
    return KafkaBroker(bootstrap, origin=f"Docker container {image}", _on_stop=container.stop)
