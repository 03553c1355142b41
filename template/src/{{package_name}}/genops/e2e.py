# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Every public route has an end-to-end test, and the end-to-end tests pass.

The public routes are the gateway's route table: `POST /<cell>/<message>` for every
message a cell handles, and the `/admin/...` key management routes. An end-to-end test
is a test marked `@pytest.mark.e2e` that calls the gateway over HTTP (client ->
gateway -> bus -> cell -> storage -> audit) and checks what happened. The gate runs
`pytest -m e2e` in a process of its own with a plugin (`genops/e2e_plugin.py`) that
records, from the gateway's audit events, each route the tests reached, the statuses it
answered and the test that asked: a route counts as covered when an e2e test that
passed got a 2xx answer from it (a test that failed, was skipped or is marked xfail
covers nothing).

Only requests the app answers in the pytest process are seen (audit events do not cross
processes): an e2e test drives the app in-process, with Starlette's `TestClient` (the
`client` fixture) or httpx over an ASGI transport, not a server started apart.

Protects against: a route that no test has ever called successfully end to end, so a
wiring mistake (a missing handler, a capability nobody is granted, a message that does
not cross the codec) is found by the first caller in production.

Fails when: the e2e tests fail or cannot run; there are no e2e tests; a route of the
route table got no 2xx answer in a passing e2e test (the details name it, with the
statuses it did answer, if any).

Acknowledge a deliberate change: there is nothing to acknowledge; write the test. A
cell's tests live in `tests/cells/test_<cell>_cell.py`: mark the test that calls the
route over HTTP `@pytest.mark.e2e`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..core.catalog import cell_names, load_registry
from ..gateway.routes import route_table
from . import Project, Verdict

GATE = "e2e"
PLUGIN = __name__.rsplit(".", 1)[0] + ".e2e_plugin"
TIMEOUT = 900.0  # seconds for the whole e2e run
NO_TESTS = 5  # pytest's exit status when nothing was collected


def public_routes(project: Project) -> list[str]:
    """The paths of the gateway's route table, for the cells of the project's blueprint."""
    return [route.path for route in route_table(load_registry(cell_names(project.blueprint)))]


def run_e2e(root: Path, record: Path) -> tuple[int, str]:
    """Run the project's e2e tests in `root` with the recording plugin: (exit, output)."""
    command = [
        sys.executable, "-m", "pytest", "-m", "e2e", "-q", "--no-header",
        "-p", "no:cacheprovider", "-p", PLUGIN, f"--e2e-routes={record}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as expired:
        raise TimeoutError from expired
    return done.returncode, done.stdout + done.stderr


def _tests(count: int) -> str:
    return f"{count} e2e test" if count == 1 else f"{count} e2e tests"


def _tail(output: str, lines: int = 15) -> tuple[str, ...]:
    return tuple(line for line in output.strip().splitlines()[-lines:] if line.strip())


def _uncovered(path: str, answers: dict[str, list[int]]) -> str:
    """Why a route is not covered: never called, or what it answered (and to which tests,
    for a 2xx: ones that did not pass)."""
    statuses = sorted({status for answered in answers.values() for status in answered})
    line = f"{path}: no 2xx answer in a passing e2e test"
    if not statuses:
        return f"{line} (never called)"
    line += f" (answered {', '.join(map(str, statuses))})"
    tests = [test or "outside a test" for test, got in answers.items() if _ok(got)]
    return f"{line}; 2xx only to {', '.join(sorted(tests))}" if tests else line


def _ok(statuses: list[int]) -> bool:
    return any(200 <= status < 300 for status in statuses)


def check(project: Project) -> Verdict:
    routes = public_routes(project)
    with tempfile.TemporaryDirectory(prefix="genops-e2e-") as folder:
        record = Path(folder) / "routes.json"
        try:
            status, output = run_e2e(project.root, record)
        except TimeoutError:
            reason = f"the e2e tests did not finish in {TIMEOUT:.0f} s"
            return Verdict(GATE, "fail", reason, f"?/{len(routes)} routes")
        recorded: dict[str, Any] = (
            json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        )
    passed, failed = recorded.get("passed", []), recorded.get("failed", [])
    answers: dict[str, dict[str, list[int]]] = recorded.get("answers", {})
    covered = [
        path
        for path in routes
        if any(test in passed and _ok(got) for test, got in answers.get(path, {}).items())
    ]
    ran = len(passed) + len(failed)
    figure = f"{len(covered)}/{len(routes)} routes, {_tests(ran)}"
    skipped = recorded.get("skipped", [])
    if ran == 0 and skipped:
        reason = f"all {_tests(len(skipped))} were skipped"
        return Verdict(GATE, "fail", reason, figure, tuple(f"skipped: {t}" for t in skipped))
    if status == NO_TESTS or (status == 0 and ran == 0):
        reason = "no e2e tests: mark the tests that call routes over HTTP @pytest.mark.e2e"
        return Verdict(GATE, "fail", reason, figure)
    if failed:
        reason = f"{len(failed)} of {_tests(ran)} failed"
        return Verdict(GATE, "fail", reason, figure, tuple(f"failed: {t}" for t in failed))
    if status != 0 or not recorded:
        reason = f"the e2e tests could not run (pytest exit status {status})"
        return Verdict(GATE, "fail", reason, figure, _tail(output))
    missing = [path for path in routes if path not in covered]
    if missing:
        details = tuple(_uncovered(path, answers.get(path, {})) for path in missing)
        reason = f"{len(missing)} of {len(routes)} routes without an end-to-end test"
        return Verdict(GATE, "fail", reason, figure, details)
    return Verdict(GATE, "pass", "every public route is covered by a passing e2e test", figure)
