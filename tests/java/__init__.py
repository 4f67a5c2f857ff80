"""Kafka's own Java client as the reference in tests: small programs in this folder, compiled
once per session against the broker's jars (kafka-clients of the same version).

``java`` (a session fixture; import it into a conftest.py) compiles them and runs them:
``java.run("Produce", bootstrap, topic, "10", "lz4")`` waits for the program and returns its
output; ``java.start(...)`` returns a running process for long-lived members. Tests that use
it start a JVM each: keep them few (they are marked ``kafka``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiomq.testing._dist import find_java

SOURCES = Path(__file__).resolve().parent

__all__ = ["Java", "java"]


@dataclass(frozen=True)
class Java:
    """Runs the compiled reference programs (see the module docstring)."""

    java: Path
    classpath: str

    def argv(self, main: str, *args: str) -> list[str]:
        return [
            str(self.java),
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def run(self, main: str, *args: str, timeout: float = 60) -> str:
        """Run ``main`` to its end; its stdout. A non-zero exit fails the test with stderr."""
        done = subprocess.run(
            self.argv(main, *args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"java {main} {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done.stdout

    def start(self, main: str, *args: str) -> subprocess.Popen[str]:
        """Start ``main``; the caller reads its stdout and stops it."""
        return subprocess.Popen(
            self.argv(main, *args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )


@pytest.fixture(scope="session")
def java(kafka_libs: Path, tmp_path_factory: pytest.TempPathFactory) -> Java:
    """The reference programs, compiled once for the session."""
    javac = find_java().with_name("javac")
    if not javac.exists():
        found = shutil.which("javac")
        if found is None:
            pytest.fail("no javac: the Java reference tests need a JDK 17 (openjdk-17-jdk)")
        javac = Path(found)
    classes = tmp_path_factory.mktemp("java-classes")
    classpath = f"{kafka_libs}/*"
    sources = sorted(str(p) for p in SOURCES.glob("*.java"))
    done = subprocess.run(
        [str(javac), "-nowarn", "-d", str(classes), "-cp", classpath, *sources],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"javac failed:\n{done.stderr}")
    return Java(find_java(), f"{classes}:{classpath}")


@pytest.fixture(scope="session")
def kafka_libs() -> Path:
    """The jars of the Kafka the tests run (kafka-clients among them)."""
    from aiomq.testing import KafkaNotFound
    from aiomq.testing.kafka import local_distribution
    from aiomq.testing.plugin import unavailable

    try:
        return local_distribution().libs
    except KafkaNotFound as exc:
        unavailable(str(exc))
