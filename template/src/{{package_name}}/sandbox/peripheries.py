# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The handlers of the sandboxed peripheries (`core/periphery.py`), wired to the bus.

Each runs its work in a fresh sandbox, off the event loop, and answers a
`SandboxResult`. `code.run` takes a pre-started worker from the warm pool when there is
one. `files.*` work in `<data_dir>/workspaces/<cell>/<owner hash>/`, bind-mounted as the
task's workspace, with the workspace size checked before a write. `web.fetch` screens
the URL here (`fetcher.screen`: scheme, authority, literal addresses, allowlist), then
the fetch program checks it again, with the addresses it resolves, inside the sandbox.

A fetch result is derived from what the fetch program reports (one typed JSON line)
*and* how it ended: `ok` only when both say so. Anything else (a crash, a limit, a
line missing or not matching the exit code) is an `error`, a `timeout` or a `killed`,
with a `kind` in `details` and a one-line reason, and never the program's stderr.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

from ..core.bus import Bus
from ..core.periphery import FetchUrl, ReadFile, RunCode, SandboxResult, WriteFile
from . import fetch_policy, fetcher
from .limits import MIB
from .pool import WarmPool
from .runner import Sandbox

HERE = Path(__file__).parent
FETCHER = fetcher.program()
FILEOPS = (HERE / "fileops.py").read_text(encoding="utf-8")
DENIED = 3


def workspace_of(root: Path, cell: str, owner: str) -> Path:
    digest = hashlib.sha256(owner.encode()).hexdigest()[:24]
    path = root / "workspaces" / cell / digest
    path.mkdir(parents=True, exist_ok=True, mode=0o711)
    traversable(path.parent)
    return path


def traversable(folder: Path) -> None:
    """bwrap binds the workspace as the task's uid, which must be able to pass through
    the folders above it: add search (never read) permission where it is missing."""
    for ancestor in [folder, *folder.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH and ancestor.stat().st_uid == os.geteuid():
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def usage(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


FETCH_SHARE_OF_WALL = 0.75
MAX_REDIRECTS = 5
HEAD_BYTES = 4096  # room for the outcome line, above the body's limit


def fetch_result(raw: SandboxResult, max_bytes: int) -> SandboxResult:
    """The caller's result from what the fetch program did: `ok` only when the program
    ran to its end, exited 0 and reported `ok`; never its stderr or a traceback."""
    line, _, body = raw.stdout.partition(b"\n")
    head = _head(line)
    kind, reason = head.get("kind", ""), head.get("reason", "")
    code = fetcher.EXIT.get(head.get("outcome", ""))
    status: str
    if raw.status in ("denied", "error"):  # the sandbox did not start it
        status, kind, reason = raw.status, "sandbox", raw.reason or ""
    elif raw.status != "ok":  # a limit of the sandbox stopped the program first
        kind = "timeout" if raw.status == "timeout" else raw.limit or "killed"
        reason = f"the fetch stopped at the sandbox's {raw.limit or raw.status} limit"
        status = raw.status
    elif code is None or code != raw.exit_code:
        kind, status = "internal", "error"
        reason = f"the fetch program ended without an outcome (exit code {raw.exit_code})"
    else:
        status = head["outcome"]
    if kind == "timeout":  # the program's deadline or the sandbox's: one status for both
        status = "timeout"
    details = {"kind": kind} if status != "ok" else {}
    has_body = (status == "ok" or kind == "too_large") and "status" in head
    if has_body:  # the response's HTTP status and the URL it came from, after redirects
        details.update(status=head["status"], url=head.get("url", ""))
    return SandboxResult(
        status,  # type: ignore[arg-type]
        raw.backend,
        exit_code=raw.exit_code,
        stdout=body[:max_bytes] if has_body else b"",
        truncated=kind == "too_large",
        limit=raw.limit,
        reason=reason or None,
        seconds=raw.seconds,
        details=details,
    )


def _head(line: bytes) -> dict[str, str]:
    try:
        head = json.loads(line)
    except ValueError:
        return {}
    if not isinstance(head, dict):
        return {}
    return {str(k): str(v) for k, v in head.items()}


def _file_result(result: SandboxResult) -> SandboxResult:
    """The same rule for the files program: `ok` only for exit 0; a failure is an
    `error` named by its exception (FileNotFoundError, ...), never its traceback."""
    if result.status != "ok" or result.exit_code == 0:
        return replace(result, stderr=b"")
    if result.exit_code == DENIED:
        reason = _head(result.stdout.partition(b"\n")[0]).get("denied", "refused")
        return SandboxResult("denied", result.backend, reason=reason, seconds=result.seconds)
    last = result.stderr.decode(errors="replace").strip().rpartition("\n")[2]
    error = last.partition(":")[0] if last.partition(":")[0].isidentifier() else "unknown"
    return SandboxResult(
        "error",
        result.backend,
        exit_code=result.exit_code,
        reason=f"the file operation failed ({error})",
        seconds=result.seconds,
        details={"kind": error},
    )


class Peripheries:
    def __init__(
        self,
        sandbox: Sandbox,
        data_dir: Path | None,
        pool: WarmPool | None = None,
        loopback_for_tests: tuple[str, ...] = (),
    ) -> None:
        self.sandbox, self.pool = sandbox, pool
        self.root = data_dir or Path(tempfile.mkdtemp(prefix="workspaces-"))
        self.loopback_for_tests = loopback_for_tests

    def wire(self, bus: Bus) -> None:
        bus.handle(RunCode, self.run_code)
        bus.handle(ReadFile, self.read_file)
        bus.handle(WriteFile, self.write_file)
        bus.handle(FetchUrl, self.fetch_url)

    async def run_code(self, command: RunCode) -> SandboxResult:
        if self.pool is not None:
            return await asyncio.to_thread(self.pool.run, command.source, command.stdin)
        return await asyncio.to_thread(self.sandbox.run_python, command.source, command.stdin)

    async def _file(self, cell: str, owner: str, request: dict[str, str]) -> SandboxResult:
        workspace = workspace_of(self.root, cell or "unknown", owner)
        stdin = json.dumps(request).encode()
        result = await asyncio.to_thread(self.sandbox.run_python, FILEOPS, stdin, None, workspace)
        return _file_result(result)

    async def read_file(self, query: ReadFile) -> SandboxResult:
        return await self._file(query.cell, query.owner, {"op": "read", "path": query.path})

    async def write_file(self, command: WriteFile) -> SandboxResult:
        workspace = workspace_of(self.root, command.cell or "unknown", command.owner)
        quota = self.sandbox.policy.limits.workspace_mb * MIB
        if usage(workspace) + len(command.content) > quota:
            return SandboxResult(
                "denied", self.sandbox.backend_name, reason="the workspace is full"
            )
        content = base64.b64encode(command.content).decode()
        request = {"op": "write", "path": command.path, "content": content}
        return await self._file(command.cell, command.owner, request)

    async def fetch_url(self, command: FetchUrl) -> SandboxResult:
        policy = self.sandbox.policy
        limits = policy.limits
        request = {
            "url": command.url,
            "allow": list(policy.egress),
            "loopback_for_tests": list(self.loopback_for_tests),
            "max_bytes": limits.output_bytes,
            # The program's own deadline comes first, so that it can say what timed out.
            "timeout": limits.wall_seconds * FETCH_SHARE_OF_WALL,
            "max_redirects": MAX_REDIRECTS,
        }
        try:
            fetch_policy.screen(command.url, request)
        except fetch_policy.DeniedError as refused:
            return SandboxResult(
                "denied",
                self.sandbox.backend_name,
                reason=refused.reason,
                details={"kind": refused.kind},
            )
        result = await asyncio.to_thread(
            self.sandbox.run_python,
            FETCHER,
            json.dumps(request).encode(),
            replace(limits, output_bytes=limits.output_bytes + HEAD_BYTES),
            None,
            True,
        )
        return fetch_result(result, limits.output_bytes)
