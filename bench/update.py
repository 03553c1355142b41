"""Benchmark: a v1 -> v2 template update through the regenerate command, against plain
`copier update` doing the same update, and the no-op hook, all in the same run.

A committed snapshot of this template is tagged v1; v2 changes a template-owned file.
One project is generated from v1 and committed; before every timed command it is reset
to that commit (`git reset --hard`, `git clean`), so every run does the same work.

    uv run python bench/update.py            # 7 rounds, writes docs/benchmarks.md
    uv run python bench/update.py --quick    # 2 rounds, prints only (CI)

Targets: regenerate at most 1.2x plain `copier update`; the no-op hook at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `bench.*` importable

from bench.report import timing_table, write_section  # noqa: E402
from bench.snapshot import commit_all, git_snapshot  # noqa: E402

RATIO_TARGET = 1.2
NOOP_TARGET = 0.3
BUS = "template/src/{{package_name}}/core/bus.py"


def prepare(work: Path) -> Path:
    template = git_snapshot(ROOT, work / "template", tag="v1")
    bus = template / BUS
    bus.write_text(bus.read_text(encoding="utf-8") + "\n# changed in v2\n", encoding="utf-8")
    commit_all(template, "v2", tag="v2")
    project = work / "my-service"
    copier.run_copy(str(template), project, defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True, env=project_env())
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=project, check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", *identity, "commit", "-qm", "v1"], cwd=project, check=True)
    return project


def project_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}


def timed(project: Path, command: list[str], expect: int) -> float:
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=project, check=True)
    subprocess.run(["git", "clean", "-qfd", "-e", ".venv"], cwd=project, check=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, capture_output=True, env=project_env())
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{command} exited {done.returncode}:\n{done.stdout!r}\n{done.stderr!r}")
    return elapsed


PLAIN = "plain `copier update` v1 -> v2"
COMMANDS = {
    PLAIN: (
        ["uv", "run", "copier", "update", "--defaults", "--trust", "--vcs-ref", "v2", "--quiet"],
        0,
    ),
    "regenerate v1 -> v2": (
        ["uv", "run", "python", ".cellforge", "regenerate", "--template-ref", "v2"],
        1,  # files changed: the hook fails the commit, as pre-commit fixers do
    ),
    "no-op hook (blueprint unchanged)": (["uv", "run", "python", ".cellforge", "regenerate"], 0),
}


def measure(rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as scratch:
        project = prepare(Path(scratch))
        timings: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for command, expect in COMMANDS.values():  # warm-up
            timed(project, command, expect)
        for _ in range(rounds):
            for name, (command, expect) in COMMANDS.items():
                timings[name].append(timed(project, command, expect))
    return timings


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="2 rounds, print only")
    options.add_argument("--rounds", type=int, default=7)
    args = options.parse_args()
    timings = measure(2 if args.quick else args.rounds)
    plain = statistics.median(timings[PLAIN])
    ratio = statistics.median(timings["regenerate v1 -> v2"]) / plain
    noop = statistics.median(timings["no-op hook (blueprint unchanged)"])
    ok = ratio <= RATIO_TARGET and noop <= NOOP_TARGET
    verdicts = (
        f"regenerate / plain update = **{ratio:.2f}x** (target at most {RATIO_TARGET}x); "
        f"no-op hook = **{noop:.3f} s** (target at most {NOOP_TARGET} s): "
        f"{'both met' if ok else 'MISSED'}."
    )
    table = timing_table(timings, PLAIN, "command")
    print(f"{table}\n\n{verdicts}")
    if args.quick:
        return 0
    write_section(
        "update",
        "## Update: regenerate against plain `copier update`\n\n"
        "Command: `uv run python bench/update.py` (each command runs as a user runs it,\n"
        "through `uv run` in the project, after a reset to the same v1 commit).\n\n"
        f"Recorded {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"copier {copier.__version__}, 2 cores.\n\n{table}\n\n{verdicts}\n",
    )
    print("wrote docs/benchmarks.md")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
