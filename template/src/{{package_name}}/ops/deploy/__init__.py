# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Deployment as code: what `explain` writes under `deploy/`, from the blueprint alone.

`deploy/compose.yaml` and the Kubernetes manifests (`deploy/k8s/`: a kustomize base with
the overlays `monolith` and `distributed`) are generated, like the docs, and drift-checked
by `explain --check`. Nobody edits them: a cell promoted in `blueprint.yml` (its
`placement:`) gets its worker service and Deployment at the next `explain`, which the
regeneration loop runs; `deploy:` names the image and tag they all run.

`Facts` (facts.py) is everything the generators read, taken from the blueprint once:
the modules that render compose and Kubernetes never open a file. Only the standard library, pyyaml
and pydantic are imported: `explain` also runs during `copier copy`, in copier's
interpreter.
"""

from __future__ import annotations

from pathlib import Path

from ...core.blueprint import Blueprint
from . import compose, kubernetes
from .facts import DATA_DIR, DEFAULT_REPLICAS, DEFAULT_TAG, KEYS_DIR, Facts, facts_of

__all__ = [
    "DATA_DIR",
    "DEFAULT_REPLICAS",
    "DEFAULT_TAG",
    "KEYS_DIR",
    "Facts",
    "compose",
    "documents",
    "facts_of",
    "kubernetes",
]


def documents(root: Path, blueprint: Blueprint | None = None) -> list[tuple[Path, str]]:
    """Every file `explain` writes under deploy/, with its content."""
    facts = facts_of(root, blueprint)
    rendered = [*compose.render(facts), *kubernetes.render(facts)]
    return [(root / path, text) for path, text in rendered]
