"""Merging a batch: one table row per run (and per run and group), and confidence bands.

The merged tables are read back from the stored runs, so a resumed batch gives the same
table as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maze.batch.plan import Experiment, RunSpec
from maze.batch.store import load_record


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


def merge(exp: Experiment, plan: Sequence[RunSpec], out: Path | None,
           records: Mapping[str, dict[str, Any]]) -> SweepResult:
    run_rows, group_rows = [], []
    for spec in plan:
        rec = load_record(out, records, spec.run_id)
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
    runs = tidy(pd.DataFrame(run_rows), exp)
    groups = tidy(pd.DataFrame(group_rows), exp)
    return SweepResult(runs=runs, groups=groups, experiment=exp, out=out)


#: Summary entries that are not one number per run (or repeat a column already there).
_NESTED = ("seed", "by_group", "by_service", "migrants", "by_year")
#: Summary measures that may be missing (null: a median never reached) but are still columns.
_SCALARS = ("median_days_to_service", "median_days_to_service_among_served", "mean_visits",
            "mean_offices_seen", "mean_levels_seen", "mean_loops")


def tidy(df: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
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
