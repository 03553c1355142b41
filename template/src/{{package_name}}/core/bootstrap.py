"""The composition root: loads the cells of the catalog and wires them to one bus,
each with its own database and encrypted records under the data keyring, and wires the
sandboxed peripheries (which cells reach only over the bus, never by import).

Dev and test runs add the codec round-trip middleware, so every message is proven
serialisable before anything depends on it crossing a process boundary.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from ..sandbox.limits import Policy
from ..sandbox.peripheries import Peripheries
from ..sandbox.pool import WarmPool
from ..sandbox.runner import Sandbox
from .bus import Bus, codec_round_trip
from .catalog import CELL_NAMES, load_registry
from .cells import Registry
from .codec import Codec
from .sealing import Keyring, load_keyring
from .settings import Settings
from .storage import Records, open_cell_database


@dataclass
class Runtime:
    """A wired service: the bus, the registry, the codec and the cells' databases."""

    settings: Settings
    bus: Bus
    registry: Registry
    codec: Codec
    keyring: Keyring
    databases: dict[str, sqlite3.Connection] = field(default_factory=dict)
    records: dict[str, Records] = field(default_factory=dict)
    sandbox: Sandbox | None = None
    pool: WarmPool | None = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.sandbox is not None:
            self.sandbox.close()
        for connection in self.databases.values():
            connection.close()
        self.databases.clear()


def build(settings: Settings | None = None, names: tuple[str, ...] = CELL_NAMES) -> Runtime:
    """Load, check and wire the cells."""
    settings = settings or Settings()
    registry = load_registry(names)
    codec = Codec()
    for cell in registry:
        for message_type in cell.messages():
            codec.register(registry.message_name(message_type), message_type)
    bus = Bus(middleware=[codec_round_trip(codec)] if settings.checks_messages else [])
    keyring = load_keyring(settings)
    runtime = Runtime(settings, bus, registry, codec, keyring)

    def open_storage(cell: str) -> tuple[sqlite3.Connection, Records]:
        database = runtime.databases[cell] = open_cell_database(settings.data_dir, cell)
        records = runtime.records[cell] = Records(database, cell, keyring)
        records.check_keys()  # a wrong or missing data key stops the start, clearly
        return database, records

    registry.wire(bus, open_storage)
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
