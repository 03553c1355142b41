# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`<cli> runbook list | show NAME | run NAME ... [--yes | --dry-run] [--root DIR]`.

Each runbook's parameters become its own subcommand's arguments, so `--help` and the
usage errors come from argparse. `run` is a dry run unless `--yes`; on a terminal
without either flag it asks (`prompt`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .docs import markdown
from .engine import Invocation, Mode, Runbook, choose_mode, execute, prog
from .hook import TemplateHook
from .registry import registry


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`runbook list | show NAME | run NAME ... [--yes | --dry-run] [--root DIR]`."""
    book = commands.add_parser("runbook", help="operations as code (dry run unless --yes)")
    actions = book.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every runbook and what it does")
    listing.set_defaults(func=_list)
    books = registry()
    show = actions.add_parser("show", help="a runbook's steps (its docs/runbooks page)")
    show.add_argument("name", choices=sorted(books), help="the runbook")
    show.set_defaults(func=_show)
    run = actions.add_parser("run", help="print the plan; with --yes, apply and verify it")
    runs = run.add_subparsers(dest="runbook", required=True, metavar="NAME")
    for name, runbook in sorted(books.items()):
        one = runs.add_parser(name, help=runbook.summary, description=runbook.summary)
        _add_runbook(one, runbook)


def _add_runbook(one: argparse.ArgumentParser, runbook: Runbook[Any]) -> None:
    for param in runbook.params:
        choices = param.choices or None
        if param.is_option:
            one.add_argument(param.name, required=True, choices=choices, help=param.help)
        else:
            one.add_argument(param.key, metavar=param.metavar, help=param.help)
    mode = one.add_mutually_exclusive_group()
    mode.add_argument("--yes", action="store_true", help="apply without asking")
    mode.add_argument("--dry-run", action="store_true", help="print the plan, never ask")
    one.add_argument("--root", default=".", help="project root (default: .)")
    one.set_defaults(func=_run)


def _list(args: argparse.Namespace) -> int:
    books = registry()
    width = max(map(len, books))
    for name, runbook in sorted(books.items()):
        usage = " ".join(param.usage() for param in runbook.params)
        print(f"{name.ljust(width)}  {runbook.summary}  ({name} {usage})")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(markdown(registry()[args.name], prog()), end="")
    return 0


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _mode(args: argparse.Namespace) -> Mode:
    return choose_mode(args.yes, args.dry_run, interactive())


def _run(args: argparse.Namespace) -> int:
    runbook = registry()[args.runbook]
    arguments = {param.key: str(getattr(args, param.key)) for param in runbook.params}
    invocation = Invocation(Path(args.root).resolve(), arguments, TemplateHook())
    return execute(runbook, invocation, _mode(args))
