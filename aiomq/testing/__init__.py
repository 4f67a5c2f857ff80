"""Test support for aiomq users: a pytest plugin and a Kafka launcher."""
