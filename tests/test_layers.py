"""The template's packages form layers that import only downwards, and a generated
project's own checks enforce them.

The `layers` contract is generated into `.importlinter` by `explain`; `lint-imports` runs
it, and so do the project's tests (`tests/test_checks.py`) and CI. An import that climbs
a layer fails them, naming the contract and the import; the project as generated passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import project_env, render, run

pytestmark = pytest.mark.slow

CONTRACT = "The template's packages import only downwards"
# Upward imports a change could add: the ground importing operations, and the gateway
# reaching back into the composition root that builds it.
UPWARD = {
    "core-imports-ops": ("core/series.py", "from ..ops import triggers", "core", "ops"),
    "gateway-imports-bootstrap": (
        "gateway/routes.py",
        "from .. import bootstrap",
        "gateway",
        "bootstrap",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = render(tmp_path_factory.mktemp("layers") / "my-service")
    run(["uv", "sync", "--quiet"], destination, project_env("3.11"))
    return destination


@pytest.fixture
def upward(project: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Add one upward import to the project for the test, then take it out again."""
    module, line, importer, imported = UPWARD[request.param]
    path = project / "src/my_service" / module
    original = path.read_text(encoding="utf-8")
    path.write_text(f"{original}\n{line}  # noqa: E402, F401\n", encoding="utf-8")
    try:
        yield importer, imported
    finally:
        path.write_text(original, encoding="utf-8")


def test_the_generated_project_keeps_its_layers(project: Path) -> None:
    """As generated, every import between the template's packages goes downwards."""
    done = run(["uv", "run", "lint-imports"], project, project_env("3.11"), check=False)
    assert done.returncode == 0, done.stdout
    assert f"{CONTRACT} KEPT" in done.stdout


@pytest.mark.parametrize("upward", sorted(UPWARD), indirect=True)
def test_an_upward_import_fails_the_projects_checks(project: Path, upward: tuple[str, str]) -> None:
    """`lint-imports` and the project's test of its checks fail, naming the contract and
    the import that climbs."""
    importer, imported = upward
    env = project_env("3.11")
    done = run(["uv", "run", "lint-imports"], project, env, check=False)
    assert done.returncode != 0
    assert f"{CONTRACT} BROKEN" in done.stdout
    assert f"my_service.{importer} is not allowed to import my_service.{imported}" in done.stdout
    # The project's own test of its checks (it needs none of the service's fixtures).
    checks = ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest"]
    tests = run([*checks, "tests/test_checks.py", "-k", "import"], project, env, check=False)
    assert tests.returncode != 0
    assert CONTRACT in tests.stdout


def test_the_names_the_template_renders_come_from_one_module() -> None:
    """Only `core/names.py` is rendered from the answers (package, command, environment
    prefix); every other module of the package is the same text in every project and
    imports the names from there."""
    package = Path(__file__).resolve().parents[1] / "template" / "src" / "{{package_name}}"
    rendered = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.jinja"))
    assert rendered == ["core/names.py.jinja"]
    names = (package / "core" / "names.py.jinja").read_text(encoding="utf-8")
    for name in ("PACKAGE", "PROG", "ENV_PREFIX"):
        assert f'{name} = "{{{{ ' in names, f"{name} is not rendered in core/names.py"
