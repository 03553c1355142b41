# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The checks every guarded request passes, in order, and the audit entry it leaves.

1. authenticate (401, with `WWW-Authenticate: Bearer`);
2. rate-limit per principal, or per client address when a presented credential was
   refused (429), which slows down guessing; a request with no credential at all guesses
   nothing, so it always gets its 401 and its `WWW-Authenticate` (RFC 9110 says a 401
   tells the client how to authenticate; a 429 there would leave it nothing to try);
3. authorise: does the principal's role grant the route's capability? (403).

Whatever happens next, `protect` writes one entry before the response leaves: who
(principal, role, method, client), what (capability, message), the outcome and status,
the latency, and the correlation id. It never holds a credential: principals are key
ids and JWT subjects, and refusal reasons are fixed strings.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..metrics import ConcurrentUsers
from .audit import AuditLog
from .authn import ANONYMOUS, AuthenticationFailed, Authenticator, NoCredential, Principal
from .policy import Policy
from .problems import problem
from .ratelimit import RateLimits

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Decision:
    """What the guard knows about one request so far; becomes its audit entry."""

    capability: str
    message: str
    client: str
    principal: Principal | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class Guard:
    def __init__(
        self,
        authenticator: Authenticator,
        policy: Policy,
        limits: RateLimits,
        audit: AuditLog,
        users: ConcurrentUsers | None = None,
    ) -> None:
        self.authenticator, self.policy = authenticator, policy
        self.limits, self.audit = limits, audit
        self.users = users  # told who is in flight, from authentication to response

    def admit(self, request: Request, decision: Decision, strict: bool) -> Response | None:
        """None if the request may proceed, else the refusal to send."""
        try:
            principal = self.authenticator.authenticate(request.headers.get("authorization", ""))
        except AuthenticationFailed as failure:
            decision.fields.update(outcome="unauthenticated", reason=failure.reason)
            if not isinstance(failure, NoCredential):
                wait = self.limits.retry_after(f"client:{decision.client}", strict=True)
                if wait is not None:
                    return self._too_many(request, decision, wait)
            refusal = problem(request, 401, "A valid credential is required.")
            refusal.headers["www-authenticate"] = "Bearer"
            return refusal
        decision.principal = principal
        wait = self.limits.retry_after(principal.id, strict=strict)
        if wait is not None:
            return self._too_many(request, decision, wait)
        if not self.policy.allows(principal.role, decision.capability):
            decision.fields["outcome"] = "forbidden"
            return problem(request, 403, "The credential does not grant this capability.")
        return None

    def _too_many(self, request: Request, decision: Decision, wait: int) -> Response:
        decision.fields["outcome"] = "rate-limited"
        refusal = problem(request, 429, "Too many requests; see Retry-After.")
        refusal.headers["retry-after"] = str(wait)
        return refusal

    def protect(
        self, capability: str, message: str, answer: Endpoint, strict: bool = False
    ) -> Endpoint:
        """An endpoint that admits the request, then lets `answer` respond; the audit
        entry is written before the response leaves, even when `answer` fails or the
        request is cancelled (timeout)."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            client = request.client.host if request.client else "unknown"
            decision = Decision(capability, message, client)
            status, present = 500, None
            try:
                refusal = self.admit(request, decision, strict)
                # Who is calling, for what the answer depends on (idempotency keys).
                request.scope.setdefault("state", {})["principal"] = decision.principal
                if self.users is not None and decision.principal is not None:
                    present = decision.principal.id
                    self.users.enter(present)
                response = refusal or await answer(request)
                status = response.status_code
                return response
            except BaseException:
                decision.fields.setdefault("outcome", "error")
                raise
            finally:
                if present is not None and self.users is not None:
                    self.users.leave(present)
                self._record(request, decision, status, time.perf_counter() - started)

        endpoint.__name__ = message
        return endpoint

    def _record(self, request: Request, decision: Decision, status: int, seconds: float) -> None:
        sys.audit("cellforge.gateway.request", request.scope["path"], status)  # genops e2e
        principal = decision.principal
        self.audit.append(
            event="request",
            principal=principal.id if principal else ANONYMOUS,
            role=principal.role if principal else None,
            auth=principal.method if principal else None,
            client=decision.client,
            capability=decision.capability,
            message=decision.message,
            outcome=decision.fields.pop("outcome", "allowed"),
            status=status,
            latency_ms=round(seconds * 1000, 3),
            correlation_id=request.scope.get("state", {}).get("correlation_id", ""),
            **decision.fields,
        )
