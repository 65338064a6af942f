"""Provide, deny or deflect: the same city and the same households under each answer.

The central argument of Chan & O'Brien 2019 (Chan & O'Brien, "Phantom Services") is that a city
facing migrants' demands can provide the service, deny it outright by hukou, or
deflect: keep it on paper and let rules, papers, loops and caps turn migrants away
one by one, which saves the city nearly as much as denial while nobody in particular
says no. This script rebuilds a preset under each regime (``city.regime``), runs it
with several replications (the same seeds under every regime, so the three are
compared on the same draws), and writes, by group:

- served share; time to service (Kaplan-Meier median, and the median among those
  served); gave-up, sent-away, alternative and denied shares;
- explicit-refusal share (how conspicuous the exclusion is);
- offices seen, and government offices and levels of government seen (how far blame
  is spread);
- out-of-pocket cost and wages lost; city cost saved (services not paid for).

The intervals above are over seeds only, at the preset's values as written. Most of
those values are assumptions with declared plausible ranges (``maze assumptions
PRESET``), and they move the results more than seed noise does. So, with ``--draws K``
(default 20), each preset is also run at K points drawn from its declared ranges (Latin
hypercube, the same seeds at every point), and the script reports, for migrants:

- each measure as written with its 95% interval over seeds, and its 5-95% range over
  plausible parameters, side by side;
- the share of plausible points at which each headline holds (e.g. "deflection saves at
  least 80% of what denial saves");
- the assumptions that drive the saving ratio: rank correlations over the draws, or Morris
  mu* with ``--morris T`` (T trajectories over all declared ranges).

Outputs in ``--out`` (default ``experiments/out/three_regimes/``): ``runs.csv`` and
``runs.parquet`` (one row per preset, regime, replication and group), ``table.csv``
(mean, standard deviation, min and max over replications), ``figure.html`` (plotly,
self-contained), and with draws ``uncertainty.csv`` (intervals by preset and measure),
``headlines.csv`` and ``drivers.csv``; the runs of the draws are stored in
``uncertainty/`` and resumed. Run ``python experiments/three_regimes.py --help``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from maze.app import api
from maze.batch.plan import replication_seeds
from maze.scenario import ScenarioError
from offices import presets

REGIMES = ("provide", "deny", "deflect")
#: Measures taken from each run's summary block, per group.
MEASURES = ("requests", "served_share", "alternative_share", "sent_away_share", "gave_up_share",
            "denied_share", "deterred_share", "pending_share", "median_days_to_service",
            "median_days_to_service_among_served", "mean_visits", "mean_offices_seen",
            "mean_government_offices_seen", "mean_levels_seen", "explicit_refusal_share",
            "missed_deadline_share", "mean_out_of_pocket", "mean_wage_lost", "city_cost_saved")
ALL_MEASURES = MEASURES
#: Panels of the figure: (measure, title).
PANELS = (("served_share", "served in the city (share)"),
          ("median_days_to_service_among_served", "days to service (median, served)"),
          ("gave_up_share", "gave up (share)"),
          ("sent_away_share", "sent away (share)"),
          ("explicit_refusal_share", "explicit hukou refusal (share)"),
          ("mean_government_offices_seen", "government offices seen (mean)"),
          ("mean_levels_seen", "levels of government seen (mean)"),
          ("mean_out_of_pocket", "out of pocket, RMB (mean)"),
          ("city_cost_saved", "city cost saved, RMB"))
COLOURS = {"provide": "#2a9d8f", "deny": "#e63946", "deflect": "#6c757d"}


def run_one(preset: str, regime: str, seed: int, replication: int,
            households: int | None) -> list[dict]:
    """One run; one row per group, plus all migrants pooled and everyone."""
    overrides: dict = {"city.regime": regime}
    if households is not None:
        overrides["population.households"] = households
    result = api.run(api.load(preset=preset, overrides=overrides), seed=seed)
    s = result.summary
    blocks = dict(s["by_group"])
    if s.get("migrants"):
        blocks["(all migrants)"] = s["migrants"]
    blocks["(everyone)"] = {k: s[k] for k in MEASURES}
    return [{"preset": preset, "regime": regime, "replication": replication, "seed": seed,
             "group": g, **{k: b.get(k) for k in MEASURES}} for g, b in blocks.items()]


def experiment(preset_names: Sequence[str], replications: int, base_seed: int,
               households: int | None, progress: bool = True) -> pd.DataFrame:
    """Every preset x regime x replication, as one long table."""
    rows: list[dict] = []
    # The seeds every maze batch draws: the uncertainty part's city as written is the same
    # runs (its first --draw-replications).
    plan = [(p, r, s, i) for p in preset_names for i, s in enumerate(
        replication_seeds(base_seed, replications))
            for r in REGIMES]
    t0 = time.perf_counter()
    for n, (p, r, s, i) in enumerate(plan, 1):
        rows += run_one(p, r, s, i, households)
        if progress:
            print(f"\r{n}/{len(plan)} runs ({time.perf_counter() - t0:.0f} s)", end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    df = pd.DataFrame(rows)
    for c in ALL_MEASURES:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["regime"] = pd.Categorical(df["regime"], categories=list(REGIMES))
    return df


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation, min and max of each measure over replications."""
    g = runs.groupby(["preset", "group", "regime"], observed=True, sort=True)[list(ALL_MEASURES)]
    parts = {stat: getattr(g, stat)() for stat in ("mean", "std", "min", "max")}
    table = pd.concat(parts, axis=1)
    table.columns = [f"{m}_{stat}" if stat != "mean" else m for stat, m in table.columns]
    table["replications"] = g.size()
    table = table.reset_index()
    # How much of what outright denial saves does each regime save, for the same group?
    deny = table[table["regime"] == "deny"].set_index(["preset", "group"])["city_cost_saved"]
    key = pd.MultiIndex.from_frame(table[["preset", "group"]])
    denied = deny.reindex(key).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["cost_saved_vs_deny"] = np.where(denied > 0, table["city_cost_saved"] / denied,
                                               np.nan)
    return table


def figure(table: pd.DataFrame, path: Path) -> None:
    """One panel per measure; groups on the x axis, one bar per regime, sd as error bars."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    presets_run = list(dict.fromkeys(table["preset"]))
    html_parts = []
    for preset in presets_run:
        t = table[table["preset"] == preset]
        groups = [g for g in dict.fromkeys(t["group"]) if g != "(everyone)"]
        fig = make_subplots(rows=3, cols=3, subplot_titles=[title for _, title in PANELS],
                            vertical_spacing=0.12, horizontal_spacing=0.06)
        for k, (measure, _) in enumerate(PANELS):
            row, col = divmod(k, 3)
            for regime in REGIMES:
                part = t[t["regime"] == regime].set_index("group").reindex(groups)
                fig.add_trace(go.Bar(
                    x=groups, y=part[measure], name=regime, legendgroup=regime,
                    showlegend=k == 0, marker_color=COLOURS[regime],
                    error_y={"type": "data", "array": part[f"{measure}_std"].fillna(0.0),
                             "visible": True}), row=row + 1, col=col + 1)
        reps = int(t["replications"].max())
        fig.update_layout(
            barmode="group", height=1100, width=1500,
            title=f"{preset}: provide, deny, deflect ({reps} replications; bars are means, "
                  "whiskers one standard deviation)")
        fig.update_xaxes(tickangle=30)
        html_parts.append(fig.to_html(full_html=False,
                                      include_plotlyjs=not html_parts))
    path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>three regimes"
                    "</title></head><body>" + "\n".join(html_parts) + "</body></html>",
                    encoding="utf-8")


def headline(table: pd.DataFrame) -> str:
    """The migrants-pooled rows, as text, for the terminal."""
    cols = ["served_share", "median_days_to_service_among_served", "gave_up_share",
            "sent_away_share", "denied_share", "deterred_share", "explicit_refusal_share",
            "mean_visits", "mean_offices_seen", "mean_government_offices_seen",
            "mean_levels_seen", "mean_out_of_pocket", "mean_wage_lost",
            "city_cost_saved", "cost_saved_vs_deny"]
    t = table[table["group"] == "(all migrants)"].set_index(["preset", "regime"])[cols]
    with pd.option_context("display.width", 250, "display.max_columns", 20,
                           "display.float_format", "{:,.3f}".format):
        return t.to_string()


#: Headlines of the argument, as (name, measure, test): each is reported as the share of
#: plausible parameter points at which it holds.
HEADLINES = (
    ("deflection saves at least 80% of what denial saves", "saving_ratio",
     lambda v: v >= 0.8),
    ("deflection saves more than half of what denial saves", "saving_ratio",
     lambda v: v > 0.5),
    ("deflection serves fewer than half of migrants' requests", "migrant_served_share",
     lambda v: v < 0.5),
    ("deflection serves fewer than a quarter of migrants' school requests",
     "migrant_school_served_share", lambda v: v < 0.25),
)
UNCERTAIN_MEASURES = ("saving_ratio", "migrant_served_share", "migrant_school_served_share",
                      "migrant_median_days_to_service_among_served")


def uncertainty(preset_names: Sequence[str], draws: int, replications: int, seed: int,
                households: int | None, out: Path, morris: int = 0,
                quiet: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Deflection as written and at plausible points: intervals, headline shares, drivers."""
    from maze.app import robustness, sensitivity

    intervals, heads, drivers = [], [], []
    for preset in preset_names:
        overrides = {"population.households": households} if households else None
        city = api.load(preset=preset, overrides=overrides)

        def tick(done: int, total: int, preset: str = preset) -> None:
            if not quiet:
                print(f"\r{preset}: {done}/{total} runs at plausible points", end="",
                      file=sys.stderr, flush=True)

        res = robustness.assess(city, source=f"preset {preset}", measures=UNCERTAIN_MEASURES,
                                draws=draws, replications=replications, seed=seed,
                                out=out / "uncertainty" / preset / "draws", progress=tick)
        if not quiet:
            print(file=sys.stderr)
        for m in UNCERTAIN_MEASURES:
            intervals.append({"preset": preset, "measure": m, **res.interval(m)})
        for name, m, test in HEADLINES:
            heads.append({"preset": preset, "headline": name, "measure": m,
                          "as_written": bool(test(res.interval(m)["as_written"])),
                          "share_of_plausible_points": res.holds(m, test), "draws": draws})
        if morris:
            screen = sensitivity.study(city, source=f"preset {preset}",
                                       measures=("saving_ratio",), trajectories=morris,
                                       seed=seed, out=out / "uncertainty" / preset / "morris")
            top = screen.morris.head(6)
            for r in top.itertuples():
                drivers.append({"preset": preset, "measure": "saving_ratio", "method": "morris",
                                "key": r.key, "score": r.mu_star, "conf": r.mu_star_conf,
                                "above_noise": bool(r.above_noise)})
        else:
            for r in res.drivers("saving_ratio").itertuples():
                drivers.append({"preset": preset, "measure": "saving_ratio",
                                "method": "spearman", "key": r.key, "score": r.spearman,
                                "conf": r.chance, "above_noise": bool(r.clears_chance)})
    return pd.DataFrame(intervals), pd.DataFrame(heads), pd.DataFrame(drivers)


def uncertainty_text(intervals: pd.DataFrame, heads: pd.DataFrame,
                     drivers: pd.DataFrame) -> str:
    """The three tables as text for the terminal."""
    lines = []
    for preset, t in intervals.groupby("preset", sort=False):
        lines.append(f"\n{preset}, deflection: as written (95% over seeds) | 5-95% over "
                     "plausible parameters")
        for r in t.itertuples():
            seeds_ = ("one seed" if r.seed_low != r.seed_low else
                      f"{r.seed_low:.3f} to {r.seed_high:.3f}")
            lines.append(f"  {r.measure:30s} {r.as_written:8.3f} ({seeds_}) | "
                         f"{r.param_low:.3f} to {r.param_high:.3f} "
                         f"(median {r.param_median:.3f}, {r.draws} points)")
        for r in heads[heads["preset"] == preset].itertuples():
            lines.append(f"  holds at {r.share_of_plausible_points:5.0%} of plausible points "
                         f"({'holds' if r.as_written else 'fails'} as written): {r.headline}")
        d = drivers[drivers["preset"] == preset] if len(drivers) else drivers
        if len(d):
            how = d["method"].iloc[0]
            lines.append(f"  saving ratio driven by ({how}; * beyond noise or chance): "
                         + "; ".join(f"{r.key} {r.score:+.3g}{' *' if r.above_noise else ''}"
                                     for r in d.itertuples()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", nargs="+", default=[presets.DEFAULT],
                   help=f"built-in cities to run (default {presets.DEFAULT}; 'cities' for "
                        "beijing, shanghai, guangzhou, chengdu)")
    p.add_argument("--replications", type=int, default=5, help="runs per regime (default 5)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--households", type=int,
                   help="override the preset's households (its seats are sized for its own)")
    p.add_argument("--out", default="experiments/out/three_regimes", help="output folder")
    p.add_argument("--draws", type=int, default=20,
                   help="plausible parameter points drawn from the declared ranges (default "
                        "20; 0 for seed noise only)")
    p.add_argument("--draw-replications", type=int, default=2,
                   help="seeds at each plausible point (default 2)")
    p.add_argument("--morris", type=int, default=0, metavar="T",
                   help="rank the drivers of the saving ratio by Morris with T trajectories "
                        "over every declared range (default: rank correlations over the draws)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    names = (["beijing", "shanghai", "guangzhou", "chengdu"] if args.preset == ["cities"]
             else args.preset)
    if args.replications < 1:
        print("three_regimes: error: --replications must be at least 1", file=sys.stderr)
        return 2
    try:
        runs = experiment(names, args.replications, args.seed, args.households,
                          progress=not args.quiet)
    except ScenarioError as exc:
        print(f"three_regimes: error: {exc}", file=sys.stderr)
        return 2
    table = aggregate(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    runs.to_parquet(out / "runs.parquet", index=False)
    table.to_csv(out / "table.csv", index=False)
    figure(table, out / "figure.html")
    if not args.quiet:
        print(headline(table))
        print(f"written: {out}/runs.csv, runs.parquet, table.csv, figure.html")
    if args.draws > 0:
        try:
            intervals, heads, drivers = uncertainty(
                names, args.draws, args.draw_replications, args.seed, args.households, out,
                morris=args.morris, quiet=args.quiet)
        except ScenarioError as exc:
            print(f"three_regimes: error: {exc}", file=sys.stderr)
            return 2
        intervals.to_csv(out / "uncertainty.csv", index=False)
        heads.to_csv(out / "headlines.csv", index=False)
        drivers.to_csv(out / "drivers.csv", index=False)
        if not args.quiet:
            print(uncertainty_text(intervals, heads, drivers))
            print(f"written: {out}/uncertainty.csv, headlines.csv, drivers.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
