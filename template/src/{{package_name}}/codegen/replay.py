# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`cell regenerate NAME --replay`: the cell's files rebuilt from its recorded answer.

Offline, with no provider call: the last applied run of the cell's `.regenerations.jsonl`
names the prompt's hash, the kept answer under `.regenerations/` must hash to what the
record says, and the files it holds are written whole, as they were when the gates passed.
`--check` writes nothing and reports the files that differ from the record: a cell that
is what its record says replays to no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import CellTree
from .answer import AnswerError, out_of_scope, parse
from .record import RecordError, Run, last_applied, recorded_answer, sha256


class ReplayError(Exception):
    """Nothing to replay, or the record and its answer disagree (nothing was written)."""


@dataclass(frozen=True)
class Replayed:
    run: Run
    files: tuple[PurePosixPath, ...]  # every file the answer holds
    differing: tuple[PurePosixPath, ...]  # those whose bytes differed from the answer's


def replay(root: Path, name: str, check_only: bool = False) -> Replayed:
    cell = CellTree(root, name)
    try:
        run = last_applied(cell)
        answer = parse(recorded_answer(cell, run))
    except (RecordError, AnswerError, ValueError) as error:
        raise ReplayError(str(error)) from None
    problems = out_of_scope(answer, cell)
    mismatched = [
        str(path) for path, text in answer.files if run.files.get(str(path)) != sha256(text)
    ]
    if problems or mismatched:
        raise ReplayError(
            f"the kept answer does not match its record: {(problems + mismatched)[0]}"
        )
    differing = tuple(path for path, text in answer.files if _bytes(root / path) != text.encode())
    links = [path for path, _ in answer.files if (root / path).is_symlink()]
    if links:
        raise ReplayError(f"{links[0]} is a symbolic link: replay writes only files")
    if not check_only:
        for path, text in answer.files:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
    return Replayed(run, tuple(path for path, _ in answer.files), differing)


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
