"""Where the broker's jars and the Java that runs them come from.

A Kafka broker is a set of jars plus a JVM. They come from ``KAFKA_HOME`` (an unpacked
distribution) or from Maven Central: ``org.apache.kafka:kafka_2.13`` and its runtime
dependencies, fetched once with ``mvn`` into the cache directory and reused from then on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "Distribution",
    "JavaNotFound",
    "cache_dir",
    "fetch_kafka_jars",
    "find_java",
    "from_kafka_home",
    "kafka_version",
]

# Kafka 4.1.2 with aiokafka 0.14: produce, consume, group commits and transactions all pass
# (tests/testing). 4.0 removed old protocol versions (KIP-896) that aiokafka 0.14 no longer
# needs; see docs/testing.md for why this release and not a later one.
DEFAULT_KAFKA_VERSION = "4.1.2"

# Kafka 4.x runs on Java 17+; 17 is what the project tests with. A newer JDK installed next to
# it (a Temurin 25, say) is never picked up implicitly.
JAVA_MAJOR = 17
_JVM_ROOT = Path("/usr/lib/jvm")

# The kafka_2.13 POM declares slf4j-api but no binding, so the broker would log nothing.
# 4.x logs through log4j2 (log4j-slf4j-impl at the log4j-core version it already pulls);
# 3.x through reload4j.
_RELOAD4J = (("ch.qos.reload4j", "reload4j", "1.2.25"), ("org.slf4j", "slf4j-reload4j", "1.7.36"))
_FETCH_TIMEOUT = 900.0


class JavaNotFound(RuntimeError):
    """No Java 17 (or no ``mvn`` where one is needed); the message says what was looked at."""


@dataclass(frozen=True)
class Distribution:
    """A runnable Kafka: the ``libs`` directory, its version, and where it came from."""

    libs: Path
    version: str
    origin: str

    @property
    def classpath(self) -> str:
        """The JVM classpath: every jar in ``libs`` (the JVM expands ``dir/*``)."""
        return str(self.libs / "*")

    @property
    def major(self) -> int:
        """The Kafka major version (3 or 4), which decides the logging setup."""
        return int(self.version.split(".", 1)[0])


def kafka_version() -> str:
    """The Kafka version to fetch: ``$AIOMQ_KAFKA_VERSION``, else the pinned default."""
    return os.environ.get("AIOMQ_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def cache_dir() -> Path:
    """``$AIOMQ_CACHE_DIR``, else ``$XDG_CACHE_HOME/aiomq``, else ``~/.cache/aiomq``."""
    explicit = os.environ.get("AIOMQ_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "aiomq"


def _java_major(home: Path) -> int | None:
    """The major version of the JDK or JRE at ``home``, from its ``release`` file."""
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)', text, re.MULTILINE)
    return int(match.group(1)) if match else None


def find_java() -> Path:
    """The ``java`` binary of a Java 17: ``$JAVA_HOME`` if it is a 17, else a system one.

    Looks at ``$JAVA_HOME``, then ``/usr/lib/jvm/java-17-openjdk-<arch>`` and other
    ``/usr/lib/jvm/*17*`` homes. Raises ``JavaNotFound`` naming what it saw.
    """
    seen: list[str] = []
    candidates: list[Path] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(Path(java_home))
    if _JVM_ROOT.is_dir():
        homes = sorted(p for p in _JVM_ROOT.iterdir() if "17" in p.name and not p.is_symlink())
        homes.sort(key=lambda p: not p.name.startswith("java-17-openjdk"))
        candidates.extend(homes)
    for home in candidates:
        java = home / "bin" / "java"
        major = _java_major(home)
        if major == JAVA_MAJOR and os.access(java, os.X_OK):
            return java
        seen.append(f"{home} (Java {major or '?'})")
    where = "; ".join(seen) or "no JAVA_HOME and nothing under /usr/lib/jvm"
    raise JavaNotFound(f"no Java {JAVA_MAJOR} found: {where}")


def _version_of(libs: Path) -> str | None:
    for jar in libs.glob("kafka_2.13-*.jar"):
        match = re.fullmatch(r"kafka_2\.13-(\d+\.\d+\.\d+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def from_kafka_home(home: Path) -> Distribution:
    """The distribution unpacked at ``home`` (``$KAFKA_HOME``); ``ValueError`` if it is not one."""
    libs = home / "libs"
    version = _version_of(libs)
    if version is None:
        raise ValueError(f"KAFKA_HOME={home}: no libs/kafka_2.13-<version>.jar there")
    return Distribution(libs=libs, version=version, origin=f"KAFKA_HOME={home}")


def cached_jars(version: str, cache: Path | None = None) -> Distribution | None:
    """The jars of ``version`` if a previous fetch completed, else None (never fetches)."""
    libs = (cache or cache_dir()) / f"kafka-{version}" / "libs"
    if (libs / ".complete").exists():
        return Distribution(libs=libs, version=version, origin=f"cached jars in {libs}")
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two test runs (or a run and `aiomq kafka fetch`) may fetch at once: the second waits
    # and then finds the first one's jars.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pom(version: str, extra: tuple[tuple[str, str, str], ...]) -> str:
    deps = (("org.apache.kafka", "kafka_2.13", version), *extra)
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>aiomq</groupId><artifactId>kafka-libs</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{body}</dependencies></project>\n"
    )


def _mvn(args: list[str], cwd: Path, java: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JavaNotFound("mvn (Maven) is not on PATH; it fetches Kafka's jars once")
    # Maven itself runs on the same Java 17, whatever `java` on PATH is.
    env = {**os.environ, "JAVA_HOME": str(java.parent.parent)}
    done = subprocess.run(
        [mvn, "-B", "-q", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_FETCH_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"mvn {' '.join(args[:1])} failed ({done.returncode}):\n{tail}")


def fetch_kafka_jars(version: str | None = None, cache: Path | None = None) -> Distribution:
    """The jars of Kafka ``version`` (default ``kafka_version()``), fetched with ``mvn`` on
    first use and cached after.

    They land in ``<cache>/kafka-<version>/libs`` (``~/.m2`` caches the downloads as well).
    A fetch that fails leaves nothing half-written behind; a later call tries again.
    """
    version = version or kafka_version()
    root = (cache or cache_dir()) / f"kafka-{version}"
    found = cached_jars(version, cache)
    if found is not None:
        return found
    java = find_java()
    with _locked(root / ".lock"):
        found = cached_jars(version, cache)
        if found is not None:
            return found
        with tempfile.TemporaryDirectory(dir=root, prefix="fetch-") as tmp:
            work = Path(tmp)
            extra = _RELOAD4J if version.startswith("3.") else ()
            (work / "pom.xml").write_text(_pom(version, extra))
            libs = work / "libs"
            _mvn(
                [
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={libs}",
                    "-DincludeScope=runtime",
                ],
                work,
                java,
            )
            cores = list(libs.glob("log4j-core-*.jar"))
            if not extra and cores and not list(libs.glob("log4j-slf4j*-impl-*.jar")):
                log4j = cores[0].name.removeprefix("log4j-core-").removesuffix(".jar")
                artifact = f"org.apache.logging.log4j:log4j-slf4j-impl:{log4j}"
                _mvn(
                    ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={libs}"],
                    work,
                    java,
                )
            (libs / ".complete").write_text(version + "\n")
            target = root / "libs"
            if target.exists():  # a fetch that died before its marker was written
                shutil.rmtree(target)
            libs.rename(target)
    return Distribution(
        libs=root / "libs", version=version, origin=f"Maven jars in {root / 'libs'}"
    )
