# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Runtime settings, read from environment variables with the prefix below.

Setting `<PREFIX>ENV=prod` turns off the dev-only checks (the codec round trip on every
message) and the dev conveniences (keys created on first use); everything else defaults
to a safe local development setup. Secrets are never settings: they come from the
environment or from files under `keys_dir` (see `core/keyfiles.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .blueprint import Blueprint, read
from .blueprint_model import DEFAULT_HTTP_PORT
from .names import ENV_PREFIX as ENV_PREFIX  # re-exported: older tests import it here
from .names import PACKAGE, PROG
from .transport import DEFAULT_URLS, Kind


def _blueprint_of(data: dict[str, Any]) -> Blueprint | None:
    """The blueprint the settings being built name (already validated: it comes first)."""
    path = data.get("blueprint")
    return read(path) if isinstance(path, Path) else None


def blueprint_port(data: dict[str, Any]) -> int:
    """The port `blueprint.yml`'s `service.http_port` names."""
    blueprint = _blueprint_of(data)
    return blueprint.service.http_port if blueprint else DEFAULT_HTTP_PORT


def placed(data: dict[str, Any]) -> dict[str, Kind]:
    """The placements `blueprint.yml` states: each cell on a worker, and its transport."""
    blueprint = _blueprint_of(data)
    return {**blueprint.placements} if blueprint else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    env: Literal["dev", "test", "prod"] = "dev"
    host: str = "127.0.0.1"
    # The requirements (see core/blueprint.py): the default port and placements come
    # from it, and every part that needs roles, limits or pins reads `blueprint_model`.
    blueprint: Path = Path("blueprint.yml")
    port: int = Field(default_factory=blueprint_port)
    data_dir: Path | None = Path("var")
    # Key files (audit key, data keyring, API key hashes), by default <data_dir>/keys;
    # gitignored, but keep them outside the repository in production.
    keys_dir: Path | None = None
    # The API keys' hashes (a database the gateway writes), by default in keys_dir; set it
    # apart when keys_dir is a read-only mount (a Kubernetes Secret).
    api_keys_dir: Path | None = None
    # The audit log, by default <data_dir>/audit.log.
    audit_log: Path | None = None
    audit_fsync: Literal["always", "batch", "off"] = "batch"
    # Gateway limits (see gateway/limits.py). CORS is an allowlist, empty by default.
    max_body_bytes: int = 1_048_576
    max_in_flight: int = 64
    request_timeout_seconds: float = 10.0
    # Slow clients: a connection that has not sent complete request headers in this time,
    # or whose request body stalls this long between chunks, is closed.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    # Idempotency-Key on commands: how long a stored result answers a retry.
    idempotency_ttl_seconds: float = 86_400.0
    cors_origins: tuple[str, ...] = ()
    # Rate limits per principal (unauthenticated callers: per client address), in the
    # `limits` library's notation; key management is stricter.
    rate_limit: str = "50/second"
    rate_limit_keys: str = "10/minute"
    # X-Forwarded-For is believed only from these proxy addresses.
    trusted_proxies: tuple[str, ...] = ()
    # TLS: both files set turns HTTPS (and HSTS) on.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    sandbox_pool: int = 2  # pre-started sandboxes for code.run; 0: start each task cold
    # host:port pairs web.fetch may reach although they are loopback; honoured in tests only.
    sandbox_loopback_for_tests: tuple[str, ...] = ()
    # Distribution (see core/transport/): which cells run as workers, and over what.
    # Defaults to the blueprint's placements (its cells' `placement:`), e.g. {"notes": "redis"};
    # "memory" is for tests: only a runtime in the same process can serve that cell.
    placements: dict[str, Kind] = Field(default_factory=placed)
    redis_url: str = DEFAULT_URLS["redis"]
    nats_url: str = DEFAULT_URLS["nats"]
    # Modules of extra cells (e.g. a subscriber that records events), honoured only with
    # ENV=test: how end-to-end tests watch events cross processes without a fake.
    test_cells: tuple[str, ...] = ()
    # Prefix of every channel on the shared servers (two services can share one).
    transport_namespace: str = PACKAGE
    # Every remote wait ends: a call without a reply by then fails (504), never hangs.
    transport_timeout_seconds: float = 10.0
    # A message delivered to a worker that neither acknowledged nor finished it in this
    # time (it crashed) is delivered again; keep it above the slowest handler's time.
    redeliver_after_seconds: float = 30.0
    # Signed deliveries (core/envelope.py): a delivery signed longer ago than this does not
    # run (it goes to the dead letters); a copy of one handled within it is refused.
    delivery_replay_window_seconds: float = 300.0
    # How long one blocking read of the Redis transport waits before it loops; stopping a
    # transport waits for the reads in progress, so tests set it short.
    transport_block_seconds: float = 1.0
    # Metrics samples for the triggers (ops/): one line per interval in series_path.
    sample_seconds: float = 15.0
    # JWT bearer tokens: accepted only when a verification key is configured.
    jwt_key: SecretStr | None = None
    jwt_key_file: Path | None = None
    jwt_algorithms: tuple[str, ...] = ("EdDSA", "ES256", "RS256")
    jwt_audience: str = PROG
    jwt_issuer: str | None = None
    # Model calls (llm/): each provider's base URL and key (no key: none is sent, e.g. to a
    # local OpenAI-compatible server), how long a call may take, and the usage ledger
    # budgets are judged against (by default <data_dir>/llm-usage.sqlite3).
    llm_openai_url: str = "https://api.openai.com/v1"
    llm_openai_key: SecretStr | None = None
    llm_anthropic_url: str = "https://api.anthropic.com"
    llm_anthropic_key: SecretStr | None = None
    llm_timeout_seconds: float = 60.0
    llm_ledger: Path | None = None

    @property
    def blueprint_model(self) -> Blueprint | None:
        """The typed blueprint at `blueprint`; None when there is none (an image or a test
        without one). Parsed once per version of the file."""
        return read(self.blueprint)

    @property
    def checks_messages(self) -> bool:
        """Dev and test runs prove every message survives the codec."""
        return self.env != "prod"

    @property
    def keys_path(self) -> Path | None:
        """Where key files live; None (no data_dir: tests) means ephemeral keys."""
        return self.keys_dir or (self.data_dir / "keys" if self.data_dir else None)

    @property
    def api_keys_path(self) -> Path | None:
        """The folder of the API keys' database; None (no data_dir: tests) means memory."""
        return self.api_keys_dir or self.keys_path

    @property
    def audit_path(self) -> Path | None:
        """The audit log file; None (no data_dir: tests) means a private temporary file."""
        return self.audit_log or (self.data_dir / "audit.log" if self.data_dir else None)

    @property
    def series_path(self) -> Path | None:
        """The recorded metrics series `triggers check` reads; None (no data_dir) in tests."""
        return self.data_dir / "metrics" / "series.jsonl" if self.data_dir else None

    @property
    def limits_override(self) -> Path | None:
        """A temporary, tighter rate limit (`runbook run shed-load`) the gateway reads."""
        return self.data_dir / "limits-override.json" if self.data_dir else None

    @property
    def llm_ledger_path(self) -> Path | None:
        """The usage ledger's file; None (no data_dir: tests) means an in-memory ledger."""
        return self.llm_ledger or (self.data_dir / "llm-usage.sqlite3" if self.data_dir else None)

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None and self.tls_keyfile is not None
