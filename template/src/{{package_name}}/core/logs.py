# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Structured logs: one configuration for every process (`serve`, `worker`, `runbook`).

structlog renders every line, through the standard library (structlog's documented
"Standard Library Logging" setup): `configure` puts one handler on the root logger,
whose formatter is structlog's `ProcessorFormatter`. So the framework's own
`logging.getLogger(__name__)` calls (stdlib only: most of `core/` is also imported by
`explain`, in copier's interpreter, which has no structlog), third-party loggers
(uvicorn's error and access logs: `gateway/server.py` leaves their configuration to
us) and structlog's own loggers all come out through the same processors:

- prod (`<PREFIX>ENV=prod`): one JSON object per line, for a log pipeline:
  `{"event": ..., "level": ..., "logger": ..., "timestamp": <ISO 8601, UTC>, ...}`;
- dev and test: a readable console line (colours on a terminal only).

Context travels in `structlog.contextvars` and `merge_contextvars` adds it to every
line, whatever logger wrote it: the gateway binds `correlation_id` for the scope of a
request (`gateway/correlation.py`); a worker binds `delivery_id` and the correlation id
the delivery carried in its envelope (`core/remote.py`, `core/envelope.py`) for the
delivery's task. Fields passed as a `logging` call's `extra` are added too
(`ExtraAdder`), so a stdlib-only module can still log a field, not just text.

This module, and the request and delivery paths that bind context, are the only ones
that import structlog: `explain` never imports them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .settings import Settings

CORRELATION_ID = "correlation_id"
DELIVERY_ID = "delivery_id"
# uvicorn passes a coloured copy of some messages as `extra`: noise in a structured line.
DROPPED_EXTRAS = ("color_message",)


class _Handler(logging.StreamHandler[TextIO]):
    """The root handler `configure` installs: marked, so configuring again replaces it
    and leaves alone any other handler (pytest's log capture, say)."""


def _drop_extras(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for name in DROPPED_EXTRAS:
        event.pop(name, None)
    return event


def _shared() -> list[Processor]:
    """What every line gets, from structlog's loggers and from the stdlib's alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_extras,
    ]


def _renderer(prod: bool, stream: TextIO) -> list[Processor]:
    if prod:  # tracebacks as one string field: still one JSON object per line
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    # plain tracebacks: `rich` is a dev-only extra, never in the image
    return [
        structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    ]


def configure(
    env: str | None = None, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Route every logger of the process through structlog: JSON lines when `env` (by
    default the settings' `<PREFIX>ENV`) is `prod`, console lines otherwise, to
    `stream` (default: stderr). Calling it again replaces the previous configuration."""
    env = Settings().env if env is None else env
    output = stream if stream is not None else sys.stderr
    shared = _shared()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # `configure` may run again (tests)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(env == "prod", output),
        ],
    )
    handler = _Handler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)


def current_correlation_id() -> str:
    """The correlation id bound in this context (a request's, or a delivery's); ""
    outside any."""
    value: Any = structlog.contextvars.get_contextvars().get(CORRELATION_ID, "")
    return value if isinstance(value, str) else ""


def bind_delivery(delivery_id: str, correlation_id: str) -> None:
    """Bind a delivery's id and its request's correlation id for the rest of the
    current task. Transports run each delivery in a task of its own (`InFlight`), so
    the binding covers the transport's own lines about it (a retry, the dead letters)
    and ends with the task; a correlation id left from an earlier delivery in the same
    task is unbound when this one carries none."""
    structlog.contextvars.bind_contextvars(**{DELIVERY_ID: delivery_id[:80]})
    if correlation_id:
        structlog.contextvars.bind_contextvars(**{CORRELATION_ID: correlation_id})
    else:
        structlog.contextvars.unbind_contextvars(CORRELATION_ID)
