"""Codecs turn keys and values into record bytes and back.

sarama has no codecs: a Go producer hands it an ``Encoder`` (``StringEncoder``,
``ByteEncoder``) and a consumer gets raw bytes. aiomq puts one codec per client for keys and
one for values (``Config.key_codec``, ``Config.value_codec``), like aiokafka's serializers.
A ``None`` key or value is never handed to a codec: it stays ``None`` on the wire (a key-less
record, a tombstone) and comes back as ``None``. Failures raise ``EncodeError`` or
``DecodeError`` naming the codec and the type, with the original exception chained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeAlias, TypeVar, runtime_checkable

import msgpack
import orjson

from .errors import ConfigError, DecodeError, EncodeError

__all__ = [
    "BytesCodec",
    "Codec",
    "CodecLike",
    "FunctionCodec",
    "JsonCodec",
    "MsgpackCodec",
    "StrCodec",
    "codec",
    "decode_optional",
    "encode_optional",
    "register",
    "registered",
    "resolve",
]

T = TypeVar("T")


@runtime_checkable
class Codec(Protocol[T]):
    """Converts ``T`` to bytes and back. Any object with these two methods is a codec.

    ``encode`` should raise ``EncodeError`` and ``decode`` ``DecodeError``; other exceptions
    are wrapped into those by the producer and consumer (``encode_optional``,
    ``decode_optional``). A codec need not handle ``None``. An optional ``name`` attribute is
    used in error messages.
    """

    def encode(self, value: T, /) -> bytes: ...

    def decode(self, data: bytes, /) -> T: ...


CodecLike: TypeAlias = str | Codec[Any]
"""A codec object, or the name of a registered one (``"bytes"``, ``"str"``, ``"json"``,
``"msgpack"``)."""


def _describe(value: object) -> str:
    return type(value).__name__


class BytesCodec:
    """The identity codec, the default (sarama's ``ByteEncoder``).

    ``encode`` accepts ``bytes``, ``bytearray`` and ``memoryview`` (copied to ``bytes``);
    anything else raises ``EncodeError`` rather than being converted, so ``str`` values do not
    silently pick an encoding. ``decode`` returns the bytes unchanged.
    """

    __slots__ = ()
    name = "bytes"

    def encode(self, value: bytes | bytearray | memoryview, /) -> bytes:
        if type(value) is bytes:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise EncodeError(f"bytes codec cannot encode {_describe(value)}: use bytes or a codec")

    def decode(self, data: bytes, /) -> bytes:
        return data

    def __repr__(self) -> str:
        return "BytesCodec()"


class StrCodec:
    """Text in ``encoding`` (UTF-8), strict by default (sarama's ``StringEncoder``).

    ``encode`` accepts only ``str``; undecodable bytes raise ``DecodeError``.
    """

    __slots__ = ("encoding", "errors", "name")

    def __init__(self, encoding: str = "utf-8", errors: str = "strict") -> None:
        self.encoding = encoding
        self.errors = errors
        self.name = "str" if encoding == "utf-8" else f"str({encoding})"

    def encode(self, value: str, /) -> bytes:
        if not isinstance(value, str):
            raise EncodeError(f"{self.name} codec cannot encode {_describe(value)}: not a str")
        try:
            return value.encode(self.encoding, self.errors)
        except UnicodeError as exc:
            raise EncodeError(f"{self.name} codec cannot encode str: {exc}") from exc

    def decode(self, data: bytes, /) -> str:
        try:
            return str(data, self.encoding, self.errors)
        except UnicodeError as exc:
            raise DecodeError(f"{self.name} codec cannot decode {len(data)} bytes: {exc}") from exc

    def __repr__(self) -> str:
        return f"StrCodec(encoding={self.encoding!r}, errors={self.errors!r})"


class JsonCodec:
    """JSON with orjson: ``dict``, ``list``, ``str``, numbers, ``bool``, dataclasses, datetimes.

    ``option`` is passed to ``orjson.dumps`` (for example ``orjson.OPT_SORT_KEYS``). Decoding
    gives plain Python values: a tuple comes back as a list, a datetime as a string.
    """

    __slots__ = ("name", "option")

    def __init__(self, option: int | None = None) -> None:
        self.option = option
        self.name = "json"

    def encode(self, value: Any, /) -> bytes:
        try:
            return orjson.dumps(value, option=self.option)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise EncodeError(f"json codec cannot encode {_describe(value)}: {exc}") from exc

    def decode(self, data: bytes, /) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"json codec cannot decode {len(data)} bytes: {exc}") from exc

    def __repr__(self) -> str:
        return f"JsonCodec(option={self.option!r})"


class MsgpackCodec:
    """MessagePack: ``str`` as raw strings, ``bytes`` as bin (``use_bin_type``).

    Decoding gives lists for arrays (tuples do not survive) and ``str`` map keys only unless
    ``strict_map_key`` is False.
    """

    __slots__ = ("name", "strict_map_key")

    def __init__(self, *, strict_map_key: bool = True) -> None:
        self.strict_map_key = strict_map_key
        self.name = "msgpack"

    def encode(self, value: Any, /) -> bytes:
        try:
            data: bytes = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"msgpack codec cannot encode {_describe(value)}: {exc}") from exc
        return data

    def decode(self, data: bytes, /) -> Any:
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=self.strict_map_key)
        except Exception as exc:  # msgpack raises several unrelated types for bad input
            raise DecodeError(f"msgpack codec cannot decode {len(data)} bytes: {exc}") from exc

    def __repr__(self) -> str:
        return f"MsgpackCodec(strict_map_key={self.strict_map_key!r})"


class FunctionCodec(Generic[T]):
    """A codec made of two functions; see ``codec``."""

    __slots__ = ("_decode", "_encode", "name")

    def __init__(
        self,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        name: str | None = None,
    ) -> None:
        self._encode = encode
        self._decode = decode
        self.name = name or getattr(encode, "__name__", "custom")

    def encode(self, value: T, /) -> bytes:
        try:
            data = self._encode(value)
        except EncodeError:
            raise
        except Exception as exc:
            raise EncodeError(f"{self.name} codec cannot encode {_describe(value)}: {exc}") from exc
        if type(data) is not bytes:
            raise EncodeError(f"{self.name} codec returned {_describe(data)}, not bytes")
        return data

    def decode(self, data: bytes, /) -> T:
        try:
            return self._decode(data)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"{self.name} codec cannot decode {len(data)} bytes: {exc}") from exc

    def __repr__(self) -> str:
        return f"FunctionCodec(name={self.name!r})"


def codec(
    encode: Callable[[T], bytes], decode: Callable[[bytes], T], *, name: str | None = None
) -> FunctionCodec[T]:
    """Return a codec that calls ``encode`` and ``decode``.

    Their exceptions become ``EncodeError``/``DecodeError`` with the original chained, and an
    ``encode`` that returns something other than ``bytes`` is an ``EncodeError``. ``name``
    (default: ``encode.__name__``) appears in error messages.
    """
    return FunctionCodec(encode, decode, name)


_registry: dict[str, Codec[Any]] = {
    "bytes": BytesCodec(),
    "str": StrCodec(),
    "json": JsonCodec(),
    "msgpack": MsgpackCodec(),
}


def register(name: str, codec: Codec[Any], *, replace: bool = False) -> None:
    """Make ``codec`` resolvable as ``name``.

    An existing name raises ``ValueError`` unless ``replace`` is True; an object that is not a
    codec raises ``TypeError``. The registry is process-wide.
    """
    if not isinstance(codec, Codec):
        raise TypeError(f"{codec!r} has no encode/decode methods")
    if name in _registry and not replace:
        raise ValueError(f"codec {name!r} is already registered")
    _registry[name] = codec


def registered() -> list[str]:
    """The names ``resolve`` knows, sorted."""
    return sorted(_registry)


def resolve(codec: CodecLike) -> Codec[Any]:
    """Return the codec for a name, or a codec object itself.

    An unknown name, or an object without ``encode`` and ``decode``, raises
    ``ConfigError("codec", ...)`` (a ``ValueError``); ``Config.validate`` reports it under
    ``key_codec`` or ``value_codec``.
    """
    if isinstance(codec, str):
        try:
            return _registry[codec]
        except KeyError:
            known = ", ".join(repr(n) for n in sorted(_registry))
            raise ConfigError("codec", f"unknown codec {codec!r}; known: {known}") from None
    if isinstance(codec, Codec):
        return codec
    raise ConfigError("codec", f"{codec!r} is neither a codec name nor has encode/decode")


def _name(codec: Codec[Any]) -> str:
    return str(getattr(codec, "name", type(codec).__name__))


def encode_optional(codec: Codec[T], value: T | None, *, what: str = "value") -> bytes | None:
    """Encode ``value`` with ``codec``; ``None`` stays ``None`` without calling the codec.

    Any failure raises ``EncodeError`` saying ``what`` (key or value), the codec and the type;
    an ``EncodeError`` from the codec itself passes through unchanged. So does a codec that
    returns something other than bytes: a ``bytearray`` or ``memoryview`` is copied to
    ``bytes``, anything else (a ``str``, ``None``) is an ``EncodeError``.
    """
    if value is None:
        return None
    try:
        data = codec.encode(value)
    except EncodeError:
        raise
    except Exception as exc:
        raise EncodeError(
            f"{_name(codec)} codec cannot encode {what} of type {_describe(value)}: {exc}"
        ) from exc
    if type(data) is bytes:
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise EncodeError(
        f"{_name(codec)} codec returned {_describe(data)} for {what} of type "
        f"{_describe(value)}; a codec must return bytes"
    )


def decode_optional(codec: Codec[T], data: bytes | None, *, what: str = "value") -> T | None:
    """Decode ``data`` with ``codec``; ``None`` stays ``None`` without calling the codec.

    Any failure raises ``DecodeError`` saying ``what`` and the codec; a ``DecodeError`` from the
    codec itself passes through unchanged.
    """
    if data is None:
        return None
    try:
        return codec.decode(data)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(
            f"{_name(codec)} codec cannot decode {what} of {len(data)} bytes: {exc}"
        ) from exc
