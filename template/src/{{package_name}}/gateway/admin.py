# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Key management over HTTP, as bus messages the gateway itself handles.

`POST /admin/issue-api-key` and `POST /admin/revoke-api-key` need the `admin.keys`
capability and are rate-limited more strictly than other routes. The plain key is in
the one response that issues it, never in the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from ..core.blueprint_rules import ROLE_NAME_PATTERN
from ..core.bus import Bus, Rejected
from ..core.messages import Command, Record
from .apikeys import ApiKeys

CAPABILITY = "admin.keys"

# A role's name as the blueprint spells one; whether the role exists is the gateway's
# policy's to say (its roles come from the typed blueprint), answered with 422.
RoleName = Annotated[str, Field(pattern=ROLE_NAME_PATTERN)]


@dataclass(frozen=True, slots=True)
class IssuedApiKey(Record):
    id: str
    role: str
    key: str


@dataclass(frozen=True, slots=True)
class RevokedApiKey(Record):
    id: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class IssueApiKey(Command[IssuedApiKey]):
    """Create an API key for a role; the key is shown in this response only."""

    role: RoleName


@dataclass(frozen=True, slots=True)
class RevokeApiKey(Command[RevokedApiKey]):
    """Disable an API key at once; `revoked` is false if it was not active."""

    id: Annotated[str, Field(min_length=1, max_length=64)]


MESSAGES = (IssueApiKey, RevokeApiKey)


def document_roles(document: dict[str, Any], roles: Collection[str]) -> None:
    """List the roles the gateway's policy knows in its OpenAPI document, so a client
    (and the fuzzer) knows the valid values: they come from the typed blueprint at run
    time, not from the message's type."""
    schema = document.get("components", {}).get("schemas", {}).get(IssueApiKey.__name__)
    if schema is not None:
        schema["properties"]["role"]["enum"] = sorted(roles)


def wire(bus: Bus, keys: ApiKeys, roles: Collection[str]) -> None:
    """Key management on `bus`, for the `roles` the gateway's policy knows."""

    async def issue(command: IssueApiKey) -> IssuedApiKey:
        if command.role not in roles:
            raise Rejected(f"unknown role; blueprint.yml has: {', '.join(sorted(roles))}")
        key_id, key = keys.create(command.role)
        return IssuedApiKey(id=key_id, role=command.role, key=key)

    async def revoke(command: RevokeApiKey) -> RevokedApiKey:
        return RevokedApiKey(id=command.id, revoked=keys.revoke(command.id))

    bus.handle(IssueApiKey, issue)
    bus.handle(RevokeApiKey, revoke)
