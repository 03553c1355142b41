"""Benchmark: the generated project's sandbox, each backend cold and the warm pool,
against a plain `python -c` subprocess, all in one run.

A project is generated from this template (its working tree, uncommitted edits
included) and synced by uv into its own venv; a measurement script then runs in that
venv and times `print(1)` tasks from the caller's view, in rounds that take every
variant in turn (so that machine noise hits them alike), after 3 warm-up rounds:

- baseline: `subprocess.run([PYTHON, "-c", "print(1)"])` with the interpreter the
  sandbox runs (`sandbox.backends.PYTHON`); a second row with `-I -S`, as the sandbox
  runs it, for information;
- cold: `Sandbox(Policy(), backend=...).run_python("print(1)")` for bwrap, unshare and
  rlimits: each task a fresh sandbox and a fresh Python, in a cgroup of its own joined
  ahead of time by a parked slot (see the runner's docstring); and bwrap once more
  without its seccomp filter (the cold start before the filter, for its cost);
- warm pool: `WarmPool(sandbox, size=2).run("print(1)")` on the default backend;
- for information, where cold bwrap's time goes: the bwrap backend's command run by
  `subprocess.run` without the runner: without its `setpriv`/`prlimit` prefix, with it,
  and with it after joining a fresh cgroup as the runner does.

Every task starts after 50 ms idle (tasks arriving one at a time; the pool's replacement
worker starts meanwhile) and must end `ok` with stdout `1`; the table gives p50 and p95.

    uv run python bench/sandbox.py --record  # 60 tasks per variant, writes docs/benchmarks.md
    uv run python bench/sandbox.py           # the same, prints only
    uv run python bench/sandbox.py --quick   # 10 tasks per variant, prints only (CI)

Targets: cold bwrap p50 at most 1.5x the plain `python -c` subprocess's; warm pool p50
at most 8 ms; the seccomp filter adds at most 10% to cold bwrap's p50. A full run exits
1 when a target is missed; a quick run only has to run end to end. Needs bubblewrap
(Debian: `apt-get install -y bubblewrap`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `bench.*` importable

from bench.project import generate, project_env  # noqa: E402
from bench.report import write_section  # noqa: E402

TASKS, QUICK_TASKS, WARM_UP_ROUNDS = 60, 10, 3
POOL_SIZE, PAUSE = 2, 0.05  # PAUSE: idle seconds before each task
RATIO_TARGET, POOL_TARGET = 1.5, 8.0  # cold bwrap / plain python -c (p50); pool p50 (ms)
FILTER_TARGET = 1.10  # cold bwrap / cold bwrap without the seccomp filter (p50)

PLAIN, ISOLATED = "plain `python -c`", "plain `python -I -S -c`"
COLD = {name: f"cold {name}" for name in ("bwrap", "unshare", "rlimits")}
UNFILTERED = "cold bwrap, no seccomp filter"
POOL = f"warm pool (size {POOL_SIZE})"
BWRAP_ONLY = "`bwrap ... python -I -S -c`, no runner"
BWRAP_COMMAND = "`setpriv prlimit bwrap ...`, no runner"
BWRAP_CGROUP = "the same in a fresh cgroup, no runner"
MAIN = [PLAIN, ISOLATED, *COLD.values(), POOL]
PIECES = [ISOLATED, BWRAP_ONLY, BWRAP_COMMAND, BWRAP_CGROUP, UNFILTERED, COLD["bwrap"]]

# Runs in the project's venv: `python measure.py <tasks> <warm-up rounds> <pool size> <pause>`.
MEASURE = """
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench_service.sandbox import cgroups, seccomp
from bench_service.sandbox.backends import BACKENDS, ENVIRONMENT, PYTHON, Bwrap, Placement
from bench_service.sandbox.limits import MIB, Policy
from bench_service.sandbox.pool import WarmPool
from bench_service.sandbox.reaping import reap_orphans
from bench_service.sandbox.runner import Sandbox
from bench_service.sandbox.uids import task_uid

SOURCE, EXPECTED = "print(1)", b"1\\n"
ARGV = [PYTHON, "-I", "-S", "-c", SOURCE]
POLICY = Policy()


class UnfilteredBwrap(Bwrap):  # the bwrap backend as it was before its seccomp filter
    seccomp = False


def timed(argv, cleanup=None, pass_fds=()):  # a plain subprocess, from fork to exit
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, env=dict(ENVIRONMENT), cwd="/", pass_fds=pass_fds
    )
    elapsed = time.perf_counter() - started
    if cleanup is not None:
        cleanup()
    if done.returncode != 0 or done.stdout != EXPECTED:
        raise SystemExit(f"{shlex.join(argv)} failed: {done}")
    return elapsed, "none", "no"


# The bwrap backend's command as the runner builds it for a cold task (a fresh uid each
# time), run without the runner; optionally joining a fresh cgroup first, as it does.
def bwrap_command(bwrap, prefix=True, cgroup=False):
    def run():
        program = seccomp.open_program()  # as the runner does: a descriptor per task
        placement = Placement(task_uid(), None, seccomp_fd=program)
        command = bwrap.wrap(ARGV, POLICY.limits, placement)
        if not prefix:
            command = command[command.index("bwrap"):]
        group = None
        if cgroup:
            group = cgroups.TaskGroup(POLICY.limits.memory_mb * MIB, POLICY.limits.processes)
            joins = " && ".join(f"echo $$ > {shlex.quote(f)}" for f in group.procs_files)
            command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sandbox", *command]

        def cleanup():  # untimed: what bwrap's processes leave to us (a subreaper)
            reap_orphans()
            if group is not None:
                group.remove()

        try:
            elapsed, _, _ = timed(command, cleanup, pass_fds=(program,))
        finally:
            os.close(program)
        return elapsed, "(bwrap's command)", "yes" if cgroup else "no"
    return run


def sandboxed(name, run, seccomp=None):  # seccomp: the filter state the result must name
    def check():
        started = time.perf_counter()
        result = run(SOURCE)
        elapsed = time.perf_counter() - started
        if result.status != "ok" or result.stdout != EXPECTED:
            raise SystemExit(f"{name}: a print(1) task did not end ok with 1: {result}")
        if seccomp is not None and result.details.get("seccomp") != seccomp:
            raise SystemExit(f"{name}: expected seccomp {seccomp}: {result}")
        return elapsed, result.backend, result.details.get("cgroup", "?")
    return check


def main(tasks, warm_up_rounds, pool_size, pause):
    backends = {backend.name: backend for backend in BACKENDS}
    missing = [name for name, backend in backends.items() if not backend.available()]
    if missing:
        raise SystemExit(f"backends not available here: {', '.join(missing)}")
    bwrap = backends["bwrap"]
    variants = {
        "plain": lambda: timed([PYTHON, "-c", SOURCE]),
        "isolated": lambda: timed(ARGV),
        "bwrap-only": bwrap_command(bwrap, prefix=False),
        "bwrap-command": bwrap_command(bwrap),
    }
    if cgroups.available():
        variants["bwrap-cgroup"] = bwrap_command(bwrap, cgroup=True)
    for name, backend in backends.items():
        sandbox = Sandbox(POLICY, backend=backend)
        if sandbox.backend_name != name:
            raise SystemExit(f"asked for {name}, the sandbox chose {sandbox.backend_name}")
        filtered = "filter" if name == "bwrap" else None
        variants[name] = sandboxed(name, sandbox.run_python, filtered)
        if name == "bwrap":
            unfiltered = Sandbox(POLICY, backend=UnfilteredBwrap())
            variants["bwrap-unfiltered"] = sandboxed(name, unfiltered.run_python, "none")
    pool = WarmPool(Sandbox(POLICY), size=pool_size)
    pool.warm_up()
    variants["pool"] = sandboxed("pool", pool.run, "filter")
    samples = {name: [] for name in variants}
    used = {name: set() for name in variants}
    try:
        for number in range(warm_up_rounds + tasks):
            for name, run in variants.items():
                time.sleep(pause)  # idle before each task; the pool's replacement starts
                elapsed, backend, cgroup = run()
                if number >= warm_up_rounds:
                    samples[name].append(elapsed * 1000)
                    used[name].add((backend, cgroup))
    finally:
        pool.close()
    python = subprocess.run(
        [PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout
    print(json.dumps({
        "samples": samples,
        "used": {name: sorted(pairs) for name, pairs in used.items()},
        "python": python,
        "sandbox_python": PYTHON,
        "bwrap": version.split()[-1] if version else "?",
        "kernel": platform.release(),
        "cgroup": "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1",
        "root": os.geteuid() == 0,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
"""
KEYS = {
    "plain": PLAIN,
    "isolated": ISOLATED,
    "bwrap-only": BWRAP_ONLY,
    "bwrap-command": BWRAP_COMMAND,
    "bwrap-cgroup": BWRAP_CGROUP,
    **COLD,
    "bwrap-unfiltered": UNFILTERED,
    "pool": POOL,
}


def require_bwrap() -> None:
    missing = [
        tool for tool in ("bwrap", "unshare", "prlimit", "setpriv") if not shutil.which(tool)
    ]
    if "bwrap" in missing:
        raise SystemExit(
            "bwrap is not on PATH: install it (Debian: `apt-get install -y bubblewrap`) "
            "and run again; the benchmark measures every sandbox backend"
        )
    if missing:
        raise SystemExit(f"not on PATH: {', '.join(missing)} (Debian: util-linux)")


def prepare(work: Path) -> Path:
    """Generate and sync the project; returns its venv's Python."""
    return generate(work) / ".venv" / "bin" / "python"


def measure(python: Path, work: Path, tasks: int) -> dict:
    script = work / "measure.py"
    script.write_text(MEASURE, encoding="utf-8")
    done = subprocess.run(
        [str(python), str(script), *map(str, (tasks, WARM_UP_ROUNDS, POOL_SIZE, PAUSE))],
        stdout=subprocess.PIPE,
        text=True,
        env=project_env(),
        cwd=work,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measurement failed (exit {done.returncode})\n{done.stdout}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["samples"] = {KEYS[key]: value for key, value in found["samples"].items()}
    found["used"] = {KEYS[key]: value for key, value in found["used"].items()}
    return found


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def used_text(pairs: list[list[str]], what: int) -> str:
    values = sorted({pair[what] for pair in pairs})
    return "/".join(values) if values else "?"


def table(found: dict, names: list[str], baseline: str) -> str:
    samples, used = found["samples"], found["used"]
    base = statistics.median(samples[baseline])
    rows = [
        f"| variant | n | backend | cgroup per task | p50 (ms) | p95 (ms) "
        f"| p50 ratio to {baseline} |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for name in (name for name in names if name in samples):
        runs, pairs = samples[name], used[name]
        median = statistics.median(runs)
        backend = used_text(pairs, 0)
        if backend == "none":
            backend = "none (plain subprocess)"
        rows.append(
            f"| {name} | {len(runs)} | {backend} | {used_text(pairs, 1)} | {median:.1f} "
            f"| {p95(runs):.1f} | {median / base:.2f}x |"
        )
    return "\n".join(rows)


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="10 tasks per variant, print only")
    options.add_argument("--tasks", type=int, default=TASKS, help="tasks per variant (>= 50)")
    options.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = options.parse_args()
    if args.quick and args.record:
        options.error("--quick runs are too short to record")
    if args.record and args.tasks < 50:
        options.error("a recorded run needs at least 50 tasks per variant")
    tasks = QUICK_TASKS if args.quick else args.tasks
    require_bwrap()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        python = prepare(work)
        found = measure(python, work, tasks)
    samples = found["samples"]
    plain = statistics.median(samples[PLAIN])
    isolated = statistics.median(samples[ISOLATED])
    cold = statistics.median(samples[COLD["bwrap"]])
    pool = statistics.median(samples[POOL])
    ratio = cold / plain
    pool_backend = used_text(found["used"][POOL], 0)
    filter_cost = cold / statistics.median(samples[UNFILTERED])
    ok = ratio <= RATIO_TARGET and pool <= POOL_TARGET and pool_backend == "bwrap"
    ok = ok and filter_cost <= FILTER_TARGET
    verdicts = (
        f"cold bwrap / plain `python -c` (p50) = **{ratio:.2f}x** (target at most "
        f"{RATIO_TARGET}x); warm pool p50 = **{pool:.1f} ms** (target at most "
        f"{POOL_TARGET:g} ms); cold bwrap / the same without its seccomp filter (p50) = "
        f"**{filter_cost:.2f}x** (target at most {FILTER_TARGET:.2f}x): "
        f"{'all met' if ok else 'MISSED'}."
    )
    main_table = table(found, MAIN, PLAIN)
    pieces = table(found, PIECES, ISOLATED)
    print(f"{main_table}\n\n{pieces}\n\n{verdicts}")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    if not args.record:
        return 0 if args.quick or ok else 1
    p50 = {name: statistics.median(runs) for name, runs in samples.items()}
    joined = p50.get(BWRAP_CGROUP, p50[BWRAP_COMMAND])
    split = textwrap.fill(
        "A cold task takes a slot: a shell parked in a fresh cgroup, already under the "
        "task's uid and rlimits, because joining a cgroup (cgroup v1, after an idle "
        f"spell) costs {joined - p50[BWRAP_COMMAND]:.1f} ms here, more than bwrap itself "
        "(the 'fresh cgroup, no runner' row). The sandbox and the task's Python start at "
        f"dispatch: of cold bwrap's p50 of {cold:.1f} ms, the task's Python (`-I -S`) "
        f"takes {isolated:.1f} ms, bwrap (namespaces, mounts) "
        f"{p50[BWRAP_ONLY] - isolated:.1f} ms, and the runner {cold - p50[BWRAP_ONLY]:.1f} "
        "ms (the slot's gate, feeding stdin, collecting output, killing the tree). "
        "Emptying and removing the cgroup and reaping leftovers happen after the result, "
        "in the runner's janitor thread. Differences of medians, for scale only.",
        width=80,
    )
    cgroup = "a cgroup per task" if "yes" in str(found["used"][COLD["bwrap"]]) else "no cgroup"
    notes = textwrap.fill(
        "The target's baseline is the plain `python -c` the issue names. The sandbox runs "
        "its Python as `python -I -S -c` (isolated mode, no `site`), which starts faster "
        f"on its own: cold bwrap is {cold / isolated:.2f}x that second baseline. The warm "
        "pool is timed from the caller's view of `pool.run`, which returns once the "
        "worker's process tree is killed; its replacement (started as the task is taken) is "
        f"up well within the {PAUSE * 1000:.0f} ms before the next task: the steady state "
        "of a pool that is not saturated (a saturated pool waits for a cold start).",
        width=80,
    )
    write_section(
        "sandbox",
        "## Sandbox: cold start per backend and the warm pool, against a plain subprocess\n\n"
        "Command: `uv run python bench/sandbox.py --record` (`print(1)` tasks, timed from\n"
        f"the caller's view, {tasks} per variant after {WARM_UP_ROUNDS} warm-up rounds; "
        "rounds take every variant\nin turn, each task after "
        f"{PAUSE * 1000:.0f} ms idle). Every task ended `ok` with stdout `1`, under\n"
        f"{cgroup}; the backend column is the one each result named.\n\n"
        f"Recorded {time.strftime('%Y-%m-%d')} on {sys.platform} {found['kernel']}, "
        f"cgroup {found['cgroup']}, as {'root' if found['root'] else 'a user'}; tasks run\n"
        f"`{found['sandbox_python']}` (Python {found['python']}), bubblewrap "
        f"{found['bwrap']}, {os.cpu_count()} cores.\n\n"
        f"{main_table}\n\n"
        f"{notes}\n\n"
        "### Where cold bwrap's time goes (information)\n\n"
        f"{pieces}\n\n"
        "The middle rows run the bwrap backend's command as the runner builds it for a\n"
        "cold task (its own uid, limits, seccomp filter) with `subprocess.run`, without\n"
        "the runner. The 'no seccomp filter' row is a cold bwrap task as it ran before the\n"
        "filter, interleaved with the others: the filter's cost is its difference with\n"
        "'cold bwrap' (bwrap reads a 1.6 KiB program from a descriptor and installs it on\n"
        "its init and the task; each system call then runs a short classic-BPF program).\n"
        f"{split}\n\n"
        f"{verdicts}\n",
    )
    print("wrote docs/benchmarks.md")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
