"""Batches of parameter points: each point x seed is one run of a function, stored and resumed.

Sensitivity analysis, ablation and calibration ask the same question many times:
"what do these measures come to at this point of the parameter space, with this seed?".
:func:`run_points` plans the runs (ids hash the point, the seed, what the caller says the
context is, and the code), executes the missing ones on :mod:`maze.batch.execute`, stores
each in ``OUT/runs/<id>/`` as it finishes, and returns one table row per point and
replication, in plan order, whatever order the runs finished in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from maze import storage
from maze.batch import execute as ex
from maze.batch.plan import FORMAT, replication_seeds


@dataclass(frozen=True)
class PointTask:
    """One run: a point (key -> value), a seed, and what the function needs besides."""

    run_id: str
    point: dict[str, Any]
    seed: int
    context: Any


class PointsError(Exception):
    """Some runs failed; the finished ones are stored and a second call resumes."""


def point_id(point: Mapping[str, Any], seed: int, context_key: str) -> str:
    """A run's folder name: a hash of its point, seed and context (which includes the code)."""
    text = json.dumps({"format": FORMAT, "context": context_key, "point": dict(point),
                       "seed": int(seed)}, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def run_points(points: Sequence[Mapping[str, Any]], fn: Callable[[PointTask], dict[str, Any]],
               context: Any, context_key: str, *, replications: int = 1, seed: int = 0,
               out: str | Path | None = None, executor: Any = "processes",
               workers: int | None = None, scheduler: str | None = None,
               preload: Sequence[str] = (), streams: Sequence[int] | None = None,
               progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """``fn`` at every point with ``replications`` seeds each (the same seeds at every point:
    common random numbers); one row per point and replication: ``point``,
    ``replication``, ``seed``, ``run``, then the measures ``fn`` returned.

    ``context_key`` must change whenever ``context`` or the code changes what ``fn``
    returns, or stored runs would be reused wrongly. ``streams`` gives each point a
    stream of seeds (stream ``j`` holds replication seeds ``j*R .. j*R+R-1`` spawned
    from ``seed``); by default every point uses stream 0.
    """
    streams = list(streams) if streams is not None else [0] * len(points)
    if len(streams) != len(points):
        raise ValueError(f"{len(streams)} streams for {len(points)} points")
    width = max(streams, default=0) + 1
    every = replication_seeds(seed, replications * width)
    plan = [(i, r, s, point_id(p, s, context_key))
            for i, p in enumerate(points)
            for r, s in enumerate(every[streams[i] * replications:
                                        (streams[i] + 1) * replications])]
    out_path = Path(out) if out is not None else None
    values: dict[str, dict[str, Any]] = {}
    todo: list[tuple[str, PointTask]] = []
    seen: set[str] = set()
    for i, _, s, rid in plan:
        if rid in seen:
            continue
        seen.add(rid)
        folder = out_path / "runs" / rid if out_path is not None else None
        if folder is not None and storage.is_complete(folder):
            values[rid] = json.loads((folder / storage.MARKER).read_text("utf-8"))["values"]
            continue
        todo.append((rid, PointTask(rid, dict(points[i]), s, context)))
    reused = len(seen) - len(todo)
    if progress:
        progress(reused, len(seen))

    def keep(rid: str, result: dict[str, Any]) -> None:
        clean = {k: _plain(v) for k, v in result.items()}
        values[rid] = clean
        if out_path is not None:
            task = by_id[rid]
            with storage.atomic_folder(out_path / "runs" / rid) as tmp:
                storage.write_json({"run": rid, "point": task.point, "seed": task.seed,
                                    "values": clean}, tmp / storage.MARKER)

    by_id = dict(todo)
    failed: list[tuple[str, str]] = []
    if todo:
        failed, _ = ex.execute(todo, fn, keep, executor=executor, workers=workers,
                               scheduler=scheduler, preload=preload,
                               tick=(lambda n: progress(reused + n, len(seen)))
                               if progress else None)
    if failed:
        rid, msg = failed[0]
        raise PointsError(f"{len(failed)} of {len(todo)} runs failed (first: {rid}: {msg}); "
                          "the finished ones are stored: run again to retry the rest")
    rows = [{"point": i, "replication": r, "seed": s, "run": rid, **values[rid]}
            for i, r, s, rid in plan]
    return pd.DataFrame(rows)


def _plain(x: Any) -> float | None:
    """A measure as JSON can hold it: a float, or None for a missing or undefined value."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x
