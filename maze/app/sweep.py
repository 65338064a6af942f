"""Experiments: one city run many times, over a grid of levers and independent seeds.

An experiment names a base city (a preset or a scenario file), the levers to move
(dotted scenario keys, as in :func:`maze.scenario.override`), how many replications
of each setting to run and a base seed. Replication ``r`` always gets the seed
spawned ``r``-th from ``numpy.random.SeedSequence(seed)``, so every setting sees the
same seeds (common random numbers make the settings comparable) and adding
replications later keeps the runs already made.

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
import functools
import hashlib
import html
import itertools
import json
import math
import multiprocessing
import os
import signal
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import offices
from maze import measures, storage
from maze import scenario as sc
from maze.scenario import Scenario, ScenarioError
from offices import presets

#: Bump when the content of a stored run changes meaning; old runs are then recomputed.
FORMAT = 1
#: What a sweep can group its measures by: the service asked for, or a household
#: attribute; join two with "+" to cross them ("service+hukou", "contract+lease_own").
GROUPABLE = ("service", *measures.GROUP_COLUMNS)
#: Measures drawn in sweep.html, in this order (those that are empty in every run are skipped).
PLOTTED = ("served_share", "alternative_share", "sent_away_share", "gave_up_share",
           "denied_share", "deterred_share", "pending_share",
           "median_days_to_service_among_served", "mean_visits", "mean_offices_seen",
           "mean_levels_seen", "mean_loops", "explicit_refusal_share", "missed_deadline_share",
           "mean_out_of_pocket", "mean_wage_lost", "city_cost_saved")
#: Column names of the merged tables that a tag may not take.
RESERVED = ("run", "replication", "seed", "by", "group", "measure", "scenario", "regime")
#: Pool restarts allowed when a local worker process dies (killed, out of memory).
POOL_RESTARTS = 2


# -- the experiment file ---------------------------------------------------------------------
class ExperimentFile(BaseModel):
    """What an experiment TOML file may say; anything else is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str = ""
    #: A preset name (see ``maze presets``) or a scenario file, relative to the experiment file.
    base: Annotated[str, Field(min_length=1)] = presets.DEFAULT
    replications: Annotated[int, Field(ge=1, le=100_000)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    households: Annotated[int, Field(ge=1, le=sc.MAX_HOUSEHOLDS)] | None = None
    #: Overrides applied to every run (not columns of the table: they do not vary).
    set: dict[str, Any] = Field(default_factory=dict)
    #: Every combination of these values is run (a full factorial design).
    grid: dict[str, Any] = Field(default_factory=dict)
    #: Listed settings, each crossed with the grid; ``tags`` adds columns without overriding.
    runs: list[dict[str, Any]] = Field(default_factory=list)
    #: Group measures by these household attributes too ("contract+lease_own" crosses two).
    by: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["group", "hukou"])
    #: The column on the x axis of sweep.html (default: the first tag or swept key).
    lever: str | None = None
    #: Tables to keep beside each run's summary: "journeys" and/or "events" (Parquet).
    keep: list[Literal["journeys", "events"]] = Field(default_factory=list)


@dataclass(frozen=True)
class Point:
    """One setting of the levers: its varying overrides, its tags, and the scenario it makes."""

    overrides: dict[str, Any]
    tags: dict[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: every setting already checked against the scenario model."""

    name: str
    source: str
    base: str
    points: tuple[Point, ...]
    replications: int
    seed: int
    by: tuple[str, ...] = ("group", "hukou")
    lever: str | None = None
    keep: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""

    @property
    def seeds(self) -> list[int]:
        return replication_seeds(self.seed, self.replications)

    @property
    def x(self) -> str | None:
        """The lever drawn on the x axis of the sweep figures."""
        if self.lever:
            return self.lever
        return (self.tags or self.parameters or (None,))[0]

    def plan(self) -> list[RunSpec]:
        """Every run, in table order: settings in experiment order, then replications."""
        return [RunSpec(run_id(p.scenario, p.overrides, p.tags, s), i, r, s)
                for i, p in enumerate(self.points) for r, s in enumerate(self.seeds)]


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    point: int
    replication: int
    seed: int


@dataclass
class SweepResult:
    """The merged tables of a sweep: one row per run, and one row per run and group."""

    runs: pd.DataFrame
    groups: pd.DataFrame
    experiment: Experiment
    out: Path | None = None
    computed: int = 0
    reused: int = 0
    #: Times the local worker pool was replaced after a worker process died.
    restarts: int = 0


class ClusterError(ScenarioError):
    """The Dask scheduler asked for cannot be reached (a user error, like a bad file)."""


class SweepError(Exception):
    """Some runs of a sweep failed; the others are stored and the sweep can be resumed."""


def replication_seeds(base_seed: int, replications: int) -> list[int]:
    """One independent seed per replication, spawned from the base seed.

    Child ``r`` of a SeedSequence depends only on ``(base_seed, r)``, so asking for
    more replications later keeps the seeds (and stored runs) of the first ones.
    """
    children = np.random.SeedSequence(int(base_seed)).spawn(int(replications))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def run_id(scenario: Scenario, overrides: Mapping[str, Any], tags: Mapping[str, Any],
           seed: int) -> str:
    """The name of a run's folder: a hash of what it was asked to do."""
    payload = {
        "format": FORMAT,
        "code": code_fingerprint(),
        "scenario": scenario.model_dump(mode="json", by_alias=True),
        "parameters": dict(overrides),
        "tags": dict(tags),
        "seed": int(seed),
    }
    # Not sorted: the scenario's order of services and mechanisms changes its results, so
    # two scenarios that differ only in that order are different runs.
    text = json.dumps(payload, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@functools.cache
def code_fingerprint() -> str:
    """A hash of the simulator's source (maze/ and offices/): stored runs are only reused
    by the code that made them, so an edit to a rule never mixes old and new results."""
    import maze

    h = hashlib.sha256()
    for package in (maze, offices):
        root = Path(package.__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root.parent).as_posix().encode("utf-8") + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file (every setting is checked now)."""
    p = Path(path)
    source = str(p)
    try:
        data = tomllib.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read file ({exc.__class__.__name__})",
                            source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML ({exc})", source=source) from None
    spec = _validate_file(data, source)
    base = spec.base
    base_is_file = base.endswith(".toml") or "/" in base or os.sep in base
    return build(base=(p.parent / base) if base_is_file else base,
                 grid=spec.grid, runs=spec.runs, replications=spec.replications,
                 seed=spec.seed, fixed=spec.set, households=spec.households, by=spec.by,
                 lever=spec.lever, keep=spec.keep, name=spec.name or p.stem,
                 description=spec.description, source=source, base_label=base)


def _validate_file(data: Mapping[str, Any], source: str) -> ExperimentFile:
    try:
        return ExperimentFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = ("unknown key; an experiment has name, description, base, replications, "
                   "seed, households, set, grid, runs, by, lever, keep")
        elif err["type"] == "missing":
            msg = "missing required key"
        raise ScenarioError(msg, source=source, key=key or None) from None


def build(base: Scenario | str | Path = presets.DEFAULT, *, grid: Mapping[str, Any] | None = None,
          runs: Sequence[Mapping[str, Any]] | None = None, replications: int = 1,
          seed: int = 0, fixed: Mapping[str, Any] | None = None,
          households: int | None = None, by: Sequence[str] = ("group", "hukou"),
          lever: str | None = None, keep: Sequence[str] = (), name: str | None = None,
          description: str = "", source: str = "<experiment>",
          base_label: str | None = None) -> Experiment:
    """An experiment from Python: a base (scenario, preset name or file) and its levers.

    ``grid`` maps dotted scenario keys to lists of values (every combination is run);
    ``runs`` lists settings (dicts of dotted keys, with an optional ``tags`` dict of extra
    columns), each crossed with the grid; ``fixed`` applies to every run (the file's
    ``set``). Every setting is validated here, so a bad key is refused before anything runs.
    """
    if replications < 1:
        raise ScenarioError("at least one replication", source=source, key="replications")
    if seed < 0:
        raise ScenarioError("the seed must be >= 0", source=source, key="seed")
    scenario, label = _base(base, source)
    fixed = _flatten(fixed or {}, "set", source)
    if households is not None:
        fixed["population.households"] = households
    grid_flat = _flatten(grid or {}, "grid", source, stop_at_lists=True)
    for key, values in grid_flat.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError("a grid entry is a non-empty list of values", source=source,
                                key=f"grid.{key}")
    listed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for i, entry in enumerate(runs or [{}]):
        entry = dict(entry)
        tags = entry.pop("tags", {})
        if not isinstance(tags, Mapping) or any(
                isinstance(v, Mapping | list) for v in tags.values()):
            raise ScenarioError("tags is a table of plain values (numbers, text, true/false)",
                                source=source, key=f"runs.{i}.tags")
        for t in tags:
            if t in RESERVED or "." in t:
                raise ScenarioError("a tag may not contain a dot or be called "
                                    f"{', '.join(RESERVED)}", source=source,
                                    key=f"runs.{i}.tags.{t}")
        listed.append((f"runs.{i}" if runs else "", _flatten(entry, f"runs.{i}", source),
                       dict(tags)))
    for i, name in enumerate(keep):
        if name not in ("journeys", "events"):
            raise ScenarioError(f"cannot keep {name!r}; keep journeys and/or events",
                                source=source, key=f"keep.{i}")
    by = tuple(by)
    for i, b in enumerate(by):
        for col in b.split("+"):
            if col not in GROUPABLE:
                raise ScenarioError(f"cannot group by {col!r}; use one of "
                                    f"{', '.join(GROUPABLE)} (join two with '+')",
                                    source=source, key=f"by.{i}")
    where = {k: "households" if k == "population.households" and households is not None
             else f"set.{k}" for k in fixed}
    common = _apply_blaming(scenario, fixed, where, source, "set")
    parameters = list(dict.fromkeys([*grid_flat, *(k for _, e, _ in listed for k in e)]))
    tag_names = list(dict.fromkeys(k for _, _, t in listed for k in t))
    points = []
    keys = list(grid_flat)
    for section, entry, tags in listed:
        for combo in itertools.product(*(grid_flat[k] for k in keys)):
            varying = {**entry, **dict(zip(keys, combo, strict=True))}
            where = {**{k: f"{section}.{k}" for k in entry}, **{k: f"grid.{k}" for k in keys}}
            scen = _apply_blaming(common, varying, where, source, section or "grid")
            points.append(Point(varying, tags, scen))
    if lever is not None and lever not in parameters and lever not in tag_names:
        swept = ", ".join(parameters + tag_names) or "nothing"
        raise ScenarioError(f"not a swept key or tag; swept: {swept}", source=source,
                            key="lever")
    return Experiment(name=name or scenario.city.name, source=source,
                      base=base_label or label, points=tuple(points),
                      replications=int(replications), seed=int(seed), by=by, lever=lever,
                      keep=tuple(keep), parameters=tuple(parameters),
                      tags=tuple(tag_names), description=description)


def _base(base: Scenario | str | Path, source: str) -> tuple[Scenario, str]:
    from maze.app import api
    from offices import presets

    if isinstance(base, Scenario):
        offices.configs(base, source)
        return base, base.city.name
    if isinstance(base, Path) or str(base).endswith(".toml"):
        p = Path(base)
        if not p.is_file():
            raise ScenarioError(f"scenario file {str(p)!r} not found", source=source, key="base")
        return api.load(path=p), str(base)
    if str(base) not in presets.names():
        raise ScenarioError(f"unknown preset {base!r}; known: {', '.join(presets.names())} "
                            "(or give a scenario file ending in .toml)", source=source, key="base")
    return api.load(preset=str(base)), str(base)


def _flatten(table: Mapping[str, Any], section: str, source: str,
             stop_at_lists: bool = False) -> dict[str, Any]:
    """Dotted keys from a TOML table: nested tables become paths, a quoted dotted key is whole.

    ``[grid] offices.school.seats = [..]`` and ``"offices.school.seats" = [..]`` mean the
    same; a value given under a quoted dotted key is set as it is (a whole table).
    """
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if not isinstance(k, str) or not k:
                raise ScenarioError("empty key", source=source, key=section)
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, Mapping) and "." not in k and not (stop_at_lists and not v):
                if not v:
                    out[path] = {}
                else:
                    walk(v, path)
            else:
                out[path] = v

    walk(table, "")
    return out


def _apply(base: Scenario, changes: Mapping[str, Any], source: str, where: str) -> Scenario:
    """The base with the changes applied and its mechanisms checked, or one keyed error."""
    try:
        scenario = sc.override(base, changes, source=source)
        offices.configs(scenario, source)
    except ScenarioError as exc:
        inner = _bare(exc)
        key = f"{where}: {exc.key}" if exc.key else where
        raise ScenarioError(inner, source=source, key=key) from None
    return scenario


def _apply_blaming(base: Scenario, changes: Mapping[str, Any], where: Mapping[str, str],
                   source: str, section: str) -> Scenario:
    """Apply a setting; if it is refused, name the one key that is refused on its own."""
    try:
        return _apply(base, changes, source, section)
    except ScenarioError as whole:
        for key, value in changes.items():
            _apply(base, {key: value}, source, where[key])
        raise whole from None


def _bare(exc: ScenarioError) -> str:
    msg = str(exc)
    if exc.source:
        msg = msg.removeprefix(f"{exc.source}: ")
    if exc.key:
        msg = msg.removeprefix(f"{exc.key}: ")
    return msg


# -- one run, wherever it is computed --------------------------------------------------------
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


def _worker_init() -> None:
    """Local worker processes leave Ctrl-C to the sweep, and die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        import time

        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _store(out: Path, spec: RunSpec, point: Point, payload: Mapping[str, Any]) -> None:
    """Write one finished run whole (summary.json last) or not at all."""
    folder = out / "runs" / spec.run_id
    with storage.atomic_folder(folder) as tmp:
        storage.write_json({"run": spec.run_id, "parameters": point.overrides,
                            "tags": point.tags, "replication": spec.replication,
                            "seed": spec.seed, "code": code_fingerprint(), "format": FORMAT},
                           tmp / "run.json")
        storage.write_json(payload["groups"], tmp / "groups.json")
        for name, df in payload.get("tables", {}).items():
            storage.write_parquet(df, tmp / f"{name}.parquet")
        (tmp / "scenario.json").write_text(  # declared order: it must run the same again
            json.dumps(point.scenario.model_dump(mode="json", by_alias=True), indent=2)
            + "\n", encoding="utf-8")
        storage.write_json(payload["summary"], tmp / storage.MARKER)


def _finished(folder: Path, by: Sequence[str], keep: Sequence[str]) -> bool:
    """A run counts as done when it was stored whole and holds what this experiment asks."""
    if not storage.is_complete(folder):
        return False
    if any(not (folder / f"{name}.parquet").is_file() for name in keep):
        return False
    try:
        have = {row["by"] for row in json.loads((folder / "groups.json").read_text("utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return set(by) <= have


# -- running a sweep -------------------------------------------------------------------------
def sweep(experiment: Experiment | str | Path, out: str | Path | None = None, *,
          executor: str | cf.Executor | Any = "processes", workers: int | None = None,
          scheduler: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
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
        if out_path is not None and _finished(out_path / "runs" / spec.run_id, exp.by,
                                              exp.keep):
            continue
        todo.append(spec)
    reused = len(seen) - len(todo)
    if progress:
        progress(reused, len(seen))
    failed: list[tuple[str, str]] = []
    restarts = 0
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        _write_experiment(out_path, exp)
    if todo:
        failed, restarts = _execute(
            exp, todo, out_path, records, executor, workers, scheduler,
            (lambda n: progress(reused + n, len(seen))) if progress else None)
    if failed:
        run, msg = failed[0]
        raise SweepError(f"{len(failed)} of {len(todo)} runs failed (first: run {run}: {msg}); "
                         "the finished ones are stored: run the sweep again to retry the rest")
    result = _merge(exp, plan, out_path, records)
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
    done = 0
    failed: list[tuple[str, str]] = []
    remaining = list(todo)
    restarts = 0
    while remaining:
        with _executor(executor, workers, scheduler, len(remaining)) as pool:
            futures = {pool.submit(compute, Task(s.run_id, exp.points[s.point].scenario,
                                                 s.seed, exp.by, exp.keep)): s
                       for s in remaining}
            broken = False
            try:
                for fut in cf.as_completed(futures):
                    spec = futures.pop(fut)
                    try:
                        payload = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        futures[fut] = spec
                        break
                    except Exception as exc:  # a run that raised: report it, keep the others
                        failed.append((spec.run_id, f"{exc.__class__.__name__}: {exc}"))
                        continue
                    _keep(exp, spec, payload, out, records)
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
        order = {s.run_id: i for i, s in enumerate(todo)}
        remaining = sorted(futures.values(), key=lambda s: order[s.run_id])
        for f in list(futures):  # futures that finished before the pool broke
            if f.done() and not f.cancelled() and f.exception() is None:
                _keep(exp, futures[f], f.result(), out, records)
                done += 1
                remaining.remove(futures[f])
        if restarts > POOL_RESTARTS:
            failed += [(s.run_id, "a worker process died (killed, or out of memory)")
                       for s in remaining]
            break
    return failed, restarts


def _keep(exp: Experiment, spec: RunSpec, payload: Mapping[str, Any], out: Path | None,
          records: dict[str, dict[str, Any]]) -> None:
    if out is not None:
        _store(out, spec, exp.points[spec.point], payload)
    else:  # the same JSON round trip as the stored runs, so both give the same table
        records[spec.run_id] = json.loads(json.dumps(
            {"summary": payload["summary"], "groups": payload["groups"]}, allow_nan=False))


@contextmanager
def _executor(executor: str | cf.Executor | Any, workers: int | None, scheduler: str | None,
              tasks: int) -> Iterator[cf.Executor]:
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
        n = workers or _cores()
        # forkserver, not fork: the caller may hold threads (a notebook, a Dask client);
        # the server imports the simulator once and forks each worker from it ready to run
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["maze.app.api", "maze.app.sweep"])
        pool = cf.ProcessPoolExecutor(max_workers=max(1, min(n, tasks)), mp_context=ctx,
                                      initializer=_worker_init)
    else:
        raise ValueError(f"unknown executor {executor!r}")
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    else:
        pool.shutdown(wait=True)


def _cores() -> int:
    """Cores this process may use (fewer than the machine's under a CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _stop(pool: cf.Executor) -> None:
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


# -- merging ---------------------------------------------------------------------------------
def _write_experiment(out: Path, exp: Experiment) -> None:
    data = {"name": exp.name, "source": exp.source, "base": exp.base,
            "replications": exp.replications, "seed": exp.seed, "seeds": exp.seeds,
            "by": list(exp.by), "lever": exp.x, "parameters": list(exp.parameters),
            "tags": list(exp.tags),
            "points": [{"overrides": p.overrides, "tags": p.tags} for p in exp.points]}
    storage.atomic_file(out / "experiment.json",
                        lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n",
                                               encoding="utf-8"))


def _load_record(out: Path | None, records: Mapping[str, dict[str, Any]],
                 run: str) -> dict[str, Any]:
    if out is None:
        return records[run]
    folder = out / "runs" / run
    return {"summary": json.loads((folder / storage.MARKER).read_text("utf-8")),
            "groups": json.loads((folder / "groups.json").read_text("utf-8"))}


def _merge(exp: Experiment, plan: Sequence[RunSpec], out: Path | None,
           records: Mapping[str, dict[str, Any]]) -> SweepResult:
    run_rows, group_rows = [], []
    for spec in plan:
        rec = _load_record(out, records, spec.run_id)
        point = exp.points[spec.point]
        head = {"run": spec.run_id,
                **{k: point.overrides.get(k) for k in exp.parameters},
                **{k: point.tags.get(k) for k in exp.tags},
                "replication": spec.replication, "seed": spec.seed}
        s = rec["summary"]
        run_rows.append({**head, **{k: v for k, v in s.items() if k not in _NESTED}})
        for g in rec["groups"]:
            if g["by"] in exp.by:
                group_rows.append({**head, **g})
    runs = _tidy(pd.DataFrame(run_rows), exp)
    groups = _tidy(pd.DataFrame(group_rows), exp)
    return SweepResult(runs=runs, groups=groups, experiment=exp, out=out)


#: Summary entries that are not one number per run (or repeat a column already there).
_NESTED = ("seed", "by_group", "by_service", "migrants", "by_year")
#: Summary measures that may be missing (null: a median never reached) but are still columns.
_SCALARS = ("median_days_to_service", "median_days_to_service_among_served", "mean_visits",
            "mean_offices_seen", "mean_levels_seen", "mean_loops")


def _tidy(df: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Parameter columns with one type each (lists and tables as JSON text), measures as floats."""
    if df.empty:
        return df
    for col in (*exp.parameters, *exp.tags):
        values = [v for v in df[col].tolist() if v is not None]
        nested = any(isinstance(v, dict | list) for v in values)
        mixed = any(isinstance(v, str) for v in values) and not all(
            isinstance(v, str) for v in values)
        if nested or mixed:
            df[col] = [None if v is None else v if isinstance(v, str)
                       else json.dumps(v, sort_keys=True) for v in df[col].tolist()]
    for col in _SCALARS:
        if col in df:
            df[col] = df[col].astype(float)
    return df.reset_index(drop=True)


def write_tables(result: SweepResult, out: str | Path) -> None:
    """runs.parquet, groups.parquet and sweep.html, each replaced in one rename."""
    out = Path(out)
    storage.atomic_file(out / "runs.parquet", lambda p: storage.write_parquet(result.runs, p))
    storage.atomic_file(out / "groups.parquet",
                        lambda p: storage.write_parquet(result.groups, p))
    storage.atomic_file(out / "sweep.html", lambda p: write_html(result, p))


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


# -- the figures -----------------------------------------------------------------------------
def bands(df: pd.DataFrame, x: str | None, measures: str | Sequence[str],
          by: Sequence[str] = (), level: float = 0.95) -> pd.DataFrame:
    """Means over replications with t confidence intervals, per lever value (long format).

    One row per (``by``..., ``x``, measure): ``n`` runs with a value, ``mean``, and the
    interval ``low``..``high`` (empty when n < 2).
    """
    from scipy.special import stdtrit  # the t quantile, without importing scipy.stats

    names = [measures] if isinstance(measures, str) else list(measures)
    keys = [c for c in (*by, x) if c is not None]
    data = df[[*keys, *names]].copy()
    if not keys:
        keys = ["_all"]
        data["_all"] = 0
    long = data.melt(id_vars=keys, value_vars=names, var_name="measure").dropna(
        subset=["value"])
    if long.empty:
        return pd.DataFrame(columns=[*keys, "measure", "n", "mean", "low", "high"])
    agg = (long.groupby([*keys, "measure"], sort=True, dropna=False)["value"]
           .agg(n="count", mean="mean", sd="std").reset_index())
    n = agg["n"].to_numpy()
    t = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2), np.nan)
    half = t * agg["sd"].to_numpy() / np.sqrt(n)
    agg["low"] = agg["mean"] - half
    agg["high"] = agg["mean"] + half
    return agg.drop(columns=["sd", *(["_all"] if "_all" in agg else [])])


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


PALETTE = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab17d", "#9d4edd", "#f4a261",
           "#457b9d", "#6c757d", "#bc4749")


def figures(result: SweepResult) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """Sections of (title, figures): each measure against the lever, one line per group.

    Figures are plotly figure dicts (``plotly.graph_objects.Figure(d)`` to use one).
    """
    exp = result.experiment
    x = exp.x
    others = [c for c in (*exp.parameters, *exp.tags) if c != x
              and result.runs[c].nunique(dropna=False) > 1]
    plotted = _plotted(result)
    sections = []
    settings = (result.runs[others].drop_duplicates().to_dict("records") if others else [{}])
    for by in exp.by:
        for setting in settings:
            title = f"by {by}" + "".join(f"; {k} = {v}" for k, v in setting.items())
            groups = result.groups[result.groups["by"] == by]
            runs = result.runs
            for k, v in setting.items():
                groups = groups[groups[k].isna() if _isnan(v) else groups[k] == v]
                runs = runs[runs[k].isna() if _isnan(v) else runs[k] == v]
            overall = bands(runs, x, plotted)
            by_group = bands(groups, x, plotted, by=["group"])
            names = sorted(by_group["group"].unique()) if len(by_group) else []
            figs = []
            for measure in plotted:
                traces: list[dict[str, Any]] = []
                lines = [("all requests", overall[overall["measure"] == measure], "#111111")]
                sel = by_group[by_group["measure"] == measure]
                lines += [(str(g), sel[sel["group"] == g], PALETTE[i % len(PALETTE)])
                          for i, g in enumerate(names)]
                for name, b, colour in lines:
                    if not b.empty:
                        traces += _line(b, x, measure, name, colour)
                layout = {"title": {"text": _esc(measure.replace("_", " "))},
                          "xaxis": {"title": {"text": _esc(x or "")}},
                          "yaxis": {"title": {"text": _esc(measure)}},
                          "height": 380, "margin": {"t": 50, "b": 40}}
                if x and not pd.api.types.is_numeric_dtype(result.runs[x]):
                    layout["xaxis"]["type"] = "category"
                figs.append((measure, {"data": traces, "layout": layout}))
            sections.append((title, figs))
    return sections


def _line(b: pd.DataFrame, x: str | None, measure: str, name: str,
          colour: str) -> list[dict[str, Any]]:
    """A mean line and its confidence band, as plotly trace dicts."""
    xs = [_esc(v) if isinstance(v, str) else v for v in b[x].tolist()] if x else \
        ["all runs"] * len(b)
    low, high = b["low"], b["high"]
    if measure.endswith("_share"):  # a share's interval stops at 0 and 1
        low, high = low.clip(0, 1), high.clip(0, 1)
    ok = low.notna().to_numpy()
    out = []
    if ok.any():
        bx = [v for v, k in zip(xs, ok, strict=True) if k]
        out.append({"type": "scatter", "x": bx + bx[::-1],
                    "y": high[ok].tolist() + low[ok].tolist()[::-1], "mode": "lines",
                    "fill": "toself", "fillcolor": _rgba(colour, 0.15), "line": {"width": 0},
                    "hoverinfo": "skip", "showlegend": False, "legendgroup": _esc(name)})
    custom = [[int(n), None if _isnan(lo) else lo, None if _isnan(hi) else hi]
              for n, lo, hi in zip(b["n"], low, high, strict=True)]
    out.append({"type": "scatter", "x": xs, "y": b["mean"].tolist(), "mode": "lines+markers",
                "name": _esc(name), "legendgroup": _esc(name),
                "line": {"color": colour, "dash": "dash" if name == "all requests" else "solid"},
                "customdata": custom,
                "hovertemplate": "%{y:.4g} (95% CI %{customdata[1]:.4g} to "
                                 "%{customdata[2]:.4g}; n = %{customdata[0]})"})
    return out


def _plotted(result: SweepResult) -> list[str]:
    """The measures worth a figure: those not zero (or empty) in every run and group."""
    out = []
    for m in PLOTTED:
        values = pd.concat([result.runs.get(m, pd.Series(dtype=float)),
                            result.groups.get(m, pd.Series(dtype=float))]).dropna()
        if len(values) and (values != 0).any():
            out.append(m)
    return out


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def write_html(result: SweepResult, path: str | Path) -> None:
    """A self-contained page (plotly.js inlined once): each measure against the lever."""
    import plotly.io as pio

    exp = result.experiment
    parts, first, n = [], True, 0
    for title, figs in figures(result):
        parts.append(f"<h2>{_esc(title)}</h2>")
        for _, fig in figs:
            parts.append(pio.to_html(fig, include_plotlyjs=first, full_html=False,
                                     div_id=f"fig{n}", validate=False))
            first, n = False, n + 1
    swept = ", ".join(_esc(k) for k in (*exp.parameters, *exp.tags)) or "nothing (replications)"
    left_out = [m for m in PLOTTED if m not in _plotted(result)]
    note = (f" Left out, zero or empty in every run: {_esc(', '.join(left_out))}."
            if left_out else "")
    name = _esc(exp.name)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maze sweep: {name}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}</style></head>
<body><h1>maze sweep: {name}</h1>
<p>{_esc(exp.description)}</p>
<p>Base city: {_esc(exp.base)}. Swept: {swept}. {exp.replications} replication(s) of each
setting (seeds spawned from {exp.seed}); {len(result.runs)} runs. Lines are means over
replications, bands 95% t confidence intervals (for shares, cut at 0 and 1); shares are of
requests.{note}</p>
{''.join(parts)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
