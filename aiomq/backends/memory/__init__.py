"""The in-process broker behind ``memory://`` (see ``_broker``)."""

from __future__ import annotations

from ._broker import DEFAULT_MAX_MESSAGE_BYTES as DEFAULT_MAX_MESSAGE_BYTES
from ._broker import MemoryBackend as MemoryBackend
from ._broker import MemoryBroker as MemoryBroker
from ._broker import broker as broker
from ._broker import drop_broker as drop_broker

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "MemoryBackend", "MemoryBroker", "broker", "drop_broker"]
