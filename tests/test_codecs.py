"""Codecs: round trips, typed errors with causes, the registry, and None passing through."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiomq import codecs
from aiomq.codecs import (
    BytesCodec,
    Codec,
    FunctionCodec,
    JsonCodec,
    MsgpackCodec,
    StrCodec,
    codec,
    decode_optional,
    encode_optional,
    register,
    registered,
    resolve,
)
from aiomq.errors import ConfigError, DecodeError, EncodeError

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
msgpack_values = st.recursive(
    json_scalars | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@pytest.fixture(autouse=True)
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # register() is process-wide; each test gets a copy so none leaks into another.
    monkeypatch.setattr(codecs, "_registry", dict(codecs._registry))


class Raising:
    """A codec object (not a FunctionCodec) whose methods raise plain exceptions."""

    name = "raising"

    def encode(self, value: Any, /) -> bytes:
        raise RuntimeError("boom")

    def decode(self, data: bytes, /) -> Any:
        raise RuntimeError("bang")


class TestRoundTrip:
    @given(st.binary())
    def test_bytes(self, data: bytes) -> None:
        c = BytesCodec()
        assert c.decode(c.encode(data)) == data

    @given(st.text())
    def test_str(self, text: str) -> None:
        c = StrCodec()
        encoded = c.encode(text)
        assert encoded == text.encode("utf-8")
        assert c.decode(encoded) == text

    @given(json_values)
    def test_json(self, value: Any) -> None:
        c = JsonCodec()
        assert c.decode(c.encode(value)) == value

    @given(msgpack_values)
    def test_msgpack(self, value: Any) -> None:
        c = MsgpackCodec()
        assert c.decode(c.encode(value)) == value

    @given(st.integers())
    def test_function_codec(self, n: int) -> None:
        c = codec(lambda v: str(v).encode(), lambda b: int(b), name="int")
        assert c.decode(c.encode(n)) == n


class TestBytesCodec:
    def test_bytes_are_returned_as_is(self) -> None:
        data = b"abc"
        assert BytesCodec().encode(data) is data

    @pytest.mark.parametrize("value", [bytearray(b"abc"), memoryview(b"abc")])
    def test_bytes_like_is_copied_to_bytes(self, value: bytearray | memoryview) -> None:
        out = BytesCodec().encode(value)
        assert type(out) is bytes
        assert out == b"abc"

    @pytest.mark.parametrize("value", ["abc", 1, [1], None])
    def test_other_types_are_refused(self, value: Any) -> None:
        with pytest.raises(EncodeError, match=f"bytes codec cannot encode {type(value).__name__}"):
            BytesCodec().encode(value)


class TestErrors:
    def test_str_codec_refuses_non_str(self) -> None:
        with pytest.raises(EncodeError, match="str codec cannot encode bytes"):
            StrCodec().encode(b"x")  # type: ignore[arg-type]

    def test_str_codec_unencodable_chains_the_cause(self) -> None:
        with pytest.raises(EncodeError) as info:
            StrCodec().encode("\ud800")
        assert isinstance(info.value.__cause__, UnicodeEncodeError)

    def test_str_codec_bad_utf8(self) -> None:
        with pytest.raises(DecodeError, match="str codec cannot decode 2 bytes") as info:
            StrCodec().decode(b"\xff\xfe")
        assert isinstance(info.value.__cause__, UnicodeDecodeError)

    def test_other_encodings(self) -> None:
        c = StrCodec("latin-1")
        assert c.encode("é") == b"\xe9"
        assert c.decode(b"\xe9") == "é"
        assert c.name == "str(latin-1)"

    def test_json_unserialisable(self) -> None:
        with pytest.raises(EncodeError, match="json codec cannot encode set") as info:
            JsonCodec().encode({1, 2})
        assert isinstance(info.value.__cause__, TypeError)

    def test_json_nan_is_null_not_an_error(self) -> None:
        # orjson writes NaN as null (JSON has no NaN); documented orjson behaviour.
        assert JsonCodec().decode(JsonCodec().encode(math.nan)) is None

    def test_json_bad_input(self) -> None:
        with pytest.raises(DecodeError, match="json codec cannot decode 5 bytes") as info:
            JsonCodec().decode(b"{nope")
        assert isinstance(info.value.__cause__, orjson.JSONDecodeError)

    def test_json_option(self) -> None:
        assert JsonCodec(orjson.OPT_SORT_KEYS).encode({"b": 1, "a": 2}) == b'{"a":2,"b":1}'

    def test_msgpack_unserialisable(self) -> None:
        with pytest.raises(EncodeError, match="msgpack codec cannot encode object") as info:
            MsgpackCodec().encode(object())
        assert info.value.__cause__ is not None

    @pytest.mark.parametrize("data", [b"\xc1", b"\x92\x01", msgpack.packb([1]) + b"\x01"])
    def test_msgpack_bad_input(self, data: bytes) -> None:
        with pytest.raises(DecodeError, match="msgpack codec cannot decode") as info:
            MsgpackCodec().decode(data)
        assert info.value.__cause__ is not None

    def test_msgpack_non_str_map_keys(self) -> None:
        data = MsgpackCodec().encode({1: "a"})
        with pytest.raises(DecodeError):
            MsgpackCodec().decode(data)
        assert MsgpackCodec(strict_map_key=False).decode(data) == {1: "a"}


class TestFunctionCodec:
    def test_exceptions_are_wrapped_with_cause(self) -> None:
        def enc(value: int) -> bytes:
            raise KeyError(value)

        def dec(data: bytes) -> int:
            raise ValueError("no")

        c = codec(enc, dec)
        assert c.name == "enc"
        with pytest.raises(EncodeError, match="enc codec cannot encode int") as e:
            c.encode(3)
        assert isinstance(e.value.__cause__, KeyError)
        with pytest.raises(DecodeError, match="enc codec cannot decode 2 bytes") as d:
            c.decode(b"ab")
        assert isinstance(d.value.__cause__, ValueError)

    def test_typed_errors_pass_through(self) -> None:
        def enc(value: int) -> bytes:
            raise EncodeError("mine")

        def dec(data: bytes) -> int:
            return 0

        c = codec(enc, dec)
        with pytest.raises(EncodeError, match=r"^mine$"):
            c.encode(1)

    def test_encode_must_return_bytes(self) -> None:
        c: FunctionCodec[str] = codec(lambda s: bytearray(s.encode()), bytes.decode, name="ba")  # type: ignore[arg-type, return-value]
        with pytest.raises(EncodeError, match="ba codec returned bytearray, not bytes"):
            c.encode("x")

    def test_is_a_codec(self) -> None:
        assert isinstance(codec(bytes, bytes), Codec)


class TestRegistry:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [("bytes", BytesCodec), ("str", StrCodec), ("json", JsonCodec), ("msgpack", MsgpackCodec)],
    )
    def test_builtin_names(self, name: str, kind: type) -> None:
        assert isinstance(resolve(name), kind)
        assert name in registered()

    def test_objects_resolve_to_themselves(self) -> None:
        c = JsonCodec()
        assert resolve(c) is c
        r = Raising()
        assert resolve(r) is r

    def test_unknown_name(self) -> None:
        with pytest.raises(ConfigError, match="unknown codec 'yaml'") as info:
            resolve("yaml")
        assert info.value.field == "codec"

    @pytest.mark.parametrize("value", [3, None, object(), bytes])
    def test_not_a_codec(self, value: Any) -> None:
        with pytest.raises(ConfigError):
            resolve(value)

    def test_register(self) -> None:
        c = codec(bytes, bytes, name="raw")
        register("raw", c)
        assert resolve("raw") is c
        with pytest.raises(ValueError, match="already registered"):
            register("raw", BytesCodec())
        replacement = BytesCodec()
        register("raw", replacement, replace=True)
        assert resolve("raw") is replacement

    def test_register_refuses_non_codecs(self) -> None:
        with pytest.raises(TypeError):
            register("x", object())  # type: ignore[arg-type]

    def test_registry_is_isolated_between_tests(self) -> None:
        assert "raw" not in registered()


class TestOptional:
    def test_none_never_reaches_the_codec(self) -> None:
        r = Raising()
        assert encode_optional(r, None) is None
        assert decode_optional(r, None) is None

    def test_plain_exceptions_are_wrapped_saying_key_or_value(self) -> None:
        r = Raising()
        with pytest.raises(EncodeError, match="raising codec cannot encode key of type int") as e:
            encode_optional(r, 5, what="key")
        assert isinstance(e.value.__cause__, RuntimeError)
        with pytest.raises(DecodeError, match="raising codec cannot decode value of 3 bytes") as d:
            decode_optional(r, b"abc")
        assert isinstance(d.value.__cause__, RuntimeError)

    def test_typed_errors_pass_through_unchanged(self) -> None:
        text: Any = "text"
        with pytest.raises(EncodeError, match=r"^bytes codec cannot encode str"):
            encode_optional(BytesCodec(), text)

    def test_values(self) -> None:
        assert encode_optional(StrCodec(), "é") == "é".encode()
        assert decode_optional(JsonCodec(), b"[1]") == [1]

    @pytest.mark.parametrize("returned", ["text", None, 5, [b"x"]])
    def test_a_codec_that_returns_no_bytes_is_an_encode_error(self, returned: Any) -> None:
        class Wrong:
            name = "wrong"

            def encode(self, value: Any, /) -> bytes:
                return returned  # type: ignore[no-any-return]

            def decode(self, data: bytes, /) -> Any:
                return data

        with pytest.raises(EncodeError, match=r"wrong codec returned .* a codec must return bytes"):
            encode_optional(Wrong(), "v", what="key")

    def test_a_bytes_like_result_becomes_bytes(self) -> None:
        class Buffered:
            def encode(self, value: Any, /) -> bytes:
                return bytearray(b"ab")  # type: ignore[return-value]

            def decode(self, data: bytes, /) -> Any:
                return data

        encoded = encode_optional(Buffered(), "v")
        assert type(encoded) is bytes
        assert encoded == b"ab"
