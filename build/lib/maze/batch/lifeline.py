"""Helper processes die with the process that started them, however it dies.

A sweep runs on worker processes forked from a multiprocessing *forkserver*. When the
sweep is killed with SIGKILL nothing of it runs any more, so the helpers must notice by
themselves: each one (the forkserver and every worker) keeps a daemon thread that checks
twice a second that the sweep's process still exists, and is the same process (its start
time, so a recycled pid does not count), and ends its own process at once when not.

Usage: the sweep calls :func:`adopt` before it starts the pool (this puts its pid in the
environment, which the forkserver inherits, and makes this module one of the forkserver's
preloaded modules' imports); each worker calls :func:`watch` from its initializer.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

#: The environment variable naming the process whose helpers these are.
ENV = "MAZE_LIFELINE_PID"
#: Seconds between two checks.
INTERVAL = 0.5


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else None


def alive(pid: int, started: str | None) -> bool:
    """Whether ``pid`` is still the process that started at ``started``."""
    if started is None:  # no /proc: fall back on the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    return start_time(pid) == started


def watch(pid: int, interval: float = INTERVAL) -> threading.Thread | None:
    """End this process when process ``pid`` ends (a daemon thread; None if ``pid`` is us)."""
    if pid == os.getpid():
        return None
    started = start_time(pid)
    if not alive(pid, started):
        os._exit(1)

    def loop() -> None:
        while True:
            time.sleep(interval)
            if not alive(pid, started):
                os._exit(1)

    thread = threading.Thread(target=loop, name="maze-lifeline", daemon=True)
    thread.start()
    return thread


def adopt() -> int:
    """Mark this process as the one helpers started from now on must die with; its pid."""
    os.environ[ENV] = str(os.getpid())
    return os.getpid()


def quiet_when_orphaned(pid: int, started: str | None, grace: float = 1.0) -> None:
    """Print no traceback for an error that comes as process ``pid`` goes away.

    A worker forked while the sweep stops (Ctrl-C) may find the sweep's semaphores gone as
    it starts and fail; its traceback would follow the sweep's one-line message. Not
    printed: an error of a worker that never started, and an error in a helper whose sweep
    is gone, or goes within ``grace`` seconds.
    """
    original = sys.excepthook

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        frames = [f.f_code.co_name for f, _ in traceback.walk_tb(tb)]
        if "_serve_one" in frames and "_bootstrap" not in frames:
            # A worker that failed to start (its pool is going, or broken: the sweep sees
            # its exit code and reports a dead worker itself).
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive(pid, started):
                return
            time.sleep(0.05)
        original(kind, value, tb)

    sys.excepthook = hook


def _watch_from_environment() -> None:
    """In a helper started by an adopting process (the forkserver): watch that process."""
    text = os.environ.get(ENV, "")
    if text.isdigit() and int(text) != os.getpid():
        watch(int(text))
        quiet_when_orphaned(int(text), start_time(int(text)))


_watch_from_environment()
