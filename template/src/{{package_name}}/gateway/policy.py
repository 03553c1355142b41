# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Authorisation: does a role grant a capability? Denied unless a grant matches.

Grants are shell-style patterns over capability names (`notes.*`, `*.read`, `*`),
matched case-sensitively; an unknown role grants nothing. Decisions are cached because
the set of roles and capabilities is small and fixed for the life of the process. The
roles are the typed blueprint's (`Policy.of`), read once by the composition root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from functools import lru_cache

from ..core.blueprint import Blueprint


class Policy:
    def __init__(self, roles: Mapping[str, Sequence[str]]) -> None:
        self.roles = {role: tuple(grants) for role, grants in roles.items()}
        self.allows = lru_cache(maxsize=4096)(self._allows)

    @classmethod
    def of(cls, blueprint: Blueprint | None) -> Policy:
        """The roles `blueprint.yml` grants (none without a blueprint: all is denied)."""
        return cls(blueprint.grants if blueprint else {})

    def _allows(self, role: str, capability: str) -> bool:
        return any(fnmatchcase(capability, grant) for grant in self.roles.get(role, ()))
