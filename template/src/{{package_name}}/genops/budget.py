# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Every prompt template fits its token budget.

Prompt templates are the `*.prompt.md` files under `src/`; a cell keeps its own next
to its code (`cells/notes/prompts/summarise.prompt.md`). A template may start with YAML
front matter between two `---` lines:

    ---
    purpose: draft        # a purpose pinned in blueprint.yml `models:`
    budget_tokens: 1500   # optional; else blueprint.yml `budgets.prompt_tokens` (2000)
    ---

No other key is accepted: a template names a purpose, never a model (the `pins` gate
keeps model ids in the blueprint).

The tokens of the template's body are estimated offline (`llm/tokens.py`: UTF-8 bytes
/ 4) times the `tokenizer_factor` of its purpose's pin; without a purpose, times the
largest factor of the pins. The values filled into a template at run time come on top:
the per-call budget (`budgets.per_call`) bounds the whole call.

Protects against: a prompt that grows, edit by edit, until every call costs more and
leaves less room for the answer; a prompt written for a model that is not pinned.

Fails when: a template's estimated tokens exceed its budget; its `purpose` is not
pinned; its front matter is not a mapping, has a key other than `purpose` and
`budget_tokens`, or its `budget_tokens` is not a positive integer;
`budgets.prompt_tokens` is not a positive integer.

Acknowledge a deliberate change: raise the template's `budget_tokens` in its front
matter (or `budgets.prompt_tokens` for all of them) in the same commit, so the larger
prompt is reviewed as such.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.blueprint_model import Budgets
from ..llm.pins import Pin, pins_from_blueprint
from ..llm.tokens import estimate_tokens
from . import Project, Verdict

GATE = "budget"
SUFFIX = ".prompt.md"
DEFAULT_BUDGET = Budgets().prompt_tokens  # without a blueprint
FENCE = "---"
KEYS = ("purpose", "budget_tokens")  # of the front matter


class PromptError(ValueError):
    """A prompt template whose front matter cannot be read."""


@dataclass(frozen=True)
class Prompt:
    path: Path
    purpose: str | None
    budget: int | None  # None: the blueprint's default
    body: str


def parse_prompt(path: Path) -> Prompt:
    """A prompt template: its front matter (if any) and its body."""
    text = path.read_text(encoding="utf-8")
    meta: Any = {}
    lines = text.splitlines(keepends=True)
    if lines and lines[0].rstrip() == FENCE:
        end = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip() == FENCE), None)
        if end is None:
            raise PromptError("front matter is not closed by a `---` line")
        try:
            meta = yaml.safe_load("".join(lines[1:end])) or {}
        except yaml.YAMLError as error:
            raise PromptError(f"front matter is not YAML: {error}") from None
        text = "".join(lines[end + 1 :])
    if not isinstance(meta, dict):
        raise PromptError("front matter is not a mapping")
    unknown = sorted(map(str, set(meta) - set(KEYS)))
    if unknown:
        hint = "; name a purpose pinned in blueprint.yml `models:`" if "model" in unknown else ""
        raise PromptError(
            f"unknown front matter key {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(KEYS)}){hint}"
        )
    budget = meta.get("budget_tokens")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0
    ):
        raise PromptError(f"budget_tokens must be a positive integer, not {budget!r}")
    purpose = meta.get("purpose")
    return Prompt(path, None if purpose is None else str(purpose), budget, text)


def prompt_files(root: Path) -> Iterator[Path]:
    """The prompt templates under src/ (hidden folders skipped), in path order."""
    for path in sorted((root / "src").rglob(f"*{SUFFIX}")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_file() and not hidden:
            yield path


def factor_for(prompt: Prompt, pins: Mapping[str, Pin]) -> float:
    if prompt.purpose is not None:
        return pins[prompt.purpose].tokenizer_factor
    return max((pin.tokenizer_factor for pin in pins.values()), default=1.0)


def check(project: Project) -> Verdict:
    pins = pins_from_blueprint(project.blueprint)  # the model has checked every pin
    default = project.budgets.prompt_tokens
    failures: list[str] = []
    largest: tuple[float, int, int] | None = None  # (share of budget, tokens, budget)
    count = 0
    for path in prompt_files(project.root):
        count += 1
        where = path.relative_to(project.root).as_posix()
        try:
            prompt = parse_prompt(path)
        except (PromptError, UnicodeDecodeError) as error:
            failures.append(f"{where}: {error}")
            continue
        if prompt.purpose is not None and prompt.purpose not in pins:
            known = ", ".join(sorted(pins)) or "none"
            failures.append(f"{where}: purpose {prompt.purpose!r} is not pinned (pinned: {known})")
            continue
        budget = prompt.budget or default
        tokens = estimate_tokens(prompt.body, factor_for(prompt, pins))
        if tokens > budget:
            failures.append(f"{where}: ~{tokens} tokens, over its budget of {budget}")
        if largest is None or tokens / budget > largest[0]:
            largest = (tokens / budget, tokens, budget)
    figure = f"{count} prompt" if count == 1 else f"{count} prompts"
    if largest is not None:
        figure += f", largest {largest[1]}/{largest[2]} tokens"
    if failures:
        over = sum("over its budget" in line for line in failures)
        other = len(failures) - over
        parts = [
            (f"{over} prompt over its budget" if over == 1 else f"{over} prompts over budget")
            if over
            else "",
            (f"{other} invalid prompt" if other == 1 else f"{other} invalid prompts")
            if other
            else "",
        ]
        reason = ", ".join(part for part in parts if part)
        return Verdict(GATE, "fail", reason, figure, tuple(failures))
    return Verdict(GATE, "pass", "every prompt template is within its budget", figure)
