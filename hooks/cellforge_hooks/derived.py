# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Refresh the files a generated project derives from its cell registry.

`docs/architecture.md`, the other generated docs (`docs/distribution.md`,
`docs/asyncapi.json`, `docs/runbooks/`) and `.importlinter` are produced by the project's
own code (`<package>.explain`), so there is exactly one generator. Here it runs
in the interpreter that runs copier, with the project's `src/` on `sys.path`: that
generator and the cells' declarations import only the standard library and pydantic
(which copier itself depends on), so no virtualenv and no network are needed during
`copier copy`.

If the project's code cannot be imported here (a cell that imports a third-party
package at module level, say), the files are left alone and the user is told to run
`<cli> explain`, whose drift check would otherwise fail: never a silent stale file.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


@contextmanager
def project_module(project: Path, package: str, module: str) -> Iterator[ModuleType]:
    """Import `<package>.<module>` from the project's `src/`, and forget it afterwards."""
    source = str((project / "src").resolve())
    sys.path.insert(0, source)
    try:
        yield importlib.import_module(f"{package}.{module}")
    finally:
        sys.path.remove(source)
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]


def refresh(project: Path, package: str) -> list[Path] | None:
    """Rewrite stale derived files; None if the project's code could not be loaded."""
    try:
        with project_module(project, package, "explain") as architecture:
            written: list[Path] = architecture.write_artifacts(project)
    except Exception as error:  # any failure in user code must not abort the copy
        print(
            f"cellforge: could not refresh the generated docs and .importlinter ({error!r}); "
            "run `uv run <cli> explain` in the project",
            file=sys.stderr,
        )
        return None
    return written
