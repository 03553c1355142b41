# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`rotate-keys --keys-file FILE --old-keys revoke|keep`: a new data key for every stored
record, and a new API key for every active one.

The data key rotation is `core/rotation.py`'s (every record, outbox event and stored
result re-encrypted, the old key retired); it needs the service stopped, because a
running service keeps the keyring it started with and would go on sealing under the
retired key.

API keys are replaced one for one, with the same role. Their plain text is written once,
to FILE (mode 0600, refused if it exists), never to the terminal or a log, since a run's
output is often kept: hand each key to its holder, then delete the file. The new keys,
the revocations and the file are one transaction: if the file cannot be written, no key
changes. `--old-keys revoke` disables the old keys at once; `keep` leaves them working (a
grace period) and the undo line lists the `keys revoke` commands to run once the holders
have moved.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...gateway.apikeys import ApiKeys
from .engine import Invocation, Param, PreconditionError, Runbook, Step, StepError, prog
from .state import data_dir_of, live, open_every_record, refuse_if_running, settings_at

if TYPE_CHECKING:
    from ...core.settings import Settings

OLD_KEYS = ("revoke", "keep")


@dataclass
class Rotation:
    settings: Settings
    keyring: Path
    was_active: str
    records: int
    old_keys: list[tuple[str, str]]  # (id, role) of the active API keys
    keys_file: Path
    revoke: bool
    new_key_id: str = ""
    rotated: int = 0
    issued: dict[str, tuple[str, str]] = field(default_factory=dict)  # old id -> (new id, role)


def prepare_rotation(invocation: Invocation) -> Rotation:
    """- no `data_dir` or keys folder is configured, or there is no data keyring file
      (in prod keys are provisioned: a keyring given as an environment variable is
      rotated where it is kept, not here);
    - a record does not open with the current keyring (nothing would be re-encrypted);
    - FILE exists already, or its folder does not;
    - the service is running: a process holds one of its files open (stop the gateway
      and the workers first)."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no cryptography
    from ...core.sealing import KEYRING_ENV, keyring_path, load_keyring

    settings = settings_at(invocation.root, env="prod")  # never invent a key
    data_dir_of(settings)
    keyring = keyring_path(settings)
    if os.environ.get(KEYRING_ENV):
        raise PreconditionError(f"the data keyring comes from {KEYRING_ENV}: rotate it there")
    if keyring is None or not keyring.is_file():
        raise PreconditionError(f"no data keyring at {keyring}: nothing to rotate")
    count, _, problems = open_every_record(settings)
    if problems:
        raise PreconditionError(f"a record does not open: {problems[0]}")
    where = Path(invocation.arguments["keys_file"])
    keys_file = where if where.is_absolute() else invocation.root / where
    if keys_file.exists():
        raise PreconditionError(f"{keys_file} exists: the new keys go to a new file")
    if not keys_file.parent.is_dir():
        raise PreconditionError(f"{keys_file.parent} is not a folder")
    refuse_if_running(list(live(settings).values()))
    store = ApiKeys(settings.api_keys_path)
    try:
        active = [(key.id, key.role) for key in store.all() if key.revoked_at is None]
    finally:
        store.close()
    return Rotation(
        settings=settings,
        keyring=keyring,
        was_active=load_keyring(settings).active,
        records=count,
        old_keys=active,
        keys_file=keys_file,
        revoke=invocation.arguments["old_keys"] == "revoke",
    )


# ---- step 1: the data key ----------------------------------------------------------------


def plan_data_key(rotation: Rotation) -> str:
    """Says how many records are re-encrypted under a new data key, and which key is
    retired."""
    return (
        f"{rotation.records} records re-encrypted under a new data key; "
        f"{rotation.was_active} retired from {rotation.keyring}"
    )


def apply_data_key(rotation: Rotation) -> str:
    """Rotates (`keys rotate-data`): every record is opened and sealed again in memory
    before anything is written, then the keyring gains the new key, each cell's records
    are rewritten in one transaction, and the old key leaves the keyring."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no cryptography
    from ...core.rotation import rotate_data_key
    from ...core.sealing import DataKeyError  # start-up cost: as above

    try:
        rotation.new_key_id, rotation.rotated = rotate_data_key(rotation.settings)
    except DataKeyError as error:
        raise StepError(str(error)) from None
    return f"{rotation.rotated} records re-encrypted under data key {rotation.new_key_id}"


def verify_data_key(rotation: Rotation) -> str:
    """The keyring holds only the new key, and every record, outbox event and stored
    result opens and is sealed under it."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no cryptography
    from ...core.rotation import open_every_message
    from ...core.sealing import DataKeyError, load_keyring  # start-up cost: as above

    keyring = load_keyring(rotation.settings)
    if list(keyring.keys) != [rotation.new_key_id]:
        raise StepError(f"the keyring holds {sorted(keyring.keys)}, not {rotation.new_key_id}")
    count, key_ids, problems = open_every_record(rotation.settings)
    if problems:
        raise StepError(problems[0])
    if key_ids - {rotation.new_key_id}:
        raise StepError(f"records are still sealed under {sorted(key_ids)}")
    try:
        messages, message_keys = open_every_message(data_dir_of(rotation.settings), keyring)
    except DataKeyError as error:
        raise StepError(str(error)) from None
    if message_keys - {rotation.new_key_id}:
        raise StepError(f"events or results are still sealed under {sorted(message_keys)}")
    return (
        f"{count} records and {messages} events and stored results open under "
        f"{rotation.new_key_id}, the only key of the keyring"
    )


# ---- step 2: the API keys ----------------------------------------------------------------


def plan_api_keys(rotation: Rotation) -> str:
    """Lists the active API keys (id and role): each gets a new key with the same role,
    written to FILE and never shown; the old ones are revoked, or kept with `keep`."""
    if not rotation.old_keys:
        return "no active API key: nothing to replace"
    then = "revoked" if rotation.revoke else "kept (revoke them later)"
    lines = [f"{key_id} ({role})" for key_id, role in rotation.old_keys]
    return "\n".join([*lines, f"new keys -> {rotation.keys_file} (0600); old keys {then}"])


def write_keys_file(path: Path, lines: list[str]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
        file.flush()
        os.fsync(file.fileno())


def apply_api_keys(rotation: Rotation) -> str:
    """Issues the new keys and revokes the old ones in one transaction, writes FILE (one
    line per key: role, the id it replaces, the key), then commits; if FILE cannot be
    written nothing changes."""
    if not rotation.old_keys:
        return "no API key to replace"
    store = ApiKeys(rotation.settings.api_keys_path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"# API keys issued by `{prog()} runbook run rotate-keys` at {now}."]
    lines += ["# Hand each to its holder, then delete this file. role, replaces, key:"]
    try:
        store.database.execute("BEGIN IMMEDIATE")
        try:
            for old_id, role in rotation.old_keys:
                new_id, key = store.create(role)
                rotation.issued[old_id] = (new_id, role)
                lines.append(f"{role}\t{old_id}\t{key}")
                if rotation.revoke and not store.revoke(old_id):
                    raise StepError(f"API key {old_id} was revoked meanwhile")
            write_keys_file(rotation.keys_file, lines)
        except BaseException:
            store.database.execute("ROLLBACK")
            rotation.issued.clear()
            raise
        try:
            store.database.execute("COMMIT")
        except BaseException:
            rotation.keys_file.unlink()
            rotation.issued.clear()
            raise
    finally:
        store.close()
    done = "revoked" if rotation.revoke else "still active"
    return f"{len(rotation.issued)} new keys in {rotation.keys_file}; the old ones {done}"


def verify_api_keys(rotation: Rotation) -> str:
    """FILE is readable by its owner only; every new key in it is accepted with the
    role of the key it replaces; the old keys are revoked (or still active with
    `keep`)."""
    if not rotation.old_keys:
        return "no API key to replace"
    mode = stat.S_IMODE(rotation.keys_file.stat().st_mode)
    if mode != 0o600:
        raise StepError(f"{rotation.keys_file} has mode {mode:o}, not 600")
    lines = rotation.keys_file.read_text(encoding="utf-8").splitlines()
    written = [line.split("\t") for line in lines if not line.startswith("#")]
    store = ApiKeys(rotation.settings.api_keys_path)
    try:
        states = {key.id: key.revoked_at for key in store.all()}
        for role, old_id, key in written:
            new_id, wanted = rotation.issued[old_id]
            if store.role_of(key) != (new_id, wanted) or role != wanted:
                raise StepError(f"the key replacing {old_id} is not accepted as {wanted}")
            if (states.get(old_id) is not None) != rotation.revoke:
                raise StepError(f"API key {old_id} is {'active' if rotation.revoke else 'revoked'}")
    finally:
        store.close()
    if len(written) != len(rotation.old_keys):
        raise StepError(f"{rotation.keys_file} holds {len(written)} keys")
    done = "revoked" if rotation.revoke else "still accepted"
    return f"{len(written)} new keys accepted with their roles; the old ones {done}"


def undo_rotation(rotation: Rotation) -> str:
    """A rotation is not undone (the retired data key is gone on purpose): run it again
    to replace keys that leaked or got lost. With `--old-keys keep`, revoke the old API
    keys once their holders use the new ones."""
    if rotation.revoke or not rotation.issued:
        return "none: run rotate-keys again to replace these keys"
    return "; ".join(f"uv run {prog()} keys revoke {old}" for old in rotation.issued)


ROTATE_KEYS: Runbook[Rotation] = Runbook(
    name="rotate-keys",
    summary="re-encrypt every record under a new data key and replace every API key",
    about="""
    Run it on a schedule, when someone who held a key leaves, or when a key may have
    leaked. Stop the service first (gateway and workers); start it again after the run.
    The new API keys are in FILE only: hand them out, then delete it.
    """,
    params=(
        Param("--keys-file", "a new file for the new API keys (mode 0600)", "FILE"),
        Param("--old-keys", "what happens to the replaced API keys", "WHAT", OLD_KEYS),
    ),
    prepare=prepare_rotation,
    steps=(
        Step("rotate the data key", plan_data_key, apply_data_key, verify_data_key),
        Step("replace the API keys", plan_api_keys, apply_api_keys, verify_api_keys),
    ),
    undo=undo_rotation,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (ROTATE_KEYS,)
