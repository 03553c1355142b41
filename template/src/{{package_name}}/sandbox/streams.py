# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A task's input and output: stdin fed, stdout and stderr read, both within limits.

One selector loop does it all, without threads: it writes stdin as the task reads it,
keeps at most `output_bytes` of output (stdout first), and stops at the wall time. It
reports whether the task ran out of time or printed too much; the caller kills it.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass

from .limits import Limits


@dataclass
class Outcome:
    stdout: bytes
    stderr: bytes
    timed_out: bool
    overflowed: bool


def communicate(
    process: subprocess.Popen[bytes], stdin: bytes, limits: Limits, started: float
) -> Outcome:
    assert process.stdin and process.stdout and process.stderr
    selector = selectors.DefaultSelector()
    streams = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    pending = memoryview(stdin)
    stdin_fd = process.stdin.fileno()
    if pending:
        os.set_blocking(stdin_fd, False)
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    else:
        process.stdin.close()
    deadline = started + limits.wall_seconds
    timed_out = overflowed = False
    while selector.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(remaining):
            fd = key.fd
            if fd == stdin_fd:
                try:
                    written = os.write(fd, pending[:65536])
                except (BrokenPipeError, BlockingIOError):
                    written = len(pending)
                pending = pending[written:]
                if not pending:
                    selector.unregister(fd)
                    process.stdin.close()
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                selector.unregister(fd)
                continue
            streams[fd] += chunk
            if sum(map(len, streams.values())) > limits.output_bytes:
                overflowed = True
                break
        if overflowed:
            break
    selector.close()
    if not process.stdin.closed:
        process.stdin.close()
    out, err = streams[process.stdout.fileno()], streams[process.stderr.fileno()]
    if overflowed:  # keep the first output_bytes, stdout first
        out = out[: limits.output_bytes]
        err = err[: max(0, limits.output_bytes - len(out))]
    return Outcome(bytes(out), bytes(err), timed_out, overflowed)
