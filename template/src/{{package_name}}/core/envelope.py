# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Signed, sealed deliveries: the envelope every message travels in over Redis or NATS.

Anyone who can write to the Redis or NATS server could otherwise call a worker's cell
directly, past the gateway's roles, or copy a delivery they saw back into an inbox; and
anyone who can read it could read the payloads waiting in a stream. So every body a
process sends over a transport (a call, an event, a reply) is wrapped:

    {"v": 1, "id": <delivery id>, "kid": <key id>, "ts": <ms since the epoch>,
     "sealed": <base64 of nonce | AES-256-GCM ciphertext>, "mac": <hex HMAC-SHA256>,
     "cid": <correlation id, only when there is one>}

- `sealed`: the codec's message (or a reply body) sealed like a record (`core/sealing.py`),
  associated data `id \\0 cell \\0 kid`: unreadable at rest, and a body moved to another
  delivery or cell does not open.
- `mac`: HMAC-SHA256 over everything a receiver acts on, as the JSON array
  `["cellforge-delivery", 1, purpose, id, cell, reply_to, kid, ts, sealed]` (purpose
  `delivery` or `reply`, reply_to "" when none): the id and reply channel travel as
  transport metadata and the MAC binds them, so a copy with another id or reply channel,
  an event passed off as a reply, or a swapped body fails. Checked before anything opens.
- `cid`: the correlation id of the request that caused the delivery, so the worker's log
  lines carry it (`core/logs.py`). Sent in the clear (it is an opaque id, already in the
  response header) and signed: when present it is appended to the MAC's array, so an
  envelope without one has exactly the MAC it always had.
- keys: the *delivery keyring* (`<keys_dir>/delivery.keyring` or `<PREFIX>DELIVERY_KEYRING`,
  the data keyring's JSON format, provisioned like it: never invented in prod). The active
  key signs; every key in the ring verifies. Each key gives two subkeys by HKDF-SHA256
  (info `cellforge delivery mac` / `cellforge delivery seal`), one per job. Rotation: add
  the new key to every process's ring, then make it active, then drop the old one once
  the replay window has passed (anything it signed is `Untimely` by then) and the dead
  letters it signed are replayed or dropped.
- time: an envelope older than the replay window, or from further ahead than the clock
  skew allows, is `Untimely`. `ReplayGuard` remembers the MACs of the deliveries a process
  has finished, for that window (memory bounded: see there), and refuses copies of them.

A refusal is a `Refused` with a short reason; what to do with it is the caller's choice
(`core/remote.py` drops what is not ours and keeps what is `Untimely` for the dead
letters). A delivery id the gateway reuses for a client's retry (Idempotency-Key) gets a
new envelope, with a new MAC: it is not a replay.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .keyfiles import KEY_BYTES, provision
from .names import ENV_PREFIX
from .sealing import NONCE_BYTES, DataKeyError, Keyring, Sealed
from .settings import Settings

VERSION = 1
DOMAIN = "cellforge-delivery"
DELIVERY_KEYRING_ENV = f"{ENV_PREFIX}DELIVERY_KEYRING"
CLOCK_SKEW_SECONDS = 30.0  # at most this far ahead of our clock, a sender's clock may be
REMEMBERED = 200_000  # MACs a ReplayGuard keeps at most (about 30 MB)
FIELDS = {"v", "id", "kid", "ts", "sealed", "mac"}
OPTIONAL = {"cid"}  # the correlation id, when the sender had one

Purpose = Literal["delivery", "reply"]
Clock = Callable[[], float]


class Refused(ValueError):  # noqa: N818 - a refusal, as `Rejected` in core/bus.py
    """A delivery that is not to be run: unsigned, forged, under an unknown key, replayed,
    or `Untimely`. `reason` says which, in a word or two (for logs and metrics)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Untimely(Refused):
    """Ours (the MAC holds), but sent longer ago than the replay window, or from a clock
    too far ahead: it cannot be told from a copy, so it does not run; nor is it dropped,
    since it may be a real backlog (a worker down for longer than the window). The
    worker moves it to the dead letters at once; `Envelopes.refresh`
    gives it a new time when an operator replays it."""


@dataclass(frozen=True)
class Opened:
    """A verified envelope: the body it carried, its MAC (which names it) and its time."""

    body: bytes
    mac: bytes
    sent_at: float
    correlation_id: str = ""  # of the request that caused it; "" when none came


def _subkey(key: bytes, job: bytes) -> bytes:
    """One key per job (MAC, seal) from each delivery key, so neither use weakens the other."""
    derive = HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"cellforge delivery " + job)
    return derive.derive(key)


def _label(delivery_id: str, cell: str) -> bytes:
    return f"{delivery_id}\0{cell}".encode()


class Envelopes:
    """Seals and signs bodies, and opens and verifies them, under one delivery keyring."""

    def __init__(self, keyring: Keyring, window: float, clock: Clock = time.time) -> None:
        self.active, self.window, self.clock = keyring.active, window, clock
        self._macs = {kid: _subkey(key, b"mac") for kid, key in keyring.keys.items()}
        seals = {kid: _subkey(key, b"seal") for kid, key in keyring.keys.items()}
        self._seals = Keyring(active=keyring.active, keys=seals)

    def seal(
        self,
        purpose: Purpose,
        delivery_id: str,
        cell: str,
        reply_to: str | None,
        body: bytes,
        correlation_id: str = "",
    ) -> bytes:
        """`body` sealed and signed under the active key, as envelope bytes; with the
        correlation id of the request that caused it, if any."""
        sealed = self._seals.seal(body, _label(delivery_id, cell))
        text = base64.b64encode(sealed.nonce + sealed.ciphertext).decode()
        ts = int(self.clock() * 1000)
        mac = self._mac(self.active, purpose, delivery_id, cell, reply_to, ts, text, correlation_id)
        envelope = {"v": VERSION, "id": delivery_id, "kid": self.active, "ts": ts}
        signed = {**envelope, "sealed": text, "mac": mac.hex()}
        if correlation_id:
            signed["cid"] = correlation_id
        return json.dumps(signed, separators=(",", ":")).encode()

    def open(
        self, purpose: Purpose, delivery_id: str, cell: str, reply_to: str | None, data: bytes
    ) -> Opened:
        """The body of envelope `data`, sent as `purpose` with this id to this cell and
        reply channel; `Refused` unless it is signed by a key of the ring, `Untimely`
        unless it was sent within the replay window."""
        opened = self._verified(purpose, delivery_id, cell, reply_to, data)
        now = self.clock()
        if opened.sent_at < now - self.window:
            ago = now - opened.sent_at
            raise Untimely("stale", f"sent {ago:.0f} s ago, past the replay window")
        if opened.sent_at > now + min(CLOCK_SKEW_SECONDS, self.window):
            raise Untimely("early", f"sent {opened.sent_at - now:.0f} s in the future")
        return opened

    def refresh(
        self, purpose: Purpose, delivery_id: str, cell: str, reply_to: str | None, data: bytes
    ) -> bytes:
        """Envelope `data`, checked like `open` but for its age, sealed and signed anew
        now: for an operator putting an `Untimely` dead letter back into its inbox."""
        opened = self._verified(purpose, delivery_id, cell, reply_to, data)
        return self.seal(purpose, delivery_id, cell, reply_to, opened.body, opened.correlation_id)

    def _verified(
        self, purpose: Purpose, delivery_id: str, cell: str, reply_to: str | None, data: bytes
    ) -> Opened:
        envelope, raw = _parse(data)
        kid, ts, text = envelope["kid"], envelope["ts"], envelope["sealed"]
        cid = envelope.get("cid", "")
        if kid not in self._macs:
            raise Refused("unknown key", f"key id {kid!r} is not in the delivery keyring")
        expected = self._mac(kid, purpose, delivery_id, cell, reply_to, ts, text, cid)
        try:
            presented = bytes.fromhex(envelope["mac"])
        except ValueError:
            raise Refused("forged", "the MAC is not hex") from None
        if envelope["id"] != delivery_id or not hmac.compare_digest(expected, presented):
            raise Refused("forged", "the MAC does not match")
        sealed = Sealed(kid, raw[:NONCE_BYTES], raw[NONCE_BYTES:])
        try:
            body = self._seals.open(sealed, _label(delivery_id, cell))
        except DataKeyError:  # the MAC held, so only a sender's bug gets here
            raise Refused("unopenable", "the sealed body does not open") from None
        return Opened(body, presented, ts / 1000, cid)

    def _mac(
        self,
        kid: str,
        purpose: Purpose,
        delivery_id: str,
        cell: str,
        reply_to: str | None,
        ts: int,
        sealed: str,
        correlation_id: str,
    ) -> bytes:
        fields = [DOMAIN, VERSION, purpose, delivery_id, cell, reply_to or "", kid, ts, sealed]
        if correlation_id:  # only when there is one: an envelope without keeps its MAC
            fields.append(correlation_id)
        signed = json.dumps(fields, separators=(",", ":")).encode()
        return hmac.new(self._macs[kid], signed, hashlib.sha256).digest()


def _parse(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The envelope's fields, checked for shape, and its sealed bytes; `Refused("unsigned")`
    if it is not one."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Refused("unsigned", "the body is not an envelope") from None
    if not isinstance(envelope, dict) or not FIELDS <= set(envelope) <= FIELDS | OPTIONAL:
        raise Refused("unsigned", "the body is not an envelope")
    named = ("id", "kid", "sealed", "mac", *(OPTIONAL & set(envelope)))
    strings = all(isinstance(envelope[name], str) for name in named)
    numbers = all(type(envelope[name]) is int for name in ("v", "ts"))  # not bool, not float
    if envelope["v"] != VERSION or not strings or not numbers:
        raise Refused("unsigned", "the envelope's fields have the wrong types")
    try:
        return envelope, base64.b64decode(envelope["sealed"], validate=True)
    except binascii.Error:
        raise Refused("unsigned", "the sealed body is not base64") from None


class ReplayGuard:
    """The MACs of the deliveries this process finished within the replay window: a copy
    of one of them, injected into an inbox, is refused.

    A MAC is remembered only once its handler has *finished*: a redelivery by the server
    of an entry whose handler failed or whose worker died carries the same MAC and must
    still run (the outbox's `processed_messages` returns a finished command's stored
    result anyway). A copy injected while the original is still running gets through
    here, and is then deduped by that same table: no second effect.

    Memory is bounded: entries older than the window are dropped (anything that old is
    refused as stale anyway), and past `limit` entries the oldest are dropped early and
    the `floor` rises to their time, so older envelopes are refused as stale instead of
    forgotten. Per process: another worker of the same cell, or this one after a restart,
    does not know these MACs; the stale check and the dedupe still hold there.
    """

    def __init__(self, window: float, limit: int = REMEMBERED, clock: Clock = time.time) -> None:
        self.window, self.limit, self.clock = window, limit, clock
        self.floor = 0.0
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def check(self, opened: Opened) -> None:
        if opened.sent_at <= self.floor:  # the floor's own entry was forgotten too
            raise Untimely("stale", "older than the oldest delivery this process remembers")
        if opened.mac[:16] in self._seen:
            raise Refused("replayed", "this very envelope was handled already")

    def finished(self, opened: Opened) -> None:
        horizon = self.clock() - self.window
        if opened.sent_at >= horizon:  # an older copy is refused as stale anyway
            self._seen[opened.mac[:16]] = opened.sent_at
        while self._seen:
            oldest, sent_at = next(iter(self._seen.items()))
            if sent_at >= horizon and len(self._seen) <= self.limit:
                break
            del self._seen[oldest]
            if sent_at >= horizon:  # dropped early: refuse what is older from now on
                self.floor = max(self.floor, sent_at)

    def __len__(self) -> int:
        return len(self._seen)


# ---- the delivery keyring ---------------------------------------------------------------


def delivery_keyring_path(settings: Settings) -> Path | None:
    return None if settings.keys_path is None else settings.keys_path / "delivery.keyring"


def load_delivery_keyring(settings: Settings) -> Keyring:
    """The delivery keyring: from the environment, the keyring file, or (dev, tests) new.
    With no keys folder (tests) it is one keyring per process, so a gateway and a worker
    runtime built in one process (the memory transport) understand each other."""
    text, origin = provision(
        settings,
        DELIVERY_KEYRING_ENV,
        delivery_keyring_path(settings),
        "delivery keyring",
        lambda: _process_keyring().to_json(),
    )
    return Keyring.from_json(text, origin)


@functools.cache
def _process_keyring() -> Keyring:
    return Keyring.fresh()


def delivery_envelopes(settings: Settings) -> Envelopes:
    """Envelopes under the configured delivery keyring and replay window."""
    return Envelopes(load_delivery_keyring(settings), settings.delivery_replay_window_seconds)
