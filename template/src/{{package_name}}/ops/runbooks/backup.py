# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Backup runbooks: `backup --to DIR` copies the service's state into `DIR/<UTC time>/`;
`restore --from DIR` puts such a copy back, after setting the current files aside.

A backup holds every file `state.live` lists (SQLite databases, the audit log and its
checkpoints, the key files) and a `manifest.json` of their SHA-256 hashes, written last:
a folder without a manifest is an unfinished backup. SQLite files are copied with
SQLite's online backup API, so the copy is consistent even while the service writes; the
audit log's checkpoints are copied before the log, so the copy verifies. The folder is
readable by its owner only: it holds the keys next to the data they open, so keep it as
you keep the keys (or move `keys/` elsewhere, and back before a restore).

Not in a backup: keys given as environment variables (they stay where they are
provisioned), the metrics series and the sandbox workspaces.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.private import private_file
from .engine import Invocation, Param, PreconditionError, Runbook, Step, StepError
from .manifest import audit_problems, problems_of, read_manifest, stamp, write_manifest
from .state import (
    AUDIT_LOG,
    AUDIT_MARKS,
    data_dir_of,
    is_sqlite,
    live,
    settings_at,
)

if TYPE_CHECKING:
    from ...core.settings import Settings


@dataclass
class Backup:
    settings: Settings
    sources: dict[str, Path]  # name in the backup -> the live file
    folder: Path
    files: dict[str, str] = field(default_factory=dict)


def prepare_backup(invocation: Invocation) -> Backup:
    """- no `data_dir` is configured, or there is nothing in it to back up;
    - `DIR/<UTC time>` exists already (a backup is never overwritten)."""
    settings = settings_at(invocation.root)
    data_dir_of(settings)
    sources = live(settings)
    if not sources:
        raise PreconditionError(f"nothing to back up in {settings.data_dir}")
    where = Path(invocation.arguments["to"])
    folder = (invocation.root / where if not where.is_absolute() else where) / stamp()
    if folder.exists():
        raise PreconditionError(f"{folder} exists already: run the runbook again in a second")
    return Backup(settings, sources, folder)


def plan_copy(backup: Backup) -> str:
    """Lists every file it copies into the new folder `DIR/<UTC time>/`: each SQLite
    database, the audit log and its checkpoints, the key files."""
    lines = [f"into {backup.folder}/ (mode 0700):"]
    lines += [f"  {name:<36} <- {path}" for name, path in backup.sources.items()]
    return "\n".join(lines)


def copy_sqlite(source: Path, copy: Path) -> None:
    """A consistent copy through SQLite's online backup API, as one self-contained file."""
    reader = sqlite3.connect(source)
    writer = sqlite3.connect(copy)
    try:
        reader.backup(writer)
        writer.execute("PRAGMA journal_mode = DELETE")
    finally:
        writer.close()
        reader.close()


def copy_log(source: Path, copy: Path) -> None:
    """Whole lines only: an entry being appended right now is left for the next backup."""
    data = source.read_bytes()
    copy.write_bytes(data[: data.rfind(b"\n") + 1])


def apply_copy(backup: Backup) -> str:
    """Copies them (SQLite files with the online backup API, consistent while the service
    runs; the audit checkpoints before the log), each readable by its owner only, then
    writes `manifest.json` with their SHA-256 hashes."""
    folder = backup.folder
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o700)
    order = sorted(backup.sources, key=lambda name: name != AUDIT_MARKS)  # marks first
    for name in order:
        source, copy = backup.sources[name], folder / name
        copy.parent.mkdir(mode=0o700, exist_ok=True)
        private_file(copy)  # 0600 before a byte is copied (the copy keeps the mode)
        if is_sqlite(source):
            copy_sqlite(source, copy)
        elif name == AUDIT_LOG:
            copy_log(source, copy)
        else:
            shutil.copyfile(source, copy)
    backup.files = write_manifest(folder, list(backup.sources))
    total = sum((folder / name).stat().st_size for name in backup.files)
    return f"{len(backup.files)} files, {total} bytes, in {folder}"


def verify_copy(backup: Backup) -> str:
    """Every file's hash matches the manifest, every SQLite copy passes `PRAGMA
    integrity_check`, and the copied audit log verifies with the configured key."""
    problems = problems_of(backup.folder, read_manifest(backup.folder))
    if problems:
        raise StepError("the backup is broken: " + "; ".join(problems))
    said = f"{len(backup.files)} files match the manifest; SQLite copies pass integrity_check"
    if AUDIT_LOG in backup.files:
        audit = audit_problems(backup.folder / AUDIT_LOG, backup.settings)
        if audit:
            raise StepError("the copied audit log does not verify: " + "; ".join(audit))
        said += "; the audit log verifies" if audit is not None else "; no audit key here"
    return said


def undo_backup(backup: Backup) -> str:
    """A backup changes nothing in the service: delete the folder if it is not wanted."""
    return f"rm -r -- {backup.folder}"


BACKUP: Runbook[Backup] = Runbook(
    name="backup",
    summary="copy the SQLite databases, the audit log and the keys into a verified backup",
    about="""
    Safe while the service runs. Each run makes a new folder `DIR/<UTC time>/` (a
    relative `DIR` is read from the project root; `var/backups` is fine, the service
    never reads it). Copy the folder off the machine: a backup on the same disk is not
    one. It holds the keys beside the data, so store it as you store the keys.
    """,
    params=(Param("--to", "the folder the backup folder is made in", "DIR"),),
    prepare=prepare_backup,
    steps=(Step("copy the state", plan_copy, apply_copy, verify_copy),),
    undo=undo_backup,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (BACKUP,)
