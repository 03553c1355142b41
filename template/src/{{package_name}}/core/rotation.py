# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Data key rotation: re-encrypt every sealed value under a new data key, losing nothing.

The sealed values of a cell's database are its records (`core/storage.py`), the events
waiting in its outbox and the results it stored for redeliveries (`core/outbox.py`).
The order makes every step safe to interrupt:
1. open every sealed value of every cell database with the current keyring and seal it
   under a new key, in memory, so a wrong or missing key stops the rotation before
   anything is written;
2. save the keyring with the new key added and made active (old keys still there);
3. re-encrypt each cell's values in one transaction per cell, zeroing what they replace
   (`secure_delete`) and emptying the WAL after, so no old ciphertext stays on disk;
4. save the keyring with only the new key.
A crash between 2 and 4 leaves values under old and new keys, and both keys in the
keyring: everything still opens, and running the rotation again finishes the job.
Run it while the service is stopped: a running service keeps the keyring it started with.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .outbox import (
    overwriting_freed_pages,
    resealed_messages,
    stored_messages,
    write_resealed_messages,
)
from .sealing import DataKeyError, Keyring, Sealed, load_keyring, save_keyring
from .settings import Settings
from .storage import Records, open_cell_database, transaction


def rotate_data_key(settings: Settings) -> tuple[str, int]:
    """Returns the new active key id and how many records were re-encrypted (events and
    stored results are re-encrypted too, and not counted)."""
    if settings.data_dir is None:
        raise DataKeyError("there is no data directory to rotate")
    current = load_keyring(settings)
    stores = [
        Records(open_cell_database(settings.data_dir, path.stem), path.stem, current)
        for path in sorted(settings.data_dir.glob("*.sqlite3"))
    ]
    try:
        rotated = current.with_new_active_key()
        batches = [  # reads only
            (
                store,
                store.resealed(rotated),
                resealed_messages(store.database, store.cell, current, rotated),
            )
            for store in stores
        ]
        save_keyring(settings, rotated)
        for store, records, messages in batches:
            with overwriting_freed_pages(store.database), transaction(store.database):
                store.write_resealed(records, rotated)
                write_resealed_messages(store.database, messages)
        save_keyring(settings, rotated.only_active())
    finally:
        for store in stores:
            store.database.close()
    return rotated.active, sum(len(records) for _, records, _ in batches)


def open_every_message(data_dir: Path, keyring: Keyring) -> tuple[int, set[str]]:
    """Opens every event and stored result of every cell database in `data_dir`: how
    many, and the key ids that seal them ("" for plaintext an older version left).
    Raises DataKeyError for one that does not open."""
    count, key_ids = 0, set()
    for path in sorted(data_dir.glob("*.sqlite3")):
        database = sqlite3.connect(path)
        try:
            for column, row_id, value in stored_messages(database):
                if isinstance(value, Sealed):
                    keyring.open(value, column.place(path.stem, row_id))
                key_ids.add(value.key_id if isinstance(value, Sealed) else "")
                count += 1
        finally:
            database.close()
    return count, key_ids
