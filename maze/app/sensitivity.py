"""A sensitivity study of a city: Morris over its declared ranges, Sobol for the leaders.

Runs go through :func:`maze.batch.points.run_points`, so a study is stored run by run in
``OUT/morris/runs/`` and ``OUT/sobol/runs/`` and resumes where it stopped. Results:
``morris.parquet`` (mu, mu*, its bootstrap interval, sigma, rank, whether mu* clears
seed noise), ``sobol.parquet`` (S1 and ST with bootstrap half-widths), ``runs.parquet``
(every design point: unit coordinates, values, measures) and ``sensitivity.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from maze import sensitivity as sa
from maze import storage
from maze import uncertainty as un
from maze.app import outcomes
from maze.batch.points import run_points
from maze.scenario import Scenario, ScenarioError

PRELOAD = ("maze.app.api", "maze.app.outcomes")


@dataclass
class Result:
    """What a study found, and where it is stored."""

    morris: pd.DataFrame
    sobol: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def study(scenario: Scenario, *, source: str = "<city>", keys: Sequence[str] | None = None,
          measures: Sequence[str] = outcomes.DEFAULT,
          specs: Mapping[str, Any] | None = None, trajectories: int = 10, levels: int = 4,
          replications: int = 1, seed: int = 0, sobol_top: int = 0, sobol_n: int = 512,
          scale: float = 1.0, out: str | Path | None = None, executor: Any = "processes",
          workers: int | None = None, scheduler: str | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> Result:
    """Screen the declared assumptions (or ``keys``) with Morris; then, if ``sobol_top``,
    Sobol indices for the leading ones (by mu* on the first measure). With ``scale``, each
    run is of a copy of the city with its counts times it (the values drawn in the full
    city's units)."""
    assumptions, ctx, measures = check(scenario, source=source, keys=keys, measures=measures,
                                       specs=specs, trajectories=trajectories,
                                       sobol_top=sobol_top, scale=scale)
    out_path = Path(out) if out is not None else None
    common = {"executor": executor, "workers": workers, "scheduler": scheduler,
              "preload": PRELOAD, "replications": replications, "seed": seed}

    design = sa.morris_design(assumptions, trajectories, levels=levels, seed=seed)
    table = run_points(sa.points(design, assumptions), outcomes.simulate, ctx, ctx.key(),
                       out=out_path / "morris" if out_path else None,
                       streams=sa.streams(design),
                       progress=(lambda d, n: progress("morris", d, n)) if progress else None,
                       **common)
    morris = pd.concat([sa.analyse_morris(design, sa.outputs(table, m, len(design.unit)), m,
                                          seed=seed) for m in measures], ignore_index=True)
    runs = [_design_rows(design, assumptions, table, measures)]
    sobol = pd.DataFrame(columns=["measure", "key", "S1", "S1_conf", "ST", "ST_conf", "rank"])
    if sobol_top:
        first = morris[(morris["measure"] == measures[0]) & (morris["key"] != sa.NOISE)]
        lead = list(first["key"][:sobol_top])
        chosen = [a for a in assumptions if a.key in lead]
        sdesign = sa.sobol_design(chosen, sobol_n, seed=seed)
        stable = run_points(sa.points(sdesign, chosen), outcomes.simulate, ctx, ctx.key(),
                            out=out_path / "sobol" if out_path else None,
                            progress=(lambda d, n: progress("sobol", d, n)) if progress
                            else None, **common)
        sobol = pd.concat([sa.analyse_sobol(sdesign, sa.outputs(stable, m, len(sdesign.unit)),
                                            m, seed=seed) for m in measures],
                          ignore_index=True)
        runs.append(_design_rows(sdesign, chosen, stable, measures))
    settings = {"city": scenario.city.name, "source": source,
                "households": scenario.population.households, "scale": scale,
                "assumptions": [a.key for a in assumptions], "measures": list(measures),
                "trajectories": trajectories, "levels": levels, "replications": replications,
                "seed": seed, "sobol_top": sobol_top, "sobol_n": sobol_n,
                "morris_runs": int(table["run"].nunique()),
                "sobol_runs": int(runs[1]["run"].nunique()) if sobol_top else 0,
                "warnings": sa.morris_caveats(trajectories)
                + (sa.sobol_caveats(sobol, sobol_n) if sobol_top else [])}
    result = Result(morris, sobol, pd.concat(runs, ignore_index=True), settings)
    if out_path is not None:
        write(result, out_path)
    return result


def check(scenario: Scenario, *, source: str = "<city>", keys: Sequence[str] | None = None,
          measures: Sequence[str] = outcomes.DEFAULT,
          specs: Mapping[str, Any] | None = None, trajectories: int = 10, sobol_top: int = 0,
          scale: float = 1.0) -> tuple[list[un.Assumption], outcomes.Study, tuple[str, ...]]:
    """Refuse a study that cannot run (no or unknown assumptions, unknown measures) before
    any run or output folder; return its assumptions, the runs' context and the measures."""
    assumptions = un.declared(scenario, source=source, keys=keys)
    if not assumptions:
        raise ScenarioError("no declared assumptions to vary (add an [uncertainty] table)",
                            source=source)
    un.check_ends(scenario, assumptions, source)
    ctx, names = outcomes.study_for(scenario, measures, specs, scale)
    if trajectories < 2:
        raise ScenarioError("at least 2 trajectories", key="--trajectories")
    if sobol_top < 0:
        raise ScenarioError(f"at least 0 assumptions (got {sobol_top})", key="--sobol")
    return assumptions, ctx, names


def _design_rows(design: sa.Design, assumptions: Sequence[un.Assumption],
                 table: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    values = pd.DataFrame(sa.points(design, assumptions))
    values = values.map(lambda v: json.dumps(v) if isinstance(v, list | bool) else v)
    df = table.merge(values.add_prefix("value:"), left_on="point", right_index=True)
    df.insert(0, "design", design.method)
    return df[["design", "point", "replication", "seed", "run",
               *[c for c in df if c.startswith("value:")], *measures]]


def write(result: Result, out: Path) -> None:
    """The tables and the page, each replaced in one rename."""
    from maze.app import sensitivity_page

    out.mkdir(parents=True, exist_ok=True)
    for name, df in (("morris", result.morris), ("sobol", result.sobol), ("runs", result.runs)):
        storage.atomic_file(out / f"{name}.parquet", lambda p, d=df: storage.write_parquet(d, p))
    storage.atomic_file(out / "study.json", lambda p: storage.write_json(result.settings, p))
    storage.atomic_file(out / "sensitivity.html",
                        lambda p: sensitivity_page.write_html(result, p))
