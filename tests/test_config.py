"""Config: sarama-like defaults, errors naming the dotted field, re-validation after mutation."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import ssl
from typing import Any

import pytest

from aiomq import config as config_module
from aiomq.codecs import JsonCodec
from aiomq.config import (
    CLASSIC_HEARTBEAT_INTERVAL,
    CLASSIC_SESSION_TIMEOUT,
    Acks,
    Compression,
    Config,
    ConsumerConfig,
    FetchConfig,
    GroupConfig,
    GroupProtocol,
    Isolation,
    NetConfig,
    Offset,
    OffsetAt,
    OffsetsConfig,
    ProducerConfig,
    RebalanceStrategy,
    SaslConfig,
    SaslMechanism,
    TlsConfig,
)
from aiomq.errors import AiomqError, ConfigError
from aiomq.partitioner import RoundRobinPartitioner


def set_path(cfg: Config, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = cfg
    for name in parents:
        target = getattr(target, name)
    setattr(target, last, value)


class TestEnums:
    def test_acks_are_kafka_values(self) -> None:
        assert (Acks.NONE, Acks.LOCAL, Acks.ALL) == (0, 1, -1)

    def test_offsets_are_sarama_sentinels(self) -> None:
        assert (Offset.NEWEST, Offset.OLDEST) == (-1, -2)

    def test_offset_at_is_a_point_in_time_not_a_sentinel(self) -> None:
        assert Offset.at(1_700_000_000_000) == OffsetAt(1_700_000_000_000)
        assert Offset.at(0).timestamp == 0
        assert list(Offset) == [Offset.NEWEST, Offset.OLDEST]

    @pytest.mark.parametrize("bad", [-1, True, 1.5, "5", None, 2**63])
    def test_offset_at_refuses_what_is_not_a_timestamp(self, bad: Any) -> None:
        with pytest.raises(ConfigError) as info:
            Offset.at(bad)
        assert info.value.field == "timestamp"

    @pytest.mark.parametrize(
        ("compression", "name"),
        [
            (Compression.NONE, None),
            (Compression.GZIP, "gzip"),
            (Compression.SNAPPY, "snappy"),
            (Compression.LZ4, "lz4"),
            (Compression.ZSTD, "zstd"),
        ],
    )
    def test_compression_maps_to_aiokafka_names(
        self, compression: Compression, name: str | None
    ) -> None:
        assert compression.aiokafka_name == name


class TestDefaults:
    def test_sarama_defaults(self) -> None:
        cfg = Config()
        assert cfg.client_id == "aiomq"
        assert cfg.channel_buffer_size == 256
        assert cfg.key_codec == "bytes"
        assert cfg.value_codec == "bytes"
        # Durable by default, as Kafka 4's Java producer: acks=all and idempotence.
        assert cfg.producer.required_acks is Acks.ALL
        assert cfg.producer.idempotent is True
        assert cfg.producer.partitioner == "hash"
        assert cfg.producer.return_successes is False
        assert cfg.producer.timeout == 10.0
        assert cfg.producer.max_message_bytes == 1024 * 1024
        assert cfg.producer.compression is Compression.NONE
        assert cfg.consumer.offsets.initial is Offset.NEWEST
        assert cfg.consumer.offsets.commit_interval == 1.0
        assert cfg.consumer.offsets.auto_commit is True
        assert cfg.consumer.fetch.min == 1
        assert cfg.consumer.max_wait == 0.5
        assert cfg.group.return_notifications is False
        # Unset: the classic protocol's defaults, or the broker's under the consumer protocol.
        assert cfg.group.session_timeout is None
        assert cfg.group.heartbeat_interval is None
        assert cfg.group.rebalance_strategy is None
        assert CLASSIC_HEARTBEAT_INTERVAL < CLASSIC_SESSION_TIMEOUT == 10.0
        assert cfg.group.protocol is GroupProtocol.AUTO
        assert cfg.net.sasl.enabled is False
        assert cfg.net.tls.enable is False

    def test_sections_are_not_shared_between_configs(self) -> None:
        a, b = Config(), Config()
        a.producer.required_acks = Acks.LOCAL
        assert b.producer.required_acks is Acks.ALL

    def test_keyword_construction(self) -> None:
        cfg = Config(
            client_id="svc",
            value_codec="json",
            producer=ProducerConfig(required_acks=Acks.ALL, return_successes=True),
            consumer=ConsumerConfig(offsets=OffsetsConfig(initial=Offset.OLDEST)),
        )
        assert cfg.producer.required_acks is Acks.ALL
        assert cfg.consumer.offsets.initial is Offset.OLDEST

    def test_a_misspelt_field_is_an_error_not_a_new_attribute(self) -> None:
        # slots: a typo cannot silently configure nothing, as in Go.
        cfg = Config()
        with pytest.raises(AttributeError):
            cfg.producer.timout = 3.0  # type: ignore[attr-defined]


BAD_VALUES: list[Any] = [
    ("client_id", ""),
    ("client_id", 5),
    ("channel_buffer_size", -1),
    ("channel_buffer_size", 1.5),
    ("key_codec", "nope"),
    ("value_codec", object()),
    ("producer.required_acks", 2),
    ("producer.required_acks", "all"),
    ("producer.partitioner", "crc32"),
    ("producer.partitioner", 42),
    ("producer.return_successes", 1),
    ("producer.timeout", 0),
    ("producer.timeout", -1.0),
    ("producer.timeout", True),
    ("producer.timeout", float("nan")),
    ("producer.timeout", float("inf")),
    ("producer.timeout", "10"),
    ("producer.max_message_bytes", 0),
    ("producer.linger", -0.1),
    ("producer.batch_size", 0),
    ("producer.compression", "brotli"),
    ("consumer.offsets.initial", 0),
    ("consumer.offsets.initial", -3),
    ("consumer.offsets.commit_interval", 0),
    ("consumer.offsets.auto_commit", None),
    ("consumer.fetch.min", 0),
    ("consumer.fetch.default", 0),
    ("consumer.fetch.max", -5),
    ("consumer.max_wait", 0),
    ("group.return_notifications", "yes"),
    ("group.session_timeout", 0),
    ("group.heartbeat_interval", -1),
    ("group.rebalance_timeout", 0),
    ("group.rebalance_strategy", "best"),
    ("net.sasl.mechanism", "GSSAPI"),
    ("net.sasl.username", None),
    ("net.tls.enable", 1),
    ("net.tls.context", "ctx"),
    ("net.request_timeout", 0),
    ("producer", None),
    ("consumer.offsets", {}),
    ("net.tls", TlsConfig),
    # Values Kafka's wire cannot carry: durations are int32 milliseconds, sizes int32 bytes,
    # strings at most 32,767 UTF-8 bytes. Refused here, not at the first request.
    ("client_id", "x" * 32_768),
    ("client_id", "é" * 16_384),  # 32,768 bytes in UTF-8
    ("producer.timeout", 2_200_000.0),  # more than 2**31 - 1 ms
    pytest.param("producer.timeout", 10**400, id="producer.timeout-10**400"),  # float() overflows
    ("producer.timeout", 0.0009),  # 0 ms
    ("producer.linger", 0.0001),
    ("producer.linger", 1e300),
    ("producer.block_timeout", 0.0001),
    ("producer.block_timeout", 2**31),
    ("producer.max_message_bytes", 2**64),
    ("producer.max_message_bytes", 2**31),
    ("producer.batch_size", 2**31),
    ("consumer.offsets.commit_interval", 0.0001),
    ("consumer.offsets.commit_interval", 3e6),
    ("consumer.fetch.min", 2**31),
    ("consumer.fetch.max", 2**63),
    ("consumer.max_wait", 0.0005),
    ("consumer.max_wait", 2_147_484.0),
    pytest.param("group.session_timeout", 10**400, id="group.session_timeout-10**400"),
    ("group.heartbeat_interval", 0.0001),
    ("group.rebalance_timeout", 2_147_483.648),
    ("net.request_timeout", 3e6),
    pytest.param("net.request_timeout", -(10**400), id="net.request_timeout--10**400"),
]


class TestValidation:
    @pytest.mark.parametrize(("path", "value"), BAD_VALUES)
    def test_validate_after_mutation_names_the_field(self, path: str, value: Any) -> None:
        cfg = Config()
        set_path(cfg, path, value)
        with pytest.raises(ConfigError) as info:
            cfg.validate()
        assert info.value.field == path
        assert str(info.value).startswith(f"{path}: ")

    def test_config_error_is_a_value_error_and_an_aiomq_error(self) -> None:
        with pytest.raises(ValueError, match=r"producer\.timeout"):
            ProducerConfig(timeout=0)
        assert issubclass(ConfigError, AiomqError)

    @pytest.mark.parametrize(
        ("make", "field"),
        [
            (lambda: ProducerConfig(timeout=-1), "producer.timeout"),
            (lambda: OffsetsConfig(initial=7), "consumer.offsets.initial"),  # type: ignore[arg-type]
            (lambda: FetchConfig(default=10, max=5), "consumer.fetch.default"),
            (lambda: ConsumerConfig(max_wait=0), "consumer.max_wait"),
            (
                lambda: GroupConfig(session_timeout=3, heartbeat_interval=3),
                "group.heartbeat_interval",
            ),
            (lambda: SaslConfig(mechanism=SaslMechanism.PLAIN), "net.sasl.username"),
            (lambda: TlsConfig(context=ssl.create_default_context()), "net.tls.context"),
            (lambda: NetConfig(request_timeout=-2), "net.request_timeout"),
            (lambda: Config(channel_buffer_size=-1), "channel_buffer_size"),
        ],
    )
    def test_construction_validates(self, make: Any, field: str) -> None:
        with pytest.raises(ConfigError) as info:
            make()
        assert info.value.field == field

    def test_heartbeat_must_be_shorter_than_session(self) -> None:
        cfg = Config()
        cfg.group.heartbeat_interval = CLASSIC_SESSION_TIMEOUT  # against the default session
        with pytest.raises(ConfigError, match=r"shorter than group\.session_timeout"):
            cfg.validate()

    @pytest.mark.parametrize(
        ("path", "value", "replacement"),
        [
            ("group.session_timeout", 30.0, "group.consumer.session.timeout.ms"),
            ("group.heartbeat_interval", 1.0, "group.consumer.heartbeat.interval.ms"),
            ("group.rebalance_strategy", RebalanceStrategy.RANGE, "group.remote_assignor"),
        ],
    )
    def test_the_consumer_protocol_refuses_what_the_coordinator_owns(
        self, path: str, value: object, replacement: str
    ) -> None:
        cfg = Config()
        cfg.group.protocol = GroupProtocol.CONSUMER
        set_path(cfg, path, value)
        with pytest.raises(ConfigError) as caught:
            cfg.validate()
        assert caught.value.field == path
        assert replacement in str(caught.value)
        # The same setting is the classic protocol's to use, and AUTO's sign to use it.
        for protocol in (GroupProtocol.CLASSIC, GroupProtocol.AUTO):
            cfg.group.protocol = protocol
            cfg.validate()
            assert cfg.group.classic_settings == (path,)

    def test_a_remote_assignor_needs_the_consumer_protocol(self) -> None:
        cfg = Config()
        cfg.group.remote_assignor = "range"
        for protocol in (GroupProtocol.CONSUMER, GroupProtocol.AUTO):
            cfg.group.protocol = protocol
            cfg.validate()
        cfg.group.protocol = GroupProtocol.CLASSIC
        with pytest.raises(ConfigError, match="rebalance_strategy") as caught:
            cfg.validate()
        assert caught.value.field == "group.remote_assignor"
        cfg.group.protocol = GroupProtocol.AUTO
        cfg.group.session_timeout = 20.0  # classic-only: AUTO cannot tell which is meant
        with pytest.raises(ConfigError, match=r"group\.protocol") as caught:
            cfg.validate()
        assert caught.value.field == "group.remote_assignor"

    def test_fetch_default_may_not_exceed_max(self) -> None:
        cfg = Config()
        cfg.consumer.fetch.max = 1024
        with pytest.raises(ConfigError) as info:
            cfg.validate()
        assert info.value.field == "consumer.fetch.default"

    def test_unknown_codec_reports_the_config_field_and_known_names(self) -> None:
        with pytest.raises(ConfigError) as info:
            Config(value_codec="yaml")
        assert info.value.field == "value_codec"
        assert "'yaml'" in str(info.value)
        assert "'json'" in str(info.value)

    def test_valid_mutation_passes(self) -> None:
        cfg = Config()
        cfg.producer.required_acks = Acks.ALL
        cfg.producer.timeout = 2
        cfg.consumer.offsets.initial = Offset.OLDEST
        cfg.group.return_notifications = True
        cfg.validate()
        assert cfg.producer.required_acks is Acks.ALL


class TestOffsetReset:
    def test_off_by_default_as_in_sarama(self) -> None:
        assert Config().consumer.offsets.reset is False
        assert OffsetsConfig(reset=True).reset is True

    @pytest.mark.parametrize("bad", [1, "yes", None])
    def test_only_a_bool(self, bad: Any) -> None:
        cfg = Config()
        cfg.consumer.offsets.reset = bad
        with pytest.raises(ConfigError) as info:
            cfg.validate()
        assert info.value.field == "consumer.offsets.reset"


class TestWireRanges:
    @pytest.mark.parametrize(
        "path",
        [
            "producer.timeout",
            "consumer.offsets.commit_interval",
            "consumer.max_wait",
            "group.rebalance_timeout",
            "net.request_timeout",
        ],
    )
    def test_durations_from_one_millisecond_to_int32_milliseconds(self, path: str) -> None:
        cfg = Config()
        cfg.group.heartbeat_interval = 0.001  # below every session timeout tried here
        for seconds in (0.001, 0.0015, (2**31 - 1) / 1000, 2_147_483):
            set_path(cfg, path, seconds)
            cfg.validate()
            # What a backend sends: whole milliseconds, never 0, within an int32.
            assert 1 <= int(seconds * 1000) <= 2**31 - 1

    def test_zero_stays_allowed_where_it_means_at_once(self) -> None:
        cfg = Config()
        cfg.producer.linger = 0
        cfg.producer.block_timeout = 0
        cfg.validate()

    def test_sizes_up_to_int32(self) -> None:
        cfg = Config()
        cfg.producer.max_message_bytes = 2**31 - 1
        cfg.producer.batch_size = 2**31 - 1
        cfg.consumer.fetch.max = 2**31 - 1
        cfg.validate()

    def test_the_longest_client_id(self) -> None:
        Config(client_id="x" * 32_767).validate()
        Config(client_id="é" * 16_383).validate()


class TestNormalisation:
    @pytest.mark.parametrize(
        ("path", "value", "expected"),
        [
            ("producer.required_acks", -1, Acks.ALL),
            ("producer.required_acks", 0, Acks.NONE),
            ("producer.compression", "gzip", Compression.GZIP),
            ("consumer.offsets.initial", -2, Offset.OLDEST),
            ("group.rebalance_strategy", "range", RebalanceStrategy.RANGE),
        ],
    )
    def test_plain_values_become_enums(self, path: str, value: Any, expected: Any) -> None:
        cfg = Config()
        cfg.producer.idempotent = False  # so that every acks value is allowed
        set_path(cfg, path, value)
        cfg.validate()
        *parents, last = path.split(".")
        target: Any = cfg
        for name in parents:
            target = getattr(target, name)
        got = getattr(target, last)
        assert got is expected

    def test_plain_values_in_constructors(self) -> None:
        producer = ProducerConfig(required_acks=-1, compression="zstd")  # type: ignore[arg-type]
        assert producer.required_acks is Acks.ALL
        assert producer.compression is Compression.ZSTD

    def test_booleans_are_not_acks(self) -> None:
        # True == 1 == Acks.LOCAL, but a bool here is a mistake, not a setting.
        with pytest.raises(ConfigError):
            ProducerConfig(required_acks=True)  # type: ignore[arg-type]


class TestCodecsAndPartitioners:
    def test_codec_objects_are_accepted(self) -> None:
        cfg = Config(key_codec="str", value_codec=JsonCodec())
        assert isinstance(cfg.value_codec, JsonCodec)

    def test_partitioner_objects_classes_and_functions_are_accepted(self) -> None:
        def first(topic: str, key: bytes | None, partitions: int) -> int:
            return 0

        for spec in (RoundRobinPartitioner(), RoundRobinPartitioner, first, "manual"):
            cfg = Config()
            cfg.producer.partitioner = spec
            cfg.validate()
            assert cfg.producer.partitioner is spec


class TestSecurity:
    def test_sasl_enabled_and_password_hidden(self) -> None:
        sasl = SaslConfig(mechanism=SaslMechanism.SCRAM_SHA_256, username="alice", password="s3")
        assert sasl.enabled
        assert "s3" not in repr(sasl)
        assert "alice" in repr(sasl)

    def test_sasl_mechanism_by_name(self) -> None:
        cfg = Config()
        cfg.net.sasl.mechanism = "SCRAM-SHA-512"  # type: ignore[assignment]
        cfg.net.sasl.username = "bob"
        cfg.validate()
        assert cfg.net.sasl.mechanism is SaslMechanism.SCRAM_SHA_512

    def test_tls_with_context(self) -> None:
        context = ssl.create_default_context()
        tls = TlsConfig(enable=True, context=context)
        assert tls.context is context


def test_every_field_is_documented_where_it_is_declared() -> None:
    """Each dataclass field has a docstring right under it (the reference users read)."""
    tree = ast.parse(inspect.getsource(config_module))
    undocumented: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not dataclasses.is_dataclass(
            getattr(config_module, node.name)
        ):
            continue
        body = node.body
        for i, statement in enumerate(body):
            if not isinstance(statement, ast.AnnAssign):
                continue
            target = statement.target
            assert isinstance(target, ast.Name)
            if target.id == "PATH":  # a ClassVar, not a field
                continue
            following = body[i + 1] if i + 1 < len(body) else None
            documented = (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and len(following.value.value) > 20
            )
            if not documented:
                undocumented.append(f"{node.name}.{target.id}")
    assert undocumented == []


class TestTransactionsAndGroups:
    def test_a_transactional_id_needs_idempotence(self) -> None:
        cfg = Config()
        cfg.producer.transactional_id = "tx-1"
        cfg.validate()  # idempotent by default
        cfg.producer.idempotent = False
        with pytest.raises(ConfigError, match=r"producer\.transactional_id"):
            cfg.validate()

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("producer.transactional_id", ""),
            ("producer.transactional_id", 5),
            ("producer.transaction_timeout", 0),
            ("group.instance_id", ""),
            ("group.protocol", "eager"),
            ("group.remote_assignor", ""),
            ("group.remote_assignor", 3),
            ("consumer.isolation", "serializable"),
        ],
    )
    def test_bad_values_name_the_field(self, path: str, value: object) -> None:
        cfg = Config()
        cfg.producer.required_acks = Acks.ALL
        cfg.producer.idempotent = True
        section, name = path.rsplit(".", 1)
        target: object = cfg
        for part in section.split("."):
            target = getattr(target, part)
        setattr(target, name, value)
        with pytest.raises(ConfigError) as caught:
            cfg.validate()
        assert caught.value.field == path

    def test_plain_values_become_enums(self) -> None:
        cfg = Config()
        cfg.consumer.isolation = "read_committed"  # type: ignore[assignment]
        cfg.group.protocol = "classic"  # type: ignore[assignment]
        cfg.validate()
        assert cfg.consumer.isolation is Isolation.READ_COMMITTED
        assert cfg.group.protocol is GroupProtocol.CLASSIC
