"""The Python entry points: load a city, run it, write its results.

Notebooks, experiment scripts, the CLI and sweeps all go through these, so the
same (scenario, seed) gives the same tables whichever way it is run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import pandas as pd

import offices
from maze import measures, storage
from maze import scenario as sc
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


@overload
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *, seeds: None = None) -> Run: ...
@overload
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *,
        seeds: Sequence[int]) -> Replications: ...
def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None, *,
        seeds: Sequence[int] | None = None) -> Run | Replications:
    """Simulate one city with one seed and derive journeys and measures.

    With ``seeds=[...]``, run it once per seed (``seed`` is then ignored) and return
    :class:`Replications`: tidy tables with a ``seed`` column. Each replication is the
    same run as ``run(scenario, seed=s)``.
    """
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ScenarioError("seeds: give at least one seed")
        return Replications([run(scenario, s) for s in seeds], seeds)
    raw = World(scenario, seed, offices.mechanisms).run(progress)
    events = measures.attach_groups(raw.events, raw.households)
    j = measures.journeys(raw.events, raw.households, scenario)
    summary = measures.summary(raw.events, j, raw.households, scenario, seed)
    if raw.children is not None:
        from maze import life_measures

        summary["children"] = life_measures.children_summary(raw.children)
        assert scenario.lives is not None
        if scenario.lives.renew:
            summary["renewals"] = life_measures.churn(j, scenario.lives.renew)
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
        years = measures.years(result.journeys, result.scenario)
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
    return Path("runs") / f"{scenario.city.name}-{seed}"
