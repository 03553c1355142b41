# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Cells: the modules of the monolith, and the registry that holds them.

A cell declares everything the rest of the system may know about it: its name, the
messages it handles, publishes and subscribes to, the cells it depends on, the sandbox
capabilities it needs, and why it exists. Everything else about a cell is private.
The registry checks the declarations against each other; `bootstrap` wires them to a bus.
Import contracts, routes and `docs/architecture.md` are all generated from this registry.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bus import Bus, Handler
from .messages import Command, Event, Message, Query, kind_of
from .periphery import CAPABILITIES as SANDBOX_CAPABILITIES

if TYPE_CHECKING:
    # Annotations only. Storage needs cryptography, which the docs generator (run in
    # copier's interpreter) lacks; the cell's bus view would pull in the outbox.
    from .cellbus import CellBus
    from .storage import Records


CAPABILITY = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_-]*")


class CellDeclarationError(ValueError):
    """A cell, or the set of cells, is declared inconsistently."""


@dataclass(frozen=True)
class CellContext:
    """What a cell receives when it is wired: its view of the bus (`core/cellbus.py`), its
    own SQLite database, and its encrypted records in that database (`core/storage.py`)."""

    bus: CellBus
    database: sqlite3.Connection
    records: Records


@dataclass(frozen=True)
class Wiring:
    """What a cell's `setup` returns: its handlers and its event subscribers."""

    handlers: Mapping[type[Message], Handler]
    subscribers: Mapping[type[Event], Sequence[Handler]] = field(default_factory=dict)


Setup = Callable[[CellContext], Wiring]
Wrap = Callable[["Cell", type[Message], Handler, str], Handler]


@dataclass(frozen=True)
class Cell:
    """The public declaration of one cell."""

    name: str
    handles: tuple[type[Command[Any]] | type[Query[Any]], ...]
    setup: Setup
    rationale: str
    publishes: tuple[type[Event], ...] = ()
    subscribes: tuple[type[Event], ...] = ()
    depends_on: tuple[str, ...] = ()
    # What the cell may ask of the sandbox (core/periphery.py): code.run, files.read,
    # files.write, web.fetch. Its view of the bus refuses the rest.
    capabilities: tuple[str, ...] = ()
    # The capability a caller must hold to send each handled message through the
    # gateway, e.g. {CreateNote: "notes.write"}. The gateway refuses to start while a
    # handled message has none: access is denied by default, granted by blueprint roles.
    requires: Mapping[type[Message], str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise CellDeclarationError(f"cell name {self.name!r} must be a lowercase identifier")
        if not self.rationale.strip():
            raise CellDeclarationError(f"cell {self.name!r} must say why it exists (rationale)")
        for message_type in self.handles:
            if kind_of(message_type) == "event":
                raise CellDeclarationError(
                    f"cell {self.name!r} handles event {message_type.__name__}; "
                    "events are subscribed to, not handled"
                )
        for event_type in (*self.publishes, *self.subscribes):
            if kind_of(event_type) != "event":
                raise CellDeclarationError(
                    f"cell {self.name!r} publishes or subscribes to "
                    f"{event_type.__name__}, which is not an Event"
                )
        for guarded, capability in self.requires.items():
            if guarded not in self.handles:
                raise CellDeclarationError(
                    f"cell {self.name!r} requires a capability for "
                    f"{guarded.__name__}, which it does not handle"
                )
            if not CAPABILITY.fullmatch(capability):
                raise CellDeclarationError(
                    f"cell {self.name!r}: capability {capability!r} must look like "
                    "'<area>.<action>', e.g. 'notes.write'"
                )
        unknown = set(self.capabilities) - set(SANDBOX_CAPABILITIES)
        if unknown:
            raise CellDeclarationError(
                f"cell {self.name!r} declares unknown sandbox capabilities "
                f"{sorted(unknown)}; known: {', '.join(SANDBOX_CAPABILITIES)}"
            )
        if self.name in self.depends_on:
            raise CellDeclarationError(f"cell {self.name!r} depends on itself")

    def route(self, message_type: type[Message]) -> str:
        """The HTTP route of a handled message: `/<cell>/<kebab-case-name>`."""
        return f"/{self.name}/{kebab(message_type.__name__)}"

    def messages(self) -> tuple[type[Message], ...]:
        """Every message type this cell declares, in declaration order, once each."""
        return tuple(dict.fromkeys((*self.handles, *self.publishes, *self.subscribes)))


class Registry:
    """The cells of one service, checked against each other."""

    def __init__(self, cells: Iterable[Cell]) -> None:
        self._cells: dict[str, Cell] = {}
        for cell in cells:
            if cell.name in self._cells:
                raise CellDeclarationError(f"two cells are named {cell.name!r}")
            self._cells[cell.name] = cell
        self._owners: dict[type[Message], Cell] = {}
        for cell in self._cells.values():
            self._check_dependencies(cell)
            for message_type in (*cell.handles, *cell.publishes):
                owner = self._owners.setdefault(message_type, cell)
                if owner is not cell:
                    raise CellDeclarationError(
                        f"{message_type.__name__} is declared by both {owner.name!r} "
                        f"and {cell.name!r}; a message belongs to one cell"
                    )
        for cell in self._cells.values():
            for event_type in cell.subscribes:
                if event_type not in self._owners:
                    raise CellDeclarationError(
                        f"cell {cell.name!r} subscribes to {event_type.__name__}, "
                        "which no cell publishes"
                    )

    def _check_dependencies(self, cell: Cell) -> None:
        for dependency in cell.depends_on:
            if dependency not in self._cells:
                raise CellDeclarationError(
                    f"cell {cell.name!r} depends on unknown cell {dependency!r}"
                )

    def __iter__(self) -> Iterator[Cell]:
        return iter(self._cells.values())

    def __len__(self) -> int:
        return len(self._cells)

    def __getitem__(self, name: str) -> Cell:
        return self._cells[name]

    def owner_of(self, message_type: type[Message]) -> Cell:
        """The cell that handles or publishes a message type."""
        return self._owners[message_type]

    def message_name(self, message_type: type[Message]) -> str:
        """The stable wire name of a message type: `<owner cell>.<ClassName>`."""
        return f"{self.owner_of(message_type).name}.{message_type.__name__}"

    def wire(
        self,
        bus: Bus,
        open_context: Callable[[Cell], CellContext],
        local: Iterable[str] | None = None,
        wrap: Wrap | None = None,
    ) -> dict[str, Wiring]:
        """Call the setup of each local cell (all by default) and connect its handlers and
        subscribers to the bus, each passed through `wrap(cell, message type, handler, key)`
        first (the unit of work; `key` names the handler stably across processes).
        Returns each cell's wiring as connected."""
        wired: dict[str, Wiring] = {}
        names = set(self._cells) if local is None else set(local)
        for cell in (cell for cell in self if cell.name in names):
            wiring = cell.setup(open_context(cell))
            missing = set(cell.handles) - set(wiring.handlers)
            undeclared = set(wiring.handlers) - set(cell.handles)
            if missing or undeclared:
                raise CellDeclarationError(
                    f"cell {cell.name!r}: handlers do not match its declaration "
                    f"(missing {_names(missing)}, undeclared {_names(undeclared)})"
                )
            for event_type in wiring.subscribers:
                if event_type not in cell.subscribes:
                    raise CellDeclarationError(
                        f"cell {cell.name!r} subscribes to {event_type.__name__} "
                        "without declaring it in `subscribes`"
                    )
            if wrap is not None:
                wiring = _wrapped(cell, wiring, wrap)
            for message_type, handler in wiring.handlers.items():
                bus.handle(message_type, handler)
            for event_type, handlers in wiring.subscribers.items():
                for handler in handlers:
                    bus.subscribe(event_type, handler)
            wired[cell.name] = wiring
        return wired


def _wrapped(cell: Cell, wiring: Wiring, wrap: Wrap) -> Wiring:
    return Wiring(
        handlers={m: wrap(cell, m, h, m.__name__) for m, h in wiring.handlers.items()},
        subscribers={
            e: [wrap(cell, e, h, f"{e.__name__}:{index}") for index, h in enumerate(hs)]
            for e, hs in wiring.subscribers.items()
        },
    )


def kebab(name: str) -> str:
    """`CreateNote` -> `create-note`: the path segment of a message's route."""
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def _names(types: Iterable[type[Any]]) -> str:
    return ", ".join(sorted(t.__name__ for t in types)) or "none"
