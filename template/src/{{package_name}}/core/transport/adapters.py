# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`open_transport`: the adapter for a kind of transport, configured from the settings.

It lives apart from the protocol (`core/transport/__init__.py`) because the adapters
build on the protocol: with the choice in the same module, protocol and adapters would
import each other. Redis and NATS are optional integrations, imported only when a
placement uses them, so a service that uses neither never imports redis-py or nats-py.
"""

from __future__ import annotations

from typing import Any

from . import Kind, Retry, Transport
from .memory import MemoryTransport


def open_transport(kind: Kind, settings: Any) -> Transport:
    """The adapter for `kind`, configured from `Settings`."""
    redeliver = settings.redeliver_after_seconds
    timeout, namespace = settings.transport_timeout_seconds, settings.transport_namespace
    retry = Retry.from_blueprint(settings.blueprint_model)
    if kind == "redis":
        from .redis import RedisTransport  # optional integration: redis

        block = settings.transport_block_seconds
        return RedisTransport(settings.redis_url, namespace, timeout, redeliver, block, retry)
    if kind == "nats":
        from .nats import NatsTransport  # optional integration: nats

        return NatsTransport(settings.nats_url, namespace, timeout, redeliver, retry)
    return MemoryTransport(redeliver, timeout, retry)
