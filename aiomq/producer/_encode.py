"""Turning what a caller hands a producer into the backend's ``ProduceRecord``.

One place for the checks every send makes, so the sync and async producers refuse the same
input the same way: the topic's name, the codecs, the headers, the timestamp and the size.
"""

from __future__ import annotations

from typing import Any

from .._session import Session
from ..backends.base import INT64_MAX, ProduceRecord
from ..errors import ConfigError, MessageTooLarge
from ..message import HeadersLike, normalize_headers, now_ms, record_size, validate_topic

__all__ = ["encode"]


def encode(
    session: Session,
    topic: str,
    value: Any,
    key: Any,
    headers: HeadersLike | None,
    timestamp: int | None,
    now: int | None = None,
) -> tuple[bytes | None, ProduceRecord, int]:
    """``(encoded key, record, its size)`` for one message, or a typed error saying what is
    wrong.

    ``ConfigError`` for a bad topic name, header or timestamp; ``EncodeError`` from a codec;
    ``MessageTooLarge`` when the record, as a batch of its own, exceeds
    ``producer.max_message_bytes``. None keys and values stay None (a key-less record, a
    tombstone). A missing timestamp is stamped with the time of the send, as the Java
    producer stamps ``send()``: ``now`` (``now_ms()``, taken by a caller that encodes several
    messages of one send without waiting in between), else ``now_ms()`` here.
    The size is ``record_size``: the record as a batch of its own.
    """
    validate_topic(topic)
    key_bytes = None if key is None else session.key_codec.encode(key)
    value_bytes = None if value is None else session.value_codec.encode(value)
    normalized = normalize_headers(headers) if headers else ()
    if timestamp is None:
        timestamp = now_ms() if now is None else now
    elif isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ConfigError("timestamp", f"must be an int of milliseconds, not {timestamp!r}")
    elif not 0 <= timestamp <= INT64_MAX:
        raise ConfigError("timestamp", f"must be between 0 and {INT64_MAX}, not {timestamp}")
    limit = session.config.producer.max_message_bytes
    size = record_size(key_bytes, value_bytes, normalized)
    if size > limit:
        raise MessageTooLarge(
            f"record of {size} bytes is larger than producer.max_message_bytes ({limit})"
        )
    return key_bytes, (key_bytes, value_bytes, normalized, timestamp), size
