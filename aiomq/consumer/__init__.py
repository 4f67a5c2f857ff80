"""Consumers: read partitions of topics, one task per partition, whole batches at a time.

``_fetcher.PartitionFetcher`` is the fetch loop under every consumer, the consumer group's
included.
"""
