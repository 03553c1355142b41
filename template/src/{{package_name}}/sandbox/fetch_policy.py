# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What a web fetch may reach: the URL policy and the address table, checked both by the
service (before it starts a sandbox) and by the fetch program inside it (`fetcher.py`).

Only the standard library: it runs in the sandbox, which has no virtualenv.
For the URL and every redirect, `screen` refuses (a *denial*, by policy):
- a scheme other than http and https;
- anything ambiguous in the authority: credentials (`http://allowed@127.0.0.1/`), an
  IPv6 zone id, port 0, a host that is not plain ASCII letters, digits, `-` and `_`,
  and every IPv4 spelling but the canonical dotted quad (`2130706433`, `0177.0.0.1`,
  `0x7f.1`, `127.1`: resolvers accept them, people reading an allowlist do not);
- a literal address that is not public (`refusal_of`), then a host not on the allowlist.

`resolve_checked` then resolves an allowlisted name itself and refuses the whole fetch
if *any* answer is not public, and the connection goes to exactly the addresses it
checked, with the name kept for the Host header and TLS (SNI and certificate check):
a DNS answer cannot change between the check and the connection.

What is public is decided by an explicit table of the IANA special-purpose registries,
not by `ipaddress.is_global` alone, which differs between Python versions and calls
`64:ff9b::7f00:1` (the NAT64 form of 127.0.0.1) and `::127.0.0.1` global.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

MAX_URL = 2048
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Blocks a fetch may never reach, from the IANA IPv4 Special-Purpose Address Registry
# (https://www.iana.org/assignments/iana-ipv4-special-registry), RFC 6890 and the IPv4
# multicast registry. Refused whole, even the few entries marked globally reachable
# (anycast services such as PCP, TURN, AS112 and AMT): a web fetch never needs them.
SPECIAL_IPV4 = {
    "0.0.0.0/8": "this network",
    "10.0.0.0/8": "private",
    "100.64.0.0/10": "shared address space (CGNAT)",
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local (cloud metadata)",
    "172.16.0.0/12": "private",
    "192.0.0.0/24": "IETF protocol assignments",
    "192.0.2.0/24": "documentation",
    "192.31.196.0/24": "AS112",
    "192.52.193.0/24": "AMT",
    "192.88.99.0/24": "6to4 relay anycast (deprecated)",
    "192.168.0.0/16": "private",
    "192.175.48.0/24": "AS112 direct delegation",
    "198.18.0.0/15": "benchmarking",
    "198.51.100.0/24": "documentation",
    "203.0.113.0/24": "documentation",
    "224.0.0.0/4": "multicast",
    "255.255.255.255/32": "limited broadcast",  # before 240.0.0.0/4: the first match names it
    "240.0.0.0/4": "reserved",
}
# IPv6: only global unicast (2000::/3, IANA IPv6 Address Space registry) is acceptable;
# inside it, these blocks of the IANA IPv6 Special-Purpose Address Registry
# (https://www.iana.org/assignments/iana-ipv6-special-registry) are refused. Everything
# outside 2000::/3 is refused by that rule: ::/128, ::1, IPv4-compatible ::/96, discard
# 100::/64, 64:ff9b:1::/48 (local-use NAT64, whose format the operator chooses), SRv6
# 5f00::/16, unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10, ff00::/8.
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
SPECIAL_IPV6 = {
    "2001::/32": "Teredo (embeds a client's IPv4 address)",
    "2001::/23": "IETF protocol assignments",
    "2001:db8::/32": "documentation",
    "2002::/16": "6to4 (deprecated, RFC 7526; a relay forwards to any embedded IPv4)",
    "2620:4f:8000::/48": "AS112 direct delegation",
    "3fff::/20": "documentation",
}
# Two forms *are* an IPv4 destination, and are judged by the address they embed: an
# IPv4-mapped address (the kernel connects to the IPv4 address itself) and the NAT64
# well-known prefix (RFC 6052; a DNS64 resolver on an IPv6-only host answers every
# public IPv4 site in it, so refusing it whole would break fetching there).
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4 = [(ipaddress.IPv4Network(block), name) for block, name in SPECIAL_IPV4.items()]
_V6 = [(ipaddress.IPv6Network(block), name) for block, name in SPECIAL_IPV6.items()]

HOST_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*")
REQUEST_TARGET = re.compile(r"[\x21-\x7e]+")
NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
DOTTED_QUAD = re.compile(r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                         r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")  # fmt: skip


class DeniedError(Exception):
    """The fetch is against the policy: the result is `denied`."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class FetchError(Exception):
    """The fetch was allowed but did not succeed: the result is `error`."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class Target(NamedTuple):
    url: str
    scheme: str
    host: str  # lower case, without brackets or a trailing dot
    port: int
    path: str  # path and query, what goes on the request line
    literal: IP | None  # the host, when it is an address
    loopback_ok: bool  # the test-only exemption (`loopback_for_tests`) applies


def refusal_of(ip: IP) -> str | None:
    """Why `ip` may not be reached, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped address"
        embedded = None
        if ip in IPV4_MAPPED or ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            why = refusal_of(embedded)
            return f"embeds {embedded}, {why}" if why else None
        if ip not in GLOBAL_UNICAST:
            return "not global unicast"
        blocks: list[tuple[Any, str]] = _V6
    else:
        blocks = _V4
    for block, name in blocks:
        if ip in block:
            return name
    if not ip.is_global or ip.is_multicast:  # a second opinion, for blocks added later
        return "not global"
    return None


def allowed_host(host: str, allowlist: list[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in allowlist)


def screen(url: str, request: dict[str, Any]) -> Target:
    """The URL, checked without resolving anything; raises `DeniedError`."""
    if len(url) > MAX_URL:
        raise DeniedError("url", f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise DeniedError("url", f"malformed URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise DeniedError("scheme", f"scheme {parts.scheme!r} is not http or https")
    if "@" in parts.netloc:
        raise DeniedError("url", "credentials in the URL are refused")
    host = parts.hostname or ""
    if "%" in host:
        raise DeniedError("url", "IPv6 zone ids are refused")
    if port == 0:
        raise DeniedError("url", "port 0 is refused")
    port = port or (443 if parts.scheme == "https" else 80)
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # the same name, fully qualified
    literal = _literal(host, bracketed=parts.netloc.startswith("["))
    if literal is None and not HOST_NAME.fullmatch(host):
        raise DeniedError("url", f"{host!r} is not a valid host name")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not REQUEST_TARGET.fullmatch(path):
        raise DeniedError("url", "the path and query must be percent-encoded ASCII")
    loopback_ok = f"{host}:{port}" in request.get("loopback_for_tests", ())
    target = Target(url, parts.scheme, host, port, path, literal, loopback_ok)
    if literal is not None:
        _check_address(target, literal)
    if not loopback_ok and not allowed_host(host, request["allow"]):
        raise DeniedError("allowlist", f"{host} is not on the egress allowlist")
    return target


def _literal(host: str, bracketed: bool) -> IP | None:
    """The address a host spells, if it spells one; refuses the ambiguous spellings."""
    if bracketed or ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise DeniedError("url", f"{host!r} is not a valid IPv6 address") from None
    if not NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None  # a name (as URL parsers decide: by its last label)
    if DOTTED_QUAD.fullmatch(host):
        return ipaddress.IPv4Address(host)
    try:
        meaning = f" (a resolver reads it as {socket.inet_ntoa(socket.inet_aton(host))})"
    except (OSError, ValueError):  # not even that (a NUL, say)
        meaning = ""
    raise DeniedError("url", f"{host!r} is not a canonical IPv4 address{meaning}")


def _check_address(target: Target, ip: IP, name: str = "") -> None:
    if target.loopback_ok:
        if ip.is_loopback or (isinstance(ip, ipaddress.IPv6Address) and _mapped_loopback(ip)):
            return
        why: str | None = "not loopback, the only kind the test exemption allows"
    else:
        why = refusal_of(ip)
    if why:
        subject = f"{target.host} resolves to {ip}, a" if name else f"{ip} is a"
        raise DeniedError("address", f"{subject} non-public address ({why})")


def _mapped_loopback(ip: ipaddress.IPv6Address) -> bool:
    return ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def resolve_checked(target: Target, resolve: Resolver) -> list[IP]:
    """Every address the target's host stands for, each checked; raises `DeniedError` when
    any is not public (one bad answer is enough to suspect the name) or `FetchError`."""
    if target.literal is not None:
        return [target.literal]
    try:
        answers = resolve(target.host, target.port)
    except OSError as error:
        raise FetchError("dns", f"{target.host} does not resolve ({error})") from None
    if not answers:
        raise FetchError("dns", f"{target.host} has no address")
    addresses = []
    for answer in dict.fromkeys(answers):
        try:
            ip = ipaddress.ip_address(answer)
        except ValueError:
            raise DeniedError("address", f"{target.host} resolves to {answer!r}") from None
        _check_address(target, ip, target.host)
        addresses.append(ip)
    return addresses
