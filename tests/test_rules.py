"""One set of rules: copier's questions and the generated project's `blueprint check`
refuse the same bad value with the same message.

The rules live in the generated project's `core/blueprint_rules.py`. Copier's validators
call them through the template's Jinja extension (`hooks/cellforge_hooks/jinja_rules.py`),
the project's typed blueprint model through its validators. For each rule, a bad value
is given to `copier copy --data` and written into a generated project's `blueprint.yml`;
the two messages must be the same line, and `blueprint check` must still name the line
the value is on and a fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cellforge_hooks.jinja_rules import load_rules

from .conftest import TEMPLATE, project_env, render, run

CLI = "my-service"
CHECKED_LINE = re.compile(r"^blueprint\.yml:(\d+): (\S+): (.+); fix: (.+)$")


def add_cell(name: str) -> Callable[[str], str]:
    return lambda text: text.replace(
        "\ncells:\n", f"\ncells:\n  {name}:\n    placement: in-process\n", 1
    )


def add_role(name: str, grants: str) -> Callable[[str], str]:
    return lambda text: text.replace(
        "\nroles:\n", f"\nroles:\n  {name}:\n    grants: {grants}\n", 1
    )


def set_port(value: str) -> Callable[[str], str]:
    return lambda text: text.replace("  http_port: 8000\n", f"  http_port: {value}\n", 1)


def place_notes(transport: str) -> Callable[[str], str]:
    return lambda text: text.replace(
        "  notes:\n    placement: in-process\n",
        f"  notes:\n    placement: {{worker: {transport}}}\n",
        1,
    )


@dataclass(frozen=True)
class Case:
    """A bad value: as copier's answer, and as an edit of a project's blueprint.yml whose
    problem `blueprint check` reports on the (last) line holding `needle`."""

    answers: dict[str, Any]
    message: str
    edit: Callable[[str], str]
    needle: str


LONG_CELL, LONG_ROLE = "c" * 31, "r" * 31
CASES = {
    "cell: bad start": Case(
        {"cells": ["Notes"]}, '"Notes" must start with a-z', add_cell("Notes"), "  Notes:"
    ),
    "cell: bad characters": Case(
        {"cells": ["order-items"]},
        '"order-items": use only a-z 0-9 _',
        add_cell("order-items"),
        "  order-items:",
    ),
    "cell: too long": Case(
        {"cells": [LONG_CELL]},
        '"ccccccccc..." is over 30 characters',
        add_cell(LONG_CELL),
        LONG_CELL,
    ),
    "cell: keyword": Case(
        {"cells": ["for"]}, '"for" is a Python keyword', add_cell("for"), "  for:"
    ),
    "cell: reserved": Case(
        {"cells": ["gateway"]},
        '"gateway" is taken by the template',
        add_cell("gateway"),
        "  gateway:",
    ),
    "cell: listed twice": Case(
        {"cells": ["notes", "notes"]}, '"notes" is listed twice', add_cell("notes"), "  notes:"
    ),
    "role: bad start": Case(
        {"roles": {"Admin": ["*"]}},
        '"Admin" must start with a-z',
        add_role("Admin", '["*"]'),
        "  Admin:",
    ),
    "role: bad characters": Case(
        {"roles": {"read only": ["*"]}},
        '"read only": use only a-z 0-9 _ -',
        add_role("read only", '["*"]'),
        "  read only:",
    ),
    "role: too long": Case(
        {"roles": {LONG_ROLE: ["*"]}},
        '"rrrrrrrrr..." is over 30 characters',
        add_role(LONG_ROLE, '["*"]'),
        LONG_ROLE,
    ),
    "grant: not a capability": Case(
        {"roles": {"auditor": ["notes"]}},
        '"notes" is not a capability',
        add_role("auditor", "[notes]"),
        "grants: [notes]",
    ),
    "grants: none": Case(
        {"roles": {"auditor": []}},
        '"auditor" grants nothing',
        add_role("auditor", "[]"),
        "grants: []",
    ),
    "grants: not a list": Case(
        {"roles": {"auditor": "*"}},
        '"auditor": grants must be a list',
        add_role("auditor", '"*"'),
        'grants: "*"',
    ),
    "placement: transport": Case(
        {"placements": {"notes": "kafka"}}, '"notes": use redis/nats', place_notes("kafka"), "kafka"
    ),
    "port: out of range": Case(
        {"http_port": 80}, "must be between 1024 and 65535", set_port("80"), "http_port: 80"
    ),
    "port: not a number": Case(
        {"http_port": "eighty"},
        "must be a whole number like 8000",
        set_port("eighty"),
        "http_port:",
    ),
    "port: leading zero": Case(
        {"http_port": "08080"}, "must not start with 0", set_port("08080"), "http_port:"
    ),
}
# A placement names its cell in copier's answers only: in blueprint.yml it sits under the
# cell, so "not in cells" cannot be written there and copier alone says it.
COPIER_ONLY = Case({"placements": {"billing": "redis"}}, '"billing" is not in cells', str, "")

# Runs in the project's own environment: every problem `check_text` finds in each text.
CHECK_ALL = """
import json, sys
from my_service.core.blueprint import check_text
texts = json.loads(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps([[[p.line, p.where, p.message, p.fix] for p in check_text(t)] for t in texts]))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default project, rendered once and synced: every case edits a copy of its
    blueprint's text."""
    project = render(tmp_path_factory.mktemp("rules") / CLI)
    run(["uv", "sync", "--locked", "--quiet"], project, project_env("3.11"))
    return project


def copier_says(destination: Path, answers: dict[str, Any]) -> str:
    """The message copier refuses `answers` with, without its question's prefix."""
    with pytest.raises(ValueError) as refused:
        render(destination, **answers)
    [question] = answers
    prefix = f"Validation error for question '{question}': "
    said = str(refused.value)
    assert said.startswith(prefix), said
    return said.removeprefix(prefix)


def line_of(text: str, needle: str) -> int:
    """The last line holding `needle` (a duplicate key is reported where it repeats)."""
    return max(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.slow
def test_a_bad_value_is_refused_with_the_same_message_by_copier_and_blueprint_check(
    project: Path, tmp_path: Path
) -> None:
    valid = (project / "blueprint.yml").read_text(encoding="utf-8")
    texts = {rule: case.edit(valid) for rule, case in CASES.items()}
    for rule, text in texts.items():
        assert text != valid and yaml.safe_load(text), f"{rule}: the edit did not apply"
    batch = tmp_path / "texts.json"
    batch.write_text(json.dumps(list(texts.values())), encoding="utf-8")
    command = ["uv", "run", "--locked", "python", "-c", CHECK_ALL, str(batch)]
    done = run(command, project, project_env("3.11"))
    checked = dict(zip(texts, json.loads(done.stdout), strict=True))
    differences = []
    for number, (rule, case) in enumerate(CASES.items()):
        copier_message = copier_says(tmp_path / f"refused-{number}", case.answers)
        problems = checked[rule]
        said = [message for _, _, message, _ in problems]
        if copier_message != case.message or case.message not in said:
            differences.append(f"{rule}: copier {copier_message!r}, blueprint check {said!r}")
            continue
        [(line, _, _, fix)] = [p for p in problems if p[2] == case.message]
        expected_line = line_of(texts[rule], case.needle)
        if line != expected_line or not fix:
            differences.append(f"{rule}: line {line} (not {expected_line}) or no fix: {fix!r}")
    assert not differences, "\n".join(differences)
    # Copier alone: a placement of a cell the project does not have.
    assert copier_says(tmp_path / "refused-placement", COPIER_ONLY.answers) == COPIER_ONLY.message


@pytest.mark.slow
def test_blueprint_check_names_each_problems_line_and_fix(project: Path) -> None:
    """The command a user runs: one line a problem, `file:line: where: message; fix: ...`,
    with the rules' messages, and a failing exit status."""
    blueprint = project / "blueprint.yml"
    valid = blueprint.read_text(encoding="utf-8")
    bad = set_port("80")(add_cell("order-items")(valid))
    blueprint.write_text(bad, encoding="utf-8")
    try:
        checked = run(
            ["uv", "run", CLI, "blueprint", "check"], project, project_env("3.11"), check=False
        )
    finally:
        blueprint.write_text(valid, encoding="utf-8")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    lines = checked.stderr.splitlines()
    found = [CHECKED_LINE.match(line) for line in lines]
    assert all(found) and len(found) == 2, checked.stderr
    reported = {(int(m[1]), m[3]) for m in found if m}
    assert reported == {
        (line_of(bad, "order-items"), CASES["cell: bad characters"].message),
        (line_of(bad, "http_port:"), CASES["port: out of range"].message),
    }, checked.stderr
    fixes = {m[2]: m[4] for m in found if m}
    assert all(fix.strip() for fix in fixes.values()), fixes


def test_every_message_of_the_rules_is_checked_here() -> None:
    """A rule's message missing from the cases above is one nobody compared."""
    said = [case.message for case in CASES.values()] + [COPIER_ONLY.message]
    rules = load_rules()
    # The shape of copier's answers (a list, a mapping, not empty): the blueprint has its
    # own shape, which its model checks (tests/test_questions.py checks these).
    shape = {rules.CELLS_NOT_A_LIST, rules.NO_CELLS, rules.ROLES_NOT_A_MAPPING, rules.NO_ROLES}
    shape.add(rules.PLACEMENTS_NOT_A_MAPPING)
    for template in rules.MESSAGES:
        if template in shape:
            continue
        pattern = re.compile(".+".join(re.escape(part) for part in template.split("{name}")))
        assert any(pattern.fullmatch(message) for message in said), template


def test_copier_validators_call_the_rules_instead_of_repeating_them() -> None:
    """No regular expression, word list or range is written twice: the validators of the
    blueprint's questions are one call each, and the word lists are the rules' own."""
    text = (TEMPLATE / "copier.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(text.split("\n---\n")[0])
    assert config["_jinja_extensions"] == [
        "copier_template_extensions.TemplateExtensionLoader",
        "hooks/cellforge_hooks/jinja_rules.py:BlueprintRules",
    ]
    questions = yaml.safe_load(text.split("\n---\n")[-1])
    assert questions["cells"]["validator"] == "{{ cells | cells_problem }}"
    assert questions["roles"]["validator"] == "{{ roles | roles_problem }}"
    assert questions["placements"]["validator"] == "{{ placements | placements_problem(cells) }}"
    assert questions["http_port"]["validator"] == "{{ http_port | http_port_problem }}"
    assert "python_keywords" not in questions and "reserved_cell_names" not in questions
