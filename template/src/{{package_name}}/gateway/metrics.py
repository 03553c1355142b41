# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`GET /metrics`: the service's metrics (`ops.metrics`) in Prometheus' format.

It is served on the gateway's own socket (there is no second listener) and needs the
`ops.metrics` capability like any other route. Each app has its own registry and its
own `Metrics`, so several apps in one process (tests) do not share counters. What is
measured, and how cheaply, is described in `metrics/`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest
from starlette.responses import Response

from ..metrics import Metrics, RouteStats

CAPABILITY = "ops.metrics"


class GatewayMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.registry = CollectorRegistry()
        self.registry.register(metrics)

    def route(self, path: str) -> RouteStats:
        """What a route's endpoint records its answers in (see `app.observed`)."""
        return self.metrics.requests.route(path)

    async def response(self) -> Response:
        await self.metrics.refresh()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
