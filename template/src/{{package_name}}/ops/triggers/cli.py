# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`<cli> triggers check`: which triggers fire now, as a table or as JSON.

It reads the metrics series the running service records (or a recorded one given with
`--series`), judges it against the blueprint's thresholds and prints, for each trigger
that fires, the evidence, the cell to move and the playbook to run. The exit status is
for scripts: 1 when a trigger fires, 0 when none does, 2 without a series or with a
broken blueprint. Only the standard library is imported at module level: the project's
CLI builds its parser from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .definitions import cli_name, show
from .evaluation import Context, Finding, evaluate
from .thresholds import Thresholds, cell_facts

if TYPE_CHECKING:
    from ...core.blueprint import Blueprint


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(findings: Sequence[Finding]) -> list[str]:
    rows = [("trigger", "state", "long", "short", "threshold", "cell")]
    for finding in findings:
        unit = finding.trigger.unit
        threshold = "flag" if finding.trigger.kind == "flag" else show(finding.threshold, unit)
        rows.append(
            (
                finding.trigger.name,
                finding.state,
                show(finding.long, unit),
                show(finding.short, unit),
                threshold,
                ", ".join(finding.cells) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    cells = [[v.ljust(w) for v, w in zip(row, widths, strict=True)] for row in rows]
    return ["  ".join(row).rstrip() for row in cells]


def report(findings: Sequence[Finding]) -> str:
    lines = _table(findings)
    for finding in findings:
        if finding.state == "fires":
            cells = ", ".join(finding.cells) or "no cell"
            lines += ["", f"{finding.trigger.name} fires for {cells}"]
            lines.append(f"  evidence: {finding.evidence}")
            lines += [f"  playbook: {step}" for step in finding.playbooks]
    return "\n".join(lines)


def _blueprint(path: Path) -> Blueprint | Literal[False] | None:
    """The typed blueprint; None without one (the default thresholds), False (after
    saying why) when it is broken."""
    if not path.exists():
        print(f"{path} not found: judging with the default thresholds", file=sys.stderr)
        return None
    from ...core.blueprint import BlueprintError, load  # start-up cost: pydantic

    try:
        return load(path)
    except BlueprintError as error:
        print(error, file=sys.stderr)
        return False


def check(args: argparse.Namespace) -> int:
    from ...core import series  # start-up cost: only `triggers check` reads a series
    from ...core.settings import Settings  # start-up cost: pydantic

    settings = Settings()
    path = Path(args.series) if args.series else settings.series_path
    how = (
        f"the service records it while `{cli_name()} serve` runs (a sample every "
        f"{settings.sample_seconds:g} s), or pass a recorded one with --series FILE"
    )
    if path is None:
        print(f"no metrics series: no data_dir is configured; {how}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"no metrics series at {path}: {how}", file=sys.stderr)
        return 2
    data = _blueprint(Path(args.blueprint) if args.blueprint else settings.blueprint)
    if data is False:
        return 2
    limits = Thresholds.from_blueprint(data)
    now = args.now
    if now is None:
        latest = series.last(path) if args.series else None
        now = latest.t if latest is not None else time.time()
    # Enough history for the long window (and the latest sample for the size).
    recorded = series.read(path, since=now - limits.long_window_minutes * 60 - 3600)
    if not recorded.samples and series.last(path) is None:
        print(f"no samples in {path}: {how}", file=sys.stderr)
        return 2
    if recorded.damaged:
        print(f"{path}: skipped {recorded.damaged} damaged line(s)", file=sys.stderr)
    context = Context(recorded.samples, now, limits, cell_facts(data))
    findings = evaluate(context)
    fires = any(finding.state == "fires" for finding in findings)
    if args.json:
        document = {
            "series": str(path),
            "now": now,
            "fires": fires,
            "findings": [finding.to_json() for finding in findings],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"{path}: judged at {_stamp(now)}")
        print(report(findings))
    return 1 if fires else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = commands.add_parser("triggers", help="when a cell should leave the process")
    actions = top.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "check", help="which triggers fire, with the evidence and the playbook (exit 1)"
    )
    run.add_argument(
        "--series",
        help="a recorded series, JSON Lines (default: the live one the service records, "
        "var/metrics/series.jsonl)",
    )
    run.add_argument(
        "--now",
        type=float,
        help="judge as of this unix time (default: now for the live series, the last "
        "sample of a --series file)",
    )
    run.add_argument("--blueprint", help="default: the configured blueprint.yml")
    run.add_argument("--json", action="store_true", help="print the findings as JSON")
    run.set_defaults(func=check)
