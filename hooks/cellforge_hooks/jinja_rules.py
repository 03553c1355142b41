# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The blueprint's rules as Jinja filters, for copier's validators.

The rules live once, in the generated project's `core/blueprint_rules.py`, where the
typed model (`blueprint check`, the running service) uses them. Copier's validators
reach the same functions through this extension, so a bad cell name, role, grant,
placement or port is refused with the same line by `copier copy` and by
`blueprint check`.

copier.yml loads it through copier-template-extensions
(`hooks/cellforge_hooks/jinja_rules.py:BlueprintRules`): copier imports the file from the
template's own checkout, so the rules module is found next to it, under `template/`. It
is never vendored into a project (`_exclude` in copier.yml): there it would find no
`template/`, and copier always loads extensions from the template.

Each filter gives the first problem's message, or "" (a validator passes when it
renders nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from jinja2 import Environment
from jinja2.ext import Extension

RULES = (
    Path(__file__).resolve().parents[2]
    / "template"
    / "src"
    / "{{package_name}}"
    / "core"
    / "blueprint_rules.py"
)


def load_rules(path: Path = RULES) -> ModuleType:
    """The rules module, imported from its file: `{{package_name}}` is no package name."""
    spec = spec_from_file_location("cellforge_blueprint_rules", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the blueprint rules from {path}")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _said(rule: Callable[..., str | None]) -> Callable[..., str]:
    """`rule` as a filter: its message, or "" when the value passes."""

    def filter_(*values: object) -> str:
        return rule(*values) or ""

    return filter_


class BlueprintRules(Extension):
    """Filters `cells_problem`, `roles_problem`, `placements_problem(cells)` and
    `http_port_problem`; the global `python_keywords` (for `package_name`), a tuple."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        rules = load_rules()
        environment.filters.update(
            cells_problem=_said(rules.cells_problem),
            roles_problem=_said(rules.roles_problem),
            placements_problem=_said(rules.placements_problem),
            http_port_problem=_said(rules.http_port_problem),
        )
        environment.globals["python_keywords"] = rules.PYTHON_KEYWORDS
