# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`deploy/compose.yaml`: the service on one host, as the blueprint places its cells.

`docker compose -f deploy/compose.yaml up -d` builds the image (deploy/Dockerfile, the
project root as context) and runs:

- `gateway`: `serve`, the only service with a published port (the blueprint's
  `service.http_port`); everything else is reached over the compose network alone.
- `worker-<cell>`: `worker --cell <cell>` for each cell placed on a worker, same image,
  no port; its transport's URL points at the server below.
- `redis` / `nats`: only when a worker needs them. Redis appends every write to its
  AOF (`appendonly yes`): a stream entry acknowledged to the gateway survives a restart;
  NATS runs JetStream with its store on a volume.

Volumes: `data` at DATA_DIR holds the cells' SQLite files and the audit log; `keys` at
KEYS_DIR holds the audit key, the data keyring and, with workers, the delivery keyring
(it signs and seals what crosses Redis or NATS), which you put there once, readable by
uid 10001 (prod never invents a key), e.g. `docker compose -f deploy/compose.yaml run
--rm --no-deps -T --entrypoint sh gateway -c 'cat > /run/secrets/keys/audit.key'
< audit.key`, and the API-key hashes `keys create` adds: so it is a writable volume,
not a compose secret (secrets are read-only files). Workers mount both: each cell keeps
its own SQLite file, sealed with the same keyring, and `keys rotate-data` re-encrypts
them all.

Every container has a read-only root filesystem, a /tmp tmpfs, no capabilities and no
privilege escalation. The service's containers run as uid 10001 and Redis as its image's
`redis` user; NATS keeps its image's root, the only user its scratch image has (a new
volume's root is root's, so no other uid could write the store), with every capability
dropped. Values are literal, never interpolated from the shell: the file is the whole
truth, and a change goes through blueprint.yml and `explain`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from ...core.markers import derived_line
from ...core.names import PROG
from .facts import DATA_DIR, KEYS_DIR, Facts

PATH = "deploy/compose.yaml"
HEADER = (
    f"{derived_line(PATH, PROG)}\n"
    "# Run from the project root: docker compose -f deploy/compose.yaml up -d\n"
)
UID = 10001
REDIS_IMAGE = "redis:7.4"
NATS_IMAGE = "nats:2.11"
URLS = {"redis": "redis://redis:6379/0", "nats": "nats://nats:4222"}
# The image's HEALTHCHECK, with the blueprint's port (slim images have no curl).
PROBE = "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=4)"
HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": ["/tmp"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "restart": "unless-stopped",
}


def render(facts: Facts) -> list[tuple[str, str]]:
    """The compose file, as `explain` writes it."""
    return [(PATH, HEADER + yaml.safe_dump(document(facts), sort_keys=False))]


def document(facts: Facts) -> dict[str, Any]:
    workers = {
        f"worker-{cell}": worker(facts, cell, transport)
        for cell, transport in sorted(facts.workers.items())
    }
    servers = {name: SERVERS[name]() for name in facts.transports}
    volumes: dict[str, Any] = {name: {} for name in ("data", "keys", *facts.transports)}
    return {
        "name": facts.project,
        "services": {"gateway": gateway(facts), **workers, **servers},
        "volumes": volumes,
    }


def environment(facts: Facts) -> dict[str, str]:
    """What every container of the service is told: prod, where its state and keys are,
    which cells run where, and how to reach the servers they run on."""
    env = {
        facts.env("env"): "prod",
        facts.env("data_dir"): DATA_DIR,
        facts.env("keys_dir"): KEYS_DIR,
        facts.env("placements"): json.dumps(dict(sorted(facts.workers.items()))),
    }
    env.update({facts.env(f"{name}_url"): URLS[name] for name in facts.transports})
    return env


def service(facts: Facts, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """A container of the service's own image (built here when missing)."""
    return {
        "image": facts.image_ref,
        "build": {"context": "..", "dockerfile": "deploy/Dockerfile"},
        "command": command,
        "user": f"{UID}:{UID}",
        "environment": env,
        "volumes": [f"data:{DATA_DIR}", f"keys:{KEYS_DIR}"],
        **depends_on(facts.transports),
        **_copy(HARDENED),
    }


def gateway(facts: Facts) -> dict[str, Any]:
    env = {facts.env("host"): "0.0.0.0", facts.env("port"): str(facts.port)}
    entry = service(facts, ["serve"], {**environment(facts), **env})
    entry["ports"] = [f"{facts.port}:{facts.port}"]
    url = f"http://127.0.0.1:{facts.port}/healthz"
    entry["healthcheck"] = {
        "test": ["CMD", "python", "-c", PROBE, url],
        "interval": "30s",
        "timeout": "5s",
        "start_period": "20s",
        "retries": 3,
    }
    return entry


def worker(facts: Facts, cell: str, transport: str) -> dict[str, Any]:
    """A worker serves its inbox, not HTTP: the image's healthcheck does not apply."""
    entry = service(facts, ["worker", "--cell", cell], environment(facts))
    entry["depends_on"] = depends_on([transport])["depends_on"]
    entry["healthcheck"] = {"disable": True}
    return entry


def depends_on(transports: list[str]) -> dict[str, Any]:
    """Start after the servers: Redis once it answers PING, NATS once started (its image
    has nothing to probe with; the transport retries, and `restart` covers the rest)."""
    if not transports:
        return {}
    condition = {"redis": "service_healthy", "nats": "service_started"}
    return {"depends_on": {name: {"condition": condition[name]} for name in transports}}


def redis() -> dict[str, Any]:
    return {
        "image": REDIS_IMAGE,
        "command": ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec"],
        "user": "redis",
        "volumes": ["redis:/data"],
        "healthcheck": {
            "test": ["CMD", "redis-cli", "ping"],
            "interval": "10s",
            "timeout": "3s",
            "retries": 5,
        },
        **_copy(HARDENED),
    }


def nats() -> dict[str, Any]:
    return {
        "image": NATS_IMAGE,
        "command": ["--jetstream", "--store_dir", "/data"],
        "volumes": ["nats:/data"],
        **_copy(HARDENED),
    }


SERVERS = {"redis": redis, "nats": nats}


def _copy(entries: dict[str, Any]) -> dict[str, Any]:
    """Fresh lists for every service: shared ones would be dumped as YAML aliases."""
    return copy.deepcopy(entries)
