"""The session broker's secured listeners: one aiokafka connection per mechanism."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from aiomq.testing import KafkaSecurity

pytestmark = pytest.mark.kafka

CASES = [
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SSL", None),
    ("SASL_SSL", "PLAIN"),
    ("SASL_SSL", "SCRAM-SHA-512"),
]


async def _round_trip(config: dict[str, Any], topic: str) -> int:
    producer = AIOKafkaProducer(request_timeout_ms=10_000, **config)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"secret")
    finally:
        await producer.stop()
    return int(sent.offset)


class TestSecurityListeners:
    @pytest.mark.parametrize(("protocol", "mechanism"), CASES)
    @pytest.mark.asyncio
    async def test_client_authenticates_and_produces(
        self,
        aiomq_kafka_security: KafkaSecurity,
        aiomq_kafka_topic: str,
        protocol: str,
        mechanism: str | None,
    ) -> None:
        config = aiomq_kafka_security.client_config(protocol, mechanism or "PLAIN")
        assert await _round_trip(config, aiomq_kafka_topic) == 0

    @pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    @pytest.mark.asyncio
    async def test_wrong_password_is_refused(
        self,
        aiomq_kafka_security: KafkaSecurity,
        aiomq_kafka_topic: str,
        mechanism: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        config = aiomq_kafka_security.client_config("SASL_PLAINTEXT", mechanism, password="wrong")
        with pytest.raises(KafkaConnectionError):
            await _round_trip(config, aiomq_kafka_topic)
        # aiokafka reports "cannot bootstrap"; the broker's refusal is in its log line.
        assert "SaslAuthenticationFailed" in caplog.text

    @pytest.mark.asyncio
    async def test_tls_client_rejects_an_untrusted_broker(
        self,
        aiomq_kafka_security: KafkaSecurity,
        aiomq_kafka_topic: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        config = aiomq_kafka_security.client_config("SSL")
        config["ssl_context"] = ssl.create_default_context()  # system CAs only: not ours
        with pytest.raises(KafkaConnectionError):
            await _round_trip(config, aiomq_kafka_topic)
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
