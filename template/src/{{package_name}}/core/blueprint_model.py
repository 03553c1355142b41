# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The typed blueprint: every section of `blueprint.yml` as a frozen pydantic model.

`core/blueprint.py` parses the YAML once into `Blueprint`; every other part (settings,
roles, placements, the sandbox, triggers, deploy, models, budgets, the GenOps gates) reads
this model and never a dict. The model is also the source of the JSON Schema editors use
(`schema()`, written by `explain`), so the rules live in one place. Every section but
`service` and `cells` may be left out and then takes the defaults below.

Only the standard library and pydantic are imported: `explain` runs in copier's
interpreter during `copier copy`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from . import blueprint_rules as rules

Transport = Literal["redis", "nats"]  # rules.TRANSPORTS
Flag = Literal["untrusted_code", "multi_tenant", "polyglot", "isolation"]
IN_PROCESS = "in-process"
DEFAULT_HTTP_PORT = 8000  # also what settings and deploy/ use without a blueprint
PURPOSE = r"^[a-z][a-z0-9_]{0,39}$"
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
DOMAIN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"

Item = TypeVar("Item", bound=Hashable)


def _once(items: tuple[Item, ...]) -> tuple[Item, ...]:
    twice = sorted({str(item) for item in items if items.count(item) > 1})
    if twice:
        raise ValueError(f"lists {', '.join(twice)} more than once")
    return items


Int = Annotated[int, Strict()]  # YAML's 8000.0 and `true` are not whole numbers here
Number = Annotated[float, Strict()]
# The naming rules copier's questions share (core/blueprint_rules.py): a bad name gets the
# same message from `blueprint check` as from `copier copy`. They run before the type
# check, so a name YAML reads as a number gets the rule's message too; the patterns are
# for the editors' schema.
CellName = Annotated[str, BeforeValidator(rules.enforce(rules.cell_name_problem))]
RoleName = Annotated[str, BeforeValidator(rules.enforce(rules.role_name_problem))]
Grant = Annotated[
    str,
    BeforeValidator(rules.enforce(rules.grant_problem)),
    Field(json_schema_extra={"pattern": rules.GRANT_PATTERN}),
]
Port = Annotated[int, BeforeValidator(rules.enforce(rules.http_port_problem)), Strict()]
Unique = Field(json_schema_extra={"uniqueItems": True})


class Section(BaseModel):
    """Frozen, closed: a key the model does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(Section):
    http_port: Port = Field(
        default=DEFAULT_HTTP_PORT,
        ge=rules.LOWEST_PORT,
        le=rules.HIGHEST_PORT,
        description="TCP port of the gateway on 127.0.0.1.",
    )


class Worker(Section):
    worker: Transport


class Cell(Section):
    placement: Literal["in-process"] | Worker = Field(
        description="Where the cell runs: in-process (the gateway's process) or "
        "{worker: redis|nats}."
    )
    flags: Annotated[tuple[Flag, ...], AfterValidator(_once), Unique] = Field(
        default=(), description="Facts that call for isolation whatever the load says."
    )

    @property
    def transport(self) -> Transport | None:
        """The worker's transport; None when the cell runs in the gateway's process."""
        return None if isinstance(self.placement, str) else self.placement.worker


class Role(Section):
    grants: Annotated[tuple[Grant, ...], AfterValidator(_once), Unique] = Field(
        min_length=1,
        description="Capabilities such as notes.write; * matches any part (notes.*, *.read, *).",
    )


class SandboxLimits(Section):
    cpu_seconds: Int = Field(default=5, ge=1, le=3600)
    wall_seconds: Number = Field(default=10.0, gt=0, le=3600)
    memory_mb: Int = Field(default=256, ge=16, le=65536)
    processes: Int = Field(default=32, ge=1, le=4096)
    file_size_mb: Int = Field(default=16, ge=1, le=65536)
    workspace_mb: Int = Field(default=64, ge=1, le=65536)
    open_files: Int = Field(default=64, ge=8, le=65536)
    output_bytes: Int = Field(default=65_536, ge=1024, le=1_073_741_824)


Domain = Annotated[str, StringConstraints(pattern=DOMAIN)]


class Sandbox(Section):
    level: Literal["strict", "best"] = Field(
        default="best",
        description="strict: only bwrap will do, else every task is refused; best: the "
        "strongest backend available.",
    )
    egress: Annotated[tuple[Domain, ...], AfterValidator(_once), Unique] = Field(
        default=(), description="Domains web.fetch may reach (subdomains included)."
    )
    limits: SandboxLimits = SandboxLimits()


class Backoff(Section):
    initial: Number = Field(
        default=1.0, gt=0, le=3600, description="The wait after the first failure."
    )
    max: Number = Field(
        default=60.0, gt=0, le=86400, description="The longest wait (at least initial)."
    )


class Delivery(Section):
    max_attempts: Int = Field(
        default=8,
        ge=1,
        le=100,
        description="Tries before a delivery is dead-lettered (1: no retry).",
    )
    backoff_seconds: Backoff = Backoff()


class Slo(Section):
    p99_ms: Number = Field(default=500.0, gt=0)
    error_ratio: Number = Field(default=0.001, gt=0, le=1)
    burn_rate: Number = Field(default=14.4, gt=0)


class Triggers(Section):
    long_window_minutes: Int = Field(default=60, ge=1, le=10080)
    short_window_minutes: Int = Field(default=5, ge=1, le=1440)
    cpu_percent: Number = Field(default=75.0, gt=0, le=100)
    concurrent_users: Int = Field(default=150, ge=1)
    context_mb: Number = Field(default=2.0, gt=0)
    slo: Slo = Slo()


Tag = Annotated[str, StringConstraints(pattern=TAG)]


class Deploy(Section):
    image: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([._/:-][a-z0-9]+)*$")] | None = (
        Field(default=None, description="The image repository, without a tag.")
    )
    tag: Tag | None = Field(default=None, description="The tag to run.")
    previous_tag: Tag | None = Field(
        default=None, description="The tag that ran before (what rollback returns to)."
    )
    replicas: Int | None = Field(
        default=None, ge=1, le=100, description="Gateway replicas in Kubernetes."
    )


class Price(Section):
    input: Number = Field(ge=0)
    output: Number = Field(ge=0)


class Pin(Section):
    model: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{1,99}$",
        description="The exact, dated model id (no -latest, no bare family name).",
    )
    provider: Literal["openai", "anthropic"]
    retire_by: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="The provider's retirement date (or your review date), YYYY-MM-DD.",
    )
    price_per_mtok: Price = Field(description="USD per million tokens.")
    tokenizer_factor: Number = Field(
        default=1.0, gt=0, le=10, description="Estimated tokens = bytes / 4 x this factor."
    )
    context_tokens: Int = Field(
        default=128_000,
        ge=1024,
        description="The model's context window in tokens (prompt and answer together).",
    )


class Budget(Section):
    tokens: Int | None = Field(default=None, ge=1)
    usd: Number | None = Field(default=None, gt=0)


class Budgets(Section):
    per_call: Budget = Budget()
    per_principal_day: Budget = Budget()
    global_day: Budget = Budget()
    prompt_tokens: Int = Field(
        default=2000, ge=1, description="Default token budget of one prompt template."
    )


class Genops(Section):
    base_ref: str | None = Field(
        default=None,
        min_length=1,
        description="The ref semdiff compares with (default: the last release tag, else the "
        "merge base with the default branch).",
    )
    pins_warn_days: Int = Field(default=60, ge=0, le=3650)
    context_warn_kb: Number = Field(default=500.0, gt=0)
    context_fail_kb: Number = Field(default=2048.0, gt=0)
    acknowledged_breaks: Annotated[
        tuple[Annotated[str, StringConstraints(min_length=1)], ...], AfterValidator(_once), Unique
    ] = Field(default=(), description="Public API paths whose break is deliberate.")


class Codegen(Section):
    """`cell regenerate` and `cell patch` (codegen/): how far a run may go."""

    repair_rounds: Int = Field(
        default=2,
        ge=0,
        le=10,
        description="Times failing gates are fed back to the model; each round is a call.",
    )
    max_output_tokens: Int = Field(
        default=16_000, ge=256, description="The answer's token bound, reserved per call."
    )


Purpose = Annotated[str, StringConstraints(pattern=PURPOSE)]


class Blueprint(Section):
    """`blueprint.yml`: the requirements of the service. Re-applying the template and
    `explain` turn it into code and files; the running service reads it through
    `Settings().blueprint`."""

    model_config = ConfigDict(title="blueprint.yml")

    service: Service
    cells: dict[CellName, Cell] = Field(
        min_length=1, description="One entry per cell, keyed by its name."
    )
    roles: dict[RoleName, Role] = Field(
        default_factory=dict, min_length=1, description="Roles and the capabilities they grant."
    )
    sandbox: Sandbox = Sandbox()
    delivery: Delivery = Delivery()
    triggers: Triggers = Triggers()
    deploy: Deploy = Deploy()
    models: dict[Purpose, Pin] = Field(
        default_factory=dict,
        description="Pinned models: purpose -> exact model id. Code calls a purpose (llm/).",
    )
    budgets: Budgets = Budgets()
    genops: Genops = Genops()
    codegen: Codegen = Codegen()

    @property
    def placements(self) -> dict[str, Transport]:
        """The cells that run on a worker, and over which transport."""
        return {
            name: cell.transport for name, cell in self.cells.items() if cell.transport is not None
        }

    @property
    def grants(self) -> dict[str, tuple[str, ...]]:
        """Each role's grants."""
        return {name: role.grants for name, role in self.roles.items()}
