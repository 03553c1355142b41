# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The message servers of the distributed overlay: Redis and NATS, only those in use.

A promoted cell talks to the gateway over Redis Streams or NATS JetStream (its
`placement:`), so the overlay runs a server for each transport the blueprint names and
none it does not. Both persist on their own volume (Redis' append-only file, JetStream's
store): a message accepted before a restart is still delivered after it. They run under
the same restricted pod settings as the app, and the NetworkPolicy admits only the app's
pods to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .facts import Facts
from .k8s_pods import Object, container_security, deployment, labels, resources

REDIS_IMAGE = "redis:7.4-alpine"
NATS_IMAGE = "nats:2.10-alpine"


@dataclass(frozen=True)
class Server:
    kind: str  # "redis" | "nats", as in a cell's placement
    image: str
    port: int
    args: list[str]
    probe: Object  # readiness and liveness

    def name(self, facts: Facts) -> str:
        return f"{facts.project}-{self.kind}"


SERVERS = {
    "redis": Server(
        "redis",
        REDIS_IMAGE,
        6379,
        ["redis-server", "--appendonly", "yes", "--dir", "/data"],
        {"exec": {"command": ["redis-cli", "ping"]}},
    ),
    "nats": Server(
        "nats",
        NATS_IMAGE,
        4222,
        ["-js", "-sd", "/data", "-m", "8222"],
        {"httpGet": {"path": "/healthz", "port": 8222}},
    ),
}


def objects(facts: Facts, kind: str) -> list[Object]:
    """The claim, Deployment and Service of one server."""
    server = SERVERS[kind]
    name = server.name(facts)
    pod_labels = labels(facts, "transport", kind)
    container: Object = {
        "name": kind,
        "image": server.image,
        "imagePullPolicy": "IfNotPresent",
        "args": server.args,
        "ports": [{"name": kind, "containerPort": server.port, "protocol": "TCP"}],
        "readinessProbe": {**server.probe, "periodSeconds": 5, "timeoutSeconds": 2},
        "livenessProbe": {**server.probe, "periodSeconds": 10, "timeoutSeconds": 2},
        "resources": resources(("100m", "500m"), ("128Mi", "256Mi")),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod: Object = {
        "containers": [container],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    return [
        claim(f"{name}-data", pod_labels, "1Gi"),
        deployment(facts, name, pod_labels, 1, pod, recreate=True),
        service(name, pod_labels, server.port, kind),
    ]


def claim(name: str, claim_labels: dict[str, str], size: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": claim_labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def service(name: str, pod_labels: dict[str, str], port: int, port_name: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "type": "ClusterIP",
            "selector": pod_labels,
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
            ],
        },
    }
