# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`rollback`: run the previous image again, in compose and in Kubernetes.

`blueprint.yml`'s `deploy:` names the image's `tag` and the `previous_tag`; the deploy
files (`deploy/compose.yaml`, `deploy/k8s/`) are generated from it by `explain`. So a
rollback swaps the two values (two lines of the blueprint; comments and layout stay),
judges the edit through the typed blueprint (it must read back with only the tags
swapped), runs `explain`, and checks that every generated file that runs the service
names the previous image. A second rollback swaps them back: it is its own undo. Nothing
is committed or deployed: the user reviews, commits and applies, as with any blueprint
change.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.blueprint import Blueprint, BlueprintError, load, parse, value_span
from ...core.git import git
from ...core.names import PACKAGE
from ..deploy import Facts, documents, facts_of
from .changes import dirty
from .engine import Invocation, PreconditionError, Runbook, Step, StepError, indent, prog
from .hook import environment_for

BLUEPRINT = "blueprint.yml"
COMPOSE = "deploy/compose.yaml"
OVERLAYS = "deploy/k8s/overlays"


@dataclass
class Swap:
    root: Path
    image: str
    tag: str  # running now
    previous: str  # what the rollback runs
    old_text: str
    new_text: str
    changed: list[tuple[int, str, str]]  # line number, before, after
    explained: str = ""
    checked: list[str] = field(default_factory=list)

    @property
    def blueprint(self) -> Path:
        return self.root / BLUEPRINT

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.previous}"


def edit_tags(text: str, tag: str, previous: str) -> str:
    """`text` with only `deploy.tag` and `deploy.previous_tag`'s values replaced (as
    quoted YAML strings), where the blueprint's loader says they are written; comments
    and layout elsewhere are untouched."""
    spans = []
    for key, value in (("tag", tag), ("previous_tag", previous)):
        span = value_span(text, ("deploy", key))
        if span is None:
            raise PreconditionError(f"{BLUEPRINT} has no deploy.{key}")
        if not span.on_key_line or "\n" in text[span.start : span.end]:
            raise PreconditionError(f"deploy.{key} spans several lines: set it by hand")
        spans.append((span.start, span.end, json.dumps(value)))
    for start, end, value in sorted(spans, reverse=True):
        text = text[:start] + value + text[end:]
    return text


def _swapped(blueprint: Blueprint) -> Blueprint:
    """`blueprint` with `deploy.tag` and `deploy.previous_tag` swapped."""
    deploy = blueprint.deploy
    swapped = deploy.model_copy(update={"tag": deploy.previous_tag, "previous_tag": deploy.tag})
    return blueprint.model_copy(update={"deploy": swapped})


def _current(root: Path) -> tuple[str, Blueprint]:
    """The blueprint's text and typed model; refused when missing or invalid."""
    path = root / BLUEPRINT
    if not path.is_file():
        raise PreconditionError(f"no {BLUEPRINT} in {root}: run it from the project root")
    text = path.read_bytes().decode("utf-8")
    blueprint, problems = parse(text)
    if blueprint is None:
        raise PreconditionError(f"{BLUEPRINT}:{problems[0]}; fix it first")
    return text, blueprint


def prepare_rollback(invocation: Invocation) -> Swap:
    """- `blueprint.yml` is missing or invalid;
    - `deploy.previous_tag` is null (there is nothing to go back to) or equals `tag`;
    - the project has no commit yet, or `blueprint.yml` or `deploy/` has uncommitted
      changes (so that the rollback can be reviewed and undone alone)."""
    root = invocation.root
    text, blueprint = _current(root)
    facts = facts_of(root, blueprint)
    tag, previous = facts.tag, blueprint.deploy.previous_tag
    if previous is None:
        raise PreconditionError(
            "deploy.previous_tag is null: there is no previous image to go back to "
            f"(set it in {BLUEPRINT} when you release a new tag)"
        )
    if previous == tag:
        raise PreconditionError(f"deploy.previous_tag is the running tag {tag}: nothing to do")
    if git(root, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise PreconditionError(f"{root} is not a git repository with a commit: commit first")
    pending = dirty(root, BLUEPRINT, "deploy")
    if pending:
        raise PreconditionError(
            f"uncommitted changes in {', '.join(sorted(pending))}: commit them first, so "
            "that the rollback is the only change to review and undo"
        )
    new_text = edit_tags(text, previous, tag)
    if parse(new_text)[0] != _swapped(blueprint):
        raise PreconditionError(f"could not swap deploy.tag and previous_tag alone in {BLUEPRINT}")
    old_lines, new_lines = text.splitlines(), new_text.splitlines()
    changed = [
        (number, before, after)
        for number, (before, after) in enumerate(zip(old_lines, new_lines, strict=True), 1)
        if before != after
    ]
    return Swap(root, facts.image, tag, previous, text, new_text, changed)


# ---- step 1: the blueprint ---------------------------------------------------------------


def plan_swap(swap: Swap) -> str:
    """Shows the two lines of `blueprint.yml` that change: `tag` becomes the previous
    tag and `previous_tag` the tag running now."""
    lines = []
    for number, before, after in swap.changed:
        lines += [f"{BLUEPRINT}:{number}", f"- {before}", f"+ {after}"]
    return "\n".join(lines)


def apply_swap(swap: Swap) -> str:
    """Writes them, keeping every other byte of the file."""
    if swap.blueprint.read_bytes().decode("utf-8") != swap.old_text:
        raise StepError(f"{BLUEPRINT} changed since the plan was made; run the runbook again")
    swap.blueprint.write_bytes(swap.new_text.encode("utf-8"))
    return f"deploy.tag: {swap.tag} -> {swap.previous}; deploy.previous_tag: -> {swap.tag}"


def verify_swap(swap: Swap) -> str:
    """The blueprint's loader accepts the file, and its typed model reads the tags back
    swapped."""
    try:
        facts = facts_of(swap.root, load(swap.blueprint))
    except BlueprintError as error:
        raise StepError(str(error)) from None
    if (facts.tag, facts.previous_tag) != (swap.previous, swap.tag):
        raise StepError(f"deploy reads tag {facts.tag}, previous_tag {facts.previous_tag}")
    return f"{BLUEPRINT} is valid; the image is now {facts.image_ref}"


# ---- step 2: the deploy files ------------------------------------------------------------


def plan_explain(swap: Swap) -> str:
    """Runs `explain`, which rewrites `deploy/compose.yaml` and `deploy/k8s/` from the
    blueprint (and leaves every other generated file as it is)."""
    return f"{prog()} explain: {COMPOSE} and deploy/k8s/ will run {swap.image_ref}"


def _explain(swap: Swap, *args: str) -> subprocess.CompletedProcess[str]:
    """`explain` in a new process, on the project's own code."""
    return subprocess.run(
        [sys.executable, "-m", PACKAGE, "explain", "--root", str(swap.root), *args],
        cwd=swap.root,
        env=environment_for(swap.root),
        capture_output=True,
        text=True,
        timeout=300,
    )


def apply_explain(swap: Swap) -> str:
    """Runs it in a new process, on the project's own code."""
    done = _explain(swap)
    swap.explained = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise StepError(f"explain failed (exit {done.returncode}):\n{swap.explained}")
    written = [line for line in swap.explained.splitlines() if "/deploy/" in line]
    return f"{len(written)} deploy files written"


def names(text: str, ref: str) -> bool:
    """Whether `text` names the image `ref` exactly (`app:1.2` is not in `app:1.2.1`)."""
    return re.search(re.escape(ref) + r"(?![\w.-])", text) is not None


def _kustomized(swap: Swap, facts: Facts) -> list[str]:
    """The image references in each overlay's kustomize output, when kubectl is here."""
    kubectl = shutil.which("kubectl")
    overlays = swap.root / OVERLAYS
    if kubectl is None or not overlays.is_dir():
        return []
    seen = []
    for overlay in sorted(path for path in overlays.iterdir() if path.is_dir()):
        done = subprocess.run(
            [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise StepError(f"kubectl kustomize {overlay} failed: {done.stderr.strip()}")
        images = {
            line.split("image:", 1)[1].strip()
            for line in done.stdout.splitlines()
            if line.strip().startswith("image:") and facts.image in line
        }
        if images != {facts.image_ref}:
            raise StepError(f"kustomize {overlay.name} runs {sorted(images)}")
        seen.append(f"overlay {overlay.name}")
    return seen


def verify_explain(swap: Swap) -> str:
    """The deploy files equal what the blueprint generates (`explain --check`, in a new
    process), and every one that names the service's image (compose, the Kubernetes
    Deployments, and each overlay's `kubectl kustomize` output where kubectl is
    installed) names the previous tag's image and not the one rolled back from."""
    stale = _explain(swap, "--check")
    if stale.returncode != 0:
        listed = (stale.stdout + stale.stderr).strip()
        raise StepError(f"the generated files are not what the blueprint generates:\n{listed}")
    facts = facts_of(swap.root)
    rolled_back_from = f"{facts.image}:{swap.tag}"
    naming = []
    for path, _ in documents(swap.root):
        name = path.relative_to(swap.root).as_posix()
        text = path.read_text(encoding="utf-8")
        if names(text, rolled_back_from):
            raise StepError(f"{name} still names {rolled_back_from}")
        if names(text, facts.image_ref):
            naming.append(name)
    if COMPOSE not in naming or not any(name.startswith("deploy/k8s/") for name in naming):
        raise StepError(f"{facts.image_ref} is missing from {COMPOSE} or deploy/k8s/")
    swap.checked = naming + _kustomized(swap, facts)
    return f"{facts.image_ref} in: {', '.join(swap.checked)}"


# ---- step 3: deploying -------------------------------------------------------------------


def _instructions(swap: Swap) -> str:
    overlay = "distributed" if facts_of(swap.root).workers else "monolith"
    pairs = [
        (f'git add -A && git commit -m "roll back to {swap.previous}"', "first"),
        (
            f"docker compose -f {COMPOSE} up -d --no-build",
            "compose: recreates the changed containers from the registry's image (never a "
            "fresh build of this tree tagged as the previous release)",
        ),
        (f"kubectl apply -k {OVERLAYS}/{overlay}", "Kubernetes: a rolling update"),
    ]
    width = max(len(command) for command, _ in pairs)
    return "\n".join(f"{command.ljust(width)}  # {why}" for command, why in pairs)


def plan_deploy(swap: Swap) -> str:
    """Prints how to apply it: commit, then `docker compose up -d` or `kubectl apply -k`
    with the overlay in use (`distributed` when a cell runs on a worker)."""
    return _instructions(swap)


def apply_deploy(swap: Swap) -> str:
    """Prints them again: deploying is yours (or your pipeline's), not the runbook's."""
    return "deploy it:\n" + indent(_instructions(swap), "  ")


def verify_deploy(swap: Swap) -> str:
    """Says which of docker and kubectl are installed here (a reminder, never a
    failure: the deploy may run elsewhere)."""
    found = [tool for tool in ("docker", "kubectl") if shutil.which(tool)]
    return f"installed here: {', '.join(found) or 'neither docker nor kubectl'}"


def undo_rollback(swap: Swap) -> str:
    """Once committed, `rollback` again swaps the tags back (it is its own undo)."""
    return f"uv run {prog()} runbook run rollback --yes"


ROLLBACK: Runbook[Swap] = Runbook(
    name="rollback",
    summary="run the previous image tag again, in compose and Kubernetes",
    about="""
    Use it when a release misbehaves and the previous one did not. Only the image
    changes: data written by the new release stays, so a release whose migrations the
    old code cannot read needs a `restore` as well (or a fix forward).
    """,
    params=(),
    prepare=prepare_rollback,
    steps=(
        Step("swap the image tags", plan_swap, apply_swap, verify_swap),
        Step("regenerate deploy/", plan_explain, apply_explain, verify_explain),
        Step("deploy it", plan_deploy, apply_deploy, verify_deploy),
    ),
    undo=undo_rollback,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (ROLLBACK,)
