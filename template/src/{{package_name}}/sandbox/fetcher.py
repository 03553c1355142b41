# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The web.fetch program, run inside the sandbox (with the network, and nothing else).

It uses only the standard library, because the sandbox has no virtualenv. It reads its
request as JSON on stdin, writes exactly one JSON line (the outcome) and, after an `ok`
outcome only, the body. Whatever happens, the outcome is typed and the exit code agrees
with it (`EXIT`); no traceback is ever written, so the caller never has to guess from
stderr. The service imports this module too, to screen a URL before starting a sandbox.

What it may reach, and how a name is resolved, is `fetch_policy.py`. The sandbox runs
both as one program (`program()`): the policy module is loaded first, under a package
of its own, so that this module's relative import finds it there as it does here.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from .fetch_policy import (
    IP,
    MAX_URL,
    DeniedError,
    FetchError,
    Resolver,
    Target,
    resolve_checked,
    screen,
    system_resolver,
)

EXIT = {"ok": 0, "denied": 3, "error": 4}
PARTS = ("fetch_policy", "fetcher")  # the program's modules, in the order they load
REDIRECTS = (301, 302, 303, 307, 308)
Outcome = tuple[dict[str, str], bytes]  # the head line, and the body
# Runs first in the sandbox: registers each module's source under the package `fetch`,
# then runs the last one as `__main__` in that package.
LOADER = """import sys, types
sys.modules["fetch"] = types.ModuleType("fetch")
sys.modules["fetch"].__path__ = []
for _name, _source in _MODULES:
    _main = _name == _MODULES[-1][0]
    _module = types.ModuleType("__main__" if _main else "fetch." + _name)
    _module.__package__ = "fetch"
    sys.modules[_module.__name__] = _module
    exec(compile(_source, _name + ".py", "exec"), _module.__dict__)
"""


def program() -> str:
    """The source the sandbox runs (`python -c`): the policy, then this module as main.
    (Called by the service only: in the sandbox the modules have no `__file__`.)"""
    here = Path(__file__).parent
    modules = [(name, (here / f"{name}.py").read_text("utf-8")) for name in PARTS]
    return f"_MODULES = {modules!r}\n{LOADER}"


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the fetch took longer than its time limit")
        return left


class Pinned(http.client.HTTPConnection):
    """A connection to one checked address; the name stays in Host (and TLS)."""

    def __init__(self, target: Target, address: IP, deadline: Deadline) -> None:
        super().__init__(target.host, target.port, timeout=deadline.left())
        self.target, self.address, self.deadline = target, address, deadline
        self.default_port = 443 if target.scheme == "https" else 80  # for the Host header
        self.phase = "connect"
        self.raw: socket.socket | None = None  # outlives `sock`, which a closing response drops

    def connect(self) -> None:
        self.phase = "connect"
        ip: IP = self.address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.deadline.left())
            sock.connect((str(ip), self.target.port))
            if self.target.scheme == "https":
                self.phase = "tls"
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = self.raw = sock
        self.phase = "request"


def fetch(request: dict[str, Any], resolve: Resolver = system_resolver) -> Outcome:
    """GET the URL, following checked redirects: the outcome's head and the body."""
    deadline = Deadline(request["timeout"])
    url = request["url"]
    for hop in range(request["max_redirects"] + 1):
        try:
            target = screen(url, request)
            addresses = resolve_checked(target, resolve)
        except DeniedError as refused:
            if hop == 0:
                raise
            raise DeniedError("redirect_refused", f"redirect refused: {refused.reason}") from None
        status, location, body = _get(target, addresses, deadline, request["max_bytes"])
        if status in REDIRECTS and location is not None:
            try:
                url = urljoin(url, location)
            except ValueError:
                raise DeniedError("redirect_refused", "redirect refused: malformed") from None
            continue
        head = {"outcome": "ok", "status": str(status), "url": url}
        if len(body) > request["max_bytes"]:  # honest: a part is not the response
            head = {
                "outcome": "error",
                "kind": "too_large",
                "reason": f"the response is larger than {request['max_bytes']} bytes",
                "status": str(status),
                "url": url,
            }
        return head, body[: request["max_bytes"]]
    raise FetchError("redirects", f"more than {request['max_redirects']} redirects")


def _get(
    target: Target, addresses: list[IP], deadline: Deadline, max_bytes: int
) -> tuple[int, str | None, bytes]:
    """One GET, to the first checked address that accepts the connection."""
    for index, address in enumerate(addresses):
        connection = Pinned(target, address, deadline)
        try:
            connection.connect()
        except (ssl.SSLError, ssl.CertificateError) as error:
            connection.close()
            raise FetchError("tls", f"TLS with {target.host} failed ({_summary(error)})") from None
        except TimeoutError:
            connection.close()
            raise
        except OSError as error:
            connection.close()
            if connection.phase == "tls":
                raise FetchError(
                    "tls", f"TLS with {target.host} failed ({_summary(error)})"
                ) from None
            if index == len(addresses) - 1:
                raise FetchError(
                    "connect", f"cannot connect to {target.host} ({_summary(error)})"
                ) from None
            continue
        try:
            return _exchange(connection, target, deadline, max_bytes)
        finally:
            connection.close()
    raise FetchError("connect", f"cannot connect to {target.host}")


def _exchange(
    connection: Pinned, target: Target, deadline: Deadline, max_bytes: int
) -> tuple[int, str | None, bytes]:
    assert connection.raw is not None
    try:
        connection.request("GET", target.path, headers={"User-Agent": "cellforge-fetch"})
        connection.raw.settimeout(deadline.left())
        response = connection.getresponse()
        body = bytearray()
        while len(body) <= max_bytes:
            connection.raw.settimeout(deadline.left())
            chunk = response.read1(max_bytes + 1 - len(body))
            if not chunk:
                # read1 does not raise IncompleteRead at an early end: check the length.
                if response.length:
                    raise http.client.IncompleteRead(bytes(body), response.length)
                break
            body += chunk
    except TimeoutError:
        raise
    except (http.client.HTTPException, OSError) as error:
        raise FetchError(
            "protocol", f"the response from {target.host} broke off ({_summary(error)})"
        ) from None
    location = response.getheader("location")
    if location is not None and len(location) > MAX_URL:
        raise DeniedError("redirect_refused", "redirect refused: the location is too long")
    return response.status, location, bytes(body)


def _summary(error: BaseException) -> str:
    """One line about an error, never a traceback."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def outcome(request: dict[str, Any], resolve: Resolver = system_resolver) -> Outcome:
    """`fetch`, with every way it can end turned into a typed outcome."""
    try:
        return fetch(request, resolve)
    except DeniedError as refused:
        return {"outcome": "denied", "kind": refused.kind, "reason": refused.reason}, b""
    except FetchError as failed:
        return {"outcome": "error", "kind": failed.kind, "reason": failed.reason}, b""
    except TimeoutError:
        reason = f"no complete answer within {request['timeout']:g} s"
        return {"outcome": "error", "kind": "timeout", "reason": reason}, b""
    except Exception as error:  # a bug here must still not pass for a fetch
        reason = f"the fetch program failed ({_summary(error)})"
        return {"outcome": "error", "kind": "internal", "reason": reason}, b""


def main() -> int:
    try:
        head, body = outcome(json.loads(sys.stdin.read()))
    except Exception as error:  # an unreadable request
        head = {"outcome": "error", "kind": "internal", "reason": _summary(error)}
        body = b""
    sys.stdout.write(json.dumps(head) + "\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(body)  # empty unless there was a response (ok or too_large)
    return EXIT[head["outcome"]]


if __name__ == "__main__":
    sys.exit(main())
