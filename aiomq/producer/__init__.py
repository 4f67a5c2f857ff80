"""Producers: ``SyncProducer`` (send and wait for the acknowledgement) and ``AsyncProducer``
(an input channel drained in the background, outcomes on successes and errors channels).

Both gather records into per-partition batches and deliver each partition's batches in order
(``_engine``); make them with ``client.sync_producer()`` and ``client.async_producer()``.
"""

from ._async import AsyncProducer as AsyncProducer
from ._sync import SyncProducer as SyncProducer

__all__ = ["AsyncProducer", "SyncProducer"]
