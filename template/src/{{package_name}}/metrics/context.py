# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The repository's context size: the bytes a maintainer (or a model) has to read.

What has to be read to change the project: the team's code under `src/` (the cells and
any module the team wrote, e.g. `src/<package>/domain/rules.py`), the core modules the
cells are written against (messages, cells, bus, storage, and the model client), the
tests, the docs, the blueprint and the README. The rest of `src/`, like the framework's
own tests in `tests/cellforge/`, is template-owned (the files `.cellforge-state.json`
lists under `owned`): it is re-applied, never edited by hand, and what a reader needs
of it is in the docs generated from it (architecture, distribution, AsyncAPI, runbooks,
gates). Without a state file all of `src/` and `tests/` count. So the figure grows with
the team's code, and a fresh project starts well under the 500 KB warning.

A figure of the project rather than of the traffic: a tree walk, so it runs off the
event loop and is reused for a while (`ContextSize`).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .latency import Clock

CONTEXT_DIRS = ("src", "tests", "docs")
CONTEXT_FILES = ("blueprint.yml", "README.md")
CONTEXT_SUFFIXES = frozenset({".py", ".md", ".yml", ".yaml", ".toml", ".json"})
CONTEXT_MAX_AGE = 300.0  # seconds a measured context size is reused
STATE_FILE = ".cellforge-state.json"  # its `owned` maps each template-owned file to a hash
# The framework's own tests: template-owned, run apart from the team's loop, never edited.
FRAMEWORK_TESTS = "tests/cellforge/"
# Under src/<package>/: the template-owned modules a cell is written against, always read.
CONTEXT_CONTRACTS = frozenset(
    {"core/messages.py", "core/cells.py", "core/cellbus.py", "core/bus.py", "core/storage.py"}
    | {"llm/client.py"}
)


def template_owned(root: Path) -> frozenset[str]:
    """The files that the template owns and a reader skips: those `.cellforge-state.json`
    lists under `owned` in src/ (the core contracts excepted) and in tests/cellforge/.
    Empty without a (readable) state file: then all of src/ and tests/ count."""
    try:
        state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    owned = state.get("owned") if isinstance(state, dict) else None
    if not isinstance(owned, dict):
        return frozenset()
    return frozenset(
        path
        for path in owned
        if isinstance(path, str)
        and (
            (path.startswith("src/") and path.split("/", 2)[-1] not in CONTEXT_CONTRACTS)
            or path.startswith(FRAMEWORK_TESTS)
        )
    )


def context_files(root: Path) -> Iterator[tuple[Path, int]]:
    """Each file of the project's code and context, with its size in bytes: *.py, *.md,
    *.yml, *.yaml, *.toml and *.json under src/, tests/ and docs/ (not the template-owned
    ones of `template_owned`; hidden folders and __pycache__ skipped),
    plus blueprint.yml and README.md at the root. The one walk behind this figure and
    the `context` GenOps gate, so the two always agree."""
    for path in map(root.joinpath, CONTEXT_FILES):
        if path.is_file():
            yield path, path.stat().st_size
    skipped = template_owned(root)
    for top in CONTEXT_DIRS:
        for folder, subfolders, files in os.walk(root / top):
            subfolders[:] = [s for s in subfolders if not s.startswith(".") and s != "__pycache__"]
            for name in files:
                if os.path.splitext(name)[1] in CONTEXT_SUFFIXES:
                    path = Path(folder, name)
                    if path.relative_to(root).as_posix() in skipped:
                        continue
                    try:
                        yield path, path.stat().st_size
                    except OSError:  # removed meanwhile
                        continue


def measure_context(root: Path) -> int:
    """Bytes of the project's code and context: the sizes of `context_files(root)`."""
    return sum(size for _, size in context_files(root))


class ContextSize:
    """The context size of the project at `root`, measured off the event loop and reused
    for `max_age` seconds (a walk of the tree is not free)."""

    def __init__(
        self, root: Path, max_age: float = CONTEXT_MAX_AGE, clock: Clock = time.monotonic
    ) -> None:
        self.root, self.max_age, self.clock = root, max_age, clock
        self.bytes: int | None = None  # None until measured
        self._at = -math.inf

    async def refresh(self) -> None:
        if self.clock() - self._at >= self.max_age:
            self.bytes = await asyncio.to_thread(measure_context, self.root)
            self._at = self.clock()
