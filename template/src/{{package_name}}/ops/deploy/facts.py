# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`Facts`: everything the deploy generators read, taken from the typed blueprint once.

The modules that render compose and Kubernetes take a `Facts` and never open a file, so
they can be judged on any blueprint without one on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core.blueprint import Blueprint, read
from ...core.blueprint_model import DEFAULT_HTTP_PORT
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
    def from_blueprint(cls, blueprint: Blueprint | None, project: str, env_prefix: str) -> Facts:
        """The facts the typed blueprint states; an example image and tag without one."""
        if blueprint is None:
            return cls(
                project, env_prefix, DEFAULT_HTTP_PORT, f"ghcr.io/example/{project}", DEFAULT_TAG
            )
        deploy = blueprint.deploy
        return cls(
            project=project,
            env_prefix=env_prefix,
            port=blueprint.service.http_port,
            image=deploy.image or f"ghcr.io/example/{project}",
            tag=deploy.tag or DEFAULT_TAG,
            previous_tag=deploy.previous_tag,
            replicas=deploy.replicas or DEFAULT_REPLICAS,
            workers={**blueprint.placements},
        )


def facts_of(root: Path, blueprint: Blueprint | None = None) -> Facts:
    """The facts of the project at `root`: its typed blueprint, read here unless the
    caller has read it already (`explain` reads it once for every document); defaults
    without one."""
    if blueprint is None:
        blueprint = read(root / "blueprint.yml")
    return Facts.from_blueprint(blueprint, PROG, ENV_PREFIX)
