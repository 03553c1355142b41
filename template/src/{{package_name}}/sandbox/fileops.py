# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The files.read / files.write program, run inside the sandbox.

Standard library only. It reads its request as JSON on stdin, resolves the path inside
the workspace (symlinks included) and refuses anything that lands outside it; the
sandbox's own mount namespace is the second wall. A read writes the bytes to stdout.
"""

import base64
import json
import os
import sys
from typing import NoReturn

DENIED = 3


def deny(reason: str) -> NoReturn:
    sys.stdout.write(json.dumps({"denied": reason}))
    sys.exit(DENIED)


def inside(root: str, path: str) -> str:
    if os.path.isabs(path):
        deny("paths are relative to the workspace")
    resolved = os.path.realpath(os.path.join(root, path))
    if os.path.commonpath([resolved, root]) != root or resolved == root:
        deny("the path leaves the workspace")
    return resolved


def main(request: dict[str, str]) -> None:
    root = os.path.realpath(os.getcwd())  # the task starts in its workspace
    target = inside(root, request["path"])
    if request["op"] == "read":
        flags = os.O_RDONLY | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags), "rb") as file:
            sys.stdout.buffer.write(file.read())
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags, 0o600), "wb") as file:
            file.write(base64.b64decode(request["content"]))


if __name__ == "__main__":
    main(json.loads(sys.stdin.read()))
