"""Command line of the hooks: `python -m cellforge_hooks <command>` or `python hooks ...`.

`post-render` is the copier task that runs after every copy and update.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .derived import refresh
from .skeleton import materialise_cells


def post_render(args: argparse.Namespace) -> int:
    project = Path(args.project)
    cells = [name for name in args.cells.split(",") if name]
    result = materialise_cells(project, args.package, cells)
    for path in result.created:
        print(f"cellforge: created {path.relative_to(project)}")
    refresh(project, args.package)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cellforge-hooks")
    commands = top.add_subparsers(dest="command", required=True)
    render = commands.add_parser("post-render", help="materialise cells, refresh derived files")
    render.add_argument("--package", required=True, help="the project's import package")
    render.add_argument("--cells", required=True, help="comma-separated cell names")
    render.add_argument("--project", default=".", help="project root (default: .)")
    render.set_defaults(func=post_render)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    # Importing the project's code to refresh its docs must not leave __pycache__ behind.
    sys.dont_write_bytecode = True
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status
