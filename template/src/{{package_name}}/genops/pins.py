# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Every model id in the code is pinned, exact and not retired.

Code asks for a purpose (`llm/`), and `blueprint.yml`'s `models:` section pins the exact
model that serves it. This gate reads every whole string of the Python code under `src/`
(a literal, an f-string without placeholders, or such strings joined with `+`; only the
gate's own alias tables, `genops/pins.py`, are skipped) and picks the ones that are, as
a whole, a model id: `gpt-*`, `o1`/`o3`/`o4-*`, `chatgpt-*`, `claude-*`, `gemini-*`,
`gemma*`, `llama*`, `mistral-*`, `mixtral-*`, `codestral*`, `command-r*`, `deepseek-*`,
`qwen*`, `grok-*`, `phi-*`, after any routing prefixes: `openrouter/`, `meta-llama/`,
`openai:`, `ft:`, `anthropic.` (`bedrock/anthropic.claude-...`). A sentence that
mentions a model is not an id and is left alone.

Protects against: a model id that bypasses the pins (so nobody reviewed its price or
its retirement), a floating alias that changes the model under the code without a
commit, and a pinned model the provider has retired or is about to retire.

Fails when: a model id in the code is not the `model` of a pin (routing prefixes
aside); an id in the code or a pin is a floating alias: it has `-latest` or `:latest` in
it, or it is the bare name of a family that the provider publishes as dated snapshots
(`gpt-4o`, `gpt-4.1-mini`, `o3`, `claude-3-opus`, `claude-sonnet-4-5`, `gemini-pro`,
`gemini-1.5-pro`, `mistral-large`, `command-r-plus`, `deepseek-chat`, `qwen-max`,
`grok-4`, ...); a pin's `retire_by` date is in the past; `genops.pins_warn_days` is not
a whole number.

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

from ..core.blueprint_model import Genops
from ..llm.pins import Pin, pins_from_blueprint
from . import Project, Verdict

GATE = "pins"
WARN_DAYS = Genops().pins_warn_days  # without a blueprint

# Routing prefixes before the model's own name, stripped (any number, any order) before
# matching: `openrouter/`, `meta-llama/`, `openai:`, `ft:`, `anthropic.` (Bedrock).
PREFIX = re.compile(r"[a-z0-9_.-]*[a-z0-9_-]/|[a-z0-9_-]+:(?=[a-z])|[a-z0-9_-]+\.(?=[a-z])", re.I)
MODEL_ID = re.compile(
    r"(?:gpt-[a-z0-9]|chatgpt-|o[1-9](?![0-9])|claude-[a-z0-9]|gemini-[a-z0-9]|gemma-?[0-9]"
    r"|(?:meta-)?llama-?[0-9]|(?:mistral|mixtral|ministral|pixtral|codestral)-[a-z0-9]"
    r"|codestral$|command-(?:r|a|light|nightly)|deepseek-[a-z]"
    r"|qwen(?:-?[0-9]|-(?:max|plus|turbo|flash|long|coder|vl|math|omni))|grok-[0-9]|phi-[0-9])"
    r"[a-z0-9._:@-]*",
    re.IGNORECASE,
)
LATEST = re.compile(r"[-:]latest(?![a-z0-9])", re.IGNORECASE)
# Bare family names: each provider also publishes these as dated snapshots, and the bare
# name follows whichever snapshot is newest. (`gemini-2.5-pro` is not one: Google
# publishes it as a stable id with its own retirement date, not as an alias.)
ALIASES = re.compile(
    r"gpt-(?:3\.5-turbo|4|4-turbo|4o|4o-mini|4\.1|4\.1-mini|4\.1-nano|4\.5-preview"
    r"|5(?:\.[0-9])?(?:-mini|-nano|-pro|-codex)?)"
    r"|o[1-9](?:-mini|-pro)?"
    r"|claude-(?:[0-9](?:[-.][0-9])?-(?:opus|sonnet|haiku)|(?:opus|sonnet|haiku)-[0-9](?:-[0-9])?)"
    r"|gemini-(?:pro|ultra|flash|1\.0-pro|1\.5-pro|1\.5-flash|1\.5-flash-8b|2\.0-flash"
    r"|2\.0-flash-lite)"
    r"|mistral-(?:large|medium|small|tiny)|codestral|pixtral-large"
    r"|command-(?:r|r-plus|light|a)"
    r"|deepseek-(?:chat|reasoner)"
    r"|(?:meta-)?llama-?[0-9](?:\.[0-9])?"
    r"|qwen-(?:max|plus|turbo|flash)"
    r"|grok-[0-9](?:\.[0-9])?(?:-mini)?",
    re.IGNORECASE,
)


def model_name(text: str) -> str:
    """`text` without its routing prefixes: `bedrock/anthropic.claude-x` -> `claude-x`."""
    while (prefix := PREFIX.match(text)) is not None and not is_bare_id(text):
        text = text[prefix.end() :]
    return text


def is_bare_id(text: str) -> bool:
    return MODEL_ID.fullmatch(text) is not None


def is_model_id(text: str) -> bool:
    """Is the whole of `text` a model id (not a sentence that mentions one), once its
    routing prefixes are stripped?"""
    return is_bare_id(model_name(text))


def is_floating(model: str) -> bool:
    """Does `model` name whichever model the provider points it at today?"""
    return LATEST.search(model) is not None or ALIASES.fullmatch(model_name(model)) is not None


@dataclass(frozen=True)
class Occurrence:
    where: str  # "src/pkg/x.py:12"
    model: str


def folded(node: ast.AST) -> str | None:
    """The string an expression always has when it is built of constants alone: a
    literal, an f-string without placeholders, or such strings added with `+`."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        parts = [folded(value) for value in node.values]
        return "".join(part for part in parts if part is not None) if None not in parts else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = folded(node.left), folded(node.right)
        return None if left is None or right is None else left + right
    return None


def whole_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of each whole string of a module: the outermost expressions that
    fold to a constant string. Their pieces, and the literal pieces of an f-string with
    placeholders (`f"gpt-{size}"`), are not whole strings."""
    pieces: set[int] = set()
    for node in ast.walk(tree):  # breadth first: an expression before its pieces
        if id(node) in pieces:
            pieces.update(map(id, ast.iter_child_nodes(node)))
            continue
        if not isinstance(node, ast.Constant | ast.JoinedStr | ast.BinOp):
            continue
        text = folded(node)
        if text is not None:
            pieces.update(map(id, ast.iter_child_nodes(node)))
            yield getattr(node, "lineno", 0), text
        elif isinstance(node, ast.JoinedStr):
            pieces.update(id(value) for value in node.values if isinstance(value, ast.Constant))


def model_ids(root: Path, skip: Path) -> Iterator[Occurrence]:
    """The model ids among the whole strings of src/**/*.py, except the module `skip`."""
    for path in sorted((root / "src").rglob("*.py")):
        relative = path.relative_to(root)
        if path == skip or any(
            part.startswith(".") or part == "__pycache__" for part in relative.parts
        ):
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue  # ruff and mypy report it; this gate judges model ids
        for line, text in whole_strings(tree):
            if is_model_id(text):
                yield Occurrence(f"{relative.as_posix()}:{line}", text)


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
    names = {model_name(model) for model in pinned}  # `openai:x` uses the pin of `x`
    for found in model_ids(project.root, project.source / "genops" / "pins.py"):
        if is_floating(found.model):
            into.floating.append(
                f"{found.where}: {found.model!r} is a floating alias; call a purpose"
            )
        elif found.model not in pinned and model_name(found.model) not in names:
            into.unpinned.append(
                f"{found.where}: {found.model!r} is not pinned; pin it under a purpose in "
                "blueprint.yml `models:` and call the purpose"
            )


def check(project: Project, today: dt.date | None = None) -> Verdict:
    """The pins verdict; `today` defaults to the current date (tests set it)."""
    today = today or dt.date.today()
    pins = pins_from_blueprint(project.blueprint)  # the model has checked every pin
    warn_days = project.genops.pins_warn_days
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
