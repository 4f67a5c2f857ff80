"""Broker processes: start them so nothing outlives the run, stop them in bounded time.

Every JVM starts in its own process group (so a terminal's Ctrl-C reaches the test run, which
then stops the brokers in order, rather than killing them mid-write) and, unless detached,
with ``PR_SET_PDEATHSIG`` so the kernel sends it SIGTERM when the launching thread dies.
A guardian process (``_guard.py``) covers what neither can: a test run killed by SIGKILL
still gets its brokers stopped and their temporary directories removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

__all__ = ["Guardian", "free_ports", "log_tail", "spawn", "stop_process"]

_PR_SET_PDEATHSIG = 1


def _pdeathsig_setter() -> Callable[[], None] | None:
    # Resolved before fork: the child only calls a ready function pointer.
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_pdeathsig


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now.

    Advertised listeners need the real port, so port 0 cannot be handed to the broker. All
    sockets stay bound until every port is chosen, so the ports differ from each other.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def spawn(argv: Sequence[str], log: Path, *, detach: bool) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, stdout and stderr appended to ``log``.

    ``detach=False`` ties the process to the calling thread with PDEATHSIG (only from the main
    thread: the signal fires when the *thread* that forked exits, and a worker thread may end
    long before the run does).
    """
    preexec = None
    if not detach and threading.current_thread() is threading.main_thread():
        preexec = _pdeathsig_setter()
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``proc``'s process group, SIGKILL after ``timeout``; returns once it is reaped."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    # No group-wide kill after the leader is reaped: the JVM starts no children, and the
    # group id may already belong to some other process.


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of ``path`` (empty if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


class Guardian:
    """The launcher's end of the guardian pipe (see ``_guard.py``); one per process.

    Closing the pipe, or this process dying, makes the guardian clean up whatever is still
    registered; ``forget_*`` unregisters what the launcher has already cleaned up itself.
    """

    _lock = threading.Lock()
    _instance: Guardian | None = None

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("_guard.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self._proc.stdin is not None
        self._pipe: IO[bytes] = self._proc.stdin

    @classmethod
    def get(cls) -> Guardian:
        """The process-wide guardian, started on first use (again if it exited)."""
        with cls._lock:
            if cls._instance is None or cls._instance._proc.poll() is not None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def close_current(cls) -> None:
        """Close the pipe (the guardian then cleans up what is left and exits)."""
        with cls._lock:
            if cls._instance is not None:
                cls._instance.close()
                cls._instance = None

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._pipe.write(line.encode() + b"\n")
            self._pipe.flush()

    def watch_pid(self, pid: int) -> None:
        self._send(f"pid {pid}")

    def forget_pid(self, pid: int) -> None:
        self._send(f"-pid {pid}")

    def watch_dir(self, path: Path) -> None:
        self._send(f"dir {path}")

    def forget_dir(self, path: Path) -> None:
        self._send(f"-dir {path}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(30)
