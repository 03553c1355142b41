# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The HTTP server behind `serve`: uvicorn, with deadlines and a cap for slow clients.

uvicorn closes idle keep-alive connections, but has no deadline for a request's headers:
a client that opens a connection and sends a header byte now and then holds a socket,
and a file descriptor, for as long as it likes (slowloris). So `serve` hands uvicorn,
through its documented `http=` protocol-class option, its own h11 protocol with:

- a header deadline: a timer armed when a connection opens, or when a read leaves a
  request's headers incomplete, and cancelled once h11 has parsed them. It bounds the
  whole header, not each read, so trickling one byte at a time does not extend it; when
  it fires the connection is closed. A request that arrives whole in one read (nearly
  all) costs no timer; between requests, uvicorn's keep-alive timeout closes an idle
  connection.
- a connection cap: the soft RLIMIT_NOFILE less `RESERVED_FDS`. A connection past it is
  closed at once, so that sockets can never take the descriptors the process needs for
  its own files (databases, audit log, keys, sandbox pipes, outbound connections).

A body that stalls is cut off one layer up, in the app (`limits.BodyLimit`, with
`body_timeout_seconds`), where the refusal can still be an answer: 408 with
`Connection: close`.

Why not another server (measured, docs/benchmarks.md): granian's HTTP/1 header read
timeout closes slow headers but has no body timeout, and the gateway's API (an app
object, uvicorn's proxy-header middleware, the way tests start `serve`) would change;
hypercorn's idle timer closes slow headers and its per-read `read_timeout` stalled
bodies, but that timeout also cuts off a quiet client waiting for a slow answer, and
hypercorn's h11 is slower than uvicorn's.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..core.settings import Settings

# Descriptors kept for the process's own use: SQLite databases and their WAL/SHM files,
# the audit log, key files, sandbox pipes, Redis/NATS/LLM connections, with headroom.
RESERVED_FDS = 128
MIN_CONNECTIONS = 16


def connection_cap() -> int:
    """How many client connections the process may hold: its soft RLIMIT_NOFILE less
    the descriptors reserved for its own use (never fewer than `MIN_CONNECTIONS`)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(MIN_CONNECTIONS, soft - RESERVED_FDS)


class SlowClientProtocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap (see above).
    Subclassed per server by `protocol_for` to carry the settings' values."""

    header_seconds: float = 10.0
    max_connections: int = 1024
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.close()  # over the cap: refused before it costs more than a moment
            return
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request's headers are complete
            if self._header_timer is not None:
                self._cancel_header_timer()
        elif self._header_timer is None and not self.transport.is_closing():
            self._arm_header_timer()  # a request has begun: its headers have a deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[SlowClientProtocol]:
    """The protocol class for uvicorn's `http=` option, with the settings' deadline."""
    return type(
        "ConfiguredSlowClientProtocol",
        (SlowClientProtocol,),
        {"header_seconds": settings.header_timeout_seconds, "max_connections": connection_cap()},
    )


def config(
    app: Any, settings: Settings, log_level: str = "info", access_log: bool = True
) -> uvicorn.Config:
    """uvicorn's configuration for `serve` (the benchmark runs the gateway with it too)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_for(settings),
        log_level=log_level,
        access_log=access_log,
        log_config=None,  # uvicorn's loggers go through the root handler (core/logs.py)
        # The gateway decides whom to believe about X-Forwarded-For (trusted_proxies).
        proxy_headers=False,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
    )
