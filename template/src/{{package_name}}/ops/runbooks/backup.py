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

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.private import private_file, private_folder
from . import Invocation, Param, PreconditionError, Runbook, Step, StepError, prog
from .state import (
    AUDIT_LOG,
    AUDIT_MARKS,
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

MANIFEST = "manifest.json"
FORMAT = 1
ASIDE = "before-restore"  # under data_dir: what a restore replaced, itself a backup


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, names: list[str]) -> dict[str, str]:
    """Hashes the files named (paths from `folder`) into `folder/manifest.json`."""
    files = {name: sha256(folder / name) for name in sorted(names)}
    document = {"format": FORMAT, "created": datetime.now(UTC).isoformat(), "files": files}
    path = folder / MANIFEST
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return files


def read_manifest(folder: Path) -> dict[str, str]:
    """The files a backup lists, by name -> SHA-256; ValueError when it has no readable
    manifest."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"{path} is missing: {folder} is not a backup, or an unfinished one")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        files = {str(name): str(digest) for name, digest in document["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path} is not a backup manifest") from None
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {document.get('format')!r}")
    return files


def problems_of(folder: Path, files: dict[str, str]) -> list[str]:
    """What is wrong with the backup in `folder`: a file missing, a hash that differs, a
    SQLite copy that fails its integrity check."""
    found = []
    for name, digest in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif sha256(path) != digest:
            found.append(f"{name} differs from the manifest (altered or truncated)")
        elif is_sqlite(path) and (verdict := integrity(path)) != "ok":
            found.append(f"{name} fails SQLite's integrity check: {verdict}")
    return found


def audit_problems(log: Path, settings: Settings) -> list[str] | None:
    """The audit log at `log` checked with the configured key; None when no key is
    configured (nothing to check it with)."""
    from ...core.keyfiles import MissingKeyError, load_key
    from ...gateway.audit import verify

    try:
        key = load_key(settings.model_copy(update={"env": "prod"}), "audit")
    except MissingKeyError:
        return None
    return verify(log, key).problems


# ---- backup ------------------------------------------------------------------------------


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


# ---- restore -----------------------------------------------------------------------------


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

RUNBOOKS: tuple[Runbook[Any], ...] = (BACKUP, RESTORE)
