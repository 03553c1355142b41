"""The post-render hook: cells come from the skeleton once and are never overwritten."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cellforge_hooks.cli import main
from cellforge_hooks.skeleton import materialise_cells
from cellforge_hooks.state import load, owned_paths, record

from bench.snapshot import git_snapshot

from .conftest import TEMPLATE

ARGS = ["--package", "shop", "--cells", "notes", "--project"]
EXAMPLES = "Acceptance examples"  # the heading of a spec's examples


def test_missing_cells_are_created_from_the_right_skeleton(tmp_path: Path) -> None:
    result = materialise_cells(tmp_path, "shop", ["notes", "order_items"])
    notes = tmp_path / "src/shop/cells/notes"
    items = tmp_path / "src/shop/cells/order_items"
    assert set(result.created) == {
        notes,
        items,
        tmp_path / "tests/cells/test_notes_cell.py",
        tmp_path / "tests/cells/test_order_items_cell.py",
    }
    assert "class CreateNote" in (notes / "messages.py").read_text()
    assert "class Ping" in (items / "messages.py").read_text()
    assert 'name="order_items"' in (items / "__init__.py").read_text()
    assert "from shop.core.cells import Cell" in (items / "__init__.py").read_text()
    for path in tmp_path.rglob("*"):
        assert path.suffix != ".tmpl"


def test_every_cell_gets_a_spec_whose_examples_its_tests_check(tmp_path: Path) -> None:
    """`SPEC.md` (requirements in prose, then examples) comes with each skeleton: each
    example names a test its test file defines, every test is an example, and each message
    class of its contract is in it; `notes` describes its real handlers, the example says
    what to write."""
    materialise_cells(tmp_path, "shop", ["notes", "order_items"])
    for cell in ("notes", "order_items"):
        spec = (tmp_path / f"src/shop/cells/{cell}/SPEC.md").read_text(encoding="utf-8")
        tests = (tmp_path / f"tests/cells/test_{cell}_cell.py").read_text(encoding="utf-8")
        contract = (tmp_path / f"src/shop/cells/{cell}/messages.py").read_text(encoding="utf-8")
        assert spec.startswith(f"# Cell `{cell}`: specification\n"), spec[:80]
        for heading in ("Purpose", "Requirements", EXAMPLES):
            assert f"\n{'#' * 2} {heading}\n" in spec, (cell, heading)
        examples = spec.split(EXAMPLES, 1)[1]
        named = set(re.findall(r"`(test_\w+)`", examples))
        defined = set(re.findall(r"^(?:async )?def (test_\w+)", tests, flags=re.M))
        assert named == defined, (cell, named ^ defined)
        for message in re.findall(r"^class (\w+)\(", contract, flags=re.M):
            assert f"`{message}`" in spec, (cell, message)
        assert "$" not in spec.replace("$$", ""), "no placeholder left unrendered"
    notes = (tmp_path / "src/shop/cells/notes/SPEC.md").read_text(encoding="utf-8")
    assert "`POST /notes/create-note` requires the capability `notes.write`" in notes
    assert "Replace it" in (tmp_path / "src/shop/cells/order_items/SPEC.md").read_text()


def test_existing_cells_and_tests_are_never_overwritten(tmp_path: Path) -> None:
    materialise_cells(tmp_path, "shop", ["billing"])
    handlers = tmp_path / "src/shop/cells/billing/handlers.py"
    test_file = tmp_path / "tests/cells/test_billing_cell.py"
    handlers.write_text("# my own code\n")
    test_file.write_text("# my own tests\n")
    (handlers.parent / "messages.py").unlink()

    result = materialise_cells(tmp_path, "shop", ["billing"])

    assert result.created == []
    assert handlers.read_text() == "# my own code\n"
    assert test_file.read_text() == "# my own tests\n"
    assert not (handlers.parent / "messages.py").exists(), "a cell folder is the user's"


def test_the_task_entry_point_runs_from_a_template_checkout(tmp_path: Path) -> None:
    """Copier runs `python <template>/hooks post-render`, with nothing installed."""
    done = subprocess.run(
        [sys.executable, "-S", str(TEMPLATE / "hooks"), "post-render", *ARGS, str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "created src/shop/cells/notes" in done.stdout
    # No core to import in this bare folder: the hook says so instead of failing the copy.
    assert "run `uv run <cli> explain`" in done.stderr


def test_copier_scratch_renders_never_get_cells(tmp_path: Path) -> None:
    """`copier update` runs tasks in scratch renders and applies their difference: cells
    made there would be deleted from the project when dropped from the list."""
    scratch = tmp_path / "copier._main.old_copy.abc123"
    assert main(["post-render", *ARGS, str(scratch)]) == 0
    assert not (scratch / "src").exists()


def test_the_hook_cli_leaves_no_bytecode(tmp_path: Path) -> None:
    assert main(["post-render", *ARGS, str(tmp_path)]) == 0
    assert not list(tmp_path.rglob("__pycache__"))


def test_the_hooks_build_as_an_installable_package(tmp_path: Path) -> None:
    """What `.pre-commit-hooks.yaml` installs: a wheel with the hooks' console scripts."""
    subprocess.run(
        ["uv", "build", "--wheel", "--quiet", "--out-dir", str(tmp_path)],
        cwd=TEMPLATE,
        check=True,
    )
    (wheel,) = tmp_path.glob("cellforge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        scripts = next(n for n in names if n.endswith("entry_points.txt"))
        entry_points = archive.read(scripts).decode()
    assert "cellforge_hooks/regenerate.py" in names
    assert "cellforge-regenerate = cellforge_hooks.cli:regenerate_main" in entry_points
    assert "cellforge-check-owned = cellforge_hooks.cli:check_owned_main" in entry_points


def test_ownership_follows_the_blueprint_rules(tmp_path: Path) -> None:
    """Template-owned: src/<pkg>/ but cells/, CI, the vendored hooks, the answers file.
    Shared (editable, merged on update): pyproject.toml, README.md, .gitignore, ..."""
    template_dir = tmp_path / "template"
    project = tmp_path / "project"
    names = [
        "src/{{package_name}}/core/bus.py",
        "src/{{package_name}}/cells/__init__.py",
        ".github/workflows/ci.yml",
        "pyproject.toml.jinja",
        "README.md.jinja",
        "{{_copier_conf.answers_file}}.jinja",
    ]
    for name in names:
        (template_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (template_dir / name).write_text("x")
        rendered = name.removesuffix(".jinja").replace("{{package_name}}", "shop")
        rendered = rendered.replace("{{_copier_conf.answers_file}}", ".copier-answers.yml")
        (project / rendered).parent.mkdir(parents=True, exist_ok=True)
        (project / rendered).write_text("x")
    assert owned_paths(project, template_dir, "shop") == [
        ".copier-answers.yml",
        ".github/workflows/ci.yml",
        "src/shop/core/bus.py",
    ]


def test_only_a_marker_at_the_start_of_a_line_is_a_conflict(tmp_path: Path) -> None:
    """A file mid-conflict is the user's to settle and stays out of the state; a file
    whose code merely mentions markers is still owned (its hand edits are caught)."""
    template_dir, project = tmp_path / "template", tmp_path / "project"
    texts = {
        "src/{{package_name}}/core/mentions.py": 'HINT = "resolve the <<<<<<< markers"\n',
        "src/{{package_name}}/core/conflicted.py": "<<<<<<< ours\nA = 1\n=======\n>>>>>>> b\n",
    }
    for name, text in texts.items():
        (template_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (template_dir / name).write_text("x")
        rendered = project / name.replace("{{package_name}}", "shop")
        rendered.parent.mkdir(parents=True, exist_ok=True)
        rendered.write_text(text)
    record(project, template_dir, "shop")
    assert list(load(project)["owned"]) == ["src/shop/core/mentions.py"]


def copied_from(tmp_path: Path, src_path: str, commit: str | None) -> Path:
    """A project as `copier copy` leaves it before its task runs (no `_commit` from a
    template that is not a git repository)."""
    project = tmp_path / "project"
    project.mkdir()
    answers = (f"_commit: {commit}\n" if commit else "") + f"_src_path: {src_path}\nname: x\n"
    (project / ".copier-answers.yml").write_text(answers)
    return project


def template_and_copier_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A template repository tagged v1, and the clone copier renders from
    (`git clone --no-checkout -- SOURCE TMP`, here from a relative path as typed)."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "copier.yml").write_text("_subdirectory: template\n")
    source = git_snapshot(files, tmp_path / "cellforge", tag="v1")
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", "--", ".", str(tmp_path / "clone")],
        cwd=source,
        check=True,
    )
    return source, tmp_path / "clone"


def test_a_relative_template_source_is_recorded_as_the_absolute_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `copier copy ... . ../my-service` records `.`, which copier would later
    resolve inside the project: the task records the source copier really read."""
    source, clone = template_and_copier_clone(tmp_path)
    project = copied_from(tmp_path, ".", "v1")

    assert main(["post-render", *ARGS, str(project), "--template-source", str(clone)]) == 0

    assert f"_src_path: {source}\n" in (project / ".copier-answers.yml").read_text()
    said = capsys.readouterr()
    assert f"cellforge: recorded the template source as {source}, not '.'" in said.out
    assert "regeneration will fail" not in said.err


def test_a_template_version_the_source_lacks_is_said_at_copy_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--vcs-ref HEAD` on a template with uncommitted edits records a commit that exists
    only in copier's temporary clone: later regenerations cannot find it."""
    source, clone = template_and_copier_clone(tmp_path)
    project = copied_from(tmp_path, str(source), "0123abc")

    assert main(["post-render", *ARGS, str(project), "--template-source", str(clone)]) == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if "will fail" in line]
    assert warnings == [
        f"cellforge: warning: regeneration will fail: the template source {source} has no "
        f"version '0123abc'; fix: `git -C {source} fetch --tags`, or "
        "`uv run python .cellforge set-source PATH-OR-URL` for a clone that has it"
    ]


def test_uncommitted_template_edits_are_said_at_copy_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--vcs-ref HEAD` includes a template's uncommitted edits by committing them in
    copier's temporary clone: the recorded version exists nowhere else."""
    source, clone = template_and_copier_clone(tmp_path)
    identity = ["-c", "user.name=copier", "-c", "user.email=copier@localhost"]
    draft = ["git", *identity, "commit", "-q", "--allow-empty", "-m", "draft changes"]
    subprocess.run(draft, cwd=clone, check=True)
    described = subprocess.run(
        ["git", "describe", "--tags"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    project = copied_from(tmp_path, str(source), described)

    assert main(["post-render", *ARGS, str(project), "--template-source", str(clone)]) == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if "will fail" in line]
    assert warnings == [
        f"cellforge: warning: regeneration will fail: template version {described!r} exists "
        "only in copier's temporary clone (the template had uncommitted changes); fix: "
        "commit them in the template, then generate the project again"
    ]


def test_a_plain_template_folder_is_its_own_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "unpacked-cellforge"
    folder.mkdir()
    project = copied_from(tmp_path, "../unpacked-cellforge", None)

    assert main(["post-render", *ARGS, str(project), "--template-source", str(folder)]) == 0

    assert f"_src_path: {folder}\n" in (project / ".copier-answers.yml").read_text()
    assert "is not a git repository" in capsys.readouterr().err
