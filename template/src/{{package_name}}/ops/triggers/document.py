# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`docs/distribution.md`: the page that says when a cell leaves the process.

It is rendered by `explain` from the trigger definitions, so every trigger, what it
measures, its windows, its threshold and default, and its playbook are what the code
judges; `explain --check` fails when the page drifts. `MONOLITH_FIRST` is the measured
cost of a remote hop, the reason a cell starts in the gateway's process. Only the
standard library is imported at module level: `explain` also runs while the template is
applied, in copier's interpreter, without the project's virtualenv.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.markers import derived_line
from .definitions import PACKAGE_DIR, TRIGGERS, Trigger, cli_name
from .thresholds import KEYS, Thresholds
from .windows import COVERAGE

PATH = "docs/distribution.md"
# Measured by the template's `bench/bus.py` (one run, 2 cores; its docs/benchmarks.md).
MONOLITH_FIRST = "\n".join(
    (
        "What a remote hop costs, measured by Cellforge's `bench/bus.py` in one run:",
        "",
        "| path | messages/s | p50 round trip |",
        "| --- | ---: | ---: |",
        "| in-memory bus, no codec (production) | about 1,500,000 | 0.7 µs |",
        "| in-memory bus + codec round trip (dev and test) | about 165,000 | 6 µs |",
        "| Redis Streams, sequential calls | about 1,600 | 0.6 ms |",
        "| NATS JetStream, sequential calls | about 1,200 | 0.5 ms |",
        "| NATS JetStream, 16 concurrent callers | about 5,400 | 2.8 ms |",
        "",
        "The in-memory bus is about 280 to 930 times faster than the transports, so a",
        "cell leaves the process only when a trigger below says the hop is worth it.",
    )
)


NATS_NOTE = " (`--to nats` for a cell flagged `polyglot`)"


def _windows(trigger: Trigger) -> str:
    if trigger.kind == "windowed":
        limits = Thresholds()
        return (
            f"long `{KEYS['long_window_minutes']}` ({limits.long_window_minutes:g} min) and "
            f"short `{KEYS['short_window_minutes']}` ({limits.short_window_minutes:g} min)"
        )
    return "none: the latest sample" if trigger.kind == "size" else "none: fires at once"


def render_distribution(triggers: Sequence[Trigger] = TRIGGERS) -> str:
    """`docs/distribution.md`: why and when a cell leaves the process, from the triggers."""
    cli = cli_name()
    lines = [derived_line(PATH, cli), "", "# Distribution: when a cell leaves the process", ""]
    lines += _introduction(cli)
    lines += _judging()
    for trigger in triggers:
        lines.append(
            f"| `{trigger.name}` | {trigger.measures} | {_windows(trigger)} "
            f"| `{trigger.key}` | {trigger.default()} |"
        )
    lines += ["", "## The triggers", ""]
    for trigger in triggers:
        lines += _trigger_section(trigger, cli)
    lines += _checking(cli, PACKAGE_DIR.name)
    return "\n".join(lines) + "\n"


def _introduction(cli: str) -> list[str]:
    """What moves a cell, why one process first, and the placements."""
    return [
        "Every cell starts in the gateway's process, on the in-memory bus. A cell moves to",
        "a worker process of its own when a *trigger* says so: a threshold from",
        "`blueprint.yml` judged over a window of measurements, never on one sample.",
        f"`{cli} triggers check` reads the series the running service records and prints",
        "which triggers fire, with the evidence, the cell to move and the playbook to run;",
        "it exits 1 when one fires (0 when none does, 2 without a series).",
        "",
        "## Why monolith first",
        "",
        "One process is the cheapest place for a cell: a bus call is a function call, a",
        "transaction is local, and there is one thing to deploy, watch and debug. A network",
        "hop adds latency, partial failures and a second thing to operate, so a cell pays",
        "for it only once a trigger shows it must.",
        "",
        MONOLITH_FIRST,
        "",
        "## Placements",
        "",
        "Each cell's `placement:` in `blueprint.yml` says where it runs:",
        "",
        "- `in-process` (the default): in the gateway's process, on the in-memory bus.",
        "- `{worker: redis}`: its own process, reached over Redis Streams;",
        f"  run it with `{cli} worker --cell NAME`.",
        "- `{worker: nats}`: the same over NATS JetStream, the better choice when the cell",
        "  is (or will be) written in another language, which have good NATS clients.",
        "",
        "The cells do not change: they send and handle the same messages wherever they run.",
        f"`{cli} runbook run promote-cell CELL --to redis|nats` moves one (dry run first).",
        "",
    ]


def _judging() -> list[str]:
    """How the windows judge a trigger, up to the header of the table of triggers."""
    return [
        "## How a trigger is judged",
        "",
        "The service appends one sample per interval (`sample_seconds`, 15 s by default) to",
        "`var/metrics/series.jsonl`: CPU, concurrent users, requests, errors, p99 latency,",
        "code size, and per cell its handler time, messages, p99 and queue depth.",
        "",
        "A load trigger computes its value over two windows ending now, like a multiwindow",
        'burn-rate alert (Google SRE Workbook, "Alerting on SLOs"). It fires only when',
        "the value exceeds the threshold over both: the long window shows the load is",
        "sustained, the short one that it still is. A 10-minute spike raises the short",
        "window but not the long one, so it does not fire; a few minutes after load falls",
        "back, the short window clears the trigger. A window the samples cover less than",
        f"{COVERAGE:.0%} of (the service was down, or just started) gives *no data*, never",
        "a firing.",
        "",
        "Thresholds and windows come from `triggers:` in `blueprint.yml`; a key left out",
        "takes the default below. Flags are set per cell (`flags: [...]`): facts, not load.",
        "A firing names one cell still in the gateway's process; a flag stays quiet once",
        "its cell runs on a worker.",
        "",
        "| trigger | measures | windows | threshold (blueprint key) | default |",
        "| --- | --- | --- | --- | --- |",
    ]


def _trigger_section(trigger: Trigger, cli: str) -> list[str]:
    """One trigger: what it measures, when it fires, the cell it names, the playbook."""
    sentence = trigger.measures[0].upper() + trigger.measures[1:]
    lines = [f"### `{trigger.name}`", "", f"{sentence}.", ""]
    lines.append(f"- value: {trigger.value_rule}")
    lines.append(f"- windows: {_windows(trigger)}")
    if trigger.kind == "flag":
        lines.append(f"- fires: when a cell's entry says `{trigger.key.split(': ', 1)[1]}`")
    else:
        comparison = "both windows exceed" if trigger.kind == "windowed" else "it exceeds"
        lines.append(f"- fires: when {comparison} `{trigger.key}` (default {trigger.default()})")
    lines.append(f"- names: {trigger.cell_rule}")
    polyglot = trigger.name == "polyglot"
    move = f"`{cli} runbook run promote-cell CELL --to {'nats' if polyglot else 'redis'}`"
    lines.append(f"- playbook: {move}" + ("" if polyglot else NATS_NOTE))
    if trigger.extra_step:
        lines.append(f"  {trigger.extra_step}")
    lines.append("")
    return lines


def _checking(cli: str, package: str) -> list[str]:
    """The commands that judge the triggers."""
    return [
        "## Checking",
        "",
        f"- `{cli} triggers check`: the live series (`var/metrics/series.jsonl`), judged now.",
        f"- `{cli} triggers check --series FILE [--now UNIX]`: a recorded series, judged at its",
        "  last sample or at the time given; `--json` for machines.",
        f"- The cells' code lives in `src/{package}/cells/<cell>`; their size names the cell",
        "  for `context_size`.",
    ]
