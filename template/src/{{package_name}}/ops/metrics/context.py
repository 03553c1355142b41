"""The repository's context size: the bytes a maintainer (or a model) has to read.

A figure of the project rather than of the traffic: a tree walk, so it runs off the
event loop and is reused for a while (`ContextSize`).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

from .latency import Clock

CONTEXT_DIRS = ("src", "tests", "docs")
CONTEXT_FILES = ("blueprint.yml", "README.md")
CONTEXT_SUFFIXES = frozenset({".py", ".md", ".yml", ".yaml", ".toml", ".json"})
CONTEXT_MAX_AGE = 300.0  # seconds a measured context size is reused


def measure_context(root: Path) -> int:
    """Bytes of the project's code and context: *.py, *.md, *.yml, *.yaml, *.toml and
    *.json under src/, tests/ and docs/ (hidden folders and __pycache__ skipped), plus
    blueprint.yml and README.md at the root."""
    total = sum(path.stat().st_size for path in map(root.joinpath, CONTEXT_FILES) if path.is_file())
    for top in CONTEXT_DIRS:
        for folder, subfolders, files in os.walk(root / top):
            subfolders[:] = [s for s in subfolders if not s.startswith(".") and s != "__pycache__"]
            for name in files:
                if os.path.splitext(name)[1] in CONTEXT_SUFFIXES:
                    try:
                        total += os.stat(os.path.join(folder, name)).st_size
                    except OSError:  # removed meanwhile
                        continue
    return total


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
