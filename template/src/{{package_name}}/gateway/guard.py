"""The checks every guarded request passes, in order, and the audit entry it leaves.

1. authenticate (401, with `WWW-Authenticate: Bearer`);
2. rate-limit per principal, or per client address when authentication failed (429);
3. authorise: does the principal's role grant the route's capability? (403).

Whatever happens next, `audited` writes one entry before the response leaves: who
(principal, role, method, client), what (capability, message), the outcome and status,
the latency, and the correlation id. It never holds a credential: principals are key
ids and JWT subjects, and refusal reasons are fixed strings.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .audit import AuditLog
from .authn import ANONYMOUS, AuthenticationFailed, Authenticator, Principal
from .policy import Policy
from .problems import problem
from .ratelimit import RateLimits


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
        self, authenticator: Authenticator, policy: Policy, limits: RateLimits, audit: AuditLog
    ) -> None:
        self.authenticator, self.policy = authenticator, policy
        self.limits, self.audit = limits, audit

    def admit(self, request: Request, decision: Decision, strict: bool) -> Response | None:
        """None if the request may proceed, else the refusal to send."""
        try:
            principal = self.authenticator.authenticate(request.headers.get("authorization", ""))
        except AuthenticationFailed as failure:
            decision.fields.update(outcome="unauthenticated", reason=failure.reason)
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

    @asynccontextmanager
    async def audited(self, request: Request, decision: Decision) -> AsyncIterator[list[int]]:
        """Yields a one-item list for the status; appends the entry on the way out, even
        when the handler fails or the request is cancelled (timeout)."""
        started = time.perf_counter()
        status = [500]
        try:
            yield status
        except BaseException:
            decision.fields.setdefault("outcome", "error")
            raise
        finally:
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
                status=status[0],
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                correlation_id=request.scope.get("state", {}).get("correlation_id", ""),
                **decision.fields,
            )
