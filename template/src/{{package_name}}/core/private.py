# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Private folders and files: what the service keeps its state and keys in.

Everything the service writes under its data and keys folders is its owner's only: the
folders 0700 (an existing one that others may enter is tightened), the files 0600. Files
are *created* with that mode (`os.open(..., 0o600)`), never chmod-ed after being written,
so no other user can open one in between; the process umask is left alone (a library
should not change it under its host). SQLite gives a database's `-wal`, `-shm` and
`-journal` files the mode of the database file itself, so `private_database` creating the
database 0600 before `sqlite3.connect` is what keeps those private too.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600
SQLITE_SIDES = ("-wal", "-shm", "-journal")
_WARNED: set[Path] = set()  # paths of others already warned about


def private_folder(path: Path) -> Path:
    """`path` as a folder only the owner may enter: created 0700 with any missing parent
    (`mkdir(parents=True)` would give those the umask's mode), tightened to 0700 if it
    exists looser."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:  # made meanwhile by another process
            continue
        folder.chmod(PRIVATE_FOLDER)  # exact, whatever the umask
    tighten(path, PRIVATE_FOLDER)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take away what group and others may do with `path` beyond `mode`, if anything.
    A path another user owns (a volume's root that the platform mounts, say) cannot be
    changed by this process: it is left as it is, with a warning."""
    info = path.stat()
    current = stat.S_IMODE(info.st_mode)
    if not current & ~mode:
        return
    if info.st_uid != os.geteuid():
        if path not in _WARNED:  # once: this is checked at each start of each database
            _WARNED.add(path)
            log.warning("%s is uid %d's, not ours: left at mode %o", path, info.st_uid, current)
        return
    path.chmod(current & mode)


def private_file(path: Path) -> Path:
    """`path` as a file only the owner may read or write: created empty with mode 0600
    if missing (its folder must exist), tightened to 0600 if it exists looser."""
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        os.close(os.open(path, flags, PRIVATE_FILE))
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
    return path


def private_database(path: Path) -> str:
    """The SQLite database at `path`, made private before SQLite opens it: its folder
    0700, the file 0600 (so the journal, WAL and shared-memory files SQLite creates
    beside it get 0600 too), and any such file left looser by an older version
    tightened. Returns the path as `sqlite3.connect` takes it."""
    private_folder(path.parent)
    private_file(path)
    for side in SQLITE_SIDES:
        beside = path.with_name(path.name + side)
        if beside.exists():
            tighten(beside, PRIVATE_FILE)
    return str(path)


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only the owner can read, replacing it atomically."""
    private_folder(path.parent)
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(scratch, path)
