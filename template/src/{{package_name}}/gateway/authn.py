# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Authentication: who is calling? API keys and JWT bearer tokens, both as
`Authorization: Bearer <credential>`.

- An API key (`ck_...`, see `apikeys.py`) names its principal (`key:<id>`) and role.
- A JWT is verified with pyjwt against keys from configuration only (never from the
  token's own header), with an algorithm allowlist, and must carry `exp`, `aud` and
  `sub`; `nbf` and `iss` are checked when present or configured. Its `role` claim
  names the role; the principal is `jwt:<sub>`.

There are no passwords, so no password hashing: people get keys or tokens. Failures
say only *that* the credential was refused (the audit log keeps the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from ..core.settings import Settings
from .apikeys import PREFIX, ApiKeys

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    id: str
    role: str
    method: str  # "api-key" or "jwt"


class AuthenticationFailed(Exception):  # noqa: N818 - an outcome, not a bug
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoCredential(AuthenticationFailed):
    """No credential at all: nothing was guessed, so nothing to throttle (401 always)."""

    def __init__(self) -> None:
        super().__init__("no credential")


def jwt_verification_key(settings: Settings) -> str | None:
    if settings.jwt_key is not None:
        return settings.jwt_key.get_secret_value()
    if settings.jwt_key_file is not None:
        return settings.jwt_key_file.read_text(encoding="utf-8")
    return None


class Authenticator:
    def __init__(self, settings: Settings, keys: ApiKeys) -> None:
        self.keys = keys
        self.jwt_key = jwt_verification_key(settings)
        self.algorithms = list(settings.jwt_algorithms)
        self.audience, self.issuer = settings.jwt_audience, settings.jwt_issuer

    def authenticate(self, authorization: str) -> Principal:
        scheme, _, credential = authorization.partition(" ")
        if not authorization.strip():
            raise NoCredential
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationFailed("not a bearer credential")
        if credential.startswith(PREFIX):
            found = self.keys.role_of(credential)
            if found is None:
                raise AuthenticationFailed("unknown or revoked API key")
            key_id, role = found
            return Principal(f"key:{key_id}", role, "api-key")
        return self._from_jwt(credential)

    def _from_jwt(self, token: str) -> Principal:
        if self.jwt_key is None:
            raise AuthenticationFailed("JWTs are not accepted (no verification key configured)")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.jwt_key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise AuthenticationFailed(f"invalid JWT: {type(error).__name__}") from None
        except Exception as error:  # the token is hostile input
            # pyjwt turns what it expects into InvalidTokenError; whatever else a header or
            # claims set could make it raise is still a refused credential, never a 500.
            raise AuthenticationFailed(f"unreadable JWT: {type(error).__name__}") from None
        role = claims.get("role")
        if not isinstance(role, str):
            raise AuthenticationFailed("the JWT has no role claim")
        return Principal(f"jwt:{claims['sub']}", role, "jwt")
