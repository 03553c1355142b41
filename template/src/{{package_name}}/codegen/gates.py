# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The gates a regenerated cell passes in the scratch worktree before it is applied.

The project's own checks, run on the scratch with the project's interpreter and the
scratch's `src/` first on the path: ruff, the format check, mypy and the import
contracts (as `tests/test_checks.py` runs them), the cell's tests, and the GenOps gates
e2e, semdiff, pins and budget (`genops check`). With them, `explain` refreshes the
generated files (docs, contracts, AGENTS.md), which then belong to the change; and the
`contract` gate asks that a change of `messages.py`'s code comes with a change of the
cell's SPEC.md (the requirements move first). An API break must also be acknowledged
(`--api-break PATH`: semdiff's `--acknowledge`, and a commit trailer).

Each gate gives a verdict with one line of reason, and the end of its output for a
repair round. They run side by side (one process each), as each reads the same files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.git import git
from ..core.names import PACKAGE
from ..genops.astdiff import classify, symbols
from . import CellTree

BIN = Path(sys.executable).parent
STATIC = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy"],
    "import contracts": [str(BIN / "lint-imports"), "--no-cache"],
}
BESIDE_EXPLAIN = ("ruff check", "ruff format", "mypy")
GENOPS = ("e2e", "semdiff", "pins", "budget")
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)
TAIL = 4000  # characters of a failing tool's output fed back to the model


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    reason: str
    output: str = ""

    def line(self) -> str:
        return f"{self.gate}: {'pass' if self.passed else 'FAIL'}: {self.reason}"


def environment(tree: Path, root: Path) -> dict[str, str]:
    """The scratch's code first on the path; mypy's cache (unless `MYPY_CACHE_DIR` names
    one) kept in the project's var/, so the next run and its repair rounds reuse it: mypy
    checks a cold project in about 10 s, a warm one in under 1 s."""
    path = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
    cache = os.environ.get("MYPY_CACHE_DIR") or str(root / "var" / "codegen" / "mypy")
    return {**os.environ, "PYTHONPATH": path, "MYPY_CACHE_DIR": cache}


def run(
    command: Sequence[str], tree: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=tree, env=env, capture_output=True, text=True)


def explain(tree: Path, root: Path) -> Verdict:
    """Refresh the generated files in the scratch, as pre-commit would (the project's
    drift check, `explain --check`, passes after it)."""
    done = run([sys.executable, "-m", PACKAGE, "explain"], tree, environment(tree, root))
    if done.returncode == 0:
        return Verdict("generated files", True, "refreshed by explain")
    return Verdict("generated files", False, _first(done.stderr or done.stdout), _tail(done))


def contract(tree: Path, root: Path, cell: CellTree) -> Verdict:
    """A change of the contract's code needs a change of the spec since `HEAD`."""
    relative = PurePosixPath(cell.files.contract)
    before, after = root / relative, tree / relative
    old = before.read_text(encoding="utf-8") if before.is_file() else ""
    new = after.read_text(encoding="utf-8") if after.is_file() else ""
    try:
        changes = classify(symbols(old, "contract"), symbols(new, "contract"))
    except SyntaxError as error:
        return Verdict("contract", False, f"{relative} does not parse: {error.msg}")
    changed = sorted(name for name, kind in changes.items() if kind != "cosmetic")
    if not changed:
        return Verdict("contract", True, "the contract is unchanged")
    spec = PurePosixPath(cell.files.spec)
    if not spec_moved_on(root, spec, relative):
        names = ", ".join(name.removeprefix("contract.") for name in changed[:5])
        return Verdict(
            "contract",
            False,
            f"{relative} changes {names}, but {spec} has not changed since the contract "
            "last did: change the spec first, then regenerate",
        )
    return Verdict("contract", True, f"the contract changes with the spec ({len(changed)} symbols)")


def spec_moved_on(root: Path, spec: PurePosixPath, contract: PurePosixPath) -> bool:
    """Has the spec changed since the contract last did? Uncommitted edits of it count,
    and so does a commit of it after the contract's last one (commit the spec, then
    regenerate). A cell without a spec has no requirements to move on."""
    if not (root / spec).is_file():
        return False
    committed = git(root, "show", f"HEAD:{spec}")
    if not committed.ok or committed.data != (root / spec).read_bytes():
        return True
    spec_commit = git(root, "rev-list", "-1", "HEAD", "--", str(spec)).stdout.strip()
    contract_commit = git(root, "rev-list", "-1", "HEAD", "--", str(contract)).stdout.strip()
    if not contract_commit:
        return True
    later = git(root, "merge-base", "--is-ancestor", contract_commit, spec_commit).ok
    return spec_commit != contract_commit and later


def check(tree: Path, root: Path, cell: CellTree, acknowledged: Sequence[str]) -> list[Verdict]:
    """Every gate's verdict on the scratch, in a fixed order. `explain` writes no Python
    file, so it runs beside ruff, mypy and the cell's tests; the import contracts and the
    GenOps gates read what it writes (`.importlinter`, the docs), so they run after it."""
    env = environment(tree, root)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        refreshed = pool.submit(explain, tree, root)
        early = {name: pool.submit(run, STATIC[name], tree, env) for name in BESIDE_EXPLAIN}
        tests = pool.submit(cell_tests, tree, cell, env)
        verdicts = [contract(tree, root, cell), refreshed.result()]
        imports = pool.submit(run, STATIC["import contracts"], tree, env)
        genops = pool.submit(genops_gates, tree, env, acknowledged)
        verdicts += [_static(name, future.result()) for name, future in early.items()]
        verdicts += [_static("import contracts", imports.result()), tests.result()]
        verdicts += genops.result()
    return verdicts


def cell_tests(tree: Path, cell: CellTree, env: dict[str, str]) -> Verdict:
    tests = CellTree(tree, cell.name).tests()
    if not tests:
        return Verdict("cell tests", False, f"the cell has no tests ({cell.test_file})")
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    done = run([*command, *map(str, tests)], tree, env)
    if done.returncode == 0:
        summary = done.stdout.strip().splitlines()
        return Verdict("cell tests", True, summary[-1] if summary else "passed")
    failed = FAILED_TEST.findall(done.stdout)
    named = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    reason = f"{len(failed)} failed: {named}" if failed else _first(done.stdout + done.stderr)
    return Verdict("cell tests", False, reason, _tail(done))


def genops_gates(tree: Path, env: dict[str, str], acknowledged: Sequence[str]) -> list[Verdict]:
    command = [sys.executable, "-m", PACKAGE, "genops", "check", *GENOPS, "--json"]
    command += [f"--acknowledge={path}" for path in acknowledged]
    done = run(command, tree, env)
    try:
        found = json.loads(done.stdout) if done.returncode in (0, 1) else None
    except ValueError:
        found = None
    if not isinstance(found, list):
        return [Verdict("genops", False, _first(done.stderr or done.stdout), _tail(done))]
    verdicts = []
    for item in found:
        details = "\n".join(item.get("details", ()))
        passed = item["status"] != "fail"
        verdicts.append(Verdict(item["gate"], passed, item["reason"], "" if passed else details))
    return verdicts


def _static(name: str, done: subprocess.CompletedProcess[str]) -> Verdict:
    if done.returncode == 0:
        return Verdict(name, True, "clean")
    text = done.stdout or done.stderr
    broken = [line for line in text.splitlines() if line.rstrip().endswith("BROKEN")]
    return Verdict(name, False, _first("\n".join(broken) or text), _tail(done))


def _first(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "failed with no output"


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr)[-TAIL:]
