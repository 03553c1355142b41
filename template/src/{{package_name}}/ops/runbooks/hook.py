# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The project's own tools, as a runbook step starts them: the template's regeneration
hook (`python .cellforge regenerate`, what the pre-commit hook runs) and the environment
that a check on the project's code runs in.

A runbook starts them as separate processes, in the project's root: they must see the
files as the run left them, not modules this process imported before.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .engine import Outcome


class TemplateHook:
    """The regeneration loop itself: `python .cellforge regenerate`, what the project's
    pre-commit hook runs (copier update with `blueprint.yml` as the data)."""

    command = ".cellforge regenerate"

    def problem(self, root: Path) -> str | None:
        if not (root / ".cellforge" / "__main__.py").is_file():
            return f"{root} has no .cellforge/ (the regeneration hooks): is it the project root?"
        if importlib.util.find_spec("copier") is None:
            return "copier (a dev dependency) is missing here: run `uv sync`, then use `uv run`"
        return None

    def __call__(self, root: Path) -> Outcome:
        done = subprocess.run(
            [sys.executable, *self.command.split()],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
        return Outcome(done.returncode, (done.stdout + done.stderr).strip())


def environment_for(root: Path, drop: Sequence[str] = ()) -> dict[str, str]:
    """The environment of a check run on `root`'s code (its `src/` first on the path),
    without the variables named in `drop`."""
    env = {key: value for key, value in os.environ.items() if key.upper() not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    return env
