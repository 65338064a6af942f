"""Executing a batch: the same function over many tasks, on local processes or Dask.

The simulation is the same everywhere; only where it runs changes. A local worker
process that dies (killed, out of memory) is replaced up to :data:`POOL_RESTARTS`
times and its unfinished tasks resubmitted; a task that raises is reported and the
others carry on.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from maze.scenario import ScenarioError

#: Pool restarts allowed when a local worker process dies (killed, out of memory).
POOL_RESTARTS = 2


class ClusterError(ScenarioError):
    """The Dask scheduler asked for cannot be reached (a user error, like a bad file)."""


def execute(tasks: Sequence[tuple[str, Any]], fn: Callable[[Any], Any],
            on_result: Callable[[str, Any], None], *,
            executor: str | cf.Executor | Any = "processes", workers: int | None = None,
            scheduler: str | None = None, tick: Callable[[int], None] | None = None,
            preload: Sequence[str] = ()) -> tuple[list[tuple[str, str]], int]:
    """Run ``fn(task)`` for each ``(key, task)``; hand each result to ``on_result(key, result)``
    as it arrives. Return the keys that raised (with their message) and how many times the
    local pool was replaced.

    ``executor`` is ``"processes"`` (local processes, ``workers`` of them, default all
    cores; ``preload`` names modules the fork server imports once), ``"dask"`` (a new
    ``LocalCluster`` of ``workers`` processes, or the running cluster at ``scheduler``),
    ``"serial"`` (in this process), a ``dask.distributed.Client`` or any
    ``concurrent.futures.Executor``. ``fn`` and the tasks must pickle for processes and Dask.
    """
    done = 0
    failed: list[tuple[str, str]] = []
    remaining = list(tasks)
    order = {key: i for i, (key, _) in enumerate(tasks)}
    restarts = 0
    while remaining:
        with pool_for(executor, workers, scheduler, len(remaining), preload) as pool:
            futures = {pool.submit(fn, task): (key, task) for key, task in remaining}
            broken = False
            try:
                for fut in cf.as_completed(futures):
                    key, task = futures.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        futures[fut] = (key, task)
                        break
                    except Exception as exc:  # a task that raised: report it, keep the others
                        failed.append((key, f"{exc.__class__.__name__}: {exc}"))
                        continue
                    on_result(key, result)
                    done += 1
                    if tick:
                        tick(done)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        if not broken:
            break
        restarts += 1
        remaining = sorted(futures.values(), key=lambda kt: order[kt[0]])
        for f in list(futures):  # futures that finished before the pool broke
            if f.done() and not f.cancelled() and f.exception() is None:
                on_result(futures[f][0], f.result())
                done += 1
                remaining.remove(futures[f])
        if restarts > POOL_RESTARTS:
            failed += [(key, _died(done)) for key, _ in remaining]
            break
    return failed, restarts


def _died(done: int) -> str:
    """Why a worker died, as far as can be told: with no run finished and a script as the
    main module, most likely the script itself, re-imported by each worker, starting the
    batch again at import because it lacks the ``if __name__ == "__main__":`` guard."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if done == 0 and script and not script.endswith(("cli.py", "__main__.py")):
        return ("a worker process died before any run finished; a script that starts runs "
                "must do it under `if __name__ == \"__main__\":` (each worker imports the "
                "script), or the workers were killed or out of memory")
    return "a worker process died (killed, or out of memory)"


def worker_init(batch_pid: int | None = None) -> None:
    """Local worker processes leave Ctrl-C to the batch, and die with it.

    The worker's parent is the forkserver, not the batch, and the forkserver may outlive
    a batch killed with SIGKILL; so the worker watches the batch's own process.
    """
    from maze.batch import lifeline

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lifeline.watch(batch_pid if batch_pid is not None else os.getppid())


def start_forkserver() -> None:
    """Start the forkserver (and resource tracker) ignoring Ctrl-C from their first moment.

    They take a second to import the simulator; a Ctrl-C meanwhile would print their
    tracebacks. A process started while SIGINT is ignored keeps ignoring it, so it is
    ignored (and, here, blocked) while they start: a Ctrl-C in that moment waits, pending,
    and reaches this process right after.
    """
    from multiprocessing import forkserver

    from maze.batch import lifeline

    lifeline.adopt()
    if threading.current_thread() is not threading.main_thread():
        with _imports_as_this_process():
            forkserver.ensure_running()  # signal dispositions belong to the main thread
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _imports_as_this_process():
            forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextmanager
def _imports_as_this_process() -> Iterator[None]:
    """Start the forkserver without the working folder on its import path when this process
    has none (the ``maze`` command, a script run by path).

    The server is started with ``python -c``, which puts the working folder first, and
    imports the simulator before it learns this process's path (Python 3.11 does not pass
    it on): a folder named ``offices`` or ``maze`` where the command runs was imported
    instead of the package, and every run failed ("module 'offices' has no attribute
    'mechanisms'"). PYTHONSAFEPATH (Python 3.11+) leaves the working folder out.
    """
    before = os.environ.get("PYTHONSAFEPATH")
    if "" not in sys.path:
        os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = before


@contextmanager
def pool_for(executor: str | cf.Executor | Any, workers: int | None, scheduler: str | None,
             tasks: int, preload: Sequence[str] = ()) -> Iterator[cf.Executor]:
    """A concurrent.futures executor for the choice; one we start is shut down after."""
    if isinstance(executor, cf.Executor):
        yield executor
        return
    if hasattr(executor, "get_executor"):  # a dask.distributed Client
        yield executor.get_executor(pure=False)
        return
    if executor == "dask":
        with dask_client(workers, scheduler) as client:
            yield client.get_executor(pure=False)
        return
    if executor == "serial":
        pool: cf.Executor = cf.ThreadPoolExecutor(max_workers=1)
    elif executor == "processes":
        n = workers or cores()
        # forkserver, not fork: the caller may hold threads (a notebook, a Dask client);
        # the server imports the simulator once and forks each worker from it ready to run
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["maze.batch.lifeline",
                                    *(m for m in preload if m != "maze.batch.lifeline")])
        start_forkserver()
        pool = cf.ProcessPoolExecutor(max_workers=max(1, min(n, tasks)), mp_context=ctx,
                                      initializer=worker_init, initargs=(os.getpid(),))
    else:
        raise ValueError(f"unknown executor {executor!r}")
    try:
        yield pool
    except BaseException:
        stop(pool)
        raise
    else:
        pool.shutdown(wait=True)


def cores() -> int:
    """Cores this process may use (fewer than the machine's under a CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def stop(pool: cf.Executor) -> None:
    """Stop a local pool now: cancel what waits and end the processes still running.

    concurrent.futures has no public way to end busy workers before Python 3.14, so
    this reaches for the pool's process table; without it, Ctrl-C would wait for the
    runs in progress to finish.
    """
    terminate = getattr(pool, "terminate_workers", None)
    pool.shutdown(wait=False, cancel_futures=True)
    if terminate is not None:
        terminate()
        return
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        if p.is_alive():
            p.terminate()


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: on a new LocalCluster of ``workers`` processes, or on a running scheduler."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise ClusterError(f"cannot reach the Dask scheduler ({first})",
                               key=f"--scheduler {scheduler}") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


