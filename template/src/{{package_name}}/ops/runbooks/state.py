# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The service's state on disk, as the data runbooks (backup, restore, rotate-keys) see it.

Settings name where the state lives; a relative `data_dir` (the default `var`) is read
from the project root the runbook runs on, not from the current directory. `live` lists
the files that hold the state: every `<data_dir>/*.sqlite3` (one per cell, and the model
usage ledger), the ledger wherever it is set, the API keys' database wherever
`api_keys_dir` puts it, every other file in the keys folder (the audit key, the data
keyring), and the audit log with its checkpoints. Each has a name in a backup
(`data/notes.sqlite3`, `apikeys/api-keys.sqlite3`, `keys/audit.key`, `audit/audit.log`)
that maps back to where the settings put it on the machine restoring, so a backup
taken where the API keys live with the keys (compose) restores where they live with the
data (Kubernetes) and back.

`holders` is how a runbook sees that the service still runs: a process with one of those
files open (Linux, processes of the same user). Rotating or restoring under a running
service would lose what it writes meanwhile, so they refuse.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from ...gateway.audit import checkpoint_path
from .engine import PreconditionError

if TYPE_CHECKING:
    from ...core.settings import Settings

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
AUDIT_LOG, AUDIT_MARKS = "audit/audit.log", "audit/audit.log.checkpoints"
PARTS = ("data", "keys", "ledger", "audit", "apikeys")
API_KEYS = "api-keys.sqlite3"  # gateway/apikeys.py's file in Settings.api_keys_path


def settings_at(root: Path, **overrides: object) -> Settings:
    """The settings (from the environment), their relative paths read from `root`."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no pydantic-settings
    from ...core.settings import Settings

    settings = Settings()
    update: dict[str, object] = {}
    for name in ("data_dir", "keys_dir", "api_keys_dir", "audit_log", "llm_ledger"):
        value = getattr(settings, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = root / value
    return settings.model_copy(update={**update, **overrides})


def api_keys_file(settings: Settings) -> Path:
    """Where the gateway keeps the API keys' database under these settings."""
    folder = settings.api_keys_path or data_dir_of(settings) / "keys"
    return folder / API_KEYS


def data_dir_of(settings: Settings) -> Path:
    if settings.data_dir is None:
        raise PreconditionError("no data_dir is configured: there is no state on disk")
    return settings.data_dir


def is_sqlite(path: Path) -> bool:
    return path.name.endswith(".sqlite3")


def live(settings: Settings) -> dict[str, Path]:
    """The files holding the state that exist now, by their name in a backup."""
    data_dir = data_dir_of(settings)
    api_keys = api_keys_file(settings)
    found = {
        f"data/{path.name}": path
        for path in sorted(data_dir.glob("*.sqlite3"))
        if path.resolve() != api_keys.resolve()
    }
    if api_keys.is_file():
        found[f"apikeys/{API_KEYS}"] = api_keys
    ledger = settings.llm_ledger_path
    if ledger is not None and ledger.is_file() and ledger.parent.resolve() != data_dir.resolve():
        found[f"ledger/{ledger.name}"] = ledger
    keys = settings.keys_path
    if keys is not None and keys.is_dir():
        for path in sorted(keys.iterdir()):
            kept = path.is_file() and not path.name.startswith(".") and not side_file(path)
            if kept and path.resolve() != api_keys.resolve():
                found[f"keys/{path.name}"] = path
    audit = settings.audit_path
    if audit is not None and audit.is_file():
        found[AUDIT_LOG] = audit
        if checkpoint_path(audit).is_file():
            found[AUDIT_MARKS] = checkpoint_path(audit)
    return found


def side_file(path: Path) -> bool:
    return path.name.endswith(SQLITE_SIDE_FILES)


def sides(path: Path) -> list[Path]:
    """A SQLite file's journal files that exist (a write-ahead log left by a crash)."""
    return [
        Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES if Path(f"{path}{suffix}").exists()
    ]


def target(settings: Settings, name: str) -> Path:
    """Where the file named `name` in a backup goes back to, under these settings."""
    part, _, rest = name.partition("/")
    if part not in PARTS or not rest or "/" in rest or rest in (".", ".."):
        raise ValueError(f"{name!r} is not a file name a backup holds")
    data_dir = data_dir_of(settings)
    if part == "data":
        return data_dir / rest
    if part == "ledger":
        return settings.llm_ledger_path or data_dir / rest
    if part == "keys":
        return (settings.keys_path or data_dir / "keys") / rest
    if part == "apikeys" and rest == API_KEYS:
        return api_keys_file(settings)
    audit = settings.audit_path or data_dir / "audit.log"
    if name == AUDIT_LOG:
        return audit
    if name == AUDIT_MARKS:
        return checkpoint_path(audit)
    raise ValueError(f"{name!r} is not a file name a backup holds")


def holders(paths: list[Path]) -> list[str]:
    """`pid N (name)` of every other process that has one of `paths` (or their journal
    files) open; empty where /proc cannot tell (not Linux)."""
    wanted = set()
    for path in paths:
        for one in (path, *sides(path)):
            wanted.add(str(one.resolve()))
    proc = Path("/proc")
    if not wanted or not (proc / "self" / "fd").is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            name = (entry / "comm").read_text(encoding="utf-8").strip()
        except OSError:  # gone, or another user's
            continue
        if wanted.intersection(links):
            found.append(f"pid {entry.name} ({name})")
    return found


def refuse_if_running(paths: list[Path]) -> None:
    running = holders(paths)
    if running:
        raise PreconditionError(
            f"the service's files are open in {', '.join(running)}: stop the service "
            "(gateway and workers) first, and run the runbook again"
        )


def integrity(path: Path) -> str:
    """`ok`, or what SQLite's integrity check found; reads the file only (immutable:
    no lock, no journal file is created)."""
    try:
        database = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            rows = database.execute("PRAGMA integrity_check").fetchall()
        finally:
            database.close()
    except sqlite3.DatabaseError as error:
        return str(error)
    return "; ".join(str(row[0]) for row in rows)


def open_every_record(settings: Settings) -> tuple[int, set[str], list[str]]:
    """Opens every encrypted record of every cell database with the keyring the service
    would load: how many, the key ids they are sealed with, and the problems found."""
    # start-up cost: explain runs in copier's Python, without cryptography or pydantic-settings
    from ...core.keyfiles import MissingKeyError
    from ...core.sealing import DataKeyError, load_keyring  # start-up cost: as above
    from ...core.storage import Records  # start-up cost: as above

    data_dir = data_dir_of(settings)
    try:
        keyring = load_keyring(settings.model_copy(update={"env": "prod"}))
    except (DataKeyError, MissingKeyError) as error:
        return 0, set(), [str(error)]
    count, key_ids, problems = 0, set(), []
    for path in sorted(data_dir.glob("*.sqlite3")):
        database = sqlite3.connect(path)
        try:
            tables = database.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sealed_records'"
            ).fetchall()
            if not tables:
                continue
            rows = database.execute("SELECT collection, key, key_id FROM sealed_records")
            store = Records(database, path.stem, keyring)
            for collection, key, key_id in rows.fetchall():
                key_ids.add(str(key_id))
                try:
                    store.get(collection, key)
                    count += 1
                except DataKeyError as error:
                    problems.append(str(error))
        finally:
            database.close()
    return count, key_ids, problems
