# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The Kubernetes manifests: a kustomize base and the overlays `monolith` and `distributed`.

`deploy/k8s/base/` is the service as generated: the gateway's Deployment and Service,
its data volume, its ServiceAccount (no API token: the app never calls the API) and the
NetworkPolicy. `overlays/monolith` is the base, every cell in the gateway's process.
`overlays/distributed` adds what the blueprint's placements call for: a Deployment per
promoted cell (`<project>-worker-<cell>`), the Redis and NATS servers their transports
need, and the gateway's matching `<PREFIX>PLACEMENTS`. `kubectl apply -k
deploy/k8s/overlays/<name>`; `kubectl kustomize` renders one without a cluster.

The NetworkPolicy admits traffic from anywhere to the gateway's port only; every other
pod of the app (workers, servers) accepts connections from the app's own pods alone.
Keys are a Secret the operator creates (`kubectl create secret generic`, see the base's
kustomization.yaml), mounted read-only: no manifest holds key material.
"""

from __future__ import annotations

from typing import Any

import yaml

from ...core.markers import derived_line
from ...core.names import PROG
from .facts import KEYS_DIR, Facts
from .k8s_pods import (
    COMPONENT,
    PART_OF,
    Object,
    data_claim,
    gateway,
    keys_secret,
    labels,
    placements,
    transport_urls,
    worker,
    worker_name,
)
from .k8s_servers import claim, objects, service

HEADER = derived_line("deploy/k8s/base/gateway.yaml", PROG) + "\n"  # any YAML path
ROOT = "deploy/k8s"
KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


class Dumper(yaml.SafeDumper):
    """Spells every value out: a label set used twice is written twice, not aliased."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(facts: Facts) -> list[tuple[str, str]]:
    """Every file under deploy/k8s/, as (path relative to the project, text)."""
    return [*base(facts), *monolith(), *distributed(facts)]


def dump(documents: list[Object], comment: str = "") -> str:
    """YAML documents in a stable text: the header, an optional comment, then the objects."""
    lines = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = "---\n".join(
        yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=4096)
        for document in documents
    )
    return HEADER + lines + body


def kustomization(resources: list[str], patches: list[str] | None = None) -> Object:
    document: dict[str, Any] = {**KUSTOMIZATION, "resources": resources}
    if patches:
        document["patches"] = [{"path": path} for path in patches]
    return document


def base(facts: Facts) -> list[tuple[str, str]]:
    keys = keys_secret(facts)
    how = (
        f"The keys are the Secret {keys}, mounted read-only at {KEYS_DIR}; create it once\n"
        "(never commit it; no manifest here holds key material):\n"
        f"  kubectl create secret generic {keys} \\\n"
        "    --from-file=audit.key=PATH --from-file=data.keyring=PATH"
        # Workers and the gateway sign and seal what crosses Redis or NATS with it.
        + (" --from-file=delivery.keyring=PATH" if facts.transports else "")
        + "\n"
        "Label the namespace pod-security.kubernetes.io/enforce=restricted: every pod meets it."
    )
    pod_labels = labels(facts, "gateway", "gateway")
    return [
        (
            f"{ROOT}/base/kustomization.yaml",
            dump([kustomization(["gateway.yaml", "networkpolicy.yaml"])], how),
        ),
        (
            f"{ROOT}/base/gateway.yaml",
            dump(
                [
                    service_account(facts),
                    claim(data_claim(facts), pod_labels, "5Gi"),
                    gateway(facts),
                    service(facts.project, pod_labels, facts.port, "http"),
                ]
            ),
        ),
        (f"{ROOT}/base/networkpolicy.yaml", dump(network_policies(facts))),
    ]


def service_account(facts: Facts) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": facts.project, "labels": {PART_OF: facts.project}},
        "automountServiceAccountToken": False,
    }


def network_policies(facts: Facts) -> list[Object]:
    """Ingress from anywhere to the gateway's port; to any other pod, from the app only."""
    app = {PART_OF: facts.project}
    anyone = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{facts.project}-gateway-ingress", "labels": app},
        "spec": {
            "podSelector": {"matchLabels": {**app, COMPONENT: "gateway"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": facts.port}]}],
        },
    }
    inside = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{facts.project}-internal-only", "labels": app},
        "spec": {
            "podSelector": {"matchLabels": app},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": app}}]}],
        },
    }
    return [anyone, inside]


def monolith() -> list[tuple[str, str]]:
    comment = "Every cell in the gateway's process: the base as it is (PLACEMENTS={})."
    return [
        (
            f"{ROOT}/overlays/monolith/kustomization.yaml",
            dump([kustomization(["../../base"])], comment),
        )
    ]


def distributed(facts: Facts) -> list[tuple[str, str]]:
    folder = f"{ROOT}/overlays/distributed"
    if not facts.workers:
        comment = (
            "No cell is promoted in blueprint.yml, so this overlay is the monolith's.\n"
            "Promote one (`runbook run promote-cell NAME --to redis`) and explain adds its worker."
        )
        return [(f"{folder}/kustomization.yaml", dump([kustomization(["../../base"])], comment))]
    files: list[tuple[str, str]] = []
    for kind in facts.transports:
        files.append((f"{folder}/{kind}.yaml", dump(objects(facts, kind))))
    for cell in sorted(facts.workers):
        files.append((f"{folder}/worker-{cell}.yaml", dump([worker(facts, cell)])))
    files.append((f"{folder}/gateway-placements.yaml", dump([gateway_patch(facts)])))
    resources = ["../../base", *(path.rsplit("/", 1)[1] for path, _ in files[:-1])]
    comment = "Workers: " + ", ".join(
        f"{worker_name(facts, cell)} ({kind})" for cell, kind in sorted(facts.workers.items())
    )
    layout = kustomization(resources, ["gateway-placements.yaml"])
    return [(f"{folder}/kustomization.yaml", dump([layout], comment)), *files]


def gateway_patch(facts: Facts) -> Object:
    """The gateway sends the promoted cells' messages to their workers."""
    pairs = {facts.env("placements"): placements(facts.workers), **transport_urls(facts)}
    container = {
        "name": "gateway",
        "env": [{"name": name, "value": value} for name, value in pairs.items()],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": facts.project},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
