# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The `restore --from DIR` runbook: puts a backup made by `backup` back in place of the
service's state, after setting the current files aside (as a backup of their own, so a
restore is undone by restoring that), and proves the result opens.

What a backup holds, and why, is `backup.py`'s docstring.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.private import private_file, private_folder
from .engine import Invocation, Param, PreconditionError, Runbook, Step, StepError, prog
from .manifest import audit_problems, problems_of, read_manifest, sha256, stamp, write_manifest
from .state import (
    data_dir_of,
    integrity,
    is_sqlite,
    live,
    open_every_record,
    refuse_if_running,
    settings_at,
    sides,
    target,
)

if TYPE_CHECKING:
    from ...core.settings import Settings


ASIDE = "before-restore"  # under data_dir: what a restore replaced, itself a backup


@dataclass
class Restore:
    settings: Settings
    source: Path  # the backup
    files: dict[str, str]  # its manifest
    targets: dict[str, Path]  # name -> where it goes back
    current: dict[str, Path]  # the live files now, set aside first
    aside: Path
    records: int = 0
    audit_entries: str = ""
    problems: list[str] = field(default_factory=list)


def prepare_restore(invocation: Invocation) -> Restore:
    """- no `data_dir` is configured;
    - `DIR` is not a complete backup: no `manifest.json`, a file missing or altered (its
      hash differs), a SQLite copy failing its integrity check, or a name outside the
      state;
    - the service is running: a process holds one of its files open (stop the gateway
      and the workers first: a restore under them would be overwritten or lost)."""
    settings = settings_at(invocation.root)
    data_dir = data_dir_of(settings)
    where = Path(invocation.arguments["from"])
    source = invocation.root / where if not where.is_absolute() else where
    try:
        files = read_manifest(source)
        targets = {name: target(settings, name) for name in files}
    except ValueError as error:
        raise PreconditionError(str(error)) from None
    problems = problems_of(source, files)
    if problems:
        raise PreconditionError(f"{source} is a broken backup: " + "; ".join(problems))
    current = live(settings)
    refuse_if_running([*current.values(), *targets.values()])
    folders = {path.parent for path in [*current.values(), *targets.values()]}
    fixed = sorted(str(f) for f in folders if f.exists() and not os.access(f, os.W_OK))
    if fixed:  # e.g. keys mounted from a Kubernetes Secret: re-provision those instead
        raise PreconditionError("cannot write " + ", ".join(fixed) + " (a read-only mount?)")
    aside = data_dir / ASIDE / stamp()
    while aside.exists():  # restored twice in a second (an undo, in tests)
        aside = aside.with_name(f"{stamp()}-{secrets.token_hex(2)}")
    return Restore(settings, source, files, targets, current, aside)


def plan_aside(restore: Restore) -> str:
    """Moves the current files (and any SQLite journal left beside them) into
    `<data_dir>/before-restore/<UTC time>/`, with a manifest: that folder is itself a
    backup, which is how a restore is undone."""
    if not restore.current:
        return "no current file: nothing to set aside"
    lines = [f"into {restore.aside}/:"]
    lines += [f"  {path}" for path in restore.current.values()]
    return "\n".join(lines)


def apply_aside(restore: Restore) -> str:
    """Moves them (a rename where the folder is on the same file system). If one cannot
    be moved (a read-only mount), the ones already moved go back: all or nothing."""
    private_folder(restore.aside.parent)  # under data_dir: 0700 like it
    restore.aside.mkdir(mode=0o700)
    moved: list[tuple[Path, Path, str]] = []
    try:
        for name, path in restore.current.items():
            journals = [(side, name + side.name[len(path.name) :]) for side in sides(path)]
            for one, called in [(path, name), *journals]:
                destination = restore.aside / called
                destination.parent.mkdir(mode=0o700, exist_ok=True)
                shutil.move(one, destination)
                moved.append((one, destination, called))
    except OSError as error:
        for original, destination, _ in reversed(moved):
            shutil.move(destination, original)
        raise StepError(
            f"could not set the current files aside ({error}); the {len(moved)} already "
            "moved are back in place: nothing was changed"
        ) from None
    write_manifest(restore.aside, [called for _, _, called in moved])
    return f"{len(moved)} files moved to {restore.aside}"


def verify_aside(restore: Restore) -> str:
    """None of the current files is left in place, and the set-aside copies match their
    manifest."""
    left = [str(path) for path in restore.current.values() if path.exists()]
    if left:
        raise StepError("still in place: " + ", ".join(left))
    files = read_manifest(restore.aside)
    broken = [name for name, digest in files.items() if sha256(restore.aside / name) != digest]
    if broken:
        raise StepError(f"set aside, but altered: {', '.join(broken)}")
    return f"{len(files)} files set aside in {restore.aside}"


def plan_put_back(restore: Restore) -> str:
    """Lists every file of the backup and where it goes back to (the places this
    machine's settings name, which may differ from the machine backed up)."""
    return "\n".join(f"{name:<36} -> {path}" for name, path in restore.targets.items())


def apply_put_back(restore: Restore) -> str:
    """Copies each file into place, readable by its owner only."""
    for name, path in restore.targets.items():
        private_folder(path.parent)
        scratch = path.with_name(f".{path.name}.restoring")
        shutil.copyfile(restore.source / name, private_file(scratch))  # 0600 from the start
        os.replace(scratch, path)
    return f"{len(restore.targets)} files copied from {restore.source}"


def verify_put_back(restore: Restore) -> str:
    """Every restored file's hash equals the manifest's and every SQLite file passes
    `PRAGMA integrity_check`."""
    problems = []
    for name, path in restore.targets.items():
        if not path.is_file() or sha256(path) != restore.files[name]:
            problems.append(f"{path} differs from {name} in the backup")
        elif is_sqlite(path) and (verdict := integrity(path)) != "ok":
            problems.append(f"{path}: {verdict}")
    if problems:
        raise StepError("; ".join(problems))
    return f"{len(restore.targets)} files equal the backup's manifest"


def plan_check(restore: Restore) -> str:
    """Verifies the restored audit log with the configured key, and opens every
    encrypted record with the configured data keyring: data and keys belong together."""
    return f"audit log {restore.settings.audit_path}; records in {restore.settings.data_dir}"


def apply_check(restore: Restore) -> str:
    """Runs both checks (they only read)."""
    restore.records, _, restore.problems = open_every_record(restore.settings)
    log = restore.settings.audit_path
    if log is not None and log.is_file():
        audit = audit_problems(log, restore.settings)
        if audit is None:
            restore.problems.append(f"no audit key to verify {log} with")
        else:
            restore.problems += [f"audit log: {problem}" for problem in audit]
            restore.audit_entries = "the audit log verifies"
    else:
        restore.audit_entries = "no audit log in the backup"
    return f"{restore.records} records opened; {restore.audit_entries or 'audit log checked'}"


def verify_check(restore: Restore) -> str:
    """No record fails to open and the audit log verifies."""
    if restore.problems:
        raise StepError("; ".join(restore.problems[:5]))
    return f"{restore.records} records open with the configured keyring; {restore.audit_entries}"


def undo_restore(restore: Restore) -> str:
    """`restore --from <data_dir>/before-restore/<UTC time>` puts back the files the
    restore set aside (the service stopped again)."""
    return f"uv run {prog()} runbook run restore --from {restore.aside} --yes"


RESTORE: Runbook[Restore] = Runbook(
    name="restore",
    summary="put a backup back in place of the current state, and prove it opens",
    about="""
    Stop the service first (gateway and workers): the runbook refuses while a process
    holds one of the state's files. The current files are not deleted but set aside as a
    backup of their own, so a restore can be undone by restoring that. Start the service
    again once the runbook has verified the restored state.
    """,
    params=(Param("--from", "a backup folder (`DIR/<UTC time>` made by `backup`)", "DIR"),),
    prepare=prepare_restore,
    steps=(
        Step("set the current files aside", plan_aside, apply_aside, verify_aside),
        Step("copy the backup back", plan_put_back, apply_put_back, verify_put_back),
        Step("check the restored state", plan_check, apply_check, verify_check),
    ),
    undo=undo_restore,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (RESTORE,)
