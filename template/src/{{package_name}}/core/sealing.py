# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Encryption at rest: AES-256-GCM under a keyring of named data keys.

Every sealed value carries the id of the key that sealed it and its own random 96-bit
nonce. The associated data names the value's place and the key id, so a ciphertext moved
to another place, or relabelled with another key id, fails to open. A record's place is
(cell, collection, key); a value the framework keeps for a cell (an event waiting in its
outbox, a stored result) starts with a purpose such as `#outbox`, which no cell name can
be (cell names are identifiers), so it never opens as a record, nor a record as it.

The keyring is JSON, `{"active": "<id>", "keys": {"<id>": "<hex>"}}`, read from the
`<PREFIX>DATA_KEYRING` environment variable or from `<keys_dir>/data.keyring`; in dev a
missing keyring file is created. `<cli> keys rotate-data` adds a new active key,
re-encrypts every sealed value under it (records, outbox events, stored results) and
then retires the old ones.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keyfiles import KEY_BYTES, provision
from .names import ENV_PREFIX
from .private import write_private
from .settings import Settings

KEYRING_ENV = f"{ENV_PREFIX}DATA_KEYRING"
NONCE_BYTES = 12


class DataKeyError(RuntimeError):
    """A record cannot be opened: its key is missing from the keyring, or wrong."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def new_key_id() -> str:
    return f"k{secrets.token_hex(4)}"


def place(*parts: str) -> bytes:
    """The place of a sealed value, as its associated data takes it."""
    return "\0".join(parts).encode()


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: dict[str, bytes]
    # One cipher per key, made once: building one costs about as much as sealing.
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise DataKeyError(f"the active data key {self.active!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise DataKeyError(f"data key {key_id!r} must be {KEY_BYTES} bytes")

    @classmethod
    def fresh(cls) -> Keyring:
        key_id = new_key_id()
        return cls(active=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def from_json(cls, text: str, origin: str) -> Keyring:
        try:
            data = json.loads(text)
            keys = {str(key_id): bytes.fromhex(key) for key_id, key in data["keys"].items()}
            return cls(active=str(data["active"]), keys=keys)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DataKeyError(
                f"{origin} is not a keyring: expected JSON with the active key id under "
                '"active" and each key id\'s key in hex under "keys"'
            ) from None

    def to_json(self) -> str:
        keys = {key_id: key.hex() for key_id, key in self.keys.items()}
        return json.dumps({"active": self.active, "keys": keys}, indent=2) + "\n"

    def with_new_active_key(self) -> Keyring:
        fresh = Keyring.fresh()
        return Keyring(active=fresh.active, keys={**self.keys, **fresh.keys})

    def only_active(self) -> Keyring:
        return Keyring(active=self.active, keys={self.active: self.keys[self.active]})

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.keys[key_id])
        return cipher

    def seal(self, plaintext: bytes, label: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._cipher(self.active)
        return Sealed(
            self.active, nonce, cipher.encrypt(nonce, plaintext, _aad(label, self.active))
        )

    def open(self, sealed: Sealed, label: bytes) -> bytes:
        if sealed.key_id not in self.keys:
            where = label.decode("utf-8", "replace").replace("\0", "/")
            raise DataKeyError(
                f"record {where} was sealed with data key {sealed.key_id!r}, "
                "which is not in the keyring"
            )
        cipher = self._cipher(sealed.key_id)
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, _aad(label, sealed.key_id))
        except InvalidTag:
            where = label.decode("utf-8", "replace").replace("\0", "/")
            raise DataKeyError(
                f"record {where} does not open with data key {sealed.key_id!r}: "
                "the key is wrong or the record was altered"
            ) from None


def _aad(label: bytes, key_id: str) -> bytes:
    return label + b"\0" + key_id.encode()


def keyring_path(settings: Settings) -> Path | None:
    return None if settings.keys_path is None else settings.keys_path / "data.keyring"


def load_keyring(settings: Settings) -> Keyring:
    """The data keyring: from the environment, the keyring file, or (dev, tests) new."""
    text, origin = provision(
        settings,
        KEYRING_ENV,
        keyring_path(settings),
        "data keyring",
        lambda: Keyring.fresh().to_json(),
    )
    return Keyring.from_json(text, origin)


def save_keyring(settings: Settings, keyring: Keyring) -> Path:
    path = keyring_path(settings)
    if os.environ.get(KEYRING_ENV) or path is None:
        raise DataKeyError(
            f"the keyring comes from {KEYRING_ENV}, not a file: rotate it where it is kept"
        )
    write_private(path, keyring.to_json())
    return path
