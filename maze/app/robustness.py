"""Results with their uncertainty: seed noise and parameter uncertainty, reported apart.

A city is run as written with ``replications`` seeds (the interval over seeds), and at
``draws`` points drawn from its declared ranges (Latin hypercube), each with the same
seeds (the interval over plausible parameters: 5th to 95th percentile of the per-point
means). A headline such as "deflection saves at least 80% of what denial saves" is then
reported as the share of plausible points at which it holds, and the assumptions that
drive a measure are read from Morris (:mod:`maze.app.sensitivity`) when a screening is
given, else from rank correlations over the same draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maze import uncertainty as un
from maze.app import outcomes
from maze.batch.points import run_points
from maze.scenario import Scenario


@dataclass
class Result:
    """Per-run rows (``draw`` 0 is the city as written) and what was drawn."""

    runs: pd.DataFrame
    points: list[dict[str, Any]]
    assumptions: list[un.Assumption]
    settings: dict[str, Any] = field(default_factory=dict)

    def per_draw(self, measure: str) -> pd.Series:
        """The mean over seeds at each plausible point (draws 1..K)."""
        r = self.runs[self.runs["draw"] > 0]
        return r.groupby("draw")[measure].mean()

    def interval(self, measure: str, level: float = 0.95) -> dict[str, float]:
        """As written: mean and t interval over seeds; over parameters: 5/50/95 percentiles."""
        from scipy.special import stdtrit

        w = self.runs.loc[self.runs["draw"] == 0, measure].dropna()
        n = len(w)
        half = (float(stdtrit(n - 1, 0.5 + level / 2) * w.std(ddof=1) / np.sqrt(n))
                if n > 1 else np.nan)
        d = self.per_draw(measure).dropna()
        return {"as_written": float(w.mean()) if n else np.nan,
                "seed_low": float(w.mean()) - half, "seed_high": float(w.mean()) + half,
                "param_low": float(d.quantile(0.05)) if len(d) else np.nan,
                "param_median": float(d.median()) if len(d) else np.nan,
                "param_high": float(d.quantile(0.95)) if len(d) else np.nan,
                "draws": int(len(d)), "seeds": n}

    def holds(self, measure: str, test: Callable[[float], bool]) -> float:
        """The share of plausible points (draws with a value) at which a headline holds."""
        d = self.per_draw(measure).dropna()
        return float(np.mean([bool(test(v)) for v in d])) if len(d) else np.nan

    def drivers(self, measure: str, top: int = 5, permutations: int = 2000,
                seed: int = 0) -> pd.DataFrame:
        """Assumptions ranked by |Spearman correlation| with the measure over the draws.

        With a few dozen draws and as many assumptions, the largest correlations arise by
        chance alone: 20 draws of 45 unrelated assumptions give a largest |rho| near 0.6.
        ``chance`` is the 95th percentile of that largest |rho| when the measure is shuffled
        across the draws (a max-statistic permutation test, Westfall & Young 1993,
        *Resampling-Based Multiple Testing*, Wiley, ch. 2), and ``clears_chance`` says
        whether an assumption's |rho| is above it. No rows when the measure is the same at
        every point (nothing to rank).
        """
        d = self.per_draw(measure)
        ok = d.notna().to_numpy()
        cols = ["key", "spearman", "chance", "clears_chance"]
        y = d.to_numpy()[ok]
        if ok.sum() < 3 or len(np.unique(y)) < 2:
            return pd.DataFrame(columns=cols)
        keys, ranks = [], []
        for a in self.assumptions:
            if not a.numeric:
                continue
            x = pd.Series([p[a.key] for p in self.points],  # draw k is points[k - 1]
                          index=range(1, len(self.points) + 1)).reindex(d.index).to_numpy()[ok]
            if len(np.unique(x)) < 2:
                continue
            keys.append(a.key)
            ranks.append(pd.Series(x).rank().to_numpy())
        if not keys:
            return pd.DataFrame(columns=cols)

        def standard(m: np.ndarray) -> np.ndarray:
            m = m - m.mean(axis=0)
            return m / np.sqrt((m * m).sum(axis=0))

        xs = standard(np.column_stack(ranks))
        yr = pd.Series(y).rank().to_numpy()
        rho = xs.T @ standard(yr[:, None])[:, 0]
        rng = np.random.default_rng(seed)
        shuffled = standard(np.column_stack([rng.permutation(yr) for _ in range(permutations)]))
        chance = float(np.quantile(np.abs(xs.T @ shuffled).max(axis=0), 0.95))
        df = pd.DataFrame({"key": keys, "spearman": rho, "chance": chance,
                           "clears_chance": np.abs(rho) > chance})
        return df.reindex(df["spearman"].abs().sort_values(ascending=False).index).head(top)


def assess(scenario: Scenario, *, source: str = "<city>",
           measures: Sequence[str] = outcomes.DEFAULT,
           specs: Mapping[str, Any] | None = None, draws: int = 20,
           replications: int = 3, seed: int = 0, keys: Sequence[str] | None = None,
           fixed: Mapping[str, Any] | None = None, out: str | Path | None = None,
           executor: Any = "processes", workers: int | None = None,
           scheduler: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> Result:
    """Run the city as written and at ``draws`` plausible points, ``replications`` seeds each.

    ``fixed`` overrides are set at every point after the draw (a lever being studied).
    """
    ctx, measures = outcomes.study_for(scenario, measures, specs)
    assumptions = un.declared(scenario, source=source, keys=keys)
    un.check_ends(scenario, assumptions, source)
    drawn = un.draw(assumptions, draws, seed=seed) if draws else []
    fixed = dict(fixed or {})
    points = [{**p, **fixed} for p in [{}, *drawn]]
    runs = run_points(points, outcomes.simulate, ctx, ctx.key(), replications=replications,
                      seed=seed, out=out, executor=executor, workers=workers,
                      scheduler=scheduler, preload=("maze.app.api", "maze.app.outcomes"),
                      progress=progress)
    runs = runs.rename(columns={"point": "draw"})
    settings = {"city": scenario.city.name, "draws": draws, "replications": replications,
                "seed": seed, "households": scenario.population.households,
                "assumptions": [a.key for a in assumptions], "fixed": fixed}
    return Result(runs, drawn, assumptions, settings)
