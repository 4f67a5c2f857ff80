"""The ``kafka://`` backend: the ``Backend`` operations over Kafka's protocol, through aiokafka.

Modules, each one concern:

- ``backend``: ``KafkaBackend``, the operations; argument checks first, then requests.
- ``_cluster``: connections, the broker map, leader and coordinator caches, and the retry
  loop with its deadline; closing, also when cancelled.
- ``_pool``: fetch connections, one per concurrent fetch, a few kept idle per broker.
- ``_sender``: Produce requests with one deadline per call, batches built by aiokafka's
  compiled builder; ``_sequences``: the idempotent producer's sequence bookkeeping.
- ``_transactional``: the transactional producer, driving ``_transactions`` (its state
  machine, no I/O); ``_protocol``: the flexible request versions aiokafka lacks.
- ``_group``: the group capabilities (the classic protocol's JoinGroup, SyncGroup and
  heartbeats, the consumer group protocol's heartbeats, membership-checked commits, group
  administration); ``_group_protocol``: their request versions; ``_topic_ids``: topic ids
  and names, for the consumer group protocol.
- ``_errors``: aiokafka's errors and Kafka's error codes mapped to aiomq's, in one place.

The Go counterpart is sarama's ``Client`` with its ``Broker`` connections.
"""

from __future__ import annotations

from .backend import KafkaBackend as KafkaBackend

__all__ = ["KafkaBackend"]
