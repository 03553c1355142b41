"""The template's documentation site: `mkdocs build --strict` passes offline, every page
is in the navigation, and the site covers what a user of the template needs.

Strict mode turns every warning into a failure: a broken link or anchor, an include that
is missing, a page left out of the nav. The build runs with every proxy pointing at a
closed loopback port, so anything that tried to fetch from the network would fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .conftest import TEMPLATE

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there


class _IgnoreTags(yaml.SafeLoader):
    """Reads mkdocs.yml and copier.yml, whose tags (`!relative`, `!!python/name`,
    `!include`) do not matter here."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)
_IgnoreTags.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def load_all(path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_IgnoreTags):
        merged.update(document or {})
    return merged


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy"}}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = DEAD_PROXY
    env["NO_MKDOCS_2_WARNING"] = "1"  # material's notice about MkDocs 2, not a warning
    return env


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the site whose mkdocs.yml is in `root`, into `site`."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(site)],
        cwd=root,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def nav_pages(nav: list[Any]) -> dict[str, str]:
    """title -> page of every entry of a (nested) mkdocs nav."""
    pages: dict[str, str] = {}
    for entry in nav:
        for title, target in entry.items():
            if isinstance(target, list):
                pages.update(nav_pages(target))
            else:
                pages[title] = target
    return pages


def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = build(TEMPLATE, site)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    config = load_all(TEMPLATE / "mkdocs.yml")
    for page in nav_pages(config["nav"]).values():
        html = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert html.is_file(), page
    # The architecture page's diagrams reach the browser as Mermaid, not as code.
    architecture = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid">' in architecture
    # The sandbox page is the generated project's own threat model, included verbatim.
    sandbox = (site / "sandbox" / "index.html").read_text(encoding="utf-8")
    page = (TEMPLATE / "template" / "docs" / "sandbox.md").read_text().splitlines()
    first_heading = next(line for line in page if line.startswith("# "))  # after the marker
    assert first_heading.lstrip("# ").split(":")[0] in sandbox
    assert "What we defend against" in sandbox
    assert "site/" in (TEMPLATE / ".gitignore").read_text().split(), "build output stays out of git"


def test_every_page_is_in_the_nav_and_the_nav_covers_the_topics() -> None:
    pages = nav_pages(load_all(TEMPLATE / "mkdocs.yml")["nav"])
    on_disk = {path.name for path in (TEMPLATE / "docs").glob("*.md")}
    assert set(pages.values()) == on_disk
    for topic in ("Walk-through", "Questions", "Architecture", "Regeneration", "Security"):
        assert topic in pages
    for topic in ("Sandbox", "Distribution", "GenOps", "Benchmarks"):
        assert topic in pages


def test_every_question_is_documented() -> None:
    config = load_all(TEMPLATE / "copier.yml")
    asked = [
        name
        for name, spec in config.items()
        if not name.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    ]
    assert "project_name" in asked and "placements" in asked
    questions = (TEMPLATE / "docs" / "questions.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", questions, flags=re.M))
    assert set(asked) <= documented, sorted(set(asked) - documented)


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """Strict mode is really on: the same site with one dead link does not build."""
    copy = tmp_path / "copy"
    shutil.copytree(TEMPLATE / "docs", copy / "docs")
    shutil.copy(TEMPLATE / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / "template" / "docs").mkdir(parents=True)
    shutil.copy(TEMPLATE / "template" / "docs" / "sandbox.md", copy / "template" / "docs")
    assert build(copy, tmp_path / "good").returncode == 0
    index = copy / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [nothing](no-such-page.md).\n")
    done = build(copy, tmp_path / "bad")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_the_readme_links_to_the_docs_site() -> None:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    assert "uv run mkdocs serve" in readme and "uv run mkdocs build --strict" in readme
    assert "(docs/index.md)" in readme
