"""The generated Kubernetes manifests, rendered and read as a cluster would.

Each overlay of a generated project is built with `kubectl kustomize` (no cluster needed)
and every object it yields is validated against the Kubernetes API schema
(kubernetes-validate, strict: an unknown field fails). The assertions then read the
rendered objects: the gateway's Deployment and Service, a worker per promoted cell, what
the NetworkPolicies admit to each pod, Pod Security `restricted` on every container,
requests and limits, probes, secrets referenced but never inlined, and the image the
blueprint names. Last, a placement edited in blueprint.yml reaches the distributed overlay
through the same refresh copier runs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cellforge_hooks.derived import refresh

from .conftest import render, run

Object = dict[str, Any]

PROJECT = "my-service"
PACKAGE = "my_service"
PART_OF = "app.kubernetes.io/part-of"
PROMOTED = {"notes": "redis", "billing": "nats"}
OVERLAYS = ("monolith", "distributed")
LONG_NAME = "kube-check-service-with-forty-characters"
LONG_CELL = "order_items_and_long_names_xyz"  # 30 characters, the longest a cell may be
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project as generated with every default: one cell, in-process."""
    return render(tmp_path_factory.mktemp("default") / PROJECT)


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cells, each on a worker, over different transports."""
    folder = tmp_path_factory.mktemp("promoted") / PROJECT
    return render(folder, cells=["notes", "billing"], placements=PROMOTED)


def kubectl() -> str:
    path = shutil.which("kubectl")
    assert path, "kubectl must be on PATH (CI installs it): `kubectl kustomize` needs no cluster"
    return path


def kustomize(project: Path, overlay: str) -> list[Object]:
    """The objects `kubectl apply -k deploy/k8s/overlays/<overlay>` would send."""
    folder = project / "deploy" / "k8s" / "overlays" / overlay
    built = run([kubectl(), "kustomize", str(folder)], project).stdout
    return [document for document in yaml.safe_load_all(built) if document]


def blueprint(project: Path) -> Object:
    data: Object = yaml.safe_load((project / "blueprint.yml").read_text(encoding="utf-8"))
    return data


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def env_of(container: Object) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def pod(deployment: Object) -> Object:
    spec: Object = deployment["spec"]["template"]["spec"]
    return spec


def selects(selector: Object, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector not understood here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def workers(objects: list[Object]) -> dict[str, Object]:
    return {
        name: deployment
        for name, deployment in of_kind(objects, "Deployment").items()
        if pod(deployment)["containers"][0]["args"][:1] == ["worker"]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("which", ["default", "promoted"])
def test_every_overlay_builds_and_is_valid_kubernetes(
    which: str, overlay: str, request: pytest.FixtureRequest
) -> None:
    project: Path = request.getfixturevalue(which)
    objects = kustomize(project, overlay)

    version = kubernetes_validate.latest_version()
    for document in objects:
        kubernetes_validate.validate(document, version, strict=True)  # raises if invalid
    kinds = sorted({o["kind"] for o in objects})
    assert {"Deployment", "Service", "NetworkPolicy", "ServiceAccount"} <= set(kinds)
    for path in (project / "deploy" / "k8s").rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Owned by the Cellforge template: `")  # explain wrote it


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_a_deployment_behind_a_service(overlay: str, promoted: Path) -> None:
    objects = kustomize(promoted, overlay)
    deploy = blueprint(promoted)["deploy"]
    port = blueprint(promoted)["service"]["http_port"]

    gateway = of_kind(objects, "Deployment")[PROJECT]
    service = of_kind(objects, "Service")[PROJECT]
    assert gateway["spec"]["replicas"] == deploy["replicas"]
    (container,) = pod(gateway)["containers"]
    assert container["args"] == ["serve"]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    env = env_of(container)
    assert env["MY_SERVICE_ENV"] == "prod"
    assert env["MY_SERVICE_HOST"] == "0.0.0.0"
    assert env["MY_SERVICE_PORT"] == str(port)
    assert env["MY_SERVICE_DATA_DIR"] == "/data"
    # Each replica its own audit log (a hash chain has one writer); Kubernetes expands
    # $(POD_NAME) only when POD_NAME is defined earlier in the list.
    names = [e["name"] for e in container["env"]]
    assert env["MY_SERVICE_AUDIT_LOG"] == "/data/audit/$(POD_NAME).log"
    assert names.index("POD_NAME") < names.index("MY_SERVICE_AUDIT_LOG")


def test_the_monolith_runs_every_cell_in_the_gateway(promoted: Path) -> None:
    objects = kustomize(promoted, "monolith")

    assert workers(objects) == {}
    assert set(of_kind(objects, "Deployment")) == {PROJECT}
    gateway = pod(of_kind(objects, "Deployment")[PROJECT])["containers"][0]
    assert json.loads(env_of(gateway)["MY_SERVICE_PLACEMENTS"]) == {}


def test_the_distributed_overlay_runs_a_worker_per_promoted_cell(promoted: Path) -> None:
    objects = kustomize(promoted, "distributed")
    placements = {
        cell: entry["placement"]["worker"]
        for cell, entry in blueprint(promoted)["cells"].items()
        if isinstance(entry["placement"], dict)
    }
    assert placements == PROMOTED

    found = workers(objects)
    assert set(found) == {f"{PROJECT}-worker-{cell}" for cell in placements}
    services = of_kind(objects, "Service")
    deployments = of_kind(objects, "Deployment")
    gateway = pod(deployments[PROJECT])["containers"][0]
    assert json.loads(env_of(gateway)["MY_SERVICE_PLACEMENTS"]) == placements
    for cell, kind in placements.items():
        (container,) = pod(found[f"{PROJECT}-worker-{cell}"])["containers"]
        assert container["args"] == ["worker", "--cell", cell]
        assert container["image"] == gateway["image"]
        env = env_of(container)
        assert json.loads(env["MY_SERVICE_PLACEMENTS"]) == placements
        # The URL names a Service of this overlay, on the port its server listens on.
        for process in (env, env_of(gateway)):
            url = process[f"MY_SERVICE_{kind.upper()}_URL"]
            host, port = url.split("://")[1].split("/")[0].split(":")
            server = services[host]
            assert server["spec"]["ports"][0]["port"] == int(port)
            backing = [
                d
                for d in deployments.values()
                if selects({"matchLabels": server["spec"]["selector"]}, labels_of(d))
            ]
            assert [pod(d)["containers"][0]["image"].split(":")[0] for d in backing] == [kind]
    redis = pod(deployments[f"{PROJECT}-redis"])["containers"][0]
    assert redis["args"][redis["args"].index("--appendonly") + 1] == "yes"
    assert "-js" in pod(deployments[f"{PROJECT}-nats"])["containers"][0]["args"]


def test_without_a_promoted_cell_the_distributed_overlay_is_the_monolith(default: Path) -> None:
    assert kustomize(default, "distributed") == kustomize(default, "monolith")
    assert workers(kustomize(default, "distributed")) == {}


def labels_of(deployment: Object) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def admitted(objects: list[Object], labels: dict[str, str]) -> list[Object] | None:
    """The ingress rules that apply to pods with `labels`; None: no policy isolates them."""
    policies = [
        policy
        for policy in of_kind(objects, "NetworkPolicy").values()
        if "Ingress" in policy["spec"]["policyTypes"]
        and selects(policy["spec"]["podSelector"], labels)
    ]
    if not policies:
        return None
    return [rule for policy in policies for rule in policy["spec"].get("ingress", [])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_reachable_from_outside(overlay: str, promoted: Path) -> None:
    objects = kustomize(promoted, overlay)
    port = blueprint(promoted)["service"]["http_port"]
    app = {"matchLabels": {PART_OF: PROJECT}}

    deployments = of_kind(objects, "Deployment")
    assert len(deployments) == (1 if overlay == "monolith" else 5)  # gateway, 2 workers, 2
    for name, deployment in deployments.items():
        labels = labels_of(deployment)
        rules = admitted(objects, labels)
        assert rules is not None, f"no NetworkPolicy isolates {name}: it admits everyone"
        open_rules = [rule for rule in rules if "from" not in rule]
        if name == PROJECT:
            # From any source, but on the gateway's port alone.
            assert open_rules, "the gateway admits no outside traffic"
            for rule in open_rules:
                assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        else:
            assert open_rules == [], f"{name} admits traffic from outside the app"
        for rule in rules:
            for peer in rule.get("from", []):
                # Only pods of this app, in this namespace: no namespace or IP peers.
                assert peer == {"podSelector": app}, f"{name} admits {peer}"
        assert selects(app, labels), f"{name} is not one of the app's pods"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_pod_security_restricted(overlay: str, promoted: Path) -> None:
    objects = kustomize(promoted, overlay)

    for name, deployment in of_kind(objects, "Deployment").items():
        spec = pod(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        for volume in spec["volumes"]:
            kinds = set(volume) - {"name"}
            assert kinds <= {"persistentVolumeClaim", "emptyDir", "secret"}, (name, volume)
        containers = [*spec["containers"], *spec.get("initContainers", [])]
        for container in containers:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["runAsUser"] != 0, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, (name, bound)
    accounts = of_kind(objects, "ServiceAccount")
    assert accounts[PROJECT]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(overlay: str, promoted: Path) -> None:
    objects = kustomize(promoted, overlay)

    assert of_kind(objects, "Secret") == {}
    assert not any(key in o for o in objects for key in ("data", "stringData"))
    app_deployments = {
        name: d for name, d in of_kind(objects, "Deployment").items() if name.startswith(PROJECT)
    }
    for name, deployment in app_deployments.items():
        if name.endswith(("-redis", "-nats")):
            continue
        spec = pod(deployment)
        (keys,) = [v for v in spec["volumes"] if "secret" in v]
        assert keys["secret"]["secretName"] == f"{PROJECT}-keys"
        (container,) = spec["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == keys["name"]]
        assert mount == {"name": keys["name"], "mountPath": "/run/secrets/keys", "readOnly": True}
        assert env_of(container)["MY_SERVICE_KEYS_DIR"] == "/run/secrets/keys"
        # No key material in the environment either.
        assert not any(n.endswith(("_KEY", "_KEYRING")) for n in env_of(container)), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_is_the_one_the_blueprint_names(overlay: str, promoted: Path) -> None:
    deploy = blueprint(promoted)["deploy"]
    objects = kustomize(promoted, overlay)

    images = {
        name: pod(d)["containers"][0]["image"]
        for name, d in of_kind(objects, "Deployment").items()
        if not name.endswith(("-redis", "-nats"))
    }
    assert images and set(images.values()) == {f"{deploy['image']}:{deploy['tag']}"}


def test_a_placement_edited_in_the_blueprint_reaches_the_distributed_overlay(
    default: Path, tmp_path: Path
) -> None:
    project = shutil.copytree(default, tmp_path / PROJECT)
    path = project / "blueprint.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count("    placement: in-process\n") == 1  # the one cell: notes
    text = text.replace("    placement: in-process\n", "    placement: {worker: redis}\n")
    path.write_text(text.replace('  tag: "0.1.0"\n', '  tag: "0.2.0"\n'), encoding="utf-8")

    written = refresh(project, PACKAGE)  # what copier's task and `explain` run

    assert written is not None
    changed = {p.relative_to(project).as_posix() for p in written}
    assert "deploy/k8s/overlays/distributed/worker-notes.yaml" in changed
    assert refresh(project, PACKAGE) == []  # the output is stable: nothing left to write
    distributed = kustomize(project, "distributed")
    assert set(workers(distributed)) == {f"{PROJECT}-worker-notes"}
    assert f"{PROJECT}-redis" in of_kind(distributed, "Service")
    assert f"{PROJECT}-nats" not in of_kind(distributed, "Service")
    monolith = kustomize(project, "monolith")
    assert workers(monolith) == {}
    for objects in (distributed, monolith):
        gateway = pod(of_kind(objects, "Deployment")[PROJECT])["containers"][0]
        assert gateway["image"] == "ghcr.io/example/my-service:0.2.0"


def test_the_longest_names_still_make_valid_kubernetes_names(tmp_path: Path) -> None:
    """A 40-character project with a 30-character cell (underscores and all) on a worker."""
    assert len(LONG_NAME) == 40 and len(LONG_CELL) == 30
    project = render(
        tmp_path / LONG_NAME, cells=["notes", LONG_CELL], placements={LONG_CELL: "redis"}
    )
    objects = kustomize(project, "distributed")

    version = kubernetes_validate.latest_version()
    for document in objects:
        kubernetes_validate.validate(document, version, strict=True)
    assert set(workers(objects)) == {f"{LONG_NAME}-worker-{LONG_CELL.replace('_', '-')}"}
    for document in objects:
        name = document["metadata"]["name"]
        assert len(name) <= 253 and all(DNS_LABEL.match(part) for part in name.split(".")), name
        if document["kind"] == "Service":
            assert len(name) <= 63 and DNS_LABEL.match(name), name  # a DNS label
        labels = dict(document["metadata"].get("labels", {}))
        if document["kind"] == "Deployment":
            labels |= labels_of(document)
        for value in labels.values():
            assert len(value) <= 63 and LABEL_VALUE.match(value), value
