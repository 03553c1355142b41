"""The handlers of the sandboxed peripheries (`core/periphery.py`), wired to the bus.

Each runs its work in a fresh sandbox, off the event loop, and answers a
`SandboxResult`. `code.run` takes a pre-started worker from the warm pool when there is
one. `files.*` work in `<data_dir>/workspaces/<cell>/<owner hash>/`, bind-mounted as the
task's workspace, with the workspace size checked before a write. `web.fetch` checks
scheme and allowlist here, then again (with the addresses) inside the sandbox.
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
from urllib.parse import urlsplit

from ..core.bus import Bus
from ..core.periphery import FetchUrl, ReadFile, RunCode, SandboxResult, WriteFile
from .limits import MIB
from .pool import WarmPool
from .runner import Sandbox

HERE = Path(__file__).parent
FETCHER = (HERE / "fetcher.py").read_text(encoding="utf-8")
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


def _denied_or(result: SandboxResult) -> SandboxResult:
    if result.status == "ok" and result.exit_code == DENIED:
        reason = json.loads(result.stdout.splitlines()[0])["denied"]
        return SandboxResult("denied", result.backend, reason=reason, seconds=result.seconds)
    return result


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
        return _denied_or(result)

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
        parts = urlsplit(command.url)
        policy = self.sandbox.policy
        if parts.scheme not in ("http", "https"):
            return SandboxResult("denied", self.sandbox.backend_name, reason="not http(s)")
        limits = policy.limits
        request = {
            "url": command.url,
            "allow": list(policy.egress),
            "loopback_for_tests": list(self.loopback_for_tests),
            "max_bytes": limits.output_bytes,
            "timeout": limits.wall_seconds,
            "max_redirects": 5,
        }
        stdin = json.dumps(request).encode()
        result = await asyncio.to_thread(
            self.sandbox.run_python,
            FETCHER,
            stdin,
            replace(limits, output_bytes=limits.output_bytes + 4096),
            None,
            True,
        )
        result = _denied_or(result)
        if result.status != "ok" or result.exit_code != 0:
            return result
        head, _, body = result.stdout.partition(b"\n")
        details = json.loads(head)
        return SandboxResult(
            "ok",
            result.backend,
            exit_code=0,
            stdout=body,
            truncated=details.pop("truncated") == "true",
            seconds=result.seconds,
            details=details,
        )
