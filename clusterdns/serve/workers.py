"""Several server processes on the same addresses, so answering uses more than one core.

One Python process answers on one core. With SO_REUSEPORT every worker binds its own
UDP and TCP sockets to the same address and the kernel spreads clients over them by
their address and port; each worker holds its own zone, watches the manifests itself
and reloads with the others. The parent is worker 0: it binds first (so port 0 becomes
one concrete port for all), forks the others before any event loop or watcher thread
exists, and passes SIGHUP and SIGTERM on to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0


def fork_workers(count: int, run: Callable[[int], int]) -> Workers:
    """Fork `count` children; child `i` (1-based) runs `run(i)` and exits with its result.

    A child leaves with `os._exit`, so nothing the parent registered (click's cleanup,
    atexit handlers, the parent's stdio buffers) runs twice.
    """
    pids = []
    for index in range(1, count + 1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, seen by the workers test
            code = 1
            try:
                code = run(index)
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        pids.append(pid)
    return Workers(pids)


class Workers:
    """The parent's view of its children: signal them, notice deaths, stop them."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)

    def __len__(self) -> int:
        return len(self.pids)

    def signal(self, sig: int) -> None:
        """Send `sig` to every child still running."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def reap(self) -> list[tuple[int, int]]:
        """Children that have exited since the last call, as (pid, exit status)."""
        gone = []
        for pid in list(self.pids):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.pids.remove(pid)
                gone.append((pid, os.waitstatus_to_exitcode(status)))
        return gone

    async def watch(self, interval: float = 1.0) -> None:
        """Log every child that dies while the parent serves; the rest keep answering."""
        while self.pids:
            for pid, code in self.reap():
                log.error("worker pid %d exited with %d; %d worker(s) left besides this one",
                          pid, code, len(self.pids))
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        """SIGTERM, a grace period for clean shutdowns, then SIGKILL for the stragglers."""
        self.signal(signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + STOP_GRACE_SECONDS
        while self.pids and asyncio.get_running_loop().time() < deadline:
            self.reap()
            await asyncio.sleep(0.05)
        self.signal(signal.SIGKILL)
        while self.pids:
            self.reap()
            await asyncio.sleep(0.01)
