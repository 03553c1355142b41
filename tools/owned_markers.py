"""Add or refresh the ownership marker in the template's own sources.

Every file under `template/` that lands in a template-owned project path
(`cellforge_hooks.state.owned_by_template`, cells/ and blueprint.yml excepted) opens with
the marker of `cellforge_hooks.markers`, in its comment syntax, unless `EXEMPT` names it.
Only the first two lines of a file are ever touched, so running it again changes nothing
and running it over files others are editing is safe.

    uv run python tools/owned_markers.py           # add or refresh, print what changed
    uv run python tools/owned_markers.py --check   # exit 1 when a marker is missing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hooks"))

from cellforge_hooks.markers import exemption, with_marker  # noqa: E402
from cellforge_hooks.state import (  # noqa: E402
    BLUEPRINT,
    owned_by_template,
    rendered_name,
    template_files,
)

TEMPLATE = ROOT / "template"
PACKAGE = "pkg"  # any package name: only the shape of the rendered path matters
# Tools' caches: never rendered (git ignores them, copier excludes bytecode).
CACHES = {"__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache"}


def owned_sources(template: Path = TEMPLATE) -> list[tuple[Path, str]]:
    """(source file, project path) for each template file that must carry the marker."""
    owned, user = owned_by_template(PACKAGE), (f"src/{PACKAGE}/cells/", BLUEPRINT)
    found = []
    for source in template_files(template):
        if CACHES & set(source.parts):
            continue
        path = rendered_name(source.relative_to(template).as_posix(), PACKAGE)
        if path.startswith(owned) and not path.startswith(user) and not exemption(path):
            found.append((source, path))
    return sorted(found)


def refresh(check: bool) -> list[Path]:
    """The sources whose marker is missing or stale (rewritten unless `check`)."""
    changed = []
    for source, path in owned_sources():
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SystemExit(f"{source}: not text; name it in EXEMPT (markers.py)") from None
        marked = with_marker(path, text)
        if marked != text:
            changed.append(source)
            if not check:
                source.write_text(marked, encoding="utf-8")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    args = parser.parse_args()
    changed = refresh(args.check)
    for source in changed:
        print(f"{'missing' if args.check else 'marked'}: {source.relative_to(ROOT)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
