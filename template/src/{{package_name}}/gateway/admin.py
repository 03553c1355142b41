"""Key management over HTTP, as bus messages the gateway itself handles.

`POST /admin/issue-api-key` and `POST /admin/revoke-api-key` need the `admin.keys`
capability and are rate-limited more strictly than other routes. The plain key is in
the one response that issues it, never in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from ..core.bus import Bus
from ..core.messages import Command, Record
from ..core.roles import ROLES
from .apikeys import ApiKeys

CAPABILITY = "admin.keys"


def _known_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role; blueprint.yml has: {', '.join(sorted(ROLES))}")
    return role


# The schema lists the roles, so a client (and the fuzzer) knows the valid values.
RoleName = Annotated[str, AfterValidator(_known_role), Field(json_schema_extra={"enum": [*ROLES]})]


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


def wire(bus: Bus, keys: ApiKeys) -> None:
    async def issue(command: IssueApiKey) -> IssuedApiKey:
        key_id, key = keys.create(command.role)
        return IssuedApiKey(id=key_id, role=command.role, key=key)

    async def revoke(command: RevokeApiKey) -> RevokedApiKey:
        return RevokedApiKey(id=command.id, revoked=keys.revoke(command.id))

    bus.handle(IssueApiKey, issue)
    bus.handle(RevokeApiKey, revoke)
