"""Every model id in the code is pinned, exact and not retired.

Code asks for a purpose (`llm/`), and `blueprint.yml`'s `models:` section pins the exact
model that serves it. This gate reads every string constant of the Python code under
`src/` (the gate's own tables excepted) and picks the ones that are, as a whole, a model
id: `gpt-*`, `o1`/`o3`/`o4-*`, `chatgpt-*`, `claude-*`, `gemini-*`, `gemma*`, `llama*`,
`mistral-*`, `mixtral-*`, `codestral*`, `command-r*`, `deepseek-*`, `qwen*`, `grok-*`,
`phi-*`, with an optional `provider/` prefix. A sentence that mentions a model is not
an id and is left alone.

Protects against: a model id that bypasses the pins (so nobody reviewed its price or
its retirement), a floating alias that changes the model under the code without a
commit, and a pinned model the provider has retired or is about to retire.

Fails when: a model id in the code is not the `model` of a pin; an id in the code or a
pin is a floating alias: it ends in `-latest` or `:latest`, or it is the bare name of a
family that the provider publishes as dated snapshots (`gpt-4o`, `gpt-4.1-mini`, `o3`,
`claude-3-opus`, `claude-sonnet-4-5`, `gemini-pro`, `gemini-1.5-pro`, `mistral-large`,
`command-r-plus`, `deepseek-chat`, ...); a pin's `retire_by` date is in the past.

Warns when: a pin retires within `genops.pins_warn_days` days (60 by default).

Acknowledge a deliberate change: there is nothing to acknowledge. Pin the id (exact,
e.g. `claude-sonnet-4-5-20250929`, not `claude-sonnet-4-5`) under a purpose in
`blueprint.yml` and call the purpose; when a pin nears retirement, pin its successor
and set `retire_by` from the provider's deprecation page.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..llm.pins import Pin, pins_from_blueprint
from . import Project, Verdict

GATE = "pins"
WARN_DAYS = 60

MODEL_ID = re.compile(
    r"(?:[a-z0-9_.-]+/)?"  # a provider or organisation: openai/, models/, meta-llama/
    r"(?:gpt-[a-z0-9]|chatgpt-|o[1-9](?![0-9])|claude-[a-z0-9]|gemini-[a-z0-9]|gemma-?[0-9]"
    r"|llama-?[0-9]|(?:mistral|mixtral|ministral|pixtral|codestral)-[a-z0-9]|codestral$"
    r"|command-(?:r|a|light|nightly)|deepseek-[a-z]|qwen-?[0-9]|grok-[0-9]|phi-[0-9])"
    r"[a-z0-9._:@-]*",
    re.IGNORECASE,
)
LATEST = re.compile(r".*[-:]latest", re.IGNORECASE)
# Bare family names: each provider also publishes these as dated snapshots, and the bare
# name follows whichever snapshot is newest.
ALIASES = re.compile(
    r"(?:[a-z0-9_.-]+/)?(?:"
    r"gpt-(?:3\.5-turbo|4|4-turbo|4o|4o-mini|4\.1|4\.1-mini|4\.1-nano|4\.5-preview"
    r"|5(?:\.[0-9])?(?:-mini|-nano|-pro|-codex)?)"
    r"|o[1-9](?:-mini|-pro)?"
    r"|claude-(?:[0-9](?:[-.][0-9])?-(?:opus|sonnet|haiku)|(?:opus|sonnet|haiku)-[0-9](?:-[0-9])?)"
    r"|gemini-(?:pro|ultra|flash|1\.0-pro|1\.5-pro|1\.5-flash|1\.5-flash-8b|2\.0-flash"
    r"|2\.0-flash-lite)"
    r"|mistral-(?:large|medium|small|tiny)|codestral|pixtral-large"
    r"|command-(?:r|r-plus|light|a)"
    r"|deepseek-(?:chat|reasoner)"
    r"|llama-?[0-9](?:\.[0-9])?"
    r")",
    re.IGNORECASE,
)


def is_model_id(text: str) -> bool:
    """Is the whole of `text` a model id (not a sentence that mentions one)?"""
    return MODEL_ID.fullmatch(text) is not None


def is_floating(model: str) -> bool:
    """Does `model` name whichever model the provider points it at today?"""
    return LATEST.fullmatch(model) is not None or ALIASES.fullmatch(model) is not None


@dataclass(frozen=True)
class Occurrence:
    where: str  # "src/pkg/x.py:12"
    model: str


def model_ids(root: Path, skip: Path) -> Iterator[Occurrence]:
    """The model ids among the string constants of src/**/*.py, outside `skip`."""
    for path in sorted((root / "src").rglob("*.py")):
        if path.is_relative_to(skip) or any(
            part.startswith(".") or part == "__pycache__" for part in path.parts
        ):
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue  # ruff and mypy report it; this gate judges model ids
        fragments = {  # pieces of an f-string are not whole strings
            id(value)
            for node in ast.walk(tree)
            if isinstance(node, ast.JoinedStr)
            for value in node.values
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in fragments
                and is_model_id(node.value)
            ):
                relative = path.relative_to(root).as_posix()
                yield Occurrence(f"{relative}:{node.lineno}", node.value)


def _days(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


def _count(number: int, noun: str, plural: str = "") -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {plural or noun + 's'}"


@dataclass
class Findings:
    unpinned: list[str] = field(default_factory=list)
    floating: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    retiring: list[str] = field(default_factory=list)  # warnings


def judge_pins(pins: Mapping[str, Pin], today: dt.date, warn_days: int, into: Findings) -> None:
    """The findings of the pins themselves: aliases, retired, retiring soon."""
    for purpose, pin in sorted(pins.items()):
        left = (pin.retire_by - today).days
        if is_floating(pin.model):
            into.floating.append(
                f"models.{purpose}: {pin.model!r} is a floating alias; pin an exact, dated id"
            )
        if left < 0:
            into.retired.append(
                f"models.{purpose}: {pin.model} was to be retired by {pin.retire_by} "
                f"({_days(-left)} ago); pin its successor"
            )
        elif left <= warn_days:
            into.retiring.append(
                f"models.{purpose}: {pin.model} retires by {pin.retire_by} "
                f"(in {_days(left)}); pin its successor"
            )


def judge_code(project: Project, pinned: set[str], into: Findings) -> None:
    """The findings of the model ids in the code: floating, or not pinned."""
    for found in model_ids(project.root, project.source / "genops"):
        if is_floating(found.model):
            into.floating.append(
                f"{found.where}: {found.model!r} is a floating alias; call a purpose"
            )
        elif found.model not in pinned:
            into.unpinned.append(
                f"{found.where}: {found.model!r} is not pinned; pin it under a purpose in "
                "blueprint.yml `models:` and call the purpose"
            )


def check(project: Project, today: dt.date | None = None) -> Verdict:
    """The pins verdict; `today` defaults to the current date (tests set it)."""
    today = today or dt.date.today()
    try:
        pins = pins_from_blueprint(project.blueprint)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        reason = f"blueprint.yml `models:` is invalid: {error!r}"
        return Verdict(GATE, "fail", reason, "? pins")
    warn_days = int(project.section("genops").get("pins_warn_days", WARN_DAYS))
    found = Findings()
    judge_code(project, {pin.model for pin in pins.values()}, found)
    judge_pins(pins, today, warn_days, found)
    figure = f"{_count(len(pins), 'pin')}, {_count(len(found.unpinned), 'unpinned id')}"
    soonest = min(((pin.retire_by - today).days for pin in pins.values()), default=None)
    if soonest is not None and soonest >= 0:
        figure += f", next retirement in {_days(soonest)}"
    elif soonest is not None:
        figure += f", retired {_days(-soonest)} ago"
    failures = found.unpinned + found.floating + found.retired
    if failures:
        counts = (
            _count(len(found.unpinned), "unpinned model id") if found.unpinned else "",
            _count(len(found.floating), "floating alias", "floating aliases")
            if found.floating
            else "",
            _count(len(found.retired), "retired pin") if found.retired else "",
        )
        reason = ", ".join(part for part in counts if part)
        return Verdict(GATE, "fail", reason, figure, tuple(failures + found.retiring))
    if found.retiring:
        reason = f"{_count(len(found.retiring), 'pin')} retiring within {_days(warn_days)}"
        return Verdict(GATE, "warn", reason, figure, tuple(found.retiring))
    return Verdict(GATE, "pass", "every model id is pinned, exact and current", figure)
