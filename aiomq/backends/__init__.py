"""Backends: where records go. ``memory://[name]`` (in process) and ``kafka://host:port,...``.

``backend_from_url`` turns a URL into an unopened ``Backend``; ``aiomq.connect`` calls it.
The Kafka backend is imported only when a ``kafka://`` URL is used, so ``memory://`` starts
without loading aiokafka.

URL options, as a query string, apply to both schemes:

- ``auto_create_topics`` (``true``): whether this client may create a missing topic on first
  produce or metadata request (the Java client's ``allow.auto.create.topics``). The broker
  must allow it too (Kafka's ``auto.create.topics.enable``, ``MemoryBroker.auto_create_topics``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError
from .base import (
    EARLIEST,
    LATEST,
    Backend,
    CommittedOffset,
    FetchResult,
    Membership,
    PartitionInfo,
    ProduceRecord,
    ProduceResult,
    Record,
    TopicExists,
    TopicInfo,
    TopicPartition,
    TransactionalProducer,
)
from .memory import MemoryBackend, MemoryBroker, broker, drop_broker

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "EARLIEST",
    "LATEST",
    "Backend",
    "CommittedOffset",
    "FetchResult",
    "Membership",
    "MemoryBackend",
    "MemoryBroker",
    "PartitionInfo",
    "ProduceRecord",
    "ProduceResult",
    "Record",
    "TopicExists",
    "TopicInfo",
    "TopicPartition",
    "TransactionalProducer",
    "backend_from_url",
    "broker",
    "drop_broker",
    "parse_bootstrap",
]

_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_OPTIONS = {"auto_create_topics"}
DEFAULT_KAFKA_PORT = 9092


def backend_from_url(url: str, config: Config) -> Backend:
    """Return the (unopened) backend a URL names. A bad URL raises ``ConfigError("url", ...)``.

    ``memory://`` is the shared in-process broker, ``memory://name`` a separate one;
    ``kafka://host:port[,host:port]`` a Kafka cluster (port 9092 when left out). The Go
    counterpart is the address list handed to ``sarama.NewClient(addrs, config)``; sarama
    has no URL and no in-process broker. Whitespace or a control character anywhere in the
    URL, and an option given twice, are errors too, not silently dropped or overridden.
    """
    if not isinstance(url, str):
        raise ConfigError("url", f"must be a str, not {type(url).__name__}")
    # urlsplit silently drops tabs and newlines and strips spaces at the ends: a URL pasted
    # with a newline in a host name must fail here, not connect somewhere else.
    _refuse_blanks(url, url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError("url", f"{url!r} is not a URL: {exc}") from None
    if parts.fragment:
        raise ConfigError("url", f"{url!r}: a fragment means nothing here")
    options = _options(url, parts.query)
    auto_create = options.get("auto_create_topics", True)
    if parts.scheme == "memory":
        if parts.path not in ("", "/"):
            raise ConfigError("url", f"{url!r}: use memory://NAME, without a path")
        return MemoryBackend(
            broker(parts.netloc), url=url, auto_create_topics=auto_create, config=config
        )
    if parts.scheme == "kafka":
        hosts = parse_bootstrap(parts.netloc, url)
        if parts.path not in ("", "/"):
            raise ConfigError("url", f"{url!r}: use kafka://HOST:PORT[,HOST:PORT], without a path")
        from .kafka import KafkaBackend

        return KafkaBackend(hosts, config, url=url, auto_create_topics=auto_create)
    raise ConfigError(
        "url", f"{url!r}: unknown scheme {parts.scheme!r}; use memory://[name] or kafka://host:port"
    )


def parse_bootstrap(netloc: str, url: str = "") -> list[tuple[str, int]]:
    """``"h1:9092,h2,[::1]:9093"`` → ``[("h1", 9092), ("h2", 9092), ("::1", 9093)]``.

    Each broker is ``host[:port]`` with port 9092 when left out; an IPv6 address goes in
    brackets (``[::1]`` or ``[::1]:9093``), as in a URL. Anything else (a bare IPv6 address,
    an empty host, whitespace, a port that is not 1-65535 in ASCII digits) raises
    ``ConfigError("url", ...)``. sarama
    takes the same list as ``[]string{"h1:9092", ...}`` and fails only when it dials.
    """
    shown = url or netloc
    _refuse_blanks(netloc, shown)
    if not netloc:
        raise ConfigError("url", f"{shown!r}: no broker address (kafka://host:port)")
    if "@" in netloc:
        raise ConfigError("url", f"{shown!r}: credentials go in Config.net.sasl, not the URL")
    hosts: list[tuple[str, int]] = []
    for item in netloc.split(","):
        if item.startswith("["):  # an IPv6 literal: [address] or [address]:port
            host, bracket, rest = item[1:].partition("]")
            if not bracket or ":" not in host or (rest and not rest.startswith(":")):
                raise ConfigError("url", f"{shown!r}: bad IPv6 address {item!r} (use [addr]:port)")
            port_text = rest[1:] if rest else str(DEFAULT_KAFKA_PORT)
        else:
            host, sep, port_text = item.partition(":")
            if ":" in port_text:
                raise ConfigError("url", f"{shown!r}: put the IPv6 address {item!r} in brackets")
            if not sep:
                port_text = str(DEFAULT_KAFKA_PORT)
        if not host or "[" in host or "]" in host:
            raise ConfigError("url", f"{shown!r}: empty or bad host in {item!r}")
        # isdigit() alone takes "²" and "٣", which int() refuses or reads as another number.
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ConfigError("url", f"{shown!r}: bad port {port_text!r} in {item!r}")
        hosts.append((host, int(port_text)))
    return hosts


def _refuse_blanks(text: str, shown: str) -> None:
    if not text.isprintable() or any(char.isspace() for char in text):
        raise ConfigError("url", f"{shown!r}: whitespace or a control character in the URL")


def _options(url: str, query: str) -> dict[str, bool]:
    options: dict[str, bool] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError("url", f"{url!r}: malformed query string") from None
    for key, value in pairs:
        if key not in _OPTIONS:
            known = ", ".join(sorted(_OPTIONS))
            raise ConfigError("url", f"{url!r}: unknown option {key!r} (known: {known})")
        if key in options:
            raise ConfigError("url", f"{url!r}: option {key} is given twice")
        flag = _FLAGS.get(value.lower())
        if flag is None:
            raise ConfigError("url", f"{url!r}: option {key} must be true or false, not {value!r}")
        options[key] = flag
    return options
