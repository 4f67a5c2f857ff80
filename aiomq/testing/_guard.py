"""The guardian: stops a test run's brokers and removes their files if that run dies.

The launcher runs this file by its path, ``python -I .../_guard.py`` (not ``-m``: it uses the
standard library only, so nothing of aiomq, nor anything the environment puts on the path, is
imported), with a pipe on stdin. For each broker it writes ``pid N`` / ``dir PATH`` (and
``-pid N`` / ``-dir PATH`` once it has cleaned up itself). When the pipe reaches end-of-file
— the launcher closed it, or the launcher's process died, even by SIGKILL — the guardian
terminates every process group still listed (SIGTERM, then SIGKILL after a grace period),
removes every directory still listed, and exits. It runs in its own session so a Ctrl-C in
the terminal does not reach it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time

GRACE_SECONDS = 10.0


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The state follows the parenthesised command name, which may contain spaces.
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def terminate_groups(pids: set[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM each process group led by a pid in ``pids``; SIGKILL those left after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(alive(pid) for pid in pids):
            return
        grace = 5.0


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    pids: set[int] = set()
    dirs: set[str] = set()
    for line in sys.stdin:
        verb, _, arg = line.rstrip("\n").partition(" ")
        if verb == "pid":
            pids.add(int(arg))
        elif verb == "-pid":
            pids.discard(int(arg))
        elif verb == "dir":
            dirs.add(arg)
        elif verb == "-dir":
            dirs.discard(arg)
    terminate_groups({pid for pid in pids if alive(pid)})
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
