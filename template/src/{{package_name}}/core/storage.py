"""Embedded storage: one SQLite database per cell.

Each cell owns its own database file (`<data_dir>/<cell>.sqlite3`), so no cell can
join across another cell's tables, and a cell moved to its own process later takes its
data with it. With no data directory (tests), each cell gets a private in-memory database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_cell_database(data_dir: Path | None, cell: str) -> sqlite3.Connection:
    """Open (creating if needed) the database that belongs to `cell`."""
    if data_dir is None:
        target = ":memory:"
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        target = str(data_dir / f"{cell}.sqlite3")
    # The event loop's thread and uvicorn's worker threads may both use the connection;
    # SQLite serialises access itself in its default threading mode.
    connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 5000")
    if target != ":memory:":
        connection.execute("PRAGMA journal_mode = WAL")
    return connection
