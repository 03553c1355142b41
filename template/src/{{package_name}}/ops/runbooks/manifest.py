# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A backup folder: the `manifest.json` of its files' hashes, written last, and the checks
that say whether a folder is a complete, unaltered backup (`backup` writes one,
`restore` reads one and sets the current state aside as another).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ...gateway.audit import verify
from .state import integrity, is_sqlite

if TYPE_CHECKING:
    from ...core.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1


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
    # start-up cost: explain imports the runbooks in copier's interpreter: no pydantic-settings
    from ...core.keyfiles import MissingKeyError, load_key

    try:
        key = load_key(settings.model_copy(update={"env": "prod"}), "audit")
    except MissingKeyError:
        return None
    return verify(log, key).problems
