# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The command line, installed as the project's command (`core/names.py`: `PROG`) and
also run by `python -m <package>`.

- `serve`: run the service over HTTP (the gateway) with uvicorn (`gateway/server.py`).
- `worker --cell NAME`: run one cell that blueprint.yml places on a worker, serving its
  inbox over Redis Streams or NATS JetStream (see core/transport/).
- `cells`: a table of the cells, their messages and their rationale.
- `explain`: regenerate the documents derived from the code (`docs/architecture.md`,
  `docs/distribution.md`, `docs/asyncapi.json`, `docs/genops.md`, `docs/runbooks/`) and
  `.importlinter`; `explain --check` exits 1 when any is stale.
- `blueprint check`: validate `blueprint.yml`; each problem names its line and the fix.
- `audit verify`: check the audit log's MACs, chain and checkpoints.
- `keys create --role R` / `keys revoke ID` / `keys list`: API keys (shown once, stored
  as hashes); `keys rotate-data`: re-encrypt every stored record under a new data key.
- `sandbox doctor`: the isolation backend in force, what is missing, and a probe task.
- `runbook list` / `runbook show NAME`: the runbooks (ops/runbooks/) and their steps.
- `genops check [GATE ...]`: the GenOps gates (pins, semdiff, repro, budget, context,
  e2e) as one table; exit 1 when any fails (docs/genops.md).
- `runbook run NAME ... [--yes]`: print each step's plan (a dry run); `--yes` applies and
  verifies them (on a terminal it asks first), e.g. `runbook run promote-cell notes --to redis`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .codegen import cli as codegen
from .core.blueprint import check_file
from .core.blueprint_problems import BlueprintError
from .core.catalog import MissingCellError, cell_names, load_registry
from .core.keyfiles import MissingKeyError, load_key
from .core.logs import configure as configure_logging
from .core.messages import kind_of
from .core.names import ENV_PREFIX, PROG
from .core.rotation import rotate_data_key
from .core.sealing import DataKeyError
from .core.settings import Settings
from .core.transport import TransportError
from .explain import stale_artifacts, write_artifacts
from .gateway.apikeys import ApiKeys
from .gateway.audit import verify
from .genops import cli as genops
from .ops import runbooks, triggers
from .sandbox.limits import Policy
from .sandbox.runner import Sandbox

if TYPE_CHECKING:
    from .bootstrap import Runtime

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# Only `serve` and `worker` import the runtime (`bootstrap`: every cell, the gateway,
# starlette) and uvicorn, inside the command: over a second to load, which `--help`,
# `cells` or `explain --check` should not pay. Everything else is imported above.


def serve(args: argparse.Namespace) -> int:
    import uvicorn  # start-up cost: only `serve` runs the HTTP server

    from .bootstrap import build, create_app  # start-up cost: the whole runtime
    from .gateway import server  # start-up cost: uvicorn's protocols

    chosen = {"host": args.host, "port": args.port}
    overrides = {key: value for key, value in chosen.items() if value is not None}
    settings = Settings(**overrides)
    configure_logging(settings.env)
    try:
        app = create_app(build(settings))
    except (DataKeyError, MissingKeyError) as error:
        print(f"{PROG} cannot start: {error}", file=sys.stderr)
        return 2
    # uvicorn with deadlines for slow clients' headers and a connection cap.
    running = uvicorn.Server(server.config(app, settings))
    running.run()
    return 0 if running.started else 3  # 3: uvicorn's exit code for a failed start


def worker(args: argparse.Namespace) -> int:
    from .bootstrap import build  # start-up cost: the whole runtime

    settings = Settings()
    configure_logging(settings.env)
    kind = settings.placements.get(args.cell)
    names = cell_names(settings.blueprint_model)
    if args.cell not in names or kind is None:
        where = "is not a cell" if args.cell not in names else "runs in the gateway's process"
        print(
            f"{args.cell!r} {where}; a worker serves a cell placed on a worker in "
            f"blueprint.yml (`{PROG} runbook run promote-cell NAME --to redis`)",
            file=sys.stderr,
        )
        return 2
    runtime = build(settings, local={args.cell})
    try:
        asyncio.run(work(runtime, f"worker for cell {args.cell} on {kind}"))
    except TransportError as error:
        print(f"{PROG} worker cannot start: {error}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    return 0


async def work(runtime: Runtime, name: str) -> None:
    """Serve until SIGTERM or SIGINT; what is in flight then is redelivered elsewhere.
    A delivery the worker refuses (unsigned, forged, replayed) is an entry in the
    worker's own audit log, `audit-worker-<cells>.log` beside the gateway's."""
    from .bootstrap import wire_worker_audit  # start-up cost: the whole runtime

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopping.set)
    audit = wire_worker_audit(runtime)
    await runtime.start()
    try:
        print(f"{name}: ready", flush=True)
        await stopping.wait()
    finally:
        await runtime.stop()
        audit.close()


def cells(args: argparse.Namespace) -> int:

    rows = [("cell", "message", "kind", "rationale")]
    for cell in load_registry(cell_names(Settings().blueprint_model)):
        summary = cell.rationale.strip().splitlines()[0]
        for message_type in cell.messages():
            rows.append((cell.name, message_type.__name__, kind_of(message_type), summary))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        padded = [value.ljust(width) for value, width in zip(row, widths, strict=False)]
        print("  ".join(padded), row[3])
    return 0


def explain(args: argparse.Namespace) -> int:

    root = Path(args.root)
    if args.check:
        stale = stale_artifacts(root)
        for path in stale:
            print(f"stale: {path} (run `{PROG} explain`)", file=sys.stderr)
        return 1 if stale else 0
    # Derived files follow a valid blueprint only: a broken one is reported (by line, as
    # `blueprint check` does) and nothing is written.
    blueprint_file = root / "blueprint.yml"
    problems = check_file(blueprint_file) if blueprint_file.exists() else []
    for problem in problems:
        print(f"{blueprint_file}:{problem}", file=sys.stderr)
    if problems:
        print("explain: blueprint.yml is invalid; nothing was written", file=sys.stderr)
        return 1
    for path in write_artifacts(root):
        print(f"wrote {path}")
    return 0


def blueprint(args: argparse.Namespace) -> int:

    path = Path(args.file)
    problems = check_file(path)
    for problem in problems:
        print(f"{path}:{problem}", file=sys.stderr)
    if not problems:
        print(f"{path}: valid")
    return 1 if problems else 0


def audit(args: argparse.Namespace) -> int:

    settings = Settings(env="prod")  # verifying must never invent a key
    log = Path(args.log) if args.log else settings.audit_path
    try:
        if args.key_file:
            key = bytes.fromhex(Path(args.key_file).read_text(encoding="utf-8").strip())
        else:
            key = load_key(settings, "audit")
    except (MissingKeyError, ValueError) as error:
        print(f"no usable audit key: {error}", file=sys.stderr)
        return 2
    if log is None or not log.exists():
        print(f"no audit log at {log}", file=sys.stderr)
        return 2
    args.log = log
    verdict = verify(log, key)
    for problem in verdict.problems:
        print(f"{args.log}: {problem}", file=sys.stderr)
    print(f"{args.log}: {verdict.entries} entries verified" if verdict.ok else "TAMPERED")
    return 0 if verdict.ok else 1


def keys(args: argparse.Namespace) -> int:

    settings = Settings()
    store = ApiKeys(settings.api_keys_path)
    try:
        if args.action == "create":
            blueprint = settings.blueprint_model
            known = blueprint.grants if blueprint else {}
            if args.role not in known:
                roles = ", ".join(sorted(known))
                print(f"unknown role {args.role!r}; blueprint.yml has: {roles}", file=sys.stderr)
                return 2
            key_id, key = store.create(args.role)
            print(f"created key {key_id} for role {args.role}; it is shown only once:")
            print(key)
        elif args.action == "revoke":
            if not store.revoke(args.key_id):
                print(f"no active key {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked key {args.key_id}")
        else:
            for entry in store.all():
                state = f"revoked {entry.revoked_at}" if entry.revoked_at else "active"
                print(f"{entry.id}  {entry.role}  created {entry.created_at}  {state}")
    finally:
        store.close()
    return 0


def rotate_data(args: argparse.Namespace) -> int:

    try:
        key_id, count = rotate_data_key(Settings())
    except DataKeyError as error:
        print(f"rotation refused, nothing changed: {error}", file=sys.stderr)
        return 1
    print(f"re-encrypted {count} records under data key {key_id}; older keys retired")
    return 0


def sandbox(args: argparse.Namespace) -> int:

    settings = Settings()
    box = Sandbox(Policy.from_blueprint(settings.blueprint_model))
    report = box.doctor()
    width = max(map(len, report))
    for name, value in report.items():
        print(f"{name.ljust(width)}  {value}")
    probe = box.run_python("print('ok')")
    print(f"{'probe task'.ljust(width)}  {probe.status} on {probe.backend}")
    return 0 if probe.status == "ok" and probe.stdout == b"ok\n" else 1


def add_service_commands(commands: Commands) -> None:
    """Running and inspecting the service: `serve`, `worker`, `cells`, `explain`,
    `blueprint check`."""
    run = commands.add_parser("serve", help="run the HTTP service")
    run.add_argument("--host", help="interface to bind (default from settings: 127.0.0.1)")
    run.add_argument("--port", type=int, help="port to bind (default from settings)")
    run.set_defaults(func=serve)

    worker_help = "run one cell placed on a worker in blueprint.yml (its inbox, over its transport)"
    remote = commands.add_parser("worker", help=worker_help)
    remote.add_argument("--cell", required=True, help="the cell to serve")
    remote.set_defaults(func=worker)

    table = commands.add_parser("cells", help="list cells, messages and rationale")
    table.set_defaults(func=cells)

    docs = commands.add_parser("explain", help="regenerate the generated docs and contracts")
    docs.add_argument("--check", action="store_true", help="exit 1 if they are stale")
    docs.add_argument("--root", default=".", help="project root (default: .)")
    docs.set_defaults(func=explain)

    plan = commands.add_parser("blueprint", help="work with blueprint.yml")
    plan_commands = plan.add_subparsers(dest="action", required=True)
    check = plan_commands.add_parser("check", help="validate blueprint.yml against its schema")
    check.add_argument("--file", default="blueprint.yml", help="default: blueprint.yml")
    check.set_defaults(func=blueprint)


def add_security_commands(commands: Commands) -> None:
    """Keys, the audit trail and the sandbox: `audit verify`, `keys ...`, `sandbox doctor`."""
    trail = commands.add_parser("audit", help="work with the audit log")
    trail_commands = trail.add_subparsers(dest="action", required=True)
    proof = trail_commands.add_parser("verify", help="detect edited, deleted, moved or cut entries")
    proof.add_argument("--log", help="default: the configured log, var/audit.log")
    key_help = f"file holding the key in hex (default: the {ENV_PREFIX}AUDIT_KEY variable)"
    proof.add_argument("--key-file", help=key_help)
    proof.set_defaults(func=audit)

    access = commands.add_parser("keys", help="API keys and data keys")
    access_commands = access.add_subparsers(dest="action", required=True)
    create = access_commands.add_parser("create", help="issue an API key (printed once)")
    create.add_argument("--role", required=True, help="a role from blueprint.yml")
    create.set_defaults(func=keys)
    revoke = access_commands.add_parser("revoke", help="disable an API key at once")
    revoke.add_argument("key_id", help="the id printed by `keys create` or `keys list`")
    revoke.set_defaults(func=keys)
    listing = access_commands.add_parser("list", help="key ids, roles and states")
    listing.set_defaults(func=keys)
    rotate = access_commands.add_parser(
        "rotate-data", help="re-encrypt all stored records under a new data key"
    )
    rotate.set_defaults(func=rotate_data)

    isolation = commands.add_parser("sandbox", help="the sandbox for high-risk work")
    isolation_commands = isolation.add_subparsers(dest="action", required=True)
    doctor = isolation_commands.add_parser(
        "doctor", help="which isolation is in force, and a probe task"
    )
    doctor.set_defaults(func=sandbox)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description="Run and inspect the service.")
    commands = top.add_subparsers(dest="command", required=True)
    add_service_commands(commands)
    add_security_commands(commands)
    # Operations: each module adds its own commands (they import little until run).
    triggers.add_parser(commands)
    runbooks.add_parser(commands)
    genops.add_parser(commands)
    codegen.add_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if (args.command, getattr(args, "action", "")) == ("runbook", "run"):
        configure_logging()  # serve and worker configure it from their own settings
    try:
        result: int = args.func(args)
    except BlueprintError as error:  # the settings read it: say where, not a traceback
        print(error, file=sys.stderr)
        return 2
    except MissingCellError as error:  # listed, not created yet: say what creates it
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    return result
