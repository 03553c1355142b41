# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The composition root, the one module that wires the service's parts together.

- `build`: loads the cells of the catalog and wires the ones that run in this process to
  one bus, each with its own database, encrypted records under the data keyring and an
  outbox (`core/outbox.py`); puts stand-ins on the bus for the cells that run elsewhere,
  over their transports (`core/remote.py`); and wires the sandboxed peripheries (which
  cells reach only over the bus, never by import).
- `create_app`: the gateway over a built runtime: its audit log, API keys, guard, the
  admin commands, metrics and their sampler, the models' usage ledger and the
  idempotency store; `gateway.app` only turns these parts into an ASGI app.
- `wire_worker_audit`: a worker's own audit log, for the deliveries it refuses.

Nothing below this module builds what belongs to a layer above it (`core` builds no
gateway, no sandbox); `.importlinter`'s layers contract keeps it so.

Dev and test runs add the codec round-trip middleware, so every message is proven
serialisable before anything depends on it crossing a process boundary.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from .core.bus import Bus, Handler, codec_round_trip
from .core.catalog import cell_names, load_registry
from .core.cellbus import CellBus
from .core.cells import Cell, CellContext, Registry
from .core.codec import Codec
from .core.envelope import delivery_envelopes
from .core.keyfiles import load_key
from .core.messages import Message, kind_of
from .core.outbox import Outbox
from .core.remote import Remote
from .core.sealing import Keyring, load_keyring
from .core.settings import Settings
from .core.storage import Records, open_cell_database
from .core.transport import Kind, Transport
from .core.transport.adapters import open_transport
from .gateway import admin
from .gateway.apikeys import ApiKeys
from .gateway.app import Parts, asgi_app
from .gateway.audit import AuditLog, refusal_entries
from .gateway.authn import Authenticator
from .gateway.guard import Guard
from .gateway.idempotency import IdempotencyStore
from .gateway.metrics import GatewayMetrics
from .gateway.policy import Policy
from .gateway.ratelimit import RateLimits
from .gateway.routes import route_table
from .llm.ledger import Ledger
from .llm.metrics import UsageCollector
from .metrics import Metrics, Sampler
from .sandbox.limits import Policy as SandboxPolicy
from .sandbox.peripheries import Peripheries
from .sandbox.pool import WarmPool
from .sandbox.runner import Sandbox


@dataclass
class Runtime:
    """A wired service: the bus, the registry, the codec and the local cells' databases."""

    settings: Settings
    bus: Bus
    registry: Registry
    codec: Codec
    keyring: Keyring
    remote: Remote
    databases: dict[str, sqlite3.Connection] = field(default_factory=dict)
    records: dict[str, Records] = field(default_factory=dict)
    outboxes: dict[str, Outbox] = field(default_factory=dict)
    sandbox: Sandbox | None = None
    pool: WarmPool | None = None

    @property
    def local(self) -> frozenset[str]:
        """The cells that run in this process."""
        return self.remote.local

    async def start(self) -> None:
        """Connect the transports, serve the local cells' inboxes, and relay the events a
        crash left in the outboxes."""
        for transport in self.remote.transports.values():
            await transport.connect()
        await self.remote.serve()
        for outbox in self.outboxes.values():
            await outbox.flush()

    async def queue_depths(self) -> dict[str, int]:
        """Inbox depth of each cell on a worker (/metrics adds the in-process ones)."""
        return await self.remote.depths()

    async def stop(self) -> None:
        """Stop consuming and disconnect; messages not yet acknowledged are redelivered."""
        for transport in self.remote.transports.values():
            await transport.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.sandbox is not None:
            self.sandbox.close()
        for connection in self.databases.values():
            connection.close()
        self.databases.clear()


def build(
    settings: Settings | None = None,
    names: tuple[str, ...] | None = None,
    local: Collection[str] | None = None,
    transports: dict[Kind, Transport] | None = None,
) -> Runtime:
    """Load and check every cell (`names`, by default the blueprint's); wire the `local`
    ones (by default those the placements leave in this process) and reach the others
    over `transports` (by default opened from the settings for every kind the placements
    use)."""
    settings = settings or Settings()
    names = cell_names(settings.blueprint_model) if names is None else names
    registry = load_registry(names, settings.test_cells if settings.env == "test" else ())
    names = tuple(cell.name for cell in registry)
    codec = Codec()
    for cell in registry:
        for message_type in cell.messages():
            codec.register(registry.message_name(message_type), message_type)
    bus = Bus(middleware=[codec_round_trip(codec)] if settings.checks_messages else [])
    keyring = load_keyring(settings)
    placements = {cell: kind for cell, kind in settings.placements.items() if cell in names}
    here = frozenset(local if local is not None else set(names) - set(placements))
    if transports is None:
        transports = {kind: open_transport(kind, settings) for kind in set(placements.values())}
    envelopes = delivery_envelopes(settings) if transports else None  # signed deliveries
    timeout = settings.transport_timeout_seconds
    remote = Remote(registry, codec, bus, placements, here, transports, timeout, envelopes)
    runtime = Runtime(settings, bus, registry, codec, keyring, remote)

    def open_context(cell: Cell) -> CellContext:
        database = runtime.databases[cell.name] = open_cell_database(settings.data_dir, cell.name)
        records = runtime.records[cell.name] = Records(database, cell.name, keyring)
        records.check_keys()  # a wrong or missing data key stops the start, clearly
        # Sealed at rest like records: the events it keeps and the results it stores.
        outbox = runtime.outboxes[cell.name] = Outbox(cell.name, database, codec, keyring)
        outbox.relay = remote.relay
        view = CellBus(bus, cell.name, cell.capabilities, outbox)
        return CellContext(bus=view, database=database, records=records)

    def in_unit(cell: Cell, message_type: type[Message], handler: Handler, key: str) -> Handler:
        if kind_of(message_type) == "query":  # reads need no transaction
            return handler
        return runtime.outboxes[cell.name].wrap(handler, key)

    remote.wiring = registry.wire(bus, open_context, here, in_unit)
    remote.wire()
    wire_sandbox(runtime)
    return runtime


def wire_sandbox(runtime: Runtime) -> None:
    """The sandboxed peripheries, with the blueprint's policy (core/periphery.py)."""
    settings = runtime.settings
    runtime.sandbox = Sandbox(SandboxPolicy.from_blueprint(settings.blueprint_model))
    if settings.sandbox_pool > 0 and runtime.sandbox.backend is not None:
        runtime.pool = WarmPool(runtime.sandbox, settings.sandbox_pool)
    loopback = settings.sandbox_loopback_for_tests if settings.env == "test" else ()
    Peripheries(runtime.sandbox, settings.data_dir, runtime.pool, loopback).wire(runtime.bus)


def open_audit_log(settings: Settings, writer: str = "") -> AuditLog:
    """The gateway's audit log; or, with `writer` (a worker), that process's own log
    beside it, `audit-<writer>.log`: a hash chain has exactly one writer."""
    path = settings.audit_path
    if path is None:  # tests: a private file that lives as long as the process
        path = Path(tempfile.mkdtemp(prefix="audit-")) / "audit.log"
    if writer:
        path = path.with_name(f"{path.stem}-{writer}{path.suffix}")
    return AuditLog(path, load_key(settings, "audit"), fsync=settings.audit_fsync)


def wire_worker_audit(runtime: Runtime) -> AuditLog:
    """A worker's own audit log, `audit-worker-<cells>.log` beside the gateway's, where
    each delivery it refuses (unsigned, forged, replayed) leaves an entry."""
    audit = open_audit_log(runtime.settings, "worker-" + "-".join(sorted(runtime.local)))
    runtime.remote.on_refused = refusal_entries(audit)
    return audit


def wire_metrics(runtime: Runtime) -> Metrics:
    """The gateway process's measurements: each cell's handler latency (a bus
    middleware) and the inbox depths of the cells on workers (from the transports)."""
    measured = Metrics(runtime.registry, runtime.settings.blueprint.resolve().parent, "gateway")
    runtime.bus.add_middleware(measured.cells.middleware)
    measured.cells.depth_provider = runtime.queue_depths
    return measured


def wire_admin(runtime: Runtime, keys: ApiKeys, roles: Collection[str]) -> None:
    """The gateway's own commands (issue and revoke API keys) on the bus and the codec."""
    admin.wire(runtime.bus, keys, roles)
    for message_type in admin.MESSAGES:
        runtime.codec.register(f"gateway.{message_type.__name__}", message_type)


def create_app(runtime: Runtime, policy: Policy | None = None) -> Starlette:
    """The gateway over a wired runtime (one app per runtime: it adds handlers).
    `policy` defaults to the blueprint's roles."""
    settings = runtime.settings
    routes = route_table(runtime.registry)  # refuses a route without a capability
    keys = ApiKeys(settings.api_keys_path)
    audit = open_audit_log(settings)
    runtime.remote.on_refused = refusal_entries(audit)  # forged or replayed deliveries
    measured = wire_metrics(runtime)
    limits = RateLimits(settings.rate_limit, settings.rate_limit_keys, settings.limits_override)
    authn = Authenticator(settings, keys)
    policy = policy or Policy.of(settings.blueprint_model)
    guard = Guard(authn, policy, limits, audit, users=measured.users)
    wire_admin(runtime, keys, policy.roles)
    gauges = GatewayMetrics(measured)
    usage = Ledger(settings.llm_ledger_path)  # model calls (llm/): read at each scrape
    gauges.registry.register(UsageCollector(usage))
    series = settings.series_path
    sampler = Sampler(measured, series, settings.sample_seconds) if series else None
    # A request runs at most request_timeout_seconds (the Timeout middleware): a key still
    # marked running after that was left by a crash, and may run again.
    lease = settings.request_timeout_seconds + 1.0
    ttl = settings.idempotency_ttl_seconds
    answers = IdempotencyStore(settings.data_dir, runtime.keyring, ttl, lease)

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        await runtime.start()  # transports, inbox consumers, the outbox relay
        if sampler is not None:
            sampler.start()  # the metrics series, one sample per interval
        try:
            yield
        finally:
            if sampler is not None:
                await sampler.stop()
            await runtime.stop()
            audit.close()
            keys.close()
            answers.close()
            usage.close()
            runtime.close()

    parts = Parts(
        settings, runtime.bus, runtime.codec, routes, guard, gauges, answers, audit, keys, running
    )
    return asgi_app(parts)
