# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Budgets: what model calls may spend, checked before a call is sent.

The blueprint's `budgets:` section caps one call, one principal's UTC day and the whole
service's UTC day, each in tokens and in USD (either may be left out: no cap). A call is
judged on its worst case, known before it is sent: the estimated input tokens plus every
output token it allows itself (`max_output_tokens`), priced by its pin. Refusing up front
is the point: a provider's bill cannot be taken back once the call is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.blueprint import Blueprint
from .pins import Pin
from .tokens import estimate_tokens

SCOPES = {
    "per_call": "per-call",
    "per_principal_day": "per-principal daily",
    "global_day": "global daily",
}


@dataclass(frozen=True)
class Budget:
    """A cap in tokens and in USD; None: that measure is not capped."""

    tokens: int | None = None
    usd: float | None = None


@dataclass(frozen=True)
class Budgets:
    per_call: Budget = Budget()
    per_principal_day: Budget = Budget()
    global_day: Budget = Budget()

    @classmethod
    def from_blueprint(cls, blueprint: Blueprint | None) -> Budgets:
        """The typed blueprint's `budgets:` caps (none capped without a blueprint)."""
        if blueprint is None:
            return cls()
        section = blueprint.budgets
        caps = (getattr(section, scope) for scope in SCOPES)
        return cls(*(Budget(cap.tokens, cap.usd) for cap in caps))


@dataclass(frozen=True)
class Estimate:
    """Tokens and USD: a call's worst case, or what a day has used."""

    input_tokens: int
    output_tokens: int
    usd: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def estimate(pin: Pin, texts: Sequence[str], max_output_tokens: int) -> Estimate:
    """The worst case of sending `texts` to `pin`'s model: each text's estimate, rounded
    up, plus all the output the call allows, at the pin's prices."""
    tokens = sum(estimate_tokens(text, pin.tokenizer_factor) for text in texts)
    return Estimate(tokens, max_output_tokens, pin.cost_usd(tokens, max_output_tokens))


class BudgetExceeded(Exception):  # noqa: N818 - a refusal, not a fault
    """A call would exceed a budget; it was not sent."""

    def __init__(self, scope: str, measure: str, used: float, estimate: float, limit: float):
        self.scope, self.measure = scope, measure
        self.used, self.estimate, self.limit = used, estimate, limit
        unit = "tokens" if measure == "tokens" else "USD"
        spent = f"{_figure(used)} {unit} used or reserved today + " if used else ""
        super().__init__(
            f"the {SCOPES[scope]} {measure} budget would be exceeded: {spent}"
            f"{_figure(estimate)} {unit} estimated for this call > the limit of "
            f"{_figure(limit)} {unit} (budgets.{scope}.{measure} in blueprint.yml)"
        )


def _figure(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def check(scope: str, budget: Budget, used: Estimate | None, call: Estimate) -> None:
    """Raise `BudgetExceeded` if `used` (None: only the call counts) plus `call` is over."""
    spent_tokens, spent_usd = (used.tokens, used.usd) if used else (0, 0.0)
    if budget.tokens is not None and spent_tokens + call.tokens > budget.tokens:
        raise BudgetExceeded(scope, "tokens", spent_tokens, call.tokens, budget.tokens)
    if budget.usd is not None and spent_usd + call.usd > budget.usd:
        raise BudgetExceeded(scope, "usd", spent_usd, call.usd, budget.usd)
