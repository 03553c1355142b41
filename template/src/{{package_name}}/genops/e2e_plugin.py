"""A pytest plugin that records which gateway routes the tests reached, and how.

The gateway raises a PEP 578 audit event for every guarded request it answers
(`gateway/guard.py`: `cellforge.gateway.request`, path, status). This plugin installs an
audit hook that collects them, and counts the tests that passed, failed or were
skipped; at the end of the session it writes both as JSON to the file given by
`--e2e-routes PATH` (or the `CELLFORGE_E2E_ROUTES` environment variable). The `e2e`
gate runs `pytest -m e2e -p <pkg>.genops.e2e_plugin` and reads the file: coverage is
recorded from real requests, not guessed from test names.

An audit hook cannot be removed, so load the plugin only in a pytest run of its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

EVENT = "cellforge.gateway.request"
ENV = "CELLFORGE_E2E_ROUTES"

_lock = threading.Lock()
_statuses: defaultdict[str, set[int]] = defaultdict(set)  # path -> statuses answered
_outcomes: dict[str, set[str]] = {"passed": set(), "failed": set(), "skipped": set()}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == EVENT:  # every audited operation of the process passes here: be brief
        path, status = args
        with _lock:
            _statuses[str(path)].add(int(status))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e-routes",
        default=os.environ.get(ENV),
        help="write the gateway routes answered during the run, as JSON, to this file",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--e2e-routes"):
        sys.addaudithook(_hook)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _outcomes["failed"].add(report.nodeid)
    elif report.skipped:
        _outcomes["skipped"].add(report.nodeid)
    elif report.when == "call":
        _outcomes["passed"].add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = session.config.getoption("--e2e-routes")
    if not target:
        return
    failed = _outcomes["failed"]
    with _lock:
        routes = {path: sorted(statuses) for path, statuses in sorted(_statuses.items())}
    recorded = {
        "routes": routes,
        "passed": sorted(_outcomes["passed"] - failed),
        "failed": sorted(failed),
        "skipped": sorted(_outcomes["skipped"] - failed - _outcomes["passed"]),
        "exitstatus": int(exitstatus),
    }
    Path(target).write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")
