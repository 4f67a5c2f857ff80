"""Backend URLs: ``backend_from_url`` refuses what it cannot use with ``ConfigError("url")``."""

from __future__ import annotations

import pytest

from aiomq.backends import backend_from_url, drop_broker, parse_bootstrap
from aiomq.config import Config
from aiomq.errors import ConfigError, UnknownTopic


@pytest.mark.parametrize(
    "url",
    [
        "kafka://h:\u00b2",  # superscript two: isdigit() takes it, int() refuses it
        "kafka://h:\u0663\u0660",  # Arabic-Indic digits: int() reads them as 30
        "kafka://h:\uff19\uff10\uff19\uff12",  # fullwidth digits
        "kafka://h ost:9092",
        "kafka://h\nost:9092",  # urlsplit would drop the newline: "host:9092"
        "kafka://host:90\t92",
        "kafka://host:9092\n",
        " kafka://host:9092",
        "kafka://a:1,\u00a0b:2",
        "memory://a b",
        "memory://a\x00",
        "memory://?auto_create_topics=true&auto_create_topics=false",
        "kafka://h:1?auto_create_topics=false&auto_create_topics=false",
    ],
)
def test_a_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        backend_from_url(url, Config())
    assert caught.value.field == "url"


@pytest.mark.parametrize("netloc", ["h:\u00b2", "h :1", "h:1,\nb:2", "h:1\r"])
def test_parse_bootstrap_refuses_the_same(netloc: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_bootstrap(netloc)
    assert caught.value.field == "url"


@pytest.mark.asyncio
async def test_an_option_given_once_applies() -> None:
    backend = backend_from_url("memory://url-test?auto_create_topics=false", Config())
    try:
        with pytest.raises(UnknownTopic):
            await backend.produce("missing", 0, [])
    finally:
        drop_broker("url-test")
