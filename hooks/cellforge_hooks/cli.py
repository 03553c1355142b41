# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Command line of the hooks: `python <template>/hooks ...` or, in a generated project,
`uv run python .cellforge ...` (the same code, vendored by the template).

- `post-render`: the copier task after every copy and update.
- `regenerate`: re-apply the template with `blueprint.yml` as the data (pre-commit).
- `check-owned`: refuse hand edits of template-owned files (pre-commit).
- `rename-cell OLD NEW`: finish a cell rename started in `blueprint.yml`.
- `set-source PATH-OR-URL`: record where the template is (a moved clone, a URL).
- `migrate rename-key`: a blueprint migration, for copier's `_migrations`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import owned, source, state
from .derived import refresh
from .lockfile import write_initial_lock
from .migrate import rename_key
from .regenerate import regenerate as reapply
from .rename import RenameRefused
from .rename import rename_cell as rename_files
from .skeleton import materialise_cells

ESCAPE_HATCH = "(emergency escape hatch: SKIP=cellforge-owned git commit ...)"
OWNED_HINT = f"change blueprint.yml or update the template instead {ESCAPE_HATCH}"


SCRATCH_RENDER = re.compile(r"copier\._main\.(old|new)_copy\.")


def is_copier_scratch(project: Path) -> bool:
    """True in copier's own scratch renders of an update (not the user's project)."""
    return bool(SCRATCH_RENDER.search(str(project.resolve())))


def post_render(args: argparse.Namespace) -> int:
    project = Path(args.project)
    if is_copier_scratch(project):
        # `copier update` renders the old and the new version in scratch folders, runs
        # this task there too, and applies the difference to the project. Cells made in
        # those renders would enter that difference: a cell dropped from the list would
        # be deleted from the project. Cells are the user's, so they stay out of it.
        return 0
    cells = [name for name in args.cells.split(",") if name]
    result = materialise_cells(project, args.package, cells)
    for path in result.created:
        print(f"cellforge: created {path.relative_to(project)}")
    refresh(project, args.package)
    if args.template_source:
        record_template_source(project, Path(args.template_source))
    if args.template_dir:
        state.record(project, Path(args.template_dir), args.package, result.created)
    if args.base_lock and write_initial_lock(
        project, Path(args.base_lock), args.project_name, args.python_version
    ):
        print("cellforge: created uv.lock (the versions the template was tested with)")
    return 0


def record_template_source(project: Path, rendered_from: Path) -> None:
    """Never leave a relative or unreachable template source silently recorded."""
    recorded = source.recorded(project)
    if recorded and source.is_relative_path(recorded):
        typed, recorded = recorded, source.origin_of(rendered_from)
        source.record(project, recorded)
        print(
            f"cellforge: recorded the template source as {recorded}, not {typed!r} "
            "(copier would resolve that inside the project)"
        )
    problem = source.problem(recorded, source.recorded_version(project))
    missing = problem.missing_version if problem else None
    if missing and source.has_version(rendered_from, missing):
        # Copier commits a template's uncommitted edits in its temporary clone only.
        problem = source.Problem(
            f"template version {missing!r} exists only in copier's temporary clone "
            "(the template had uncommitted changes)",
            "commit them in the template, then generate the project again",
        )
    if problem:
        print(f"cellforge: warning: regeneration will fail: {problem}", file=sys.stderr)


def regenerate(args: argparse.Namespace) -> int:
    return reapply(Path(args.project), template_ref=args.template_ref)


def check_owned(args: argparse.Namespace) -> int:
    """Hand edits of template-owned files, and ownership markers that lie (`owned.py`)."""
    project = Path(args.project)
    # Without copier's answers (a bare checkout) no path is known to be the user's.
    answered = (project / source.ANSWERS_FILE).is_file()
    package = source.read_answers(project).get("package_name", "") if answered else ""
    found = owned.problems(project, str(package))
    for path, problem in found.items():
        hint = OWNED_HINT if problem in (owned.EDITED, owned.UNMARKED) else ESCAPE_HATCH
        print(f"{path}: {problem}: {hint}", file=sys.stderr)
    return 1 if found else 0


def rename_cell(args: argparse.Namespace) -> int:
    project = Path(args.project)
    answers = source.read_answers(project)
    fresh = state.load(project).get("fresh_skeletons", {})
    assert isinstance(fresh, dict)
    try:
        touched = rename_files(project, answers["package_name"], args.old, args.new, fresh)
    except RenameRefused as refusal:
        print(f"cellforge: rename refused: {refusal}", file=sys.stderr)
        return 1
    for path in touched:
        print(f"cellforge: updated {path.relative_to(project)}")
    refresh(project, answers["package_name"])
    print(f"cellforge: cell {args.old!r} is now {args.new!r}; run the tests, then commit")
    return 0


def set_source(args: argparse.Namespace) -> int:
    project = Path(args.project)
    given = args.source
    new = given if source.is_remote(given) else str(Path(given).expanduser().resolve())
    problem = source.problem(new, source.recorded_version(project))
    if problem:
        print(f"cellforge: nothing was changed: {problem.reason}", file=sys.stderr)
        return 1
    source.record(project, new)
    state.rehash(project, source.ANSWERS_FILE)
    print(f"cellforge: the template source is now {new}; commit {source.ANSWERS_FILE}")
    return 0


def migrate(args: argparse.Namespace) -> int:
    path = Path(args.project) / args.file
    if rename_key(path, args.old, args.new):
        print(f"cellforge: {args.file}: renamed {args.old} to {args.new}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cellforge-hooks")
    top.add_argument("--project", default=".", help="project root (default: .)")
    commands = top.add_subparsers(dest="command", required=True)

    render = commands.add_parser("post-render", help="materialise cells, refresh derived files")
    render.add_argument("--package", required=True, help="the project's import package")
    render.add_argument("--cells", required=True, help="comma-separated cell names")
    render.add_argument("--template-dir", help="the template's folder, to record ownership")
    render.add_argument("--template-source", help="the folder copier rendered from")
    render.add_argument("--base-lock", help="the template's stored uv.lock, for a new project")
    render.add_argument("--project-name", help="the project's distribution name (for the lock)")
    render.add_argument("--python-version", help="the oldest Python it supports (for the lock)")
    render.add_argument("--project", default=".", help=argparse.SUPPRESS)
    render.set_defaults(func=post_render)

    again = commands.add_parser("regenerate", help="re-apply the template from blueprint.yml")
    again.add_argument("--template-ref", help="update to this template version (tag or commit)")
    again.set_defaults(func=regenerate)

    owned = commands.add_parser("check-owned", help="refuse hand edits of template files")
    owned.set_defaults(func=check_owned)

    where = commands.add_parser("set-source", help="record where the template is")
    where.add_argument("source", help="the template's git clone (a path) or its URL")
    where.set_defaults(func=set_source)

    rename = commands.add_parser("rename-cell", help="finish renaming a cell")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.set_defaults(func=rename_cell)

    migration = commands.add_parser("migrate", help="blueprint migrations")
    steps = migration.add_subparsers(dest="step", required=True)
    key = steps.add_parser("rename-key", help="rename a blueprint key, keeping its value")
    key.add_argument("--file", default="blueprint.yml")
    key.add_argument("--from", dest="old", required=True, help="dotted path, e.g. a.b")
    key.add_argument("--to", dest="new", required=True, help="dotted path, e.g. a.c")
    key.set_defaults(func=migrate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    # Importing the project's code (docs, blueprint check) must not leave __pycache__.
    sys.dont_write_bytecode = True
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status


def regenerate_main() -> int:
    """Console script `cellforge-regenerate` (the pre-commit hook's entry point)."""
    return main(["regenerate", *sys.argv[1:]])


def check_owned_main() -> int:
    """Console script `cellforge-check-owned`."""
    return main(["check-owned", *sys.argv[1:]])
