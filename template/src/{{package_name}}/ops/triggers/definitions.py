# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The trigger definitions: what each trigger measures, where its threshold is set, how
its value is computed and which cell a firing names.

The definitions are data: `evaluation` judges a series against them and `document`
renders `docs/distribution.md` from them, so the page says what the code does. Each
trigger is one of three kinds: *windowed* (a load, judged over a long and a short window),
*size* (the code's size, judged on the latest sample) or *flag* (a fact the blueprint
states for a cell).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...core.names import PROG
from ...core.series import Sample
from .thresholds import KEYS, Thresholds
from .windows import (
    Pick,
    burn_rate,
    largest_share,
    mean_cpu,
    mean_users,
    p99_estimate,
    worst_p99,
)

PACKAGE_DIR = Path(__file__).resolve().parents[2]
CELLS_DIR = PACKAGE_DIR / "cells"

Kind = Literal["windowed", "size", "flag"]


@dataclass(frozen=True)
class Trigger:
    name: str
    kind: Kind
    measures: str  # what it measures, for people
    unit: str
    key: str  # where its threshold is set in blueprint.yml
    value_rule: str  # how a window's (or the latest) value is computed
    cell_rule: str  # which cell a firing names
    threshold: Callable[[Thresholds], float] | None = None
    value: Callable[[Sequence[Sample], Thresholds], float | None] | None = None
    pick: Pick | None = None
    extra_step: str = ""  # what the playbook adds to the move

    def default(self) -> str:
        if self.threshold is None:
            return "not flagged"
        suffix = {"%": " %", "ms": " ms", "MB": " MB", "x": "x"}.get(self.unit, "")
        return f"{self.threshold(Thresholds()):g}{suffix}"


SANDBOX_STEP = (
    "then move its sandbox behind its own kernel: gVisor or a microVM "
    '(docs/sandbox.md, "Moving to a stronger boundary")'
)
ISOLATION_STEP = (
    "then run its worker where the rule requires: its own namespace, node pool, "
    "cluster or region (deploy/k8s overlays)"
)
NO_CELL = (
    "no in-process cell reported this load: scale out instead (more gateway replicas, "
    "more workers of the busiest promoted cell)"
)
FLAG_CELL_RULE = "every cell so flagged that does not run on a worker yet"
FACT = "none: a fact stated in blueprint.yml, not a measurement"

TRIGGERS: tuple[Trigger, ...] = (
    Trigger(
        name="cpu",
        kind="windowed",
        measures="CPU used by the service's process, as a share of the CPUs (or the "
        "container's CPU quota) it may use",
        unit="%",
        key=KEYS["cpu_percent"],
        value_rule="the mean of the samples' `cpu_percent`, weighted by their intervals",
        cell_rule="the in-process cell with the largest share of handler time "
        "(`busy_seconds`) over the long window",
        threshold=lambda limits: limits.cpu_percent,
        value=mean_cpu,
        pick=largest_share(lambda cell: cell.busy_seconds, "took the most handler time"),
    ),
    Trigger(
        name="concurrent_users",
        kind="windowed",
        measures="distinct principals (API keys, tokens, client addresses) with a request "
        "in flight",
        unit="users",
        key=KEYS["concurrent_users"],
        value_rule="the mean of the samples' `concurrent_users`, weighted by their "
        "intervals (a mean, not a maximum: one busy moment is not a crowd)",
        cell_rule="the in-process cell that handled the most messages over the long window",
        threshold=lambda limits: limits.concurrent_users,
        value=mean_users,
        pick=largest_share(lambda cell: cell.requests, "handled the most messages"),
    ),
    Trigger(
        name="slo_latency",
        kind="windowed",
        measures="the p99 latency of the answered requests, against the objective",
        unit="ms",
        key=KEYS["p99_ms"],
        value_rule="the mean of the samples' `p99_ms`, weighted by their requests "
        "(intervals without requests left out): an estimate of the window's p99 that "
        "needs no histogram",
        cell_rule="the in-process cell with the worst p99 (weighted by its requests) over "
        "the long window",
        threshold=lambda limits: limits.p99_ms,
        value=p99_estimate,
        pick=worst_p99,
    ),
    Trigger(
        name="slo_errors",
        kind="windowed",
        measures="how fast the error budget burns: the share of 5xx answers divided by "
        f"the objective `{KEYS['error_ratio']}` (default {Thresholds().error_ratio:g})",
        unit="x",
        key=KEYS["burn_rate"],
        value_rule="(errors / requests over the window) / error ratio objective; 14.4 "
        "held for an hour spends 2 % of a 30-day budget",
        cell_rule="the in-process cell that handled the most messages over the long "
        "window (cells do not report their errors apart)",
        threshold=lambda limits: limits.burn_rate,
        value=burn_rate,
        pick=largest_share(lambda cell: cell.requests, "handled the most messages"),
    ),
    Trigger(
        name="context_size",
        kind="size",
        measures="the size of the repository's code/context (what a change, or a model "
        "making one, has to take in)",
        unit="MB",
        key=KEYS["context_mb"],
        value_rule="the latest sample's `context_mb`: a size, not a rate, so no window",
        cell_rule="the in-process cell whose folder `src/<package>/cells/<cell>` is largest",
        threshold=lambda limits: limits.context_mb,
    ),
    Trigger(
        name="untrusted_code",
        kind="flag",
        measures="a cell runs code it did not ship: from users, customers or a model",
        unit="",
        key="cells.<cell>.flags: [untrusted_code]",
        value_rule=FACT,
        cell_rule=FLAG_CELL_RULE,
        extra_step=SANDBOX_STEP,
    ),
    Trigger(
        name="multi_tenant",
        kind="flag",
        measures="a cell serves several tenants who must not affect or see one another",
        unit="",
        key="cells.<cell>.flags: [multi_tenant]",
        value_rule=FACT,
        cell_rule=FLAG_CELL_RULE,
        extra_step=SANDBOX_STEP,
    ),
    Trigger(
        name="polyglot",
        kind="flag",
        measures="a cell is (or will be) written in another language or runtime",
        unit="",
        key="cells.<cell>.flags: [polyglot]",
        value_rule=FACT,
        cell_rule="every cell so flagged that does not run on a NATS worker yet",
    ),
    Trigger(
        name="isolation",
        kind="flag",
        measures="a cell must run apart for a regulatory or geographic reason (data "
        "residency, a certified environment)",
        unit="",
        key="cells.<cell>.flags: [isolation]",
        value_rule=FACT,
        cell_rule=FLAG_CELL_RULE,
        extra_step=ISOLATION_STEP,
    ),
)


def show(value: float | None, unit: str) -> str:
    """A value in its unit, as the evidence and the report print it."""
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "MB":
        return f"{value:.2f} MB"
    return f"{value:.1f}".removesuffix(".0")


def cli_name() -> str:

    return PROG
