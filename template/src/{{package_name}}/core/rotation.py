"""Data key rotation: re-encrypt every stored record under a new data key, losing nothing.

The order makes every step safe to interrupt:
1. open every record of every cell database with the current keyring and seal it under
   a new key, in memory, so a wrong or missing key stops the rotation before anything
   is written;
2. save the keyring with the new key added and made active (old keys still there);
3. re-encrypt each cell's records in one transaction per cell;
4. save the keyring with only the new key.
A crash between 2 and 4 leaves records under old and new keys, and both keys in the
keyring: everything still opens, and running the rotation again finishes the job.
Run it while the service is stopped: a running service keeps the keyring it started with.
"""

from __future__ import annotations

from .sealing import DataKeyError, load_keyring, save_keyring
from .settings import Settings
from .storage import Records, open_cell_database


def rotate_data_key(settings: Settings) -> tuple[str, int]:
    """Returns the new active key id and how many records were re-encrypted."""
    if settings.data_dir is None:
        raise DataKeyError("there is no data directory to rotate")
    current = load_keyring(settings)
    stores = [
        Records(open_cell_database(settings.data_dir, path.stem), path.stem, current)
        for path in sorted(settings.data_dir.glob("*.sqlite3"))
    ]
    try:
        rotated = current.with_new_active_key()
        batches = [(store, store.resealed(rotated)) for store in stores]  # reads only
        save_keyring(settings, rotated)
        for store, resealed in batches:
            store.write_resealed(resealed, rotated)
        save_keyring(settings, rotated.only_active())
    finally:
        for store in stores:
            store.database.close()
    return rotated.active, sum(len(resealed) for _, resealed in batches)
