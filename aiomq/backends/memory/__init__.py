"""The in-process broker behind ``memory://``: Kafka's log semantics with no network.

Not a mock: each topic has partitions, each partition an append-only log of records with
contiguous offsets, timestamps, a log start and a high watermark; fetches long-poll; errors
are Kafka's. Code tested here behaves the same on ``kafka://``, because both pass the one
contract suite. sarama ships ``MockBroker`` for its own tests, scripted response by
response; this is a working broker instead, the embedded default of ``aiomq demo``, the
examples and users' unit tests.

The modules: ``_log`` (a topic's partitions, records, offsets and retention, and what
transactions left in them), ``_transactions`` (the transaction coordinator: producer ids,
epochs, open transactions and their deadlines), ``_coordinator`` (the classic group
coordinator), ``_consumer_groups`` (the coordinator of Kafka 4's consumer group protocol,
KIP-848), with ``_reconcile`` (how a member moves to its target assignment) and
``_server_assignors`` (``uniform`` and ``range``), ``_broker`` (``MemoryBroker``: named
brokers, their topics, group offsets and transactions) and ``_backend`` (``MemoryBackend``:
the ``Backend`` operations and parked fetches; ``MemoryTransactionalProducer``).
"""

from __future__ import annotations

from ._backend import MemoryBackend as MemoryBackend
from ._backend import MemoryTransactionalProducer as MemoryTransactionalProducer
from ._broker import BROKER_ID as BROKER_ID
from ._broker import MemoryBroker as MemoryBroker
from ._broker import broker as broker
from ._broker import drop_broker as drop_broker
from ._log import DEFAULT_MAX_MESSAGE_BYTES as DEFAULT_MAX_MESSAGE_BYTES

__all__ = [
    "BROKER_ID",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MemoryBackend",
    "MemoryBroker",
    "MemoryTransactionalProducer",
    "broker",
    "drop_broker",
]
