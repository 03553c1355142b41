# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The route table: every route is one bus message and one capability.

Cell routes come from the registry (`POST /<cell>/<message>`, capability from the
cell's `requires`); the gateway adds its own key management routes. `guarded` refuses
the whole table while any route lacks a capability, so the app cannot start with a
route that nobody decided who may call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.cells import Registry, kebab
from ..core.messages import Message
from . import admin


class UnguardedRouteError(RuntimeError):
    """A route has no capability: deny-by-default cannot be enforced on it."""


@dataclass(frozen=True)
class GatewayRoute:
    path: str
    message_type: type[Message]
    capability: str | None
    strict_limit: bool = False


def route_table(registry: Registry) -> list[GatewayRoute]:
    routes = [
        GatewayRoute(cell.route(message_type), message_type, cell.requires.get(message_type))
        for cell in registry
        for message_type in cell.handles
    ]
    routes += [
        GatewayRoute(f"/admin/{kebab(m.__name__)}", m, admin.CAPABILITY, strict_limit=True)
        for m in admin.MESSAGES
    ]
    return guarded(routes)


def guarded(routes: list[GatewayRoute]) -> list[GatewayRoute]:
    unguarded = [route.path for route in routes if not route.capability]
    if unguarded:
        raise UnguardedRouteError(
            "routes without a capability: " + ", ".join(unguarded) + "; declare one in the "
            "cell's `requires` (e.g. requires={CreateNote: 'notes.write'}) and grant it to "
            "a role in blueprint.yml"
        )
    return routes
