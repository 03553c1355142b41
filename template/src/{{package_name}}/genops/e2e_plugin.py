# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A pytest plugin that records which gateway routes the tests reached, and how.

The gateway raises a PEP 578 audit event for every guarded request it answers
(`gateway/guard.py`: `cellforge.gateway.request`, path, status). This plugin installs an
audit hook that collects them, each tagged with the test that was running (its setup,
call and teardown), and the outcome of every test: passed, failed, or skipped (an xfail
test counts as skipped, whether it failed or not). At the end of the session it writes
both as JSON to the file given by `--e2e-routes PATH` (or the `CELLFORGE_E2E_ROUTES`
environment variable). The `e2e` gate runs `pytest -m e2e -p <pkg>.genops.e2e_plugin`
and reads the file: coverage is recorded from real requests answered by tests that
passed, not guessed from test names.

Audit events are seen only in this process: the requests count when the tests drive the
app in-process (Starlette's `TestClient`, or httpx over an ASGI transport), not when
they call a server running in another process.

An audit hook cannot be removed, so load the plugin only in a pytest run of its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EVENT = "cellforge.gateway.request"
ENV = "CELLFORGE_E2E_ROUTES"
OUTSIDE = ""  # the test id of requests made outside any test (a session fixture's)

_lock = threading.Lock()
# path -> test id -> statuses answered. A global, not a context variable: the app may
# answer in another thread (TestClient's portal) than the test's.
_answers: defaultdict[str, defaultdict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
_current = OUTSIDE
_outcomes: dict[str, set[str]] = {"passed": set(), "failed": set(), "skipped": set()}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == EVENT:  # every audited operation of the process passes here: be brief
        path, status = args
        with _lock:
            _answers[str(path)][_current].add(int(status))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e-routes",
        default=os.environ.get(ENV),
        help="write the gateway routes answered during the run, as JSON, to this file",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--e2e-routes"):
        sys.addaudithook(_hook)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Tag the requests of this test's setup, call and teardown with its id."""
    global _current
    with _lock:
        _current = item.nodeid
    try:
        yield
    finally:
        with _lock:
            _current = OUTSIDE


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _outcomes["failed"].add(report.nodeid)
    elif report.skipped or hasattr(report, "wasxfail"):  # xfailed, or xpassed
        _outcomes["skipped"].add(report.nodeid)
    elif report.when == "call":
        _outcomes["passed"].add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = session.config.getoption("--e2e-routes")
    if not target:
        return
    failed = _outcomes["failed"]
    skipped = _outcomes["skipped"] - failed
    with _lock:
        answers = {
            path: {test: sorted(statuses) for test, statuses in sorted(tests.items())}
            for path, tests in sorted(_answers.items())
        }
    recorded = {
        "answers": answers,  # path -> test id -> statuses it got
        "passed": sorted(_outcomes["passed"] - failed - skipped),
        "failed": sorted(failed),
        "skipped": sorted(skipped),
        "exitstatus": int(exitstatus),
    }
    Path(target).write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")
