"""Where a consumer starts: ``Offset.NEWEST``, ``Offset.OLDEST``, a concrete offset or
``Offset.at(timestamp)``, checked when asked for and resolved to a position per partition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from .._session import Session
from ..backends.base import EARLIEST, INT64_MAX, LATEST, check_partition, check_topic
from ..config import Offset, OffsetAt, OffsetsConfig
from ..errors import AiomqError, ConfigError, OffsetOutOfRange, UnknownTopic

__all__ = [
    "OffsetLike",
    "Start",
    "check_start",
    "check_topic_partition",
    "reset_spec",
    "resolve",
]

OffsetLike: TypeAlias = Offset | int | OffsetAt
"""Where a consumer starts: ``Offset.NEWEST``, ``Offset.OLDEST``, an offset (an ``int`` of
at least 0) or ``Offset.at(timestamp)``."""


@dataclass(frozen=True, slots=True)
class Start:
    """Where a partition is read from, and its end (high watermark) when that was decided."""

    position: int
    high_watermark: int


def check_start(offset: object) -> int | OffsetAt:
    """``offset`` if a consumer can start there (see ``OffsetLike``), the sentinels as
    ``Offset`` members; ``ConfigError("offset")`` otherwise."""
    if isinstance(offset, OffsetAt):
        return offset
    # bool is an int subclass; offset=True is a mistake, not offset 1.
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ConfigError(
            "offset",
            "must be Offset.NEWEST, Offset.OLDEST, an int offset or Offset.at(timestamp), "
            f"not {offset!r}",
        )
    if offset < 0:
        if offset in (Offset.NEWEST, Offset.OLDEST):
            return Offset(offset)
        raise ConfigError(
            "offset", f"must be Offset.NEWEST (-1), Offset.OLDEST (-2) or >= 0, not {offset}"
        )
    if offset > INT64_MAX:
        raise ConfigError("offset", f"must be at most {INT64_MAX}, not {offset}")
    return offset


async def check_topic_partition(session: Session, topic: object, partition: object) -> None:
    """``ConfigError`` for an illegal topic name or partition number, ``UnknownTopic`` when
    the topic or that partition does not exist (the partition count is asked again before
    saying so: partitions may have been added)."""
    check_topic(topic)
    check_partition(partition)
    assert isinstance(topic, str)
    if partition in await session.partitions(topic):
        return
    found = await session.partitions(topic, refresh=True)
    if partition not in found:
        raise UnknownTopic(f"topic {topic!r} has no partition {partition} (it has {len(found)})")


def reset_spec(offsets: OffsetsConfig) -> int | None:
    """Where a fetcher goes when its position falls out of the log: ``initial`` when
    ``offsets.reset`` is on, else None (it stops with ``OffsetOutOfRange``)."""
    if not offsets.reset:
        return None
    return EARLIEST if offsets.initial is Offset.OLDEST else LATEST


async def resolve(
    session: Session, topic: str, partitions: Sequence[int], offset: int | OffsetAt
) -> dict[int, Start]:
    """Resolve ``offset`` (checked by ``check_start``) in each of ``partitions``.

    ``NEWEST`` is the high watermark, ``OLDEST`` the log start, ``Offset.at(t)`` the first
    record at or after ``t`` (the high watermark when none is that recent). A concrete
    offset must lie between the log start and the high watermark, both included (sarama's
    check): otherwise ``OffsetOutOfRange``, or, with ``consumer.offsets.reset``, the
    ``initial`` end of the log. One ``list_offsets`` call per kind of spec, for all
    partitions at once.
    """
    backend = session.backend
    ends = _known(topic, await backend.list_offsets(topic, dict.fromkeys(partitions, LATEST)))
    if offset is Offset.NEWEST:
        return {p: Start(ends[p], ends[p]) for p in partitions}
    if isinstance(offset, OffsetAt):
        found = await backend.list_offsets(topic, dict.fromkeys(partitions, offset.timestamp))
        return {p: Start(_or(found.get(p), ends[p]), ends[p]) for p in partitions}
    starts = _known(topic, await backend.list_offsets(topic, dict.fromkeys(partitions, EARLIEST)))
    if offset is Offset.OLDEST:
        return {p: Start(starts[p], ends[p]) for p in partitions}
    settings = session.config.consumer.offsets
    out: dict[int, Start] = {}
    for p in partitions:
        if starts[p] <= offset <= ends[p]:
            out[p] = Start(offset, ends[p])
        elif settings.reset:
            reset = starts[p] if settings.initial is Offset.OLDEST else ends[p]
            out[p] = Start(reset, ends[p])
        else:
            raise OffsetOutOfRange(
                f"{topic}[{p}]: offset {offset} is out of range: the log holds offsets "
                f"{starts[p]} to {ends[p] - 1} and the next record gets {ends[p]} "
                "(consumer.offsets.reset = True moves to consumer.offsets.initial instead)"
            )
    return out


def _or(offset: int | None, default: int) -> int:
    return default if offset is None else offset


def _known(topic: str, found: Mapping[int, int | None]) -> dict[int, int]:
    out: dict[int, int] = {}
    for partition, offset in found.items():
        if offset is None:  # never for EARLIEST or LATEST; a backend that breaks that
            raise AiomqError(f"{topic}[{partition}]: the broker returned no offset")
        out[partition] = offset
    return out
