# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The bus as one cell sees it.

A cell's handlers get this view instead of the bus itself. It passes everything through,
except messages to the sandboxed peripheries (`core/periphery.py`): those need a
capability the cell declared (`Cell(capabilities=...)`), else the answer is a `denied`
result, and they are stamped with the cell's name, so a cell cannot act as another.
Events go to the cell's outbox (`core/outbox.py`), to be sent once the handler's
transaction commits.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, cast

from .bus import Bus
from .messages import Command, Event, Message, Query
from .outbox import Outbox
from .periphery import SandboxResult

R = TypeVar("R")


class CellBus:
    def __init__(
        self, bus: Bus, cell: str, capabilities: tuple[str, ...], outbox: Outbox | None = None
    ) -> None:
        self.cell, self.capabilities = cell, frozenset(capabilities)
        self._bus, self._outbox = bus, outbox

    async def send(self, command: Command[R]) -> R:
        refusal = self._refusal(command)
        if refusal is not None:
            return cast(R, refusal)
        return await self._bus.send(self._stamped(command))

    async def ask(self, query: Query[R]) -> R:
        refusal = self._refusal(query)
        if refusal is not None:
            return cast(R, refusal)
        return await self._bus.ask(self._stamped(query))

    async def publish(self, event: Event) -> None:
        if self._outbox is None:
            await self._bus.publish(event)
        else:
            await self._outbox.add(event)

    def _refusal(self, message: Message) -> SandboxResult | None:
        capability: str | None = getattr(message, "capability", None)
        if capability is None or capability in self.capabilities:
            return None
        return SandboxResult(
            "denied",
            "none",
            reason=f"cell {self.cell!r} does not declare the capability {capability!r}",
        )

    def _stamped(self, message: Any) -> Any:
        if hasattr(message, "capability"):
            return dataclasses.replace(message, cell=self.cell)
        return message
