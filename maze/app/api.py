"""The Python entry points: load a city, run it, write its results.

Notebooks, experiment scripts, the CLI and sweeps all go through these, so the
same (scenario, seed) gives the same tables whichever way it is run.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

import offices
from maze import heap, measures, outputs, resources, storage
from maze import scenario as sc
from maze.collector import fewer_collections
from maze.scenario import Scenario, ScenarioError
from maze.world import RunResult, World
from offices import presets


@dataclass
class Run:
    """A finished run and every table derived from it."""

    raw: RunResult
    events: pd.DataFrame
    journeys: pd.DataFrame
    summary: dict[str, Any]

    @property
    def scenario(self) -> Scenario:
        return self.raw.scenario


def load(path: str | Path | None = None, preset: str | None = None,
         overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A validated scenario from a file, a preset name, or the default city."""
    if path is not None and not isinstance(path, str | Path):
        raise TypeError(f"load(path): a scenario file is a str or Path, not "
                        f"{type(path).__name__}")
    if preset is not None and not isinstance(preset, str):
        raise TypeError(f"load(preset=): a preset is named by a str, not {type(preset).__name__}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError("load(overrides=): a mapping of dotted keys to values")
    if path is not None and preset is not None:
        raise ScenarioError("give a scenario file or a preset, not both")
    if path is None:
        name = preset or presets.DEFAULT
        if name not in presets.names():
            raise ScenarioError(f"unknown preset {name!r}; known: {', '.join(presets.names())}")
        source = f"preset {name}"
        scenario = sc.loads(presets.text(name), source=source)
    else:
        source = str(path)
        scenario = sc.load(path)
    if overrides:
        scenario = sc.override(scenario, overrides, source=source)
    offices.configs(scenario, source)  # refuse bad mechanism tables before anything runs
    return scenario


@dataclass
class Replications:
    """The same city run once per seed, as tidy tables with a ``seed`` column.

    ``journeys`` and ``events`` stack the runs' tables; ``summary`` has one row per seed
    and block of requests: ``by`` is ``"all"``, ``"migrants"``, ``"group"`` or
    ``"service"`` and ``group`` names the group or service (empty for the first two),
    then one column per measure of ``docs/reference/measures.md``.
    """

    runs: list[Run]
    seeds: list[int]

    @property
    def journeys(self) -> pd.DataFrame:
        return _stack([r.journeys for r in self.runs], self.seeds)

    @property
    def events(self) -> pd.DataFrame:
        return _stack([r.events for r in self.runs], self.seeds)

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for seed, r in zip(self.seeds, self.runs, strict=True):
            s = r.summary
            blocks = [("all", "", {k: v for k, v in s.items() if not isinstance(v, dict)})]
            if s.get("migrants"):
                blocks.append(("migrants", "", s["migrants"]))
            blocks += [("group", g, b) for g, b in s["by_group"].items()]
            blocks += [("service", n, b) for n, b in s["by_service"].items()]
            for by, group, block in blocks:
                measures = {k: v for k, v in block.items() if k not in _RUN_KEYS}
                rows.append({"seed": seed, "by": by, "group": group, **measures})
        return pd.DataFrame(rows)


#: Keys of a summary that describe the run rather than measure its requests.
_RUN_KEYS = ("scenario", "regime", "seed", "horizon_days", "households", "events")


def _stack(tables: list[pd.DataFrame], seeds: list[int]) -> pd.DataFrame:
    """Tables of several runs, one under the other, with the run's seed as first column.

    Categorical columns whose categories differ between runs become plain strings (as
    ``pd.concat`` does), so the stacked table compares as the runs' tables do.
    """
    out = pd.concat([t.assign(seed=s) for t, s in zip(tables, seeds, strict=True)],
                    ignore_index=True)
    return out[["seed", *[c for c in out.columns if c != "seed"]]]


#: Seeds are integers from 0 to 2**63 - 1 (what every table stores as int64).
MAX_SEED = 2**63 - 1


def scaled(scenario: Scenario, factor: float, check: bool = True) -> Scenario:
    """A copy of the city with its households, seats, clerks and the mechanisms' declared
    counts times ``factor`` (see :mod:`maze.scale`)."""
    from maze.scale import scaled as scale

    counts = {name: getattr(config, "SCALED", ())
              for name, (config, _) in offices.REGISTRY.items()}
    return scale(scenario, factor, counts, check=check)


def check_seed(seed: Any, source: str = "seed") -> int:
    """``seed`` as an int, or a clear error: a TypeError for a non-integer (None would
    silently draw a fresh seed each time), a ScenarioError for one out of range."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{source}: a seed is an integer from 0 to {MAX_SEED}, not "
                        f"{type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ScenarioError(f"a seed is an integer from 0 to {MAX_SEED}, not {seed}",
                            source=source)
    return int(seed)


#: Households from which a run's world is collected as soon as the run ends. A full
#: collection costs tens of milliseconds however small the world, a price a sweep of
#: small cities would pay on every run.
COLLECT_FROM = 50_000


@overload
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *, seeds: None = None,
        max_memory: int | str | None = None) -> Run: ...
@overload
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *,
        seeds: Sequence[int], max_memory: int | str | None = None) -> Replications: ...
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *,
        seeds: Sequence[int] | None = None,
        max_memory: int | str | None = None) -> Run | Replications:
    """Simulate one city with one seed and derive journeys and measures.

    With ``seeds=[...]``, run it once per seed (``seed`` is then ignored) and return
    :class:`Replications`: tidy tables with a ``seed`` column. Each replication is the
    same run as ``run(scenario, seed=s)``.

    A city whose estimated peak memory (:func:`maze.resources.estimate`) is above
    ``max_memory`` (bytes, or text such as ``"8G"``; default 80% of the memory this
    process may use, or ``MAZE_MAX_MEMORY``) is refused before anything is drawn.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"run(scenario): a maze Scenario (see maze.app.api.load), not "
                        f"{type(scenario).__name__}")
    resources.check(scenario, max_memory, source=scenario.city.name)
    if seeds is not None:
        seeds = [check_seed(s, "seeds") for s in seeds]
        if not seeds:
            raise ScenarioError("seeds: give at least one seed")
        return Replications([run(scenario, s, max_memory=max_memory) for s in seeds], seeds)
    seed = check_seed(seed)
    # The collector runs far less often from the world's making to the measures (as it
    # does while the world runs): a collection when the world is let go would walk every
    # object of the run, most of them freed the moment after, when the world goes.
    with fewer_collections():
        world = World(scenario, seed, offices.mechanisms)
        raw = world.run(progress)
        del world
        if len(raw.households) >= COLLECT_FROM:
            # Households still in a line at the horizon are SimPy processes holding the
            # world in reference cycles: collected now, the world's requests and processes
            # do not sit beside the measures (a third of the memory of a city of a million
            # households).
            gc.collect()
            heap.give_back()
        with np.errstate(over="ignore"):  # an overflow is reported by summary, as an error
            events = measures.attach_groups(raw.events, raw.households, raw.texts)
            j = measures.journeys(raw.events, raw.households, scenario)
            summary = measures.summary(raw.events, j, raw.households, scenario, seed)
        if raw.children is not None:
            from maze import life_measures

            summary["children"] = life_measures.children_summary(raw.children)
            assert scenario.lives is not None
            if scenario.lives.renew:
                summary["renewals"] = life_measures.churn(j, scenario.lives.renew, scenario)
    return Run(raw, events, j, summary)


def write(result: Run, out: str | Path, report: bool = True) -> Path:
    """Write a run's folder atomically: tables, summary, scenario and report."""
    out = Path(out)
    with storage.atomic_folder(out) as tmp:
        storage.write_parquet(result.events, tmp / "events.parquet")
        storage.write_parquet(result.journeys, tmp / "journeys.parquet")
        storage.write_parquet(result.raw.households, tmp / "households.parquet")
        if result.raw.children is not None:  # a run over years
            storage.write_parquet(result.raw.children, tmp / "children.parquet")
        if result.raw.life_events is not None:
            storage.write_parquet(result.raw.life_events, tmp / "life_events.parquet")
        # The summary's years give the blocks years.parquet shares with them.
        years = measures.years(result.journeys, result.scenario,
                               result.summary.get("by_year"))
        storage.write_parquet(years, tmp / "years.parquet")
        (tmp / "scenario.json").write_text(
            # In the declared order, not sorted: the order of services and mechanisms is part
            # of the scenario (it orders the draws), and this file must run the same again.
            json.dumps(result.scenario.model_dump(mode="json", by_alias=True), indent=2)
            + "\n", encoding="utf-8")
        if report:
            from maze.report import write_report

            write_report(result.events, result.journeys, result.raw.graph, result.summary,
                         tmp / "report.html", years=years)
        storage.write_json(result.summary, tmp / storage.MARKER)
    return out


def default_out(scenario: Scenario, seed: int) -> Path:
    """``runs/<city name as a slug>-<seed>``: whatever the name, the folder is in ``runs/``."""
    return outputs.default_folder("runs", f"{outputs.slug(scenario.city.name)}-{int(seed)}")


def check_out(scenario: Scenario, out: str | Path) -> Path:
    """Refuse, before simulating, an output folder ``write`` would refuse or fail on
    (not maze's, not writable, too little disk for the estimated output)."""
    return outputs.check_folder(out, "run", estimate_bytes=resources.estimate(scenario).output)
