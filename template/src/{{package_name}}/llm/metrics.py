"""Model usage as Prometheus metrics, read from the usage ledger at each scrape.

The ledger is the truth (every process that calls models writes to it), so this collector
keeps no counters of its own: a scrape sums the ledger's rows. Tokens and cost count
settled calls only (the usage providers reported); calls are counted by outcome: `ok`,
`failed`, `refused` (by a budget) and `reserved` (in flight).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .ledger import OK, Ledger, Usage


class UsageCollector:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "llm_calls",
            "Model calls, by purpose, model and outcome (ok, failed, refused, reserved).",
            labels=["purpose", "model", "outcome"],
        )
        total, today = self.ledger.usage(), self.ledger.usage(self.ledger.today())
        for row in total:
            calls.add_metric([row.purpose, row.model, row.outcome], row.calls)
        yield calls
        yield from _spent(CounterMetricFamily, "", "in all", total)
        yield from _spent(GaugeMetricFamily, "_today", "today (UTC)", today)


def _spent(
    family: type[CounterMetricFamily | GaugeMetricFamily],
    suffix: str,
    period: str,
    rows: list[Usage],
) -> Iterator[Metric]:
    tokens = family(
        f"llm_tokens{suffix}",
        f"Tokens the providers reported, {period}, by purpose, model and direction.",
        labels=["purpose", "model", "direction"],
    )
    cost = family(
        f"llm_cost_usd{suffix}",
        f"USD spent at the pinned prices, {period}, by purpose and model.",
        labels=["purpose", "model"],
    )
    for row in rows:
        if row.outcome == OK:
            tokens.add_metric([row.purpose, row.model, "input"], row.input_tokens)
            tokens.add_metric([row.purpose, row.model, "output"], row.output_tokens)
            cost.add_metric([row.purpose, row.model], row.cost_usd)
    yield tokens
    yield cost
