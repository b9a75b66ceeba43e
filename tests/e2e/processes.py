"""Child processes for the end-to-end tests: started by the test, logged to files, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChildProcess:
    """One long-running child; stdout+stderr go to ``<log_dir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
        """Signal this PID, wait, then SIGKILL it and whatever it left behind (its descendants)."""
        descendants = _descendants(self.pid)
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        kill_processes(descendants)
        self._log.close()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_processes(processes: Sequence[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(list(processes), timeout=10)


def kill_tree(pid: int) -> None:
    """``kill -9`` one process and its descendants (a run worker and its step processes)."""
    tree = [*_descendants(pid)]
    with contextlib.suppress(psutil.NoSuchProcess):
        tree.insert(0, psutil.Process(pid))
    kill_processes(tree)


def wait_until(
    probe: Callable[[], T | None],
    timeout_s: float,
    what: str,
    interval_s: float = 0.5,
    alive: Sequence[ChildProcess] = (),
) -> T:
    """Poll ``probe`` until it returns something truthy; fail early if a required child died."""
    deadline = time.monotonic() + timeout_s
    while True:
        for child in alive:
            if not child.is_running():
                raise AssertionError(
                    f"{child.name} exited while waiting for {what}:\n{child.log_tail()}"
                )
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)
