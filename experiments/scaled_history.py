"""Does a smaller copy of a history keep its shares? The full city against scaled copies.

``maze calibrate --scale F`` fits a copy of the city with its households, yearly arrivals,
seats, clerks and the mechanisms' counts times F (``maze.scale``). This script checks the
premise on a history at its preset values: it runs the full city and each scaled copy
over several seeds and compares, for every target of a targets file (each in its own
year), the mean of the measure with its standard error. The difference is tested against
the combined standard error (``z``); a copy keeps its shares when every ``|z|`` is small
and the difference is small against the figure's own sd.

Clerks round to at least one, so the copies queue less at small offices: the script also
reports measures of the migrants' school requests over all years (served and sent-away
shares, days to service among the served, visits), where that would show.

    python experiments/scaled_history.py offices/targets/beijing_history.toml \\
        --scales 1 0.2 0.1 --seeds 6 20 20 --out experiments/results/scaled_history
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from maze import metric
from maze import targets as tg
from maze.app import api
from maze.scenario import ScenarioError

#: Measures of migrants' school requests over all years, beside the targets: where the
#: copies' shorter queues or rounded seats would show.
EXTRA = ("served_share", "sent_away_share", "median_days_to_service_among_served",
         "mean_visits")


def measure_runs(tf: tg.TargetsFile, scenario, scale: float, seeds: int) -> pd.DataFrame:
    """One row per seed: every target's measure and the EXTRA measures."""
    specs = [t.measure for t in tf.targets] + [
        metric.spec({"measure": m, "filters": {"hukou": "migrant", "service": "school"}},
                    scenario, source="scaled_history", key=m) for m in EXTRA]
    names = [t.name for t in tf.targets] + list(EXTRA)
    copy = api.scaled(scenario, scale)
    rows = []
    for seed in range(seeds):
        started = time.process_time()
        run = api.run(copy, seed)
        got = metric.evaluate_all(specs, run)
        rows.append({"scale": scale, "seed": seed, "cpu_seconds": time.process_time() - started,
                     **{n: float(v) for n, v in zip(names, got, strict=True)}})
    return pd.DataFrame(rows)


def compare(runs: pd.DataFrame, tf: tg.TargetsFile) -> pd.DataFrame:
    """Each scaled copy against the full city (scale 1): difference, its z, and the
    difference in sds of the published figure."""
    full = runs[runs["scale"] == 1.0]
    out = []
    names = [t.name for t in tf.targets] + list(EXTRA)
    sds = {t.name: t.sd for t in tf.targets}
    for scale, part in runs.groupby("scale", sort=False):
        for name in names:
            a, b = part[name].dropna(), full[name].dropna()
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) \
                if len(a) > 1 and len(b) > 1 else math.nan
            diff = a.mean() - b.mean()
            out.append({"scale": scale, "measure": name, "runs": len(a), "mean": a.mean(),
                        "sd_over_seeds": a.std(ddof=1), "full_mean": b.mean(),
                        "difference": diff, "z": diff / se if se and se > 0 else math.nan,
                        "difference_in_figure_sds": diff / sds[name] if name in sds
                        else math.nan,
                        "cpu_seconds_per_run": part["cpu_seconds"].mean()})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("targets", help="targets file of a history (offices/targets/*.toml)")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.2, 0.1])
    p.add_argument("--seeds", type=int, nargs="+", default=[6, 20, 20],
                   help="seeds for each scale, in the same order")
    p.add_argument("--out", default="experiments/out/scaled_history")
    args = p.parse_args(argv)
    if len(args.seeds) != len(args.scales) or 1.0 not in args.scales:
        p.error("give one --seeds count per scale, and include scale 1 (the full city)")
    try:
        raw = tg.read(args.targets)
        scenario = api.load(preset=raw["preset"])
        tf = tg.check(raw, scenario, args.targets)
        for scale in args.scales:
            api.scaled(scenario, scale)
    except ScenarioError as exc:
        print(f"scaled_history: error: {exc}", file=sys.stderr)
        return 2
    runs = pd.concat([measure_runs(tf, scenario, s, n) for s, n in zip(args.scales, args.seeds,
                                                                        strict=True)],
                     ignore_index=True)
    table = compare(runs, tf)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    table.to_csv(out / "comparison.csv", index=False)
    (out / "command.json").write_text(json.dumps({
        "command": "python experiments/scaled_history.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "machine": "2-core x86_64 Linux VM, Python 3.11"}, indent=2) + "\n")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
