"""The web.fetch program, run inside the sandbox (with the network, and nothing else).

It uses only the standard library, because the sandbox has no virtualenv. It reads its
request as JSON on stdin and, for the URL and every redirect: checks the scheme (http,
https) and the host against the allowlist, resolves the host itself and refuses any
address that is private, loopback, link-local (cloud metadata lives there), multicast,
reserved or unspecified, then connects to exactly the address it checked (so a DNS
answer cannot change between the check and the connection). It writes one JSON line
(the outcome) and then the body, at most `max_bytes` of it.
"""

import http.client
import ipaddress
import json
import socket
import ssl
import sys
from typing import Any, NoReturn
from urllib.parse import urljoin, urlsplit

DENIED = 3


def deny(reason: str) -> NoReturn:
    sys.stdout.write(json.dumps({"denied": reason}) + "\n")
    sys.exit(DENIED)


def allowed_host(host: str, allowlist: list[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in allowlist)


def checked_address(host: str, port: int, request: dict[str, Any]) -> str:
    if f"{host}:{port}" in request["loopback_for_tests"]:
        return str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0])
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        deny(f"{host} does not resolve")
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            deny(f"{host} resolves to a non-public address ({ip})")
    return addresses[0]


class PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


class PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


def fetch(request: dict[str, Any]) -> None:
    url = request["url"]
    for _ in range(request["max_redirects"] + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            deny(f"scheme {parts.scheme!r} is not http or https")
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not allowed_host(host, request["allow"]) and (
            f"{host}:{port}" not in request["loopback_for_tests"]
        ):
            deny(f"{host} is not on the egress allowlist")
        address = checked_address(host, port, request)
        kind = PinnedHTTPS if parts.scheme == "https" else PinnedHTTP
        connection = kind(host, address, port, request["timeout"])
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        connection.request("GET", target, headers={"User-Agent": "cellforge-fetch"})
        response = connection.getresponse()
        if response.status in (301, 302, 303, 307, 308) and response.getheader("location"):
            url = urljoin(url, response.getheader("location"))
            connection.close()
            continue
        body = response.read(request["max_bytes"] + 1)
        head = {"status": str(response.status), "url": url}
        head["truncated"] = str(len(body) > request["max_bytes"]).lower()
        sys.stdout.write(json.dumps(head) + "\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(body[: request["max_bytes"]])
        return
    deny("too many redirects")


if __name__ == "__main__":
    fetch(json.loads(sys.stdin.read()))
