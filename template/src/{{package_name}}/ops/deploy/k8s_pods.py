# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The pods of the Kubernetes manifests: every Deployment the overlays run is built here.

All of them meet Pod Security's `restricted` profile (non-root uid 10001, read-only root
filesystem, no privilege escalation, every capability dropped, the runtime's default
seccomp profile) and declare resource requests and limits, so a namespace labelled
`pod-security.kubernetes.io/enforce: restricted` admits them and the scheduler can place
them. The only writable paths are the volumes mounted here: the data volume and `/tmp`.

The app's state is embedded SQLite on one ReadWriteOnce volume, shared by the gateway's
replicas and the workers (a promoted cell keeps its database file where it was). So every
app pod asks to run on the node of the gateway's pods: SQLite's locks hold between
processes of one machine, not across a network filesystem. Each gateway replica writes its
own audit log (`/data/audit/<pod>.log`): a hash chain has one writer.
"""

from __future__ import annotations

import json
from typing import Any

from .facts import DATA_DIR, KEYS_DIR, Facts

UID = 10001  # the image's user and group (deploy/Dockerfile)
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
NAME = "app.kubernetes.io/name"

Object = dict[str, Any]


def keys_secret(facts: Facts) -> str:
    """The Secret holding the key files; created by the operator, never by a manifest."""
    return f"{facts.project}-keys"


def data_claim(facts: Facts) -> str:
    return f"{facts.project}-data"


def labels(facts: Facts, component: str, name: str) -> dict[str, str]:
    """The labels of a pod: `part-of` is what the NetworkPolicy calls "this app"."""
    return {PART_OF: facts.project, COMPONENT: component, NAME: name}


def pod_security() -> Object:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,  # volumes are writable (and the key files readable) by the group
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Object:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu: tuple[str, str], memory: tuple[str, str]) -> Object:
    """Requests and limits: (request, limit) for each."""
    return {
        "requests": {"cpu": cpu[0], "memory": memory[0]},
        "limits": {"cpu": cpu[1], "memory": memory[1]},
    }


def env(pairs: dict[str, str]) -> list[Object]:
    return [{"name": name, "value": value} for name, value in pairs.items()]


def placements(workers: dict[str, str]) -> str:
    """The `<PREFIX>PLACEMENTS` value: JSON the settings parse, in a stable order."""
    return json.dumps(dict(sorted(workers.items())))


def transport_urls(facts: Facts) -> dict[str, str]:
    """The servers' URLs, as the settings read them, for the transports in use."""
    urls = {
        "redis": f"redis://{facts.project}-redis:6379/0",
        "nats": f"nats://{facts.project}-nats:4222",
    }
    return {facts.env(f"{kind}_url"): urls[kind] for kind in facts.transports}


def app_env(facts: Facts) -> dict[str, str]:
    """What every process of the app reads: production mode and where its files are."""
    return {
        facts.env("env"): "prod",
        facts.env("data_dir"): DATA_DIR,
        facts.env("keys_dir"): KEYS_DIR,
        # The Secret at KEYS_DIR is read-only; the API keys' database is written (keys
        # create / revoke), so it lives with the data (and is backed up with it).
        facts.env("api_keys_dir"): DATA_DIR,
    }


def app_volumes(facts: Facts) -> list[Object]:
    return [
        {"name": "data", "persistentVolumeClaim": {"claimName": data_claim(facts)}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},  # scratch: the sandbox's too
        {
            "name": "keys",
            "secret": {"secretName": keys_secret(facts), "defaultMode": 0o440},
        },
    ]


def app_mounts() -> list[Object]:
    return [
        {"name": "data", "mountPath": DATA_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "keys", "mountPath": KEYS_DIR, "readOnly": True},
    ]


def near_the_gateway(facts: Facts) -> Object:
    """Schedule on the gateway's node: its pods share the ReadWriteOnce data volume."""
    gateway = {PART_OF: facts.project, COMPONENT: "gateway"}
    term = {"labelSelector": {"matchLabels": gateway}, "topologyKey": "kubernetes.io/hostname"}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def deployment(
    facts: Facts,
    name: str,
    pod_labels: dict[str, str],
    replicas: int,
    pod: Object,
    recreate: bool = False,
) -> Object:
    """A Deployment running `pod`, with the restricted pod settings every pod shares."""
    spec: Object = {
        "automountServiceAccountToken": False,
        "serviceAccountName": facts.project,
        "securityContext": pod_security(),
        **pod,
    }
    strategy: Object = (
        {"type": "Recreate"}  # a single writer of its volume: never two at once
        if recreate
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "strategy": strategy,
            "selector": {"matchLabels": pod_labels},
            "template": {"metadata": {"labels": pod_labels}, "spec": spec},
        },
    }


def gateway(facts: Facts) -> Object:
    """The gateway: the only listener, every cell in-process unless an overlay says not."""
    probe: Object = {"httpGet": {"path": "/healthz", "port": "http"}, "timeoutSeconds": 2}
    pairs = {
        **app_env(facts),
        facts.env("host"): "0.0.0.0",
        facts.env("port"): str(facts.port),
        facts.env("placements"): placements({}),
        facts.env("audit_log"): f"{DATA_DIR}/audit/$(POD_NAME).log",
    }
    container: Object = {
        "name": "gateway",
        "image": facts.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": facts.port, "protocol": "TCP"}],
        # POD_NAME first: Kubernetes expands $(POD_NAME) only from variables defined before.
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *env(pairs),
        ],
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "resources": resources(("250m", "1"), ("256Mi", "512Mi")),
        "securityContext": container_security(),
        "volumeMounts": app_mounts(),
    }
    pod = app_pod(facts, container)
    name = facts.project
    return deployment(facts, name, labels(facts, "gateway", "gateway"), facts.replicas, pod)


def app_pod(facts: Facts, container: Object) -> Object:
    """A pod of the app: one container, the app's volumes, on the gateway's node (they
    share its ReadWriteOnce data volume)."""
    return {
        "affinity": near_the_gateway(facts),
        "containers": [container],
        "volumes": app_volumes(facts),
    }


def worker(facts: Facts, cell: str) -> Object:
    """The worker of a promoted cell: same image, `worker --cell NAME`, no port.

    It has no probes: it serves no HTTP, and a worker that loses its transport or
    crashes exits, so the restart policy already does what a liveness probe would.
    """
    pairs = {
        **app_env(facts),
        facts.env("placements"): placements(facts.workers),
        **transport_urls(facts),
    }
    container: Object = {
        "name": "worker",
        "image": facts.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "args": ["worker", "--cell", cell],
        "env": env(pairs),
        "resources": resources(("100m", "500m"), ("128Mi", "512Mi")),
        "securityContext": container_security(),
        "volumeMounts": app_mounts(),
    }
    pod = app_pod(facts, container)
    name = worker_name(facts, cell)
    return deployment(facts, name, labels(facts, "worker", dns(cell)), 1, pod)


def worker_name(facts: Facts, cell: str) -> str:
    return f"{facts.project}-worker-{dns(cell)}"


def dns(name: str) -> str:
    """A cell's name as Kubernetes names allow it (no underscores)."""
    return name.replace("_", "-")
