# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The record of each run: what was asked, of which model, what it cost, what the gates said.

Every run goes into the usage ledger (`runs` table, next to its calls). A run that was
applied also goes into the cell's `.regenerations.jsonl`, committed with the change, and
its raw answer into `.regenerations/<prompt sha256>.answer`: enough to rebuild the cell's
files offline, bit for bit (`cell regenerate NAME --replay`), and to show that the cell is
what its record says (`--replay --check`). A refused run changes nothing in the work
tree: its record stays in the ledger, its answer in `var/codegen/answers/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import CellTree

ANSWER_SUFFIX = ".answer"  # not .json: the context gate counts JSON files, not these
SEED = 0  # sent where the provider takes a seed (OpenAI-compatible servers)
TEMPERATURE = 0.0


def sha256(data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Run:
    cell: str
    mode: str  # "regenerate" or "patch"
    model: str  # the pinned id asked for
    provider: str
    prompt_sha256: str
    answer_sha256: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    rounds: int
    gates: dict[str, str]  # gate -> "pass: reason" or "fail: reason"
    applied: bool
    at: str
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"temperature": TEMPERATURE, "seed": SEED}
    )
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the cell's files
    summary: str = ""
    acknowledged: tuple[str, ...] = ()
    served_by: str = ""  # the model id the provider says answered (a local server's own)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)

    def commit_message(self) -> str:
        """The suggested commit message, with the trailers that tie it to this record."""
        subject = f"{self.mode.capitalize()} the {self.cell} cell"
        body = f"{subject}: {self.summary}" if self.summary else subject
        trailers = [f"Regenerated-By: {self.model}", f"Prompt-SHA256: {self.prompt_sha256}"]
        trailers += [f"API-Break: {path}" for path in self.acknowledged]
        return body + "\n\n" + "\n".join(trailers) + "\n"


def keep_answer(folder: Path, prompt_sha256: str, answer: str) -> Path:
    """Keep the raw answer, named by its prompt's hash; returns its path. It is stored as
    one line of JSON, so that no whitespace or end-of-file fixer (pre-commit's, an
    editor's, git's line endings) can change the bytes its record's hash is of."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prompt_sha256}{ANSWER_SUFFIX}"
    kept = {"prompt_sha256": prompt_sha256, "answer": answer}
    path.write_text(json.dumps(kept, ensure_ascii=True) + "\n", encoding="utf-8")
    return path


def append(cell: CellTree, run: Run) -> None:
    with cell.record.open("a", encoding="utf-8", newline="\n") as file:
        file.write(run.to_json() + "\n")


class RecordError(LookupError):
    """No applied run to replay, or its kept answer is missing or altered."""


def last_applied(cell: CellTree) -> Run:
    """The last applied run of the cell's record."""
    lines = cell.record.read_text(encoding="utf-8").splitlines() if cell.record.is_file() else []
    for line in reversed([line for line in lines if line.strip()]):
        data = json.loads(line)
        if data.get("applied"):
            data["acknowledged"] = tuple(data.get("acknowledged", ()))
            return Run(**data)
    raise RecordError(f"{cell.record.relative_to(cell.root)} records no applied run to replay")


def recorded_answer(cell: CellTree, run: Run) -> str:
    """The kept answer of `run`, checked against the hash its record holds."""
    path = cell.answers / f"{run.prompt_sha256}{ANSWER_SUFFIX}"
    if not path.is_file():
        raise RecordError(f"the answer of prompt {run.prompt_sha256[:12]} is not kept ({path})")
    try:
        answer = json.loads(path.read_text(encoding="utf-8"))["answer"]
    except (ValueError, KeyError, TypeError):
        answer = None
    if not isinstance(answer, str) or sha256(answer) != run.answer_sha256:
        raise RecordError(f"{path.relative_to(cell.root)} differs from its record's sha256")
    return answer
