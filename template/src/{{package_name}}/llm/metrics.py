# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Model usage as Prometheus metrics, read from the usage ledger at each scrape.

The ledger is the truth (every process that calls models writes to it), so this collector
keeps no counters of its own: a scrape sums the ledger's rows. Tokens and cost count
settled calls only (the usage providers reported). Calls are counted once they have
ended, by outcome: `ok`, `unknown` (failed after sending: kept at its worst case),
`failed` (never reached the provider) and `refused` (by a budget). A row ends once and
never changes again, so these counters only grow; calls still in flight (reserved) come
and go, so they are a gauge.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .ledger import OK, OUTCOMES, RESERVED, Ledger, Usage


class UsageCollector:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "llm_calls",
            f"Model calls that ended, by purpose, model and outcome ({', '.join(OUTCOMES)}).",
            labels=["purpose", "model", "outcome"],
        )
        in_flight = GaugeMetricFamily(
            "llm_calls_in_flight",
            "Model calls reserved and not ended yet, by purpose and model.",
            labels=["purpose", "model"],
        )
        total, today = self.ledger.usage(), self.ledger.usage(self.ledger.today())
        flying: dict[tuple[str, str], int] = {}  # 0 for a model none is in flight to
        for row in total:
            key = (row.purpose, row.model)
            if row.outcome == RESERVED:
                flying[key] = flying.get(key, 0) + row.calls
            else:
                flying.setdefault(key, 0)
                calls.add_metric([*key, row.outcome], row.calls)
        for key, count in flying.items():
            in_flight.add_metric(list(key), count)
        yield calls
        yield in_flight
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
