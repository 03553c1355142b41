# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Pinned models: the blueprint's `models:` section, purpose -> exact model id.

Code never names a model. It asks for a purpose ("draft", "classify"), and the pin says
which exact, dated model serves it, from which provider, at what price, until when. A
model changes in one reviewed line of `blueprint.yml`, and `genops check pins` refuses
ids that are not pinned, floating aliases and pins past their retirement date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.blueprint import Blueprint


class UnpinnedPurposeError(LookupError):
    """A call named a purpose the blueprint does not pin (or a raw model id)."""


@dataclass(frozen=True)
class Pin:
    purpose: str
    model: str
    provider: str  # "openai" (any OpenAI-compatible API) or "anthropic"
    retire_by: dt.date
    input_per_mtok: float  # USD per million input tokens
    output_per_mtok: float  # USD per million output tokens
    tokenizer_factor: float = 1.0
    context_tokens: int = 128_000  # the model's window: prompt and answer together

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def pins_from_blueprint(blueprint: Blueprint | None) -> dict[str, Pin]:
    """The pins of the typed blueprint, by purpose (none without a blueprint)."""
    models = blueprint.models if blueprint else {}
    return {
        purpose: Pin(
            purpose=purpose,
            model=entry.model,
            provider=entry.provider,
            retire_by=dt.date.fromisoformat(entry.retire_by),
            input_per_mtok=entry.price_per_mtok.input,
            output_per_mtok=entry.price_per_mtok.output,
            tokenizer_factor=entry.tokenizer_factor,
            context_tokens=entry.context_tokens,
        )
        for purpose, entry in models.items()
    }


def pin_for(pins: Mapping[str, Pin], purpose: str) -> Pin:
    """The pin of `purpose`; a model id or an unknown purpose is refused."""
    try:
        return pins[purpose]
    except KeyError:
        known = ", ".join(sorted(pins)) or "none"
        raise UnpinnedPurposeError(
            f"no model is pinned for the purpose {purpose!r} (pinned: {known}); "
            "add it to the `models:` section of blueprint.yml"
        ) from None
