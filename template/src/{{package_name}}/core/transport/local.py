# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Throwaway `redis-server` and `nats-server` processes on 127.0.0.1, for tests,
benchmarks and trying a promotion on a laptop.

Each server gets a free port and a private directory, answers before the context
manager yields its URL, and is stopped by its PID (terminate, then kill) on exit.
Production points `redis_url` / `nats_url` at real, managed servers instead.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BINARIES = {"redis": "redis-server", "nats": "nats-server"}
READY_SECONDS = 10.0


class ServerError(RuntimeError):
    """A local server could not be started."""


@dataclass(frozen=True)
class LocalServer:
    kind: str
    url: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


def binary(kind: str) -> str | None:
    """The server's executable; Debian puts nats-server in /usr/sbin, off a user's PATH."""
    return shutil.which(BINARIES[kind]) or shutil.which(BINARIES[kind], path="/usr/sbin:/sbin")


def available(kind: str) -> bool:
    return binary(kind) is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command(kind: str, port: int, directory: Path) -> list[str]:
    executable = binary(kind) or BINARIES[kind]
    if kind == "redis":
        return [
            executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(directory), "--protected-mode", "yes",
        ]  # fmt: skip
    return [executable, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(directory)]


def _greets(kind: str, port: int) -> bool:
    """True once the server answers: redis PONGs a PING, nats sends its INFO line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            if kind == "redis":
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
            return connection.recv(64).startswith(b"INFO")
    except OSError:
        return False


@contextmanager
def local_server(kind: str) -> Iterator[LocalServer]:
    """A fresh `redis` or `nats` (JetStream on) server; stopped by its PID afterwards."""
    if not available(kind):
        raise ServerError(f"{BINARIES[kind]} is not installed (apt-get install {BINARIES[kind]})")
    with tempfile.TemporaryDirectory(prefix=f"{kind}-") as directory:
        port = free_port()
        process = subprocess.Popen(
            _command(kind, port, Path(directory)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not _greets(kind, port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"{BINARIES[kind]} did not start on port {port}")
                time.sleep(0.02)
            yield LocalServer(kind, f"{kind}://127.0.0.1:{port}", port, process)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
