"""The image's environment holds the runtime and nothing of the tooling.

A generated project's environment is built the way `deploy/Dockerfile` builds it: the
`uv sync` flags and the `UV_*` settings are read from the Dockerfile itself, so the test
follows it. In that environment every module that `serve` and `worker` can reach is
imported (found by reading the imports of the package, those inside functions included,
from the two commands in `cli.py`), and so is every module of the runtime packages. The
tooling's packages (copier, questionary, pytest, mypy, ...) are absent, and `serve`
answers `/healthz`.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import copier
import pytest

from .conftest import TEMPLATE, project_env, run

PACKAGE = "my_service"
# Imported whole: the runtime's own packages, and the cells, which the catalog imports by
# name (no import statement leads to them) and which call `llm`.
RUNTIME_PACKAGES = ("core", "gateway", "sandbox", "llm", "metrics", "cells")
COMMANDS = ("serve", "worker", "work")  # `work` is the worker's loop, called by `worker`
DEV_ONLY = (
    "copier",
    "questionary",
    "pytest",
    "xdist",
    "mypy",
    "ruff",
    "importlinter",
    "grimp",
    "hypothesis",
    "schemathesis",
    "griffe",
    "pre_commit",
)


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(src: Path, module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The modules of this package an `import from` names (a submodule or its parent)."""
    if node.level:
        base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = [target]
    for alias in node.names:  # `from . import x`: x may be a module
        candidate = f"{target}.{alias.name}"
        relative = Path(*candidate.split("."))
        if (src / relative).with_suffix(".py").is_file() or (src / relative).is_dir():
            found.append(candidate)
    return [name for name in found if name.split(".")[0] == PACKAGE]


def imports(src: Path, path: Path, within: ast.AST | None = None) -> set[str]:
    """Every import in a module (or in one of its functions), inside functions too."""
    module = module_name(src, path)
    tree = within or ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            found |= set(resolve(src, module, path.name == "__init__.py", node))
    return found


def reachable_from_the_commands(src: Path) -> set[str]:
    """The package's modules `serve` and `worker` can import: their own imports, the
    top of cli.py, then everything those import, transitively (parents included)."""
    cli = src / PACKAGE / "cli.py"
    tree = ast.parse(cli.read_text(encoding="utf-8"))
    top = ast.Module(body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)])
    todo = imports(src, cli, top)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in COMMANDS:
            todo |= imports(src, cli, node)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        parts = name.split(".")
        todo |= {".".join(parts[:i]) for i in range(1, len(parts))} - seen
        if name in seen:
            continue
        seen.add(name)
        file = src / Path(*parts)
        path = file / "__init__.py" if file.is_dir() else file.with_suffix(".py")
        if path.is_file():
            todo |= imports(src, path) - seen
    return seen


def runtime_modules(src: Path) -> list[str]:
    every = {
        module_name(src, path)
        for package in RUNTIME_PACKAGES
        for path in (src / PACKAGE / package).rglob("*.py")
    }
    return sorted(every | {f"{PACKAGE}.bootstrap"} | reachable_from_the_commands(src))


def image_sync(dockerfile: str) -> tuple[list[str], dict[str, str]]:
    """The last `uv sync` of the Dockerfile and the `UV_*` settings its ENV gives."""
    lines = dockerfile.replace("\\\n", " ").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    syncs = re.findall(r"\buv sync\b([^\n&;]*)", text)
    assert syncs, "the Dockerfile installs the project with `uv sync`"
    settings = dict(re.findall(r"\b(UV_[A-Z_]+)=(\S+)", text))
    return ["uv", "sync", *shlex.split(syncs[-1])], settings


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A rendered project and its environment as the image's build stage makes it."""
    project = tmp_path_factory.mktemp("runtime") / "my-service"
    copier.run_copy(str(TEMPLATE), project, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    command, settings = image_sync((project / "deploy" / "Dockerfile").read_text("utf-8"))
    assert {"--no-dev", "--locked"} <= set(command), command
    venv = project.parent / "image-venv"
    # Bytecode compilation changes no import, only the time; no download: offline here.
    settings.pop("UV_COMPILE_BYTECODE", None)
    env = {**project_env(answer(project, "python_version")), **settings}
    env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON_DOWNLOADS="never")
    run([*command, "--offline", "--quiet"], project, env)
    return project, venv, env


def answer(project: Path, key: str) -> str:
    for line in (project / ".copier-answers.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise AssertionError(f"no {key} in .copier-answers.yml")


PROBE = """
import importlib, importlib.util, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = repr(error)
print(json.dumps(failed))
"""


def test_every_runtime_module_imports_in_the_image_environment(
    image: tuple[Path, Path, dict[str, str]],
) -> None:
    project, venv, env = image
    modules = runtime_modules(project / "src")
    reached = reachable_from_the_commands(project / "src")
    assert f"{PACKAGE}.bootstrap" in reached and f"{PACKAGE}.gateway.app" in reached, reached
    done = run([str(venv / "bin" / "python"), "-c", PROBE, *modules], project, env)
    assert json.loads(done.stdout) == {}, done.stdout
    assert len(modules) > 40, modules


def test_the_tooling_is_absent_from_the_image_environment(
    image: tuple[Path, Path, dict[str, str]],
) -> None:
    project, venv, env = image
    probe = "import importlib.util as u, sys; print([n for n in sys.argv[1:] if u.find_spec(n)])"
    done = run([str(venv / "bin" / "python"), "-c", probe, *DEV_ONLY], project, env)
    assert done.stdout.strip() == "[]", f"tooling in the image: {done.stdout}"
    # The environment is not empty: the runtime's own dependencies are in it.
    present = "import starlette, uvicorn, structlog, pydantic, cryptography, redis, nats"
    run([str(venv / "bin" / "python"), "-c", present], project, env)


DISTRIBUTIONS = """
import importlib.metadata as m, json
print(json.dumps(m.packages_distributions()))
"""


def third_party_imports(src: Path, modules: list[str]) -> set[str]:
    """The top-level names of what these modules import, inside functions too."""
    found: set[str] = set()
    for name in modules:
        file = src / Path(*name.split("."))
        path = file / "__init__.py" if file.is_dir() else file.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_used_by_the_runtime(
    image: tuple[Path, Path, dict[str, str]],
) -> None:
    """Each of `[project].dependencies` is imported by a runtime package (core, gateway,
    sandbox, llm, metrics, the cells, the composition root): what only the tooling uses
    (runbook prompts, genops, docs) belongs in the dev group."""
    project, venv, env = image
    declared = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]
    names = {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0] for spec in declared["dependencies"]}
    done = run([str(venv / "bin" / "python"), "-c", DISTRIBUTIONS], project, env)
    modules_of: dict[str, set[str]] = {}
    for module, distributions in json.loads(done.stdout).items():
        for distribution in distributions:
            modules_of.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    src = project / "src"
    runtime = [
        module_name(src, path)
        for package in RUNTIME_PACKAGES
        for path in (src / PACKAGE / package).rglob("*.py")
    ] + [f"{PACKAGE}.bootstrap"]
    imported = third_party_imports(src, runtime)
    unused = [n for n in sorted(names) if not modules_of.get(n.lower(), set()) & imported]
    assert len(names) > 5 and not unused, f"runtime dependencies unused at run time: {unused}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_serve_answers_from_the_image_environment(
    image: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """`serve` starts from that environment alone and answers its health check."""
    project, venv, env = image
    names = (project / "src" / PACKAGE / "core" / "names.py").read_text(encoding="utf-8")
    port, prefix = free_port(), re.findall(r'^ENV_PREFIX = "(\w+)"', names, re.MULTILINE)[0]
    settings = {"HOST": "127.0.0.1", "PORT": str(port), "DATA_DIR": str(tmp_path / "data")}
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    server_env = {**env, **{f"{prefix}{key}": value for key, value in settings.items()}}
    server = subprocess.Popen(
        [str(venv / "bin" / "my-service"), "serve"],
        cwd=project,
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = wait_for_health(f"http://127.0.0.1:{port}/healthz", server)
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert status == 200, output


def wait_for_health(url: str, server: subprocess.Popen[str], seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answered:
                return int(answered.status)
        except OSError:
            time.sleep(0.2)
    return 0
