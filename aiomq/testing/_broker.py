"""What every way of getting a broker hands back: an address, and how to let go of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from ssl import SSLContext, create_default_context
from types import TracebackType
from typing import Any

from ..errors import BrokerUnavailable

__all__ = ["KafkaBroker", "KafkaNotFound", "KafkaSecurity", "KafkaStartError"]


class KafkaStartError(BrokerUnavailable):
    """A broker was found or launched but did not come up; ``log_tail`` is the end of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        text = f"{message}\n--- end of the broker's log ---\n{log_tail}" if log_tail else message
        super().__init__(text)
        self.log_tail = log_tail


class KafkaNotFound(BrokerUnavailable):
    """No way to get a broker here; ``reasons`` says, for each way, why it was not usable."""

    def __init__(self, reasons: list[str]) -> None:
        lines = "\n".join(f"  - {reason}" for reason in reasons)
        super().__init__(f"no Kafka broker could be found or started:\n{lines}")
        self.reasons = reasons


@dataclass(frozen=True)
class KafkaSecurity:
    """The secured client listeners of a locally launched broker, and how to log in.

    ``sasl_plaintext``, ``ssl`` and ``sasl_ssl`` are bootstrap addresses. One user,
    ``username``/``password``, exists for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. TLS
    certificates are signed by the CA in ``ca_file``, valid for ``localhost`` and ``127.0.0.1``.
    """

    sasl_plaintext: str
    ssl: str
    sasl_ssl: str
    ca_file: Path
    username: str
    password: str
    mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

    def ssl_context(self) -> SSLContext:
        """A client context that trusts ``ca_file`` and checks the host name."""
        return create_default_context(cafile=str(self.ca_file))

    def client_config(
        self, protocol: str, mechanism: str = "PLAIN", password: str | None = None
    ) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client on listener ``protocol``.

        ``protocol`` is ``SASL_PLAINTEXT``, ``SSL`` or ``SASL_SSL``; ``password`` overrides the
        right one (to test a failed login).
        """
        addresses = {
            "SASL_PLAINTEXT": self.sasl_plaintext,
            "SSL": self.ssl,
            "SASL_SSL": self.sasl_ssl,
        }
        if protocol not in addresses:
            raise ValueError(f"protocol must be one of {sorted(addresses)}, not {protocol!r}")
        config: dict[str, Any] = {
            "bootstrap_servers": addresses[protocol],
            "security_protocol": protocol,
        }
        if protocol != "SASL_PLAINTEXT":
            config["ssl_context"] = self.ssl_context()
        if protocol.startswith("SASL"):
            if mechanism not in self.mechanisms:
                raise ValueError(f"mechanism must be one of {self.mechanisms}, not {mechanism!r}")
            config["sasl_mechanism"] = mechanism
            config["sasl_plain_username"] = self.username
            config["sasl_plain_password"] = self.password if password is None else password
        return config


@dataclass
class KafkaBroker:
    """A reachable Kafka: ``bootstrap`` (``host:port[,host:port]``) and where it came from.

    ``origin`` names the way it was obtained (an address from ``AIOMQ_KAFKA_BOOTSTRAP``, a
    container, jars). ``security`` is set only on brokers aiomq launched itself with secured
    listeners. ``stop()`` releases what was started (nothing for an address given from
    outside); it is idempotent, and the broker is also a context manager that stops on exit.
    """

    bootstrap: str
    origin: str
    version: str | None = None
    security: KafkaSecurity | None = None
    _on_stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the broker if aiomq started it; a second call does nothing."""
        on_stop, self._on_stop = self._on_stop, None
        if on_stop is not None:
            on_stop()

    def __enter__(self) -> KafkaBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
