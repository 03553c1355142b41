# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`verify-audit`: prove the audit log is whole, as `audit verify` does, as a runbook.

It only reads, so it is safe while the service runs (an entry being appended at that
moment may show as a broken last line: run it again). The key is the configured one
(`<PREFIX>AUDIT_KEY`, else `<keys_dir>/audit.key`), never invented: with no key there is
nothing to verify with, and the runbook refuses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...gateway.audit import verify
from .engine import Invocation, PreconditionError, Runbook, Step, StepError, prog
from .state import data_dir_of, settings_at


@dataclass
class Check:
    log: Path
    key: bytes
    origin: str  # where the key came from
    entries: int = 0
    problems: list[str] = field(default_factory=list)


def prepare_check(invocation: Invocation) -> Check:
    """- no audit log is configured, or there is none yet;
    - no audit key is configured (`<PREFIX>AUDIT_KEY` or `<keys_dir>/audit.key`), or it
      is not hex of at least 32 bytes."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no pydantic-settings
    from ...core.keyfiles import MissingKeyError, env_name, key_path, load_key

    settings = settings_at(invocation.root, env="prod")  # verifying never invents a key
    data_dir_of(settings)
    log = settings.audit_path
    if log is None or not log.is_file():
        raise PreconditionError(f"no audit log at {log}")
    try:
        key = load_key(settings, "audit")
    except MissingKeyError as error:
        raise PreconditionError(f"no usable audit key: {error}") from None
    variable = env_name("audit")
    origin = variable if os.environ.get(variable) else str(key_path(settings, "audit"))
    return Check(log, key, origin)


def plan_verify(check: Check) -> str:
    """Names the log, its size and where the key comes from."""
    size = check.log.stat().st_size
    return f"{check.log} ({size} bytes), with the key from {check.origin}"


def apply_verify(check: Check) -> str:
    """Reads every entry and checks its MAC, the chain (each entry names the previous
    one's MAC, in sequence) and the last signed checkpoint (which catches a cut tail)."""
    verdict = verify(check.log, check.key)
    check.entries, check.problems = verdict.entries, verdict.problems
    return f"{check.entries} entries read before the first problem, if any"


def verify_verify(check: Check) -> str:
    """No problem was found: no entry edited, deleted, inserted, moved or cut off."""
    if check.problems:
        raise StepError(
            f"{check.log} was tampered with: {'; '.join(check.problems)}. Keep the file "
            "as evidence; a backup's copy (`restore`) is the last known good log"
        )
    return f"{check.entries} entries verified"


def undo_check(check: Check) -> str:
    """Nothing to undo: the runbook only reads."""
    return f"nothing (read only); `{prog()} audit verify` checks the same"


VERIFY_AUDIT: Runbook[Check] = Runbook(
    name="verify-audit",
    summary="check the audit log's MACs, chain and checkpoints with the configured key",
    about="""
    Run it on a schedule, before a backup is archived, and whenever the log is evidence.
    A failure says where the log was altered; nothing is changed either way.
    """,
    params=(),
    prepare=prepare_check,
    steps=(Step("verify the audit log", plan_verify, apply_verify, verify_verify),),
    undo=undo_check,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (VERIFY_AUDIT,)
