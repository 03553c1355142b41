# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Key material, from the environment or from files outside version control.

A secret named `audit` is read from the `<PREFIX>AUDIT_KEY` environment variable (hex)
first, then from `<keys_dir>/audit.key`. In dev a missing file is created with fresh
random bytes (mode 0600), so the README's `serve` works on a fresh clone; in prod a
missing key is an error, because keys are provisioned, never invented on a server.
With no `keys_dir` (tests), keys are random and live only as long as the process.
The generated `.gitignore` excludes `var/` and `*.key`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .names import ENV_PREFIX
from .private import write_private
from .settings import Settings

KEY_BYTES = 32


class MissingKeyError(RuntimeError):
    """A key the service needs is not configured."""


def env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper().replace('-', '_')}_KEY"


def key_path(settings: Settings, name: str) -> Path | None:
    return None if settings.keys_path is None else settings.keys_path / f"{name}.key"


def provision(
    settings: Settings, variable: str, path: Path | None, what: str, fresh: Callable[[], str]
) -> tuple[str, str]:
    """The text of a secret and where it came from: the environment variable, else the
    file, else `fresh()` text, written to the file in dev and kept in memory when
    nothing is persisted (no keys folder). In prod a missing secret is an error."""
    text = os.environ.get(variable, "")
    if text:
        return text, variable
    if path is not None and path.exists():
        return path.read_text(encoding="utf-8"), str(path)
    if path is None:  # nothing is persisted, so a secret of this process's own will do
        return fresh(), "this process"
    if settings.env == "prod":
        raise MissingKeyError(f"no {what}: set {variable} or provide {path}")
    text = fresh()
    write_private(path, text)
    return text, str(path)


def load_key(settings: Settings, name: str) -> bytes:
    """The secret `name`: from the environment, the key file, or (dev, tests) new."""
    text, origin = provision(
        settings,
        env_name(name),
        key_path(settings, name),
        f"{name} key",
        lambda: secrets.token_hex(KEY_BYTES) + "\n",
    )
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise MissingKeyError(f"the {name} key in {origin} is not hex") from None
    if len(key) < KEY_BYTES:
        raise MissingKeyError(f"the {name} key must be at least {KEY_BYTES} bytes")
    return key
