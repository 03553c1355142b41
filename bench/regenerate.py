"""Benchmark: the time Cellforge adds to one `cell regenerate notes`, against the time of
the regeneration's gates alone, both in the same run.

A default project is generated from this template (its working tree, uncommitted edits
included), synced by uv into its own venv and committed, as a user's would be. Its
blueprint pins the purpose `codegen` to provider `openai`; the project is pointed at a
model provider on 127.0.0.1 (a port the kernel picks), a thread of this script speaking
OpenAI's chat completions, which answers at once with a valid answer: the notes cell's
`handlers.py` with its docstring reworded (a harmless change every gate passes), as the
documented JSON of whole files. The server times each request itself, from its first
byte read to its last byte written.

Rounds alternate two commands on the project, each after a reset to its commit
(`git reset --hard`, `git clean`), so that machine noise hits both alike:

- regeneration: `uv run bench-service cell regenerate notes`, as a user runs it, timed
  from outside: pack, the call through `llm/` (budgets reserved and settled), the answer
  checked, the scratch worktree, `explain`, every gate, the change applied to the work
  tree, the record. The provider's own time is taken out: Cellforge-added = total -
  provider (the run must take one round and be applied);
- gates alone: the same answer written straight into the project, then the same gates
  run as codegen runs them (`codegen.gates.check`, in the project's venv), timed around
  that call only (the stricter baseline); each must pass. The driver's whole process,
  start-up and imports included, is shown for information.

A full run also runs, each round, one more regeneration in one process with the loop's
steps timed (information: where the time beyond the gates goes).

Both share one mypy cache (`MYPY_CACHE_DIR`), filled by an untimed first run of each,
and run in a user's shell, which writes bytecode (PYTHONDONTWRITEBYTECODE is dropped).

    uv run python bench/regenerate.py --record  # 7 rounds, writes docs/benchmarks.md
    uv run python bench/regenerate.py           # the same, prints only
    uv run python bench/regenerate.py --quick   # 1 round, prints only (CI)

Target: Cellforge-added at most 1.5x the gates alone (medians). A full run exits 1 when
it is missed; a quick run only has to run end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `bench.*` importable

from bench.project import ENV_PREFIX, PROJECT, generate, project_env  # noqa: E402
from bench.report import timing_table, write_section  # noqa: E402
from bench.snapshot import commit_all  # noqa: E402

PACKAGE = PROJECT.replace("-", "_")
CELL = "notes"
HANDLERS = f"src/{PACKAGE}/cells/{CELL}/handlers.py"
RATIO_TARGET = 1.5
REGENERATE = ["uv", "run", PROJECT, "cell", "regenerate", CELL]
TOTAL = f"regeneration, total (`uv run {PROJECT} cell regenerate {CELL}`)"
PROVIDER = "the provider's answer (server side)"
ADDED = "Cellforge-added (total - provider)"
GATES = "gates alone (`codegen.gates.check`)"
GATES_PROCESS = "gates alone, the driver's whole process (information)"

# Runs in the project's venv, in the project: `python driver.py`. The gates as codegen's
# loop runs them, with the project as both the scratch and the root.
DRIVER = f"""
import json
import time
from pathlib import Path

from {PACKAGE}.codegen import CellTree, gates

root = Path.cwd()
started = time.perf_counter()
verdicts = gates.check(root, root, CellTree(root, "{CELL}"), ())
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "verdicts": [v.line() for v in verdicts],
                   "passed": all(v.passed for v in verdicts)}}))
"""

# The regeneration again, in one process with the loop's steps timed (information, full
# runs only): `python profile.py`, in the project, its env as the CLI's.
PROFILE = f"""
import time

started = time.perf_counter()

import asyncio
import functools
import json
from pathlib import Path

from {PACKAGE}.codegen import gates, loop, scratch
from {PACKAGE}.core.settings import Settings
from {PACKAGE}.llm.client import LLM

spent = {{}}


def timed(owner, name, label):
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        begun = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - begun

    setattr(owner, name, wrapper)


def timed_async(owner, name, label):
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args, **kwargs):
        begun = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - begun

    setattr(owner, name, wrapper)


timed(gates, "check", "gates")
timed(gates, "explain", "explain")
for method in ("__enter__", "__exit__", "reset", "write", "change", "changed_paths", "apply_to"):
    timed(scratch.Scratch, method, "scratch")
timed_async(LLM, "complete", "call")
imported = time.perf_counter()
outcome = asyncio.run(loop.run(Path.cwd(), Settings(), loop.Request("{CELL}")))
ended = time.perf_counter()
spent["imports"] = imported - started
spent["run"] = ended - imported
print(json.dumps({{"applied": outcome.applied, "rounds": outcome.run.rounds, **spent}}))
"""


class Provider(ThreadingHTTPServer):
    """OpenAI's chat completions on 127.0.0.1, answering every request with `answer`."""

    daemon_threads = True

    def __init__(self, answer: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)  # loopback only; the kernel picks
        self.answer = answer
        self.seconds: list[float] = []  # each request's time in the server
        self.models: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Provider

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        started = time.perf_counter()
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path != "/v1/chat/completions":
            self.reply({"error": {"message": f"no route {self.path}"}}, 404)
        else:
            sent = sum(len(str(m.get("content", "")).encode()) for m in body["messages"])
            usage = {
                "prompt_tokens": sent // 4 + 1,
                "completion_tokens": len(self.server.answer.encode()) // 4 + 1,
            }
            self.reply(
                {
                    "model": body["model"],
                    "choices": [{"message": {"content": self.server.answer}}],
                    "usage": usage,
                },
                200,
            )
        self.server.models.append(str(body.get("model")))
        self.server.seconds.append(time.perf_counter() - started)

    def reply(self, document: Any, status: int) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


@contextmanager
def provider(answer: str) -> Iterator[Provider]:
    server = Provider(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Setup:
    project: Path
    driver: Path
    answer: str  # the provider's answer, the documented JSON
    handlers: str  # handlers.py as the answer writes it
    env: dict[str, str]


def prepare(work: Path) -> Setup:
    project = generate(work)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    commit_all(project, "Generated by Cellforge")
    now = (project / HANDLERS).read_text(encoding="utf-8")
    first = now.splitlines()[0]
    if not first.startswith('"""') or not first.endswith('."""'):
        raise SystemExit(f"{HANDLERS} does not open with a one-line docstring: {first!r}")
    handlers = now.replace(first, first[:-4] + ", as its spec says." + '"""', 1)
    answer = json.dumps(
        {
            "summary": "reword the handlers' docstring",
            "files": [{"path": HANDLERS, "content": handlers}],
        }
    )
    driver = work / "gates_driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {k: v for k, v in project_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["MYPY_CACHE_DIR"] = str(work / "mypy-cache")  # one cache for both commands
    env[f"{ENV_PREFIX}LLM_OPENAI_KEY"] = "x"
    return Setup(project, driver, answer, handlers, env)


def reset(project: Path) -> None:
    """Back to the committed project; ignored files (var/, the bytecode) stay."""
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=project, check=True)
    subprocess.run(["git", "clean", "-qfd"], cwd=project, check=True)


def regenerate(setup: Setup, server: Provider) -> tuple[float, float]:
    """One `cell regenerate`: (total seconds, the provider's seconds)."""
    reset(setup.project)
    env = {**setup.env, f"{ENV_PREFIX}LLM_OPENAI_URL": server.url}
    before = len(server.seconds)
    started = time.perf_counter()
    done = subprocess.run(REGENERATE, cwd=setup.project, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    calls = server.seconds[before:]
    written = (setup.project / HANDLERS).read_text(encoding="utf-8")
    if done.returncode != 0 or len(calls) != 1 or written != setup.handlers:
        raise SystemExit(
            f"the regeneration was not applied in one call (exit {done.returncode}, "
            f"{len(calls)} calls):\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
        )
    reset(setup.project)
    return elapsed, sum(calls)


def gates_alone(setup: Setup) -> tuple[float, float]:
    """The same gates on the same files, in the project: (the seconds of `gates.check`,
    those of the driver's whole process, its start-up and imports included)."""
    reset(setup.project)
    (setup.project / HANDLERS).write_text(setup.handlers, encoding="utf-8")
    python = str(setup.project / ".venv" / "bin" / "python")
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(setup.driver)], cwd=setup.project, env=setup.env, capture_output=True
    )
    elapsed = time.perf_counter() - started
    reset(setup.project)
    try:
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {}
    if done.returncode != 0 or not result.get("passed"):
        output = (done.stdout[-4000:] + done.stderr[-3000:]).decode(errors="replace")
        raise SystemExit(f"the gates did not pass:\n{output}")
    return float(result["seconds"]), elapsed


PARTS = {
    "`uv run` and the interpreter starting": "start-up",
    "imports (codegen, settings, `llm/`)": "imports",
    "scratch worktree (create, write, diff, apply, remove)": "scratch",
    "gates in the scratch (`gates.check`)": "gates",
    "of which `explain`, beside ruff, mypy and the tests": "explain",
    "the call through `llm/`, less the provider's time": "client",
    "the rest (pack, answer checks, ledger, record)": "rest",
}


def profiled(setup: Setup, server: Provider) -> dict[str, float]:
    """One regeneration in one process with its steps timed (`PROFILE`): seconds by part
    of `PARTS`, and the whole less the provider's time as `added`."""
    reset(setup.project)
    script = setup.driver.with_name("profile_driver.py")
    script.write_text(PROFILE, encoding="utf-8")
    env = {**setup.env, f"{ENV_PREFIX}LLM_OPENAI_URL": server.url}
    before = len(server.seconds)
    started = time.perf_counter()
    done = subprocess.run(
        ["uv", "run", "python", str(script)],
        cwd=setup.project,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    answered = sum(server.seconds[before:])
    reset(setup.project)
    try:
        spent = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        spent = {}
    if done.returncode != 0 or not spent.get("applied") or spent.get("rounds") != 1:
        raise SystemExit(f"the profiled run was not applied:\n{done.stdout}\n{done.stderr}")
    parts = {
        "start-up": elapsed - spent["imports"] - spent["run"],
        "imports": spent["imports"],
        "scratch": spent["scratch"],
        "explain": spent["explain"],
        "gates": spent["gates"],
        "client": spent["call"] - answered,
    }
    steps = ("scratch", "gates", "call")  # `explain` runs within `gates.check`
    parts["rest"] = spent["run"] - sum(spent[key] for key in steps)
    parts["added"] = elapsed - answered
    return parts


def breakdown_table(samples: list[dict[str, float]]) -> str:
    added = statistics.median(sample["added"] for sample in samples)
    rows = [
        "| part | rounds | median (s) | share of the profiled run's Cellforge-added |",
        "| --- | ---: | ---: | ---: |",
    ]
    for title, key in PARTS.items():
        median = statistics.median(sample[key] for sample in samples)
        rows.append(f"| {title} | {len(samples)} | {median:.3f} | {median / added:.0%} |")
    rows.append(f"| Cellforge-added, profiled run | {len(samples)} | {added:.3f} | 100% |")
    return "\n".join(rows)


def beyond_the_gates(samples: list[dict[str, float]], gates: float, added: float) -> str:
    """What the profiled runs spent beyond the gates, in words (medians)."""

    def median(*keys: str) -> float:
        return statistics.median(sum(sample[key] for key in keys) for sample in samples)

    beyond = median("added") - gates
    return (
        f"Beyond the gates alone ({gates:.2f} s), the profiled regeneration spent "
        f"{beyond:.2f} s: starting up and importing "
        f"{median('start-up', 'imports'):.2f} s, the scratch worktree "
        f"{median('scratch'):.2f} s, the call less the provider {median('client'):.2f} s, "
        f"the rest {median('rest'):.2f} s; the gates took {median('gates'):.2f} s in the "
        "scratch. The CLI, which imports every subcommand's modules before it runs one, "
        f"took {added - median('added'):.2f} s more than the profiled run (medians, so "
        "the parts need not add up)."
    )


def measure(
    rounds: int, information: bool
) -> tuple[dict[str, list[float]], dict[str, float], list[dict[str, float]], str]:
    """Timings per row, the first (untimed) runs' seconds, the profiled runs' parts
    (information; none unless asked), and the project's Python."""
    with tempfile.TemporaryDirectory(prefix="bench-regenerate-") as scratch:
        setup = prepare(Path(scratch))
        python = subprocess.run(
            [str(setup.project / ".venv" / "bin" / "python"), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        timings: dict[str, list[float]] = {
            TOTAL: [],
            PROVIDER: [],
            ADDED: [],
            GATES: [],
            GATES_PROCESS: [],
        }
        parts: list[dict[str, float]] = []
        with provider(setup.answer) as server:
            first_total, _ = regenerate(setup, server)  # fills mypy's cache, the bytecode
            first = {"regeneration": first_total, "gates alone": gates_alone(setup)[0]}
            for _ in range(rounds):
                total, answered = regenerate(setup, server)
                timings[TOTAL].append(total)
                timings[PROVIDER].append(answered)
                timings[ADDED].append(total - answered)
                gates, process = gates_alone(setup)
                timings[GATES].append(gates)
                timings[GATES_PROCESS].append(process)
                if information:
                    parts.append(profiled(setup, server))
            if set(server.models) != {server.models[0]}:
                raise SystemExit(f"the model asked for changed: {sorted(set(server.models))}")
    return timings, first, parts, python


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="1 round, print only")
    options.add_argument("--rounds", type=int, default=7)
    options.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = options.parse_args()
    if args.quick and args.record:
        options.error("--quick runs are too short to record")
    timings, first, parts, python = measure(
        1 if args.quick else args.rounds, information=not args.quick
    )
    gates = statistics.median(timings[GATES])
    added = statistics.median(timings[ADDED])
    ratio = added / gates
    ok = ratio <= RATIO_TARGET
    table = timing_table(timings, GATES, "step")
    cold = (
        f"The first runs, which fill mypy's cache and write the bytecode, took "
        f"{first['regeneration']:.1f} s (regeneration) and {first['gates alone']:.1f} s "
        "(gates alone); they are not counted."
    )
    verdict = (
        f"Cellforge-added / gates alone = **{ratio:.2f}x** (median {added:.2f} s against "
        f"{gates:.2f} s; target at most {RATIO_TARGET}x): {'met' if ok else 'MISSED'}."
    )
    where = ""
    if parts:
        where = (
            "### Where the regeneration's time goes (information)\n\n"
            "Each round also runs the regeneration once more through `uv run python`, in one\n"
            "process with the loop's steps timed (wrappers around `gates.check`,\n"
            "`gates.explain`, the scratch's methods and `LLM.complete`); start-up is the\n"
            "process's wall time less its own.\n\n"
            f"{breakdown_table(parts)}\n\n{beyond_the_gates(parts, gates, added)}\n\n"
        )
    print(f"{table}\n\n{cold}\n\n{where}{verdict}")
    if not args.record:
        return 0 if args.quick or ok else 1
    write_section(
        "regenerate",
        "## Regeneration: `cell regenerate` against its gates alone\n\n"
        "Command: `uv run python bench/regenerate.py --record` (a default project\n"
        "generated from the working tree, synced and committed; a model provider on\n"
        "127.0.0.1 speaking OpenAI's chat completions answers at once with the notes\n"
        "cell's `handlers.py`, its docstring reworded; rounds alternate the regeneration,\n"
        f"run through `uv run` as a user runs it, and the same gates on the same files\n"
        "(`codegen.gates.check` in the project's venv), each after a reset to the\n"
        "commit, with one mypy cache for both).\n\n"
        f"Recorded {time.strftime('%Y-%m-%d')} on {sys.platform}, project Python {python}, "
        f"{os.cpu_count()} cores.\n\n{table}\n\n"
        "Cellforge-added is the regeneration's time less the provider's own (timed by the\n"
        "server, first byte read to last byte written): packing, the call through `llm/`\n"
        "(budgets reserved, then settled in the usage ledger), checking the answer, the\n"
        "scratch worktree, `explain`, the gates, applying the change and the record, plus\n"
        "`uv run` and the CLI's start-up. The gates alone are timed around the call only.\n\n"
        f"{cold}\n\n{where}{verdict}\n",
    )
    print("wrote docs/benchmarks.md")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
