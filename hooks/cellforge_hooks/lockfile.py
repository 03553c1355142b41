# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`uv.lock` from the first commit: the lock the template was tested with, made the project's.

Running `uv lock` in the copy task would need the network and add seconds to every
`copier copy`. The template instead stores the lock of a default project (`locks/uv.lock`
in the template repository, refreshed by `locks/refresh.py`; it is never vendored), and
the post-render task writes it into a new project. A project's lock differs from the
stored one in two places only, both plain lines of uv's stable text format:

- the project's own `[[package]]` entry (`source = { editable = "." }`): its name, and so
  its place, because uv keeps the entries sorted by name;
- `requires-python`, which follows the `python_version` answer. The stored lock is
  resolved for the oldest supported Python, so it covers every newer one, and uv keeps it
  as it is for a narrower `requires-python` (tests/test_lock.py runs `uv lock --check`).

The lock is written only when the project has none: from then on it is the team's
(`uv add`, `uv lock --upgrade`, Renovate), and template updates never touch it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LOCK = "uv.lock"
ENTRY = "\n[[package]]\n"
OWN_SOURCE = 'source = { editable = "." }'
NAME = re.compile(r'^name = "([^"]+)"$', re.MULTILINE)
REQUIRES_PYTHON = re.compile(r'^requires-python = "[^"]*"$', re.MULTILINE)


class LockFormatError(ValueError):
    """The stored lock is not in the shape this module edits (a template bug)."""


def normalised(name: str) -> str:
    """A distribution name as uv writes it in the lock (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def entry_name(entry: str) -> str:
    found = NAME.match(entry)
    if not found:
        raise LockFormatError(f"a [[package]] entry does not start with its name: {entry[:60]!r}")
    return found.group(1)


def project_lock(base: str, project_name: str, python_version: str) -> str:
    """The stored lock `base`, renamed to `project_name` and set to `>=python_version`."""
    header, *entries = base.split(ENTRY)
    own = [entry for entry in entries if OWN_SOURCE in entry.splitlines()]
    if len(own) != 1 or not REQUIRES_PYTHON.search(header):
        raise LockFormatError("no requires-python line or not exactly one editable root entry")
    entries.remove(own[0])
    name = normalised(project_name)
    renamed = NAME.sub(f'name = "{name}"', own[0], count=1)
    # uv sorts by name; the other entries stay exactly in uv's order.
    place = next((i for i, entry in enumerate(entries) if entry_name(entry) > name), len(entries))
    entries.insert(place, renamed)
    header = REQUIRES_PYTHON.sub(f'requires-python = ">={python_version}"', header, count=1)
    return ENTRY.join([header, *entries])


def write_initial_lock(
    project: Path, base_lock: Path, project_name: str, python_version: str
) -> bool:
    """Write the project's `uv.lock` from `base_lock` unless it has one; True if written.

    A missing or malformed stored lock leaves the project without one and says how to
    make it: the project still works, and `uv run` locks on first use.
    """
    target = project / LOCK
    if target.exists():
        return False
    try:
        base = base_lock.read_bytes().decode("utf-8")
        text = project_lock(base, project_name, python_version)
    except (OSError, UnicodeDecodeError, LockFormatError) as error:
        print(f"cellforge: no uv.lock written ({error}); run `uv lock`", file=sys.stderr)
        return False
    target.write_bytes(text.encode("utf-8"))  # bytes: uv writes "\n" on every platform
    return True
