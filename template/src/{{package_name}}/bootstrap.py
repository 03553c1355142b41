"""The composition root: loads the cells of the catalog and wires the ones that run in
this process to one bus, each with its own database, encrypted records under the data
keyring and an outbox (`core/outbox.py`); puts stand-ins on the bus for the cells that run
elsewhere (`core/remote.py`); and wires the sandboxed peripheries (which cells reach only
over the bus, never by import).

Dev and test runs add the codec round-trip middleware, so every message is proven
serialisable before anything depends on it crossing a process boundary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field

from .core.bus import Bus, Handler, codec_round_trip
from .core.catalog import CELL_NAMES, load_registry
from .core.cellbus import CellBus
from .core.cells import Cell, CellContext, Registry
from .core.codec import Codec
from .core.envelope import delivery_envelopes
from .core.messages import Message, kind_of
from .core.outbox import Outbox
from .core.remote import Remote
from .core.sealing import Keyring, load_keyring
from .core.settings import Settings
from .core.storage import Records, open_cell_database
from .core.transport import Kind, Transport, open_transport
from .sandbox.limits import Policy
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
    names: tuple[str, ...] = CELL_NAMES,
    local: Collection[str] | None = None,
    transports: dict[Kind, Transport] | None = None,
) -> Runtime:
    """Load and check every cell; wire the `local` ones (by default those the placements
    leave in this process) and reach the others over `transports` (by default opened from
    the settings for every kind the placements use)."""
    settings = settings or Settings()
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
    runtime.sandbox = Sandbox(Policy.from_file(settings.blueprint))
    if settings.sandbox_pool > 0 and runtime.sandbox.backend is not None:
        runtime.pool = WarmPool(runtime.sandbox, settings.sandbox_pool)
    loopback = settings.sandbox_loopback_for_tests if settings.env == "test" else ()
    Peripheries(runtime.sandbox, settings.data_dir, runtime.pool, loopback).wire(runtime.bus)
