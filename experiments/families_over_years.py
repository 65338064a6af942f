"""Families over years: what a decade of deflection does to migrant children's schooling.

A city preset is run over ``--years`` years with households that persist (``[lives]``):
new families every year, children passing from primary to junior middle to senior high
and applying again at each stage, urban insurance renewed every year. Two variants on
the same seeds:

- ``defaults``: no family rule; a child lives where the group's school need puts it, a
  refused family never asks again, the coin of ``home_ties`` sends failed families home;
- ``family rules``: bring_child, try_again, gaokao and return_home switched on with
  their default (assumed) sizes.

Written to ``--out`` (default ``experiments/out/families_over_years/``): ``years.csv``
(share of migrant child-years by outcome, per variant, year and seed), ``table.csv``
(mean over seeds of the shares over the whole run, the share of migrant children who
finished compulsory schooling in the city among those whose end of junior middle the
run saw, and insurance churn). Run ``python experiments/families_over_years.py --help``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from maze.app import api
from maze.lives import CHILD_OUTCOMES, YEAR_DAYS
from maze.scenario import ScenarioError

#: The family rules switched on in the second variant (each with its default sizes).
RULES = ("bring_child", "try_again", "gaokao", "return_home")
#: Moves of home a year for migrant groups. ASSUMPTION: the presets give none; 0.3 a year
#: (range 0.1-0.5) for renters in shared housing.
MOVES = 0.3


def scenario(preset: str, years: int, households: int, rules: bool) -> Any:
    """The preset over ``years`` years, with or without the family rules."""
    base = api.load(preset=preset)
    overrides: dict[str, Any] = {
        "city.horizon": YEAR_DAYS * years,
        "population.households": households,
        "lives": {"school": "school", "in_migration": households // 4,
                  "renew": ["health_insurance"] if "health_insurance" in base.services else [],
                  "leave_rate": 0.05},
    }
    for g in base.population.groups:
        if g.hukou == "migrant":
            overrides[f"population.groups.{g.name}.attributes.moves"] = MOVES
    if rules:
        for name in RULES:
            overrides[f"mechanisms.{name}"] = {}
    return api.load(preset=preset, overrides=overrides)


def one(preset: str, years: int, households: int, rules: bool, seed: int
        ) -> tuple[pd.DataFrame, dict[str, Any]]:
    run = api.run(scenario(preset, years, households, rules), seed)
    c = run.raw.children
    m = c[c["hukou"].astype(str) == "migrant"]
    shares = (m.groupby("year")["outcome"].value_counts(normalize=True).unstack(fill_value=0)
              .reindex(columns=list(CHILD_OUTCOMES), fill_value=0.0).reset_index())
    variant = "family rules" if rules else "defaults"
    shares.insert(0, "seed", seed)
    shares.insert(0, "variant", variant)
    done = m.drop_duplicates("child_id")["compulsory_in_city"]
    row: dict[str, Any] = {"variant": variant, "seed": seed}
    for o in CHILD_OUTCOMES:
        row[o] = float((m["outcome"] == o).mean())
    known = done.dropna()
    row["compulsory_in_city"] = float(known.mean()) if len(known) else float("nan")
    renew = run.summary.get("renewals", {}).get("health_insurance")
    row["insurance_churn"] = renew["churn"] if renew else float("nan")
    row["households"] = len(run.raw.households)
    return shares, row


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="beijing")
    p.add_argument("--years", type=int, default=10)
    p.add_argument("--households", type=int, default=2000,
                   help="households arriving in the first year (a quarter as many later)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default="experiments/out/families_over_years")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    years, rows = [], []
    try:
        for rules in (False, True):
            for seed in range(args.seeds):
                shares, row = one(args.preset, args.years, args.households, rules, seed)
                years.append(shares)
                rows.append(row)
    except ScenarioError as exc:
        print(f"families_over_years: error: {exc}", file=sys.stderr)
        return 2
    pd.concat(years, ignore_index=True).to_csv(out / "years.csv", index=False,
                                               float_format="%.4f")
    table = pd.DataFrame(rows).groupby("variant", sort=False).mean(numeric_only=True)
    table = table.drop(columns=["seed"])
    table.to_csv(out / "table.csv", float_format="%.4f")
    print(table.round(3).T.to_string())
    print(f"{args.preset}, {args.years} years, {args.seeds} seeds: "
          f"{time.perf_counter() - started:.0f} s; tables in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
