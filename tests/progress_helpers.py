"""Helpers of the progress tests: a listener that records the steps reported through
trialsynth._core.progress, and running a command with standard error on a pseudo-terminal (where
progress bars are drawn)."""

from __future__ import annotations

import os
import select
import subprocess


class Recorder:
    """A progress handle that logs ``("start", description, total)``, ``("advance", amount,
    label)`` and ``("close",)``: ``listening(lambda d, t: Recorder(log, d, t))``."""

    def __init__(self, log: list, description: str, total) -> None:
        self.log = log
        log.append(("start", description, total))

    def advance(self, amount: float = 1, label: str = "") -> None:
        self.log.append(("advance", amount, label))

    def close(self) -> None:
        self.log.append(("close",))


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Exit status and everything written to standard error, which is a pseudo-terminal; standard
    output is discarded."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, f"no output from the command within {timeout} s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
