# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`<cli> genops check [GATE ...]`: run the GenOps gates and print one table.

With no gate named, every gate runs. The exit status is 1 when any gate fails and 0
otherwise (a warning is printed, not fatal), and 2 when the blueprint is broken (its
schema check runs first, so no gate judges a bad threshold); `--json` prints the
verdicts for scripts.
Each gate's module is imported only when it runs (the gate registry), so the fast gates
stay fast in pre-commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..core.blueprint import check_file
from . import GATES, Project, run_gates, table


def blueprint_problems(root: Path) -> list[str]:
    """What is wrong with the project's blueprint.yml (nothing when there is none)."""
    path = root / "blueprint.yml"
    return [str(problem) for problem in check_file(path)] if path.exists() else []


def check(args: argparse.Namespace) -> int:
    unknown = [name for name in args.gates if name not in GATES]
    if unknown:
        known = ", ".join(GATES)
        print(f"unknown gate {', '.join(unknown)}; the gates are: {known}", file=sys.stderr)
        return 2
    root = Path(args.root)
    problems = blueprint_problems(root)
    if problems:  # the gates read thresholds and pins from it: judge nothing on a broken one
        for problem in problems:
            print(f"{root / 'blueprint.yml'}:{problem}", file=sys.stderr)
        print("fix blueprint.yml first (`blueprint check`); no gate ran", file=sys.stderr)
        return 2
    project = Project.at(root, base_ref=args.base, acknowledged=tuple(args.acknowledge))
    verdicts = run_gates(project, args.gates or None)
    if args.json:
        print(json.dumps([asdict(verdict) for verdict in verdicts], indent=2))
    else:
        print(table(verdicts))
    return 1 if any(verdict.failed for verdict in verdicts) else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    genops = commands.add_parser("genops", help="the GenOps gates (docs/genops.md)")
    actions = genops.add_subparsers(dest="action", required=True)
    gates = ", ".join(GATES)
    run = actions.add_parser("check", help=f"run the gates ({gates}); all by default")
    run.add_argument("gates", nargs="*", metavar="GATE", help=f"one or more of: {gates}")
    run.add_argument("--base", help="semdiff: the ref to compare with (default: merge base)")
    acknowledge = "semdiff: an API path whose break is deliberate, for this run (repeatable)"
    run.add_argument("--acknowledge", action="append", default=[], metavar="PATH", help=acknowledge)
    run.add_argument("--root", default=".", help="project root (default: .)")
    run.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    run.set_defaults(func=check)
