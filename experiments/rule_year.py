"""When a dormant rule is enforced: what switching a rule on in a given year changes.

A history preset (``beijing_history``, ``chengdu_history``) dates its rule changes. This
runs it with one mechanism switched on in each of several years instead, and never, on
the same seeds (common random numbers), in a scaled copy of the city (``maze.scale``: the
households of every year, seats, clerks and the mechanisms' counts times ``--scale``). For
migrants' requests for one service it reports, by calendar year of request, the share
served, and each variant's effect against "never": paired by seed, with a 95% t interval
over seeds. With ``--draws K`` every variant also runs at K points drawn from the city's
declared uncertainty (``maze assumptions``; Latin hypercube), each applied to the full
city before it is scaled, so the effect also carries its 5-95% range over plausible
assumptions. ``--set KEY=JSON`` changes the city first (a counterfactual, e.g. a school
that asks only for identity papers).

Run from the project root::

    python experiments/rule_year.py                        # class cap in 2012 and 2016, 3 seeds
    python experiments/rule_year.py --draws 4              # and 4 plausible points
    python experiments/rule_year.py --out experiments/out/rule_year_identity \
    --set 'services.school.documents=["household_registration_booklet","hometown_residence_proof"]'

Writes ``--out`` (default ``experiments/out/rule_year/``): ``years.csv`` (one row per
variant, draw, seed and year: requests and the share served), ``table.csv`` (by variant
and year: mean served share over seeds and its effect against never, with intervals) and
``pooled.csv`` (the same over the requests made from the enforcement year on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from maze import uncertainty
from maze.app import api
from maze.batch.plan import replication_seeds
from maze.scenario import Scenario, ScenarioError

NEVER = "never"


def variants(start_date: str, years: Sequence[int], on: str) -> dict[str, Any]:
    """The mechanism's ``enabled`` value for each variant: off throughout, or off until
    ``on`` (month-day) of the year and on from then."""
    out: dict[str, Any] = {NEVER: False}
    for y in years:
        out[str(y)] = {start_date: False, f"{y}-{on}": True}
    return out


def city(preset: str, changes: dict[str, Any], rule: str, enabled: Any,
         point: dict[str, Any], scale: float) -> Scenario:
    """The preset with the counterfactual ``changes``, a plausible ``point`` and the rule's
    switch set, then scaled (drawn points unchecked: their rounding is the draw's noise)."""
    full = api.load(preset=preset, overrides={**changes, **point,
                                              f"mechanisms.{rule}.enabled": enabled})
    return api.scaled(full, scale, check=not point)


def served_by_year(scenario: Scenario, seed: int, service: str) -> pd.DataFrame:
    """Migrants' requests for ``service`` by calendar year of request: count, share served."""
    j = api.run(scenario, seed).journeys
    j = j[(j["service"].astype(str) == service) & (j["hukou"].astype(str) == "migrant")]
    start = pd.Timestamp(scenario.city.start_date)
    year = (start + pd.to_timedelta(j["start"], unit="D")).dt.year
    g = (j["outcome"].astype(str) == "served").groupby(year)
    return pd.DataFrame({"requests": g.size(), "served_share": g.mean()}).rename_axis(
        "year").reset_index()


def t_interval(x: pd.Series) -> tuple[float, float, float]:
    """Mean and 95% t interval (NaN bounds for one value)."""
    x = x.dropna()
    m = float(x.mean()) if len(x) else float("nan")
    if len(x) < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - h, m + h


def summarise(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per variant (and ``by``): served share and its effect against never, as written
    (draw 0) with 95% t intervals over seeds, and over draws when there are any."""
    base = rows[rows["variant"] == NEVER].drop(columns="variant")
    paired = rows.merge(base, on=["draw", "seed", *by], suffixes=("", "_never"))
    paired["effect"] = paired["served_share"] - paired["served_share_never"]
    out = []
    for key, g in paired.groupby(["variant", *by], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        written = g[g["draw"] == 0]
        row = dict(zip(["variant", *by], key, strict=True))
        row["served"], row["served_low"], row["served_high"] = t_interval(
            written["served_share"])
        row["effect"], row["effect_low"], row["effect_high"] = t_interval(written["effect"])
        drawn = g[g["draw"] > 0].groupby("draw")["effect"].mean()
        if len(drawn):
            row["effect_p5"], row["effect_p95"] = (float(drawn.quantile(0.05)),
                                                   float(drawn.quantile(0.95)))
        out.append(row)
    return pd.DataFrame(out)


def pooled(years: pd.DataFrame, first: dict[str, int]) -> pd.DataFrame:
    """Each run's share served over the requests made from its variant's enforcement year
    on (for never: from each other variant's year, so that every pair compares the same
    years)."""
    rows = []
    for variant, since in first.items():
        for v in (variant, NEVER):
            sub = years[(years["variant"] == v) & (years["year"] >= since)]
            g = sub.groupby(["draw", "seed"])
            share = (sub["served_share"] * sub["requests"]).groupby(
                [sub["draw"], sub["seed"]]).sum() / g["requests"].sum()
            rows.append(share.rename("served_share").reset_index().assign(
                variant=v, since=since))
    return pd.concat(rows, ignore_index=True)


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=JSON`` pairs (a bare word that is not JSON is a string)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set {item!r}: write KEY=VALUE (VALUE in JSON)")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="beijing_history")
    p.add_argument("--rule", default="class_cap",
                   help="a mechanism of the city's file (its enabled switch is set)")
    p.add_argument("--years", type=int, nargs="+", default=[2012, 2016])
    p.add_argument("--on", default="09-01", help="month-day it is enforced (default 09-01)")
    p.add_argument("--service", default="school")
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--replications", type=int, default=3)
    p.add_argument("--draws", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--out", default="experiments/out/rule_year")
    args = p.parse_args(argv)
    started = time.perf_counter()
    try:
        changes = parse_set(args.set)
        full = api.load(preset=args.preset, overrides=changes)
        points: list[dict[str, Any]] = [{}]
        if args.draws:
            points += uncertainty.draw(uncertainty.declared(full, args.preset), args.draws,
                                       args.seed)
        start = full.city.start_date.isoformat()
        chosen = variants(start, args.years, args.on)
        rows = []
        for d, point in enumerate(points):
            for name, enabled in chosen.items():
                scenario = city(args.preset, changes, args.rule, enabled, point, args.scale)
                for seed in replication_seeds(args.seed, args.replications):
                    rows.append(served_by_year(scenario, seed, args.service).assign(
                        variant=name, draw=d, seed=seed))
    except ScenarioError as exc:
        print(f"rule_year: error: {exc}", file=sys.stderr)
        return 2
    years = pd.concat(rows, ignore_index=True)
    table = summarise(years, ["year"])
    first = {str(y): y for y in args.years}
    pool = summarise(pooled(years, first), ["since"])
    pool = pool[pool["variant"] != NEVER]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    years.to_csv(out / "years.csv", index=False, float_format="%.4f")
    table.to_csv(out / "table.csv", index=False, float_format="%.4f")
    pool.to_csv(out / "pooled.csv", index=False, float_format="%.4f")
    wide = table.pivot(index="year", columns="variant", values="served")
    print(f"share of migrants' {args.service} requests served, by year of request "
          f"(mean over {args.replications} seeds):")
    print((wide * 100).round(1).to_string())
    print("\neffect against never, requests made from the enforcement year on "
          "(percentage points; 95% over seeds"
          + ("; 5-95% over plausible points" if args.draws else "") + "):")
    for _, r in pool.iterrows():
        line = (f"  {args.rule} from {r['variant']}-{args.on}: {100 * r['effect']:+.1f} "
                f"({100 * r['effect_low']:+.1f} to {100 * r['effect_high']:+.1f})")
        if "effect_p5" in r and pd.notna(r.get("effect_p5")):
            line += f"; {100 * r['effect_p5']:+.1f} to {100 * r['effect_p95']:+.1f}"
        print(line)
    print(f"{args.preset} x {args.scale}, {len(points)} point(s), {len(chosen)} variants, "
          f"{args.replications} seeds: {time.perf_counter() - started:.0f} s; "
          f"tables in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
