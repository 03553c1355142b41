# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`<cli> cell regenerate NAME` and `<cli> cell patch NAME "instruction"`.

Exit status: 0 when the change was applied (or replayed), 1 when gates refused it (each
failing gate printed with its reason; the work tree unchanged), 2 when the run stopped
before the gates could decide (one line on stderr: no key, provider unreachable, pack too
large, budget short, an answer writing outside the cell, nothing to replay).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..core.names import PROG
from ..core.settings import Settings
from .loop import CodegenError, Outcome, Request, run
from .replay import ReplayError, replay


def regenerate(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if args.replay:
        return _replay(root, args.name, args.check)
    request = Request(args.name, "regenerate", acknowledged=tuple(args.api_break))
    return _run(root, request)


def patch(args: argparse.Namespace) -> int:
    instruction = args.instruction.strip()
    if not instruction:
        print(f"{PROG}: cell patch needs an instruction", file=sys.stderr)
        return 2
    return _run(Path.cwd(), Request(args.name, "patch", instruction, tuple(args.api_break)))


def _run(root: Path, request: Request) -> int:
    try:
        outcome = asyncio.run(run(root, Settings(), request))
    except CodegenError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    report(outcome)
    return 0 if outcome.applied else 1


def report(outcome: Outcome) -> None:
    record = outcome.run
    for verdict in outcome.verdicts:
        print(verdict.line())
    cost = f"{record.input_tokens} + {record.output_tokens} tokens, USD {record.cost_usd:.4f}"
    rounds = f"{record.rounds} round{'' if record.rounds == 1 else 's'}"
    print(f"{record.model} ({record.provider}): {rounds}, {cost}")
    if not outcome.applied:
        print("refused: the work tree is unchanged")
        return
    print(f"applied {len(outcome.changed)} files; review with `git diff`, then commit with:\n")
    print(record.commit_message())


def _replay(root: Path, name: str, check_only: bool) -> int:
    try:
        replayed = replay(root, name, check_only)
    except ReplayError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    sha = replayed.run.prompt_sha256
    if check_only:
        for path in replayed.differing:
            print(f"differs from its record: {path}")
        same = len(replayed.files) - len(replayed.differing)
        print(f"{same}/{len(replayed.files)} files as recorded (prompt {sha[:12]})")
        return 1 if replayed.differing else 0
    print(f"replayed {len(replayed.files)} files from prompt {sha[:12]} ({replayed.run.model})")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cell = commands.add_parser("cell", help="regenerate or patch a cell with the pinned model")
    actions = cell.add_subparsers(dest="action", required=True)
    again = actions.add_parser("regenerate", help="rewrite a cell from its SPEC.md, gated")
    again.add_argument("name", help="the cell (a folder of src/<package>/cells/)")
    again.add_argument(
        "--replay", action="store_true", help="rebuild its files from the recorded answer"
    )
    again.add_argument("--check", action="store_true", help="with --replay: only compare")
    fix = actions.add_parser("patch", help="a minor fix to a cell, gated")
    fix.add_argument("name", help="the cell (a folder of src/<package>/cells/)")
    fix.add_argument("instruction", help="what to fix, in a sentence")
    for parser in (again, fix):
        parser.add_argument(
            "--api-break",
            action="append",
            default=[],
            metavar="PATH",
            help="an API path whose break the spec intends (repeatable)",
        )
    again.set_defaults(func=regenerate)
    fix.set_defaults(func=patch)
