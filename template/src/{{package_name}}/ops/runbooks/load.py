# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Load runbooks: `shed-load --rate 5/second --minutes 30` tightens the gateway's
per-principal rate limit for a while; `restore-load` ends that early.

The tighter limit is a file, `<data_dir>/limits-override.json` (`{"rate_limit": ...,
"until": ...}`), that a running gateway reads within about a second (`gateway/ratelimit.py`):
no restart, no deploy, and it expires by itself, so a forgotten override cannot throttle
the service for good. Gateways that do not share the data folder (one volume per replica)
each need it: run the runbook in each (e.g. `kubectl exec`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...core.private import write_private
from .engine import Invocation, Param, PreconditionError, Runbook, Step, StepError, prog
from .state import data_dir_of, settings_at

MAX_MINUTES = 24 * 60


@dataclass
class Shedding:
    path: Path
    configured: str  # the settings' rate limit
    rate: str = ""
    until: datetime | None = None
    before: str | None = None  # the override file's text before the run, if any

    @property
    def text(self) -> str:
        assert self.until is not None
        until = self.until.isoformat(timespec="seconds")
        return json.dumps({"rate_limit": self.rate, "until": until}) + "\n"


def per_second(rate: str) -> float:
    """Requests per second a limit allows (`10/minute` -> 0.1667); ValueError if the
    text is not a limit."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no `limits`
    from limits import parse

    item = parse(rate)
    return item.amount / item.get_expiry()


def _shedding(invocation: Invocation) -> Shedding:
    settings = settings_at(invocation.root)
    data_dir_of(settings)
    path = settings.limits_override
    assert path is not None
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    return Shedding(path, settings.rate_limit, before=before)


def prepare_shed(invocation: Invocation) -> Shedding:
    """- no `data_dir` is configured (the gateway reads the override from there);
    - RATE is not a limit in the `limits` notation (`5/second`, `100/minute`), or it is
      not tighter than the configured `<PREFIX>RATE_LIMIT`;
    - MINUTES is not a whole number from 1 to 1440."""
    shedding = _shedding(invocation)
    rate, minutes = invocation.arguments["rate"], invocation.arguments["minutes"]
    try:
        tighter = per_second(rate) < per_second(shedding.configured)
    except ValueError:
        raise PreconditionError(f"{rate!r} is not a rate limit such as 5/second") from None
    if not tighter:
        raise PreconditionError(
            f"{rate} is not tighter than the configured {shedding.configured}: "
            "shedding load only lowers the limit"
        )
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_MINUTES:
        raise PreconditionError(f"minutes must be a whole number from 1 to {MAX_MINUTES}")
    shedding.rate = rate
    shedding.until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=int(minutes))
    return shedding


def plan_override(shedding: Shedding) -> str:
    """Shows the file and what it will hold (an override already there is replaced)."""
    replaced = f"\nreplacing: {shedding.before.strip()}" if shedding.before else ""
    return f"{shedding.path}: {shedding.text.strip()}{replaced}"


def apply_override(shedding: Shedding) -> str:
    """Writes it atomically (a gateway never reads half a file)."""
    write_private(shedding.path, shedding.text)  # 0600 beside the data, like the rest
    assert shedding.until is not None
    return f"{shedding.path}: {shedding.rate} per principal until {shedding.until:%H:%M:%S} UTC"


def verify_override(shedding: Shedding) -> str:
    """The gateway's own reader accepts the file, with the rate asked for and an end
    still in the future."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no `limits`
    from limits import parse

    # start-up cost: explain imports the runbooks in copier's interpreter: no `limits`
    from ...gateway.ratelimit import OverrideError, read_override

    try:
        found = read_override(shedding.path)
    except OverrideError as error:
        raise StepError(str(error)) from None
    if found is None or found[0] != parse(shedding.rate):
        raise StepError(f"{shedding.path} does not read back as {shedding.rate}")
    if found[1] <= datetime.now(UTC).timestamp():
        raise StepError(f"{shedding.path} has already expired")
    return f"running gateways limit each principal to {shedding.rate} within a second"


def undo_shed(shedding: Shedding) -> str:
    """`restore-load` removes the override at once; otherwise it expires at its end
    time."""
    return f"uv run {prog()} runbook run restore-load --yes (or wait until it expires)"


def prepare_restore(invocation: Invocation) -> Shedding:
    """- no `data_dir` is configured;
    - there is no override to remove."""
    shedding = _shedding(invocation)
    if shedding.before is None:
        raise PreconditionError(f"no override at {shedding.path}: the limit is the configured one")
    return shedding


def plan_remove(shedding: Shedding) -> str:
    """Shows the override that is removed, and the limit that applies again."""
    assert shedding.before is not None
    return f"remove {shedding.path} ({shedding.before.strip()}); back to {shedding.configured}"


def apply_remove(shedding: Shedding) -> str:
    """Deletes the file."""
    shedding.path.unlink(missing_ok=True)
    return f"removed {shedding.path}"


def verify_remove(shedding: Shedding) -> str:
    """The file is gone: running gateways apply the configured limit within a second."""
    if shedding.path.exists():
        raise StepError(f"{shedding.path} is still there")
    return f"running gateways limit each principal to {shedding.configured} within a second"


def undo_restore(shedding: Shedding) -> str:
    """Run `shed-load` again to tighten the limit again."""
    return f"uv run {prog()} runbook run shed-load --rate RATE --minutes MINUTES --yes"


SHED_LOAD: Runbook[Shedding] = Runbook(
    name="shed-load",
    summary="tighten the gateway's per-principal rate limit for a while, without a restart",
    about="""
    Use it when the gateway is overloaded (a trigger reports latency or queue depth over
    its threshold) and the capacity cannot grow at once: each caller gets less, so every
    caller still gets some. Callers over the limit get 429 with `Retry-After`.
    """,
    params=(
        Param("--rate", "the limit per principal, e.g. `5/second`", "RATE"),
        Param("--minutes", "how long it lasts (1 to 1440)", "MINUTES"),
    ),
    prepare=prepare_shed,
    steps=(Step("write the override", plan_override, apply_override, verify_override),),
    undo=undo_shed,
)

RESTORE_LOAD: Runbook[Shedding] = Runbook(
    name="restore-load",
    summary="end a `shed-load` override early: the configured rate limit applies again",
    about="""
    The reverse of `shed-load`, before its end time.
    """,
    params=(),
    prepare=prepare_restore,
    steps=(Step("remove the override", plan_remove, apply_remove, verify_remove),),
    undo=undo_restore,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (SHED_LOAD, RESTORE_LOAD)
