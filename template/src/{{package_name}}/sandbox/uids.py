# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The uids sandboxed tasks run as, when the service runs as root.

The kernel ignores RLIMIT_NPROC for root, so a task as root could fork without bound:
each task gets an unprivileged uid of its own from a range kept for tasks
(`FIRST_UID` .. `FIRST_UID + UIDS`), and tasks on a persistent workspace share
`PERSISTENT_UID`, so that they can read what earlier ones wrote. The reaper recognises
a task's leftover processes by these uids.
"""

from __future__ import annotations

import itertools
import os

PERSISTENT_UID = 60999
FIRST_UID = 61000
UIDS = 4000
_uids = itertools.count()


def task_uid(persistent: bool = False) -> int | None:
    """An unprivileged uid of the task's own when the service runs as root (the kernel
    ignores RLIMIT_NPROC for root); the service's own uid otherwise. Tasks on a
    persistent workspace share one uid, so that they can read what earlier ones wrote."""
    if os.geteuid() != 0:
        return None
    if persistent:
        return PERSISTENT_UID
    return FIRST_UID + (os.getpid() * 31 + next(_uids)) % UIDS
