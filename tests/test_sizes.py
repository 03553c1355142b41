"""Modules that do one thing: no template-owned module over 400 lines, no function over 60.

The limits hold for what a generated project receives from the template: its package
(`src/<pkg>/`, but `cells/`, which is the user's) and the vendored hooks
(`.cellforge/cellforge_hooks/`, this repository's `hooks/`). A default project is rendered
once and measured with `ast`: a module's length is its number of lines, a function's is
from its `def` line to its last line.

A generated table or a data declaration may be longer, but only when it is named in
`EXEMPT` below with the reason; an exemption that no longer matches anything fails too,
so the list cannot rot.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TEMPLATE, render

MODULE_LINES = 400
FUNCTION_LINES = 60
PACKAGE = "sizes_probe"

# A list that starts a `git` process: only the one git helper may hold one.
RUNS_GIT = re.compile(r"\[\s*\"git\"")
# "path" (a module) or "path:function" -> why its length is not a design problem.
EXEMPT: dict[str, str] = {}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("sizes") / "probe", package_name=PACKAGE)


def measured(project: Path) -> Iterator[Path]:
    """The template-owned Python files of the project: its package but `cells/`, and the
    vendored hooks."""
    package = project / "src" / PACKAGE
    for path in sorted(package.rglob("*.py")):
        if "cells" not in path.relative_to(package).parts:
            yield path
    yield from sorted((project / ".cellforge" / "cellforge_hooks").rglob("*.py"))


def offenders(project: Path) -> Iterator[tuple[str, str]]:
    """(exemption key, `path:line name length`) for every module and function too long."""
    for path in measured(project):
        name = path.relative_to(project).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            yield name, f"{name}:1 (module) {lines} lines"
        for node in ast.walk(ast.parse(text, filename=name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    where = f"{name}:{node.lineno} {node.name}"
                    yield f"{name}:{node.name}", f"{where} {length} lines"


def test_template_modules_and_functions_stay_short(project: Path) -> None:
    """Every template-owned module fits in 400 lines and every function in 60, unless it is
    a generated table or data declaration named in `EXEMPT` with its reason."""
    assert (project / "src" / PACKAGE / "bootstrap.py").is_file(), "nothing measured"
    found = list(offenders(project))
    too_long = [shown for key, shown in found if key not in EXEMPT]
    assert not too_long, (
        f"over {MODULE_LINES} lines per module or {FUNCTION_LINES} per function "
        "(split it into modules or functions that do one thing each):\n" + "\n".join(too_long)
    )
    stale = sorted(set(EXEMPT) - {key for key, _ in found})
    assert not stale, f"exempt but no longer too long (drop them from EXEMPT): {stale}"


def test_the_size_check_sees_a_long_function(tmp_path: Path) -> None:
    """The measure counts a function from its `def` to its last line, and a module by its
    lines: a 61-line function in a 401-line module is reported twice."""
    package = tmp_path / "src" / PACKAGE / "core"
    package.mkdir(parents=True)
    body = "\n".join(f"    x{n} = {n}" for n in range(60))
    padding = "\n" * (MODULE_LINES - 60)
    (package / "long.py").write_text(f"def long() -> None:\n{body}\n{padding}", "utf-8")
    (tmp_path / "src" / PACKAGE / "cells").mkdir()
    (tmp_path / "src" / PACKAGE / "cells" / "mine.py").write_text("\n" * 500, "utf-8")
    (tmp_path / ".cellforge" / "cellforge_hooks").mkdir(parents=True)
    shown = [line for _, line in offenders(tmp_path)]
    assert shown == [
        f"src/{PACKAGE}/core/long.py:1 (module) {MODULE_LINES + 1} lines",
        f"src/{PACKAGE}/core/long.py:1 long 61 lines",
    ]


def test_one_git_helper_serves_the_project_and_the_hooks(project: Path) -> None:
    """git is run from one module: `core/git.py` in the package, the same bytes as the
    hooks' `git.py` (a symbolic link in the template, a copy in the project); no other
    template-owned module starts git itself."""
    helper = project / "src" / PACKAGE / "core" / "git.py"
    vendored = project / ".cellforge" / "cellforge_hooks" / "git.py"
    assert helper.read_bytes() == vendored.read_bytes()
    link = TEMPLATE / "hooks" / "cellforge_hooks" / "git.py"
    assert link.is_symlink()
    assert link.resolve() == (TEMPLATE / "template/src/{{package_name}}/core/git.py").resolve()
    others = [
        path.relative_to(project).as_posix()
        for path in measured(project)
        if path not in (helper, vendored) and RUNS_GIT.search(path.read_text(encoding="utf-8"))
    ]
    assert not others, f"these run git themselves instead of `core/git.py`: {others}"
