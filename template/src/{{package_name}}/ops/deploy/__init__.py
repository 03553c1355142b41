"""Deployment as code: what `explain` writes under `deploy/`, from the blueprint alone.

`deploy/compose.yaml` and the Kubernetes manifests (`deploy/k8s/`: a kustomize base with
the overlays `monolith` and `distributed`) are generated, like the docs, and drift-checked
by `explain --check`. Nobody edits them: a cell promoted in `blueprint.yml` (its
`placement:`) gets its worker service and Deployment at the next `explain`, which the
regeneration loop runs; `deploy:` names the image and tag they all run.

`Facts` is everything the generators read, taken from the blueprint once: the modules
that render compose and Kubernetes never open a file. Only the standard library is
imported: `explain` also runs during `copier copy`, in copier's interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.names import ENV_PREFIX, PROG

DEFAULT_TAG = "0.1.0"
DEFAULT_REPLICAS = 2
# Where the container keeps its state (SQLite files, the audit log, key files): the one
# writable path of an otherwise read-only root filesystem.
DATA_DIR = "/data"
KEYS_DIR = "/run/secrets/keys"  # mounted from a Secret (k8s) or a secret (compose)


@dataclass(frozen=True)
class Facts:
    """What the deployment is made of."""

    project: str  # the CLI's name, also the name of the services and Deployments
    env_prefix: str  # settings' environment prefix, e.g. "MY_SERVICE_"
    port: int  # the gateway's port (blueprint `service.http_port`)
    image: str  # repository without tag
    tag: str
    previous_tag: str | None = None
    replicas: int = DEFAULT_REPLICAS
    workers: dict[str, str] = field(default_factory=dict)  # cell -> "redis" | "nats"

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def transports(self) -> list[str]:
        """The servers the promoted cells need, in a stable order."""
        return sorted(set(self.workers.values()))

    def env(self, name: str) -> str:
        """The environment variable of a setting: `data_dir` -> `MY_SERVICE_DATA_DIR`."""
        return f"{self.env_prefix}{name.upper()}"

    @classmethod
    def from_blueprint(cls, data: Mapping[str, Any] | None, project: str, env_prefix: str) -> Facts:
        data = data or {}
        deploy = dict(data.get("deploy") or {})
        workers = {}
        for name, entry in (data.get("cells") or {}).items():
            placement = (entry or {}).get("placement")
            if isinstance(placement, Mapping) and placement.get("worker"):
                workers[str(name)] = str(placement["worker"])
        return cls(
            project=project,
            env_prefix=env_prefix,
            port=int((data.get("service") or {}).get("http_port", 8000)),
            image=str(deploy.get("image") or f"ghcr.io/example/{project}"),
            tag=str(deploy.get("tag") or DEFAULT_TAG),
            previous_tag=deploy.get("previous_tag"),
            replicas=int(deploy.get("replicas") or DEFAULT_REPLICAS),
            workers=workers,
        )


def facts_of(root: Path, blueprint: Mapping[str, Any] | None = None) -> Facts:
    """The facts of the project at `root`: its blueprint, read here unless the caller
    has read it already (`explain` reads it once for every document); defaults without
    one."""
    import yaml

    if blueprint is None:
        path = root / "blueprint.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
        blueprint = data if isinstance(data, dict) else None
    return Facts.from_blueprint(blueprint, PROG, ENV_PREFIX)


def documents(root: Path, blueprint: Mapping[str, Any] | None = None) -> list[tuple[Path, str]]:
    """Every file `explain` writes under deploy/, with its content."""
    from . import compose, kubernetes

    facts = facts_of(root, blueprint)
    rendered = [*compose.render(facts), *kubernetes.render(facts)]
    return [(root / path, text) for path, text in rendered]
