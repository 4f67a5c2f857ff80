"""Turning what a caller hands a producer into the backend's ``ProduceRecord``.

One place for the checks every send makes, so the sync and async producers refuse the same
input the same way: the topic's name, the codecs and what they return, the headers, the
timestamp and the size. A record that passed them is what ``check_records`` accepts, so the
producers hand their batches to the backend as ``CheckedRecords``.
"""

from __future__ import annotations

from typing import Any

from .._session import Session
from ..backends.base import INT64_MAX, ProduceRecord
from ..codecs import BytesCodec, encode_optional
from ..errors import ConfigError, MessageTooLarge
from ..message import HeadersLike, normalize_headers, now_ms, record_size, validate_topic

__all__ = ["Encoder"]


class Encoder:
    """``encoder(topic, value, key, headers, timestamp, now)``: ``(encoded key, record, its
    size)`` for one message, or a typed error saying what is wrong.

    ``ConfigError`` for a bad topic name, header or timestamp; ``EncodeError`` when a codec
    fails, whatever it raised, or returns anything but bytes (``encode_optional``);
    ``MessageTooLarge`` when the record, as a batch of its own, exceeds
    ``producer.max_message_bytes``. None keys and values stay None (a key-less record, a
    tombstone) and never reach a codec. A missing timestamp is stamped
    with the time of the send, as the Java producer stamps ``send()``: ``now``
    (``now_ms()``, taken by a caller that encodes several messages of one send without
    waiting in between), else ``now_ms()`` here. The size is ``record_size``: the record as a
    batch of its own.

    Built once per producer: the codecs and the limit are read from the session once, and
    a ``bytes`` value or key under the default ``BytesCodec`` is taken as it is.
    """

    __slots__ = ("_key", "_key_raw", "_limit", "_topic", "_value", "_value_raw")

    def __init__(self, session: Session) -> None:
        self._key = session.key_codec
        self._value = session.value_codec
        self._key_raw = type(session.key_codec) is BytesCodec
        self._value_raw = type(session.value_codec) is BytesCodec
        self._limit = session.config.producer.max_message_bytes
        self._topic: str | None = None  # the last topic found valid

    @property
    def raw_values(self) -> bool:
        """Whether a ``bytes`` value is its own encoding (the value codec is ``BytesCodec``)."""
        return self._value_raw

    @property
    def limit(self) -> int:
        """``producer.max_message_bytes``: the largest record, as a batch of its own."""
        return self._limit

    def __call__(
        self,
        topic: str,
        value: Any,
        key: Any,
        headers: HeadersLike | None,
        timestamp: int | None,
        now: int | None = None,
    ) -> tuple[bytes | None, ProduceRecord, int]:
        if topic is not self._topic:
            self._topic = validate_topic(topic)
        if key is not None and not (key.__class__ is bytes and self._key_raw):
            key = encode_optional(self._key, key, what="key")
        if value is not None and not (value.__class__ is bytes and self._value_raw):
            value = encode_optional(self._value, value)
        normalized = normalize_headers(headers) if headers else ()
        if timestamp is None:
            timestamp = now_ms() if now is None else now
        elif timestamp.__class__ is not int:
            if isinstance(timestamp, bool) or not isinstance(timestamp, int):
                raise ConfigError("timestamp", f"must be an int of milliseconds, not {timestamp!r}")
            timestamp = int(timestamp)
        if not 0 <= timestamp <= INT64_MAX:
            raise ConfigError("timestamp", f"must be between 0 and {INT64_MAX}, not {timestamp}")
        size = record_size(key, value, normalized)
        if size > self._limit:
            raise MessageTooLarge(
                f"record of {size} bytes is larger than producer.max_message_bytes ({self._limit})"
            )
        return key, (key, value, normalized, timestamp), size
