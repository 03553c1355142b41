# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""One run of `cell regenerate` or `cell patch`: pack, call, gate, repair, apply, record.

The steps are the package's modules (see `codegen/__init__.py`); this one only orders
them. Refusals that stop a run before or between calls (no such cell, no `codegen` pin,
no key, a pack too large, a budget short, a provider unreachable or failing, an answer
that writes outside the cell) raise `CodegenError` with one line and leave the work
tree as it was; failing gates after the last repair round end the run with
`Outcome.applied` false, also leaving it as it was. Either way the run is recorded in
the usage ledger.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from ..core.blueprint_rules import cell_name_problem
from ..core.git import GitError
from ..core.names import ENV_PREFIX
from ..core.settings import Settings
from ..llm.budget import BudgetExceeded
from ..llm.client import LLM, LLMError
from ..llm.ledger import Ledger
from ..llm.pins import Pin, UnpinnedPurposeError, pin_for, pins_from_blueprint
from ..llm.providers import Sampling
from . import PURPOSE, CellTree, gates
from .answer import Answer, AnswerError, OutOfScope, out_of_scope, parse
from .pack import Pack, PackTooLarge, check_fit, patch_pack, regenerate_pack
from .record import SEED, TEMPERATURE, Run, append, keep_answer, sha256
from .scratch import Scratch

KIND = "codegen"  # the ledger's `runs` kind, and var/codegen/
DEFAULT_URLS = {
    "openai": Settings.model_fields["llm_openai_url"].default,
    "anthropic": Settings.model_fields["llm_anthropic_url"].default,
}


class CodegenError(Exception):
    """The run stopped before its gates could decide; nothing in the work tree changed."""


@dataclass(frozen=True)
class Request:
    cell: str
    mode: str = "regenerate"  # or "patch"
    instruction: str = ""
    acknowledged: tuple[str, ...] = ()  # API paths whose break the spec change intends


@dataclass
class Outcome:
    run: Run
    verdicts: list[gates.Verdict] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.run.applied


async def run(root: Path, settings: Settings, request: Request) -> Outcome:
    """Regenerate or patch `request.cell` of the project at `root`."""
    problem = cell_name_problem(request.cell)
    if problem:
        raise CodegenError(f"{request.cell!r} is not a cell name: {problem}")
    cell = CellTree(root, request.cell)
    if not cell.exists():
        raise CodegenError(f"no cell {request.cell!r} at {cell.folder}/")
    if request.mode == "regenerate" and not cell.spec.is_file():
        raise CodegenError(
            f"no spec at {cell.folder}/SPEC.md: write the cell's requirements there first"
        )
    pin = _pin(settings)
    _require_endpoint(settings, pin)
    blueprint = settings.blueprint_model
    ledger = Ledger(settings.llm_ledger_path)
    llm = LLM.from_settings(settings, ledger)
    try:
        with Scratch(root) as scratch:
            job = Job(cell, request, pin, llm, scratch)
            if blueprint is not None:
                job.repairs = blueprint.codegen.repair_rounds
                job.max_output = blueprint.codegen.max_output_tokens
            return await job.run()
    except GitError as error:  # no repository, no commit yet, or a work tree that moved
        raise CodegenError(f"{error} (the run needs a git repository with a commit)") from None
    finally:
        await llm.aclose()
        ledger.close()


@dataclass
class Job:
    """The state of one run: its rounds' usage, the last prompt and answer."""

    cell: CellTree
    request: Request
    pin: Pin
    llm: LLM
    scratch: Scratch
    repairs: int = 2
    max_output: int = 16_000
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    rounds: int = 0
    prompt_sha256: str = ""
    text: str = ""
    served_by: str = ""

    async def run(self) -> Outcome:
        pack = self.first_pack()
        verdicts: list[gates.Verdict] = []
        answer: Answer | None = None
        for _ in range(self.repairs + 1):
            await self.call(pack)
            try:
                answer = parse(self.text)
            except OutOfScope as error:
                self.refuse([str(error)], None)
            except AnswerError as error:
                answer, verdicts = None, [gates.Verdict("answer", False, str(error))]
            else:
                self.refuse_out_of_scope(answer)
                verdicts = self.gate(answer)
                if all(verdict.passed for verdict in verdicts):
                    return self.apply(answer, verdicts)
            pack = pack.followed_by(self.text, feedback(verdicts))
        return Outcome(self.record(verdicts, answer, applied=False), verdicts)

    def first_pack(self) -> Pack:
        cell = self.cell
        if self.request.mode == "patch":
            env = gates.environment(self.scratch.tree, cell.root)
            now = gates.cell_tests(self.scratch.tree, cell, env)
            return patch_pack(cell, self.request.instruction, f"{now.reason}\n{now.output}".strip())
        others = [name for name in cell_names(cell) if name != cell.name]
        return regenerate_pack(cell, CellTree(cell.root, others[0]) if others else cell)

    async def call(self, pack: Pack) -> None:
        """Ask the model; the pack is measured first, the budgets reserved by `llm/`."""
        self.prompt_sha256, self.text = pack.sha256(), ""
        try:
            check_fit(pack, self.pin, self.llm.budgets.per_call, self.max_output)
            done = await self.llm.complete(
                PURPOSE,
                pack.messages,
                principal=f"{KIND}:{getpass.getuser()}",
                max_output_tokens=self.max_output,
                sampling=Sampling(TEMPERATURE, SEED),
            )
        except (PackTooLarge, BudgetExceeded, LLMError) as error:
            self.record([gates.Verdict("call", False, str(error))], None, applied=False)
            raise CodegenError(str(error)) from None
        self.rounds += 1
        self.input_tokens += done.input_tokens
        self.output_tokens += done.output_tokens
        self.cost_usd += done.cost_usd
        self.text, self.served_by = done.text, done.model
        keep_answer(self.cell.root / "var" / KIND / "answers", self.prompt_sha256, done.text)

    def refuse_out_of_scope(self, answer: Answer) -> None:
        problems = out_of_scope(answer, self.cell)
        if problems:
            self.refuse(problems, answer)

    def refuse(self, problems: list[str], answer: Answer | None) -> NoReturn:
        """An answer that writes outside the cell is refused whole, with no repair round."""
        self.record([gates.Verdict("scope", False, "; ".join(problems))], answer, False)
        raise CodegenError(f"refused: the answer writes outside the cell: {problems[0]}")

    def gate(self, answer: Answer) -> list[gates.Verdict]:
        self.scratch.reset()
        try:
            self.scratch.write(answer.files)
        except ValueError as error:
            return [gates.Verdict("scope", False, str(error))]
        return gates.check(self.scratch.tree, self.cell.root, self.cell, self.request.acknowledged)

    def apply(self, answer: Answer, verdicts: list[gates.Verdict]) -> Outcome:
        changed = self.scratch.changed_paths()
        try:
            self.scratch.apply_to(self.cell.root, self.scratch.change())
        except GitError as error:
            moved = gates.Verdict("apply", False, f"the work tree changed during the run: {error}")
            self.record([*verdicts, moved], answer, applied=False)
            raise CodegenError(f"nothing applied: {moved.reason}") from None
        keep_answer(self.cell.answers, self.prompt_sha256, self.text)
        run = self.record(verdicts, answer, applied=True)
        append(self.cell, run)
        return Outcome(run, verdicts, changed)

    def record(self, verdicts: list[gates.Verdict], answer: Answer | None, applied: bool) -> Run:
        """The run's record, kept in the ledger."""
        run = Run(
            cell=self.cell.name,
            mode=self.request.mode,
            model=self.pin.model,
            provider=self.pin.provider,
            prompt_sha256=self.prompt_sha256,
            answer_sha256=sha256(self.text) if self.text else "",
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=round(self.cost_usd, 6),
            rounds=self.rounds,
            gates={v.gate: f"{'pass' if v.passed else 'fail'}: {v.reason}" for v in verdicts},
            applied=applied,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            acknowledged=self.request.acknowledged,
            served_by=self.served_by,
        )
        if answer is not None:
            files = {str(path): sha256(content) for path, content in answer.files}
            run = replace(run, files=files, summary=answer.summary)
        self.llm.ledger.record_run(KIND, self.cell.name, run.to_json())
        return run


def cell_names(cell: CellTree) -> list[str]:
    """The cells the project has now (folders with an `__init__.py`), sorted."""
    folder = cell.root / cell.folder.parent
    return sorted(path.parent.name for path in folder.glob("*/__init__.py"))


def feedback(verdicts: list[gates.Verdict]) -> str:
    """The repair round's message: each failing gate, its reason and its output."""
    lines = ["Your answer failed these gates; answer again, whole files, in the same JSON."]
    for verdict in verdicts:
        if not verdict.passed:
            lines.append(f"\n### {verdict.gate}: {verdict.reason}")
            lines += [verdict.output] if verdict.output else []
    return "\n".join(lines)


def _pin(settings: Settings) -> Pin:
    try:
        return pin_for(pins_from_blueprint(settings.blueprint_model), PURPOSE)
    except UnpinnedPurposeError as error:
        raise CodegenError(str(error)) from None


def _require_endpoint(settings: Settings, pin: Pin) -> None:
    """A hosted provider needs a key; a local server (another URL) may do without."""
    url = getattr(settings, f"llm_{pin.provider}_url")
    key = getattr(settings, f"llm_{pin.provider}_key")
    if (key is None or not key.get_secret_value()) and url == DEFAULT_URLS.get(pin.provider):
        name = f"{ENV_PREFIX}LLM_{pin.provider.upper()}"
        raise CodegenError(
            f"no key for {pin.provider} ({PURPOSE}: {pin.model}): set {name}_KEY, or "
            f"{name}_URL to a local OpenAI-compatible or Anthropic server"
        )
