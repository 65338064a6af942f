"""Sweeps: an experiment file run over its grid of levers and seeds, on the batch layer.

The experiment file format is :mod:`maze.app.experiment`, the page :mod:`maze.app.sweep_page`;
planning, executing, storing and merging are :mod:`maze.batch`. This module joins them
to the simulator: :func:`compute` is what one run does on a worker.

Each finished run is stored at once in ``OUT/runs/<id>/`` (written whole or not at
all), where ``<id>`` is a hash of the run's parameters, seed, scenario content and the
simulator's code; running the same experiment again skips what is stored, so an
interrupted sweep resumes without recomputing or losing a finished run. The merged tables are read
back from the stored runs, so a resumed sweep gives the same table as an
uninterrupted one. Runs are spread over local processes, a local Dask cluster or an
existing Dask cluster; the simulation itself is the same everywhere.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from maze import measures, outputs, resources, storage
from maze.app import sweep_page
from maze.app.experiment import (  # noqa: F401 - the experiment file, re-exported
    GROUPABLE,
    RESERVED,
    ExperimentFile,
    build,
    code_fingerprint,
    load_experiment,
)
from maze.app.sweep_page import PALETTE, PLOTTED, figures, write_html  # noqa: F401
from maze.batch import execute as ex
from maze.batch import plan as pl
from maze.batch import store as st
from maze.batch.execute import POOL_RESTARTS, ClusterError, dask_client  # noqa: F401
from maze.batch.plan import FORMAT, Experiment, Point, RunSpec, replication_seeds  # noqa: F401
from maze.batch.tables import SweepResult, bands, merge  # noqa: F401
from maze.scenario import Scenario

#: Modules the local fork server imports once, so each worker starts ready to run.
PRELOAD = ("maze.batch.lifeline", "maze.app.api", "maze.app.sweep")
#: What a sweep writes in its folder (listed in the folder's maze marker).
SWEEP_FILES = ("experiment.json", "runs", "runs.parquet", "groups.parquet", "sweep.html")


class SweepError(Exception):
    """Some runs of a sweep failed; the others are stored and the sweep can be resumed."""


def run_id(scenario: Scenario, overrides: Mapping[str, Any], tags: Mapping[str, Any],
           seed: int) -> str:
    """The name of a run's folder: a hash of what it was asked to do, by this simulator."""
    return pl.run_id(scenario, overrides, tags, seed, code_fingerprint())


@dataclass(frozen=True)
class Task:
    """What a worker needs to compute one run: nothing that depends on the client's disk."""

    run_id: str
    scenario: Scenario
    seed: int
    by: tuple[str, ...]
    keep: tuple[str, ...]


def compute(task: Task) -> dict[str, Any]:
    """Simulate one run and take its measures (this is what runs on a worker)."""
    from maze.app import api

    result = api.run(task.scenario, task.seed)
    payload: dict[str, Any] = {
        "run_id": task.run_id,
        "summary": result.summary,
        "groups": group_measures(result, task.by),
        "tables": {name: getattr(result, name) for name in task.keep},
    }
    return payload


def group_measures(result: Any, by: Sequence[str]) -> list[dict[str, Any]]:
    """The summary measures of each group of households, for each way of grouping them."""
    rows: list[dict[str, Any]] = []
    for spec in by:
        if spec == "group":
            blocks = result.summary["by_group"]
        else:
            j = result.journeys.assign(group=_labels(result.journeys, spec.split("+")))
            blocks = measures.summary(result.raw.events, j, result.raw.households,
                                      result.scenario, result.raw.seed)["by_group"]
        rows += [{"by": spec, "group": g, **block} for g, block in blocks.items()]
    return rows


def _labels(j: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """Readable group names: "contract & no lease_own", "migrant", "origin=same & contract"."""
    parts = []
    for c in cols:
        v = j[c]
        if v.dtype == bool:
            parts.append(np.where(v.to_numpy(), c, f"no {c}"))
        elif len(cols) == 1:
            parts.append(v.astype(str).to_numpy())
        else:
            parts.append((c + "=" + v.astype(str)).to_numpy())
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + " & " + p
    return pd.Series(out, index=j.index)


# -- running a sweep -------------------------------------------------------------------------
def sweep(experiment: Experiment | str | Path, out: str | Path | None = None, *,
          executor: str | cf.Executor | Any = "processes", workers: int | None = None,
          scheduler: str | None = None,
          progress: Callable[[int, int], None] | None = None,
          max_memory: int | str | None = None) -> SweepResult:
    """Run every run of the experiment not already stored in ``out``; return the merged tables.

    ``executor`` is ``"processes"`` (local processes, ``workers`` of them, default all
    cores), ``"dask"`` (a new ``LocalCluster`` of ``workers`` processes, or the running
    cluster at ``scheduler``; started only if some run is still to do), ``"serial"`` (in
    this process), a ``dask.distributed.Client`` or any ``concurrent.futures.Executor``.
    With ``out``, each finished run is stored at once and ``runs.parquet``,
    ``groups.parquet`` and ``sweep.html`` are written at the end; without it nothing is
    written and nothing can be resumed.
    ``progress(done, total)`` is called as runs finish (stored runs count as done).
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    plan = exp.plan()
    out_path = Path(out) if out is not None else None
    records: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    seen: set[str] = set()
    for spec in plan:
        if spec.run_id in seen:
            continue
        seen.add(spec.run_id)
        if out_path is not None and st.finished(out_path / "runs" / spec.run_id, exp.by,
                                              exp.keep):
            continue
        todo.append(spec)
    reused = len(seen) - len(todo)
    if todo:  # the biggest setting, as many times as runs go side by side on this machine
        at_once = 1 if executor in ("serial", "dask") or not isinstance(executor, str) else \
            min(workers or ex.cores(), len(todo))
        biggest = max((exp.points[s.point].scenario for s in todo),
                      key=lambda scen: resources.estimate(scen).memory)
        resources.check(biggest, max_memory, source=exp.source, runs_at_once=at_once)
    if progress:
        progress(reused, len(seen))
    failed: list[tuple[str, str]] = []
    restarts = 0
    if out_path is not None:
        outputs.claim_folder(out_path, "sweep", SWEEP_FILES)
        st.write_experiment(out_path, exp)
    if todo:
        failed, restarts = _execute(
            exp, todo, out_path, records, executor, workers, scheduler,
            (lambda n: progress(reused + n, len(seen))) if progress else None)
    if failed:
        run, msg = failed[0]
        raise SweepError(f"{len(failed)} of {len(todo)} runs failed (first: run {run}: {msg}); "
                         "the finished ones are stored: run the sweep again to retry the rest")
    result = merge(exp, plan, out_path, records)
    result.computed, result.reused, result.restarts = len(todo), reused, restarts
    if out_path is not None:
        write_tables(result, out_path)
    return result


def _execute(exp: Experiment, todo: list[RunSpec], out: Path | None,
             records: dict[str, dict[str, Any]], executor: str | cf.Executor | Any,
             workers: int | None, scheduler: str | None,
             tick: Callable[[int], None] | None) -> tuple[list[tuple[str, str]], int]:
    """Submit the runs, store each as it finishes; return the runs that raised, and how
    many times the pool was replaced."""
    specs = {s.run_id: s for s in todo}
    tasks = [(s.run_id, Task(s.run_id, exp.points[s.point].scenario, s.seed, exp.by, exp.keep))
             for s in todo]

    def keep(run: str, payload: Mapping[str, Any]) -> None:
        if out is not None:
            spec = specs[run]
            st.store_run(out, spec, exp.points[spec.point], payload, exp.code)
        else:
            st.remember(records, run, payload)

    return ex.execute(tasks, compute, keep, executor=executor, workers=workers,
                      scheduler=scheduler, tick=tick, preload=PRELOAD)


def write_tables(result: SweepResult, out: str | Path) -> None:
    """runs.parquet, groups.parquet and sweep.html, each replaced in one rename."""
    out = Path(out)
    storage.atomic_file(out / "runs.parquet", lambda p: storage.write_parquet(result.runs, p))
    storage.atomic_file(out / "groups.parquet",
                        lambda p: storage.write_parquet(result.groups, p))
    storage.atomic_file(out / "sweep.html", lambda p: sweep_page.write_html(result, p))


def stored(result: SweepResult, table: Literal["journeys", "events"] = "journeys"
           ) -> pd.DataFrame:
    """Every run's journeys (or events), with the run's id, parameters, replication and seed.

    Needs a sweep stored on disk whose experiment keeps that table (``keep``).
    """
    if result.out is None or table not in result.experiment.keep:
        raise ValueError(f"{table} are kept only by a stored sweep with keep = [\"{table}\"]")
    head = ["run", *result.experiment.parameters, *result.experiment.tags, "replication",
            "seed"]
    parts = []
    for row in result.runs[head].to_dict("records"):
        j = pd.read_parquet(result.out / "runs" / row["run"] / f"{table}.parquet")
        parts.append(j.assign(**{k: [row[k]] * len(j) for k in head}))
    return pd.concat(parts, ignore_index=True)


def read_tables(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The merged tables of a finished sweep folder."""
    out = Path(out)
    return pd.read_parquet(out / "runs.parquet"), pd.read_parquet(out / "groups.parquet")
