# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The sandboxed peripheries as bus messages: what cells may ask of the sandbox.

High-risk work never runs in the service's process: running code, touching files and
fetching from the web go to the sandbox over the bus, as these messages. Each needs a
capability that the sending cell must declare in `Cell(capabilities=...)`; the bus a
cell is given refuses the rest with a `denied` result and stamps the sender's name on
the message, so a cell cannot act as another. The handlers live in `sandbox/`, which
cells never import.

- `RunCode` (`code.run`): Python source and stdin, in a fresh sandbox.
- `ReadFile` (`files.read`) / `WriteFile` (`files.write`): a file inside a persistent
  workspace of the sending cell, one per owner (the principal the cell acts for);
  declaring these capabilities is how a cell declares that it keeps such workspaces.
- `FetchUrl` (`web.fetch`): http(s) to a domain on the blueprint's egress allowlist.

Every handler answers a `SandboxResult`: ok, timeout, killed (with the limit), denied
(with the reason) or error, and the isolation backend that was in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .messages import Command, Query, Record

Status = Literal["ok", "timeout", "killed", "denied", "error"]
Owner = Annotated[str, Field(min_length=1, max_length=200)]
WorkspacePath = Annotated[str, Field(min_length=1, max_length=1024)]


@dataclass(frozen=True, slots=True)
class SandboxResult(Record):
    status: Status
    backend: str
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False
    limit: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunCode(Command[SandboxResult]):
    """Run Python source with stdin, in a fresh sandbox with an empty workspace."""

    capability: ClassVar[str] = "code.run"
    source: str
    stdin: bytes = b""
    cell: str = ""  # stamped by the bus, never trusted from the sender


@dataclass(frozen=True, slots=True)
class ReadFile(Query[SandboxResult]):
    """The bytes of a file in the owner's persistent workspace (in `stdout`)."""

    capability: ClassVar[str] = "files.read"
    owner: Owner
    path: WorkspacePath
    cell: str = ""


@dataclass(frozen=True, slots=True)
class WriteFile(Command[SandboxResult]):
    """Write a file in the owner's persistent workspace."""

    capability: ClassVar[str] = "files.write"
    owner: Owner
    path: WorkspacePath
    content: bytes
    cell: str = ""


@dataclass(frozen=True, slots=True)
class FetchUrl(Command[SandboxResult]):
    """GET an http(s) URL on the egress allowlist; the body is in `stdout`, the status
    and final URL in `details`. Anything but `ok` names its `kind` in `details`:
    denied (scheme, url, allowlist, address, redirect_refused) or error (dns, connect,
    tls, timeout, protocol, too_large with the first bytes, redirects, internal)."""

    capability: ClassVar[str] = "web.fetch"
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    cell: str = ""


MESSAGES = (RunCode, ReadFile, WriteFile, FetchUrl)
CAPABILITIES = tuple(m.capability for m in MESSAGES)
