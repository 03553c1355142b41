# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What is wrong with a blueprint: one `Problem` a line, and the error that carries them.

Apart from core/blueprint.py (which finds them) so that the command line can catch a
broken blueprint at its top without importing pyyaml or pydantic: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    line: int
    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.line}: {self.where}: {self.message}; fix: {self.fix}"


class BlueprintError(ValueError):
    """A blueprint that does not parse or does not follow the rules; one line a problem."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"{path}:{problem}" for problem in problems)
        super().__init__(f"{path} is invalid (`blueprint check`):\n{listed}")
