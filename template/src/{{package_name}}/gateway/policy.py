"""Authorisation: does a role grant a capability? Denied unless a grant matches.

Grants are shell-style patterns over capability names (`notes.*`, `*.read`, `*`),
matched case-sensitively; an unknown role grants nothing. Decisions are cached because
the set of roles and capabilities is small and fixed for the life of the process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from functools import lru_cache

from ..core.roles import ROLES


class Policy:
    def __init__(self, roles: Mapping[str, Sequence[str]] = ROLES) -> None:
        self.roles = {role: tuple(grants) for role, grants in roles.items()}
        self.allows = lru_cache(maxsize=4096)(self._allows)

    def _allows(self, role: str, capability: str) -> bool:
        return any(fnmatchcase(capability, grant) for grant in self.roles.get(role, ()))
