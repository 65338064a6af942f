"""The Python entry points: load a city, run it, write its results.

Notebooks, experiment scripts, the CLI and sweeps all go through these, so the
same (scenario, seed) gives the same tables whichever way it is run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def run(scenario: Scenario, seed: int = 0,
        progress: Callable[[float], None] | None = None) -> Run:
    """Simulate one city with one seed and derive journeys and measures."""
    raw = World(scenario, seed, offices.mechanisms(scenario)).run(progress)
    events = measures.attach_groups(raw.events, raw.households)
    j = measures.journeys(raw.events, raw.households, scenario)
    summary = measures.summary(raw.events, j, raw.households, scenario, seed)
    return Run(raw, events, j, summary)


def write(result: Run, out: str | Path, report: bool = True) -> Path:
    """Write a run's folder atomically: tables, summary, scenario and report."""
    out = Path(out)
    with storage.atomic_folder(out) as tmp:
        storage.write_parquet(result.events, tmp / "events.parquet")
        storage.write_parquet(result.journeys, tmp / "journeys.parquet")
        storage.write_parquet(result.raw.households, tmp / "households.parquet")
        (tmp / "scenario.json").write_text(
            # In the declared order, not sorted: the order of services and mechanisms is part
            # of the scenario (it orders the draws), and this file must run the same again.
            json.dumps(result.scenario.model_dump(mode="json", by_alias=True), indent=2)
            + "\n", encoding="utf-8")
        if report:
            from maze.report import write_report

            write_report(result.events, result.journeys, result.raw.graph, result.summary,
                         tmp / "report.html")
        storage.write_json(result.summary, tmp / storage.MARKER)
    return out


def default_out(scenario: Scenario, seed: int) -> Path:
    return Path("runs") / f"{scenario.city.name}-{seed}"
