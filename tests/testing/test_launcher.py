"""The launcher's choices, without starting a broker: Java, Docker, the search order, the plugin."""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import socket
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiomq.testing import KafkaNotFound, KafkaStartError, _dist, start_kafka
from aiomq.testing._cli import _write_private
from aiomq.testing._docker import _ping
from aiomq.testing.kafka import JavaNotFound, cache_dir, docker_answers, find_java


def _fake_kafka_home(root: Path) -> Path:
    """A directory that looks like an unpacked Kafka distribution (no JVM can run it)."""
    (root / "libs").mkdir(parents=True)
    (root / "libs" / "kafka_2.13-4.1.2.jar").write_bytes(b"")
    return root


def _fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def no_kafka_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment with no address, no KAFKA_HOME, no Docker, no Java and no cache."""
    for name in ("AIOMQ_KAFKA_BOOTSTRAP", "KAFKA_HOME", "JAVA_HOME", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIOMQ_KAFKA_DOCKER", "0")
    monkeypatch.setenv("AIOMQ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_dist, "_JVM_ROOT", tmp_path / "no-jvm")


class TestCacheDir:
    def test_env_overrides(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIOMQ_CACHE_DIR", str(tmp_path / "x"))
        assert cache_dir() == tmp_path / "x"
        monkeypatch.delenv("AIOMQ_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "aiomq"


class TestFindJava:
    def test_java_home_of_another_version_is_passed_over(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        root = tmp_path / "jvm"
        newer = _fake_jdk(root, "temurin-25-jdk-amd64", "25.0.1")
        system17 = _fake_jdk(root, "java-17-openjdk-amd64", "17.0.15")
        monkeypatch.setattr(_dist, "_JVM_ROOT", root)
        monkeypatch.setenv("JAVA_HOME", str(newer))
        assert find_java() == system17 / "bin" / "java"

    def test_java_home_17_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        root = tmp_path / "jvm"
        _fake_jdk(root, "java-17-openjdk-amd64", "17.0.15")
        mine = _fake_jdk(tmp_path, "my-jdk", "17.0.2")
        monkeypatch.setattr(_dist, "_JVM_ROOT", root)
        monkeypatch.setenv("JAVA_HOME", str(mine))
        assert find_java() == mine / "bin" / "java"

    def test_no_java_17_says_what_it_saw(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        root = tmp_path / "jvm"
        _fake_jdk(root, "temurin-25-jdk-amd64", "25.0.1")
        monkeypatch.setattr(_dist, "_JVM_ROOT", root)
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(JavaNotFound, match=r"no Java 17 found"):
            find_java()


@pytest.fixture
def docker_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """A Unix socket at DOCKER_HOST that answers each connection with the next reply."""
    path = tmp_path / "docker.sock"
    replies: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(4096)
                if request.startswith(b"GET /_ping ") and replies:
                    conn.sendall(replies.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield replies
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)


class TestDockerDetection:
    def test_daemon_answering_ping_is_found(self, docker_socket: list[bytes]) -> None:
        docker_socket.append(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        assert docker_answers() == os.environ["DOCKER_HOST"]

    def test_socket_that_does_not_answer_200_is_no_daemon(self, docker_socket: list[bytes]) -> None:
        docker_socket.append(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
        assert docker_answers() is None

    def test_missing_socket_is_no_daemon(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
        assert docker_answers() is None

    def test_a_failed_connect_leaves_no_socket_open(self, tmp_path: Path) -> None:
        gc.collect()  # garbage of earlier tests (their TCP sockets) is not this test's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            assert not _ping(f"unix://{tmp_path / 'absent.sock'}", 1.0)
            gc.collect()
        unix_sockets = [
            w
            for w in caught
            if issubclass(w.category, ResourceWarning)
            and f"family={socket.AF_UNIX.value}" in str(w.message)
        ]
        assert unix_sockets == []


@pytest.mark.usefixtures("no_kafka_anywhere")
class TestSearchOrder:
    def test_nothing_available_lists_every_reason(self) -> None:
        with pytest.raises(KafkaNotFound) as caught:
            start_kafka()
        text = str(caught.value)
        assert "AIOMQ_KAFKA_BOOTSTRAP is not set" in text
        assert "KAFKA_HOME is not set" in text
        assert "AIOMQ_KAFKA_DOCKER=0" in text
        assert "no Java 17 found" in text

    def test_docker_without_testcontainers_falls_through_with_a_reason(
        self, docker_socket: list[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if importlib.util.find_spec("testcontainers") is not None:
            pytest.skip("testcontainers is installed: it would try the fake daemon")
        monkeypatch.setenv("AIOMQ_KAFKA_DOCKER", "1")
        docker_socket.append(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        with pytest.raises(KafkaNotFound, match="testcontainers is not installed"):
            start_kafka()

    def test_kafka_home_without_jars_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KAFKA_HOME", str(tmp_path))
        with pytest.raises(KafkaNotFound, match=re.escape("no libs/kafka_2.13-<version>.jar")):
            start_kafka()

    def test_kafka_home_without_java_17_is_not_found(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KAFKA_HOME", str(_fake_kafka_home(tmp_path / "kafka")))
        with pytest.raises(KafkaNotFound, match=r"KAFKA_HOME=.* is set, but no Java 17 found"):
            start_kafka()

    def test_address_that_never_answers_fails_within_the_timeout(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("AIOMQ_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
        with pytest.raises(KafkaStartError, match="did not answer a metadata request"):
            start_kafka(timeout=1.0)


PLUGIN_TEST = """
def test_needs_broker(aiomq_kafka):
    assert aiomq_kafka.bootstrap

def test_plain():
    pass
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with the plugin's test file and a quiet pytest-asyncio."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(PLUGIN_TEST)
    return pytester


@pytest.mark.usefixtures("no_kafka_anywhere")
class TestPlugin:
    def test_without_broker_kafka_tests_skip_with_the_reason(self, inner: pytest.Pytester) -> None:
        result = inner.runpytest("-rs", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*no Kafka broker could be found or started*"])

    def test_under_ci_kafka_tests_fail_instead(
        self, inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CI", "true")
        result = inner.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(["*CI is set: Kafka tests fail rather than skip*"])

    def test_kafka_home_without_java_skips_too(
        self, inner: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KAFKA_HOME", str(_fake_kafka_home(tmp_path / "kafka")))
        result = inner.runpytest("-rs", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*is set, but no Java 17 found*"])

    def test_fixture_users_are_marked_kafka_and_deselectable(self, inner: pytest.Pytester) -> None:
        result = inner.runpytest("-m", "not kafka", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1, deselected=1)


class TestStateFile:
    def test_it_is_created_readable_by_its_owner_only(self, tmp_path: Path) -> None:
        path = tmp_path / "run" / "kafka.json"
        path.parent.mkdir()
        path.write_text("stale")
        path.chmod(0o644)
        _write_private(path, '{"password": "secret"}')
        assert path.read_text() == '{"password": "secret"}'
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
