"""Blocks of docs/explanation/uncertainty.md: what each preset declares."""

from __future__ import annotations

from blocks import ROOT, block


@block("assumption-counts")
def assumption_counts() -> str:
    """How many assumptions each preset declares, numeric and choices (``maze assumptions``)."""
    from maze import uncertainty
    from maze.app import api
    from offices import presets

    lines = ["| preset | declared | numeric ranges | choices |", "| --- | --- | --- | --- |"]
    total = 0
    for name in presets.names():
        got = uncertainty.declared(api.load(preset=name))
        numeric = sum(a.numeric for a in got)
        total += len(got)
        lines.append(f"| {name} | {len(got)} | {numeric} | {len(got) - numeric} |")
    return "\n".join(lines) + f"\n\n{total} in all (`maze assumptions PRESET` lists them).\n"


#: Where the stored output of the uncertainty part of experiments/three_regimes.py lives.
REGIMES = ROOT / "experiments" / "results" / "three_regimes_uncertainty"


def _label(key: str) -> str:
    """A dotted assumption key, shortened for a table: group or office, then the field."""
    parts = key.split(".")
    if key.startswith("population.groups.") and len(parts) >= 5:
        return f"{parts[2]} {parts[-1]}"
    return ".".join(parts[-2:])


@block("headline-robustness")
def headline_robustness() -> str:
    """Where "deflection saves at least 80% of what denial saves" holds, and its drivers,
    from the stored CSVs of the experiment (the command is in the text)."""
    import json

    import pandas as pd

    meta = json.loads((REGIMES / "command.json").read_text(encoding="utf-8"))
    iv = pd.read_csv(REGIMES / "uncertainty.csv")
    heads = pd.read_csv(REGIMES / "headlines.csv")
    drivers = pd.read_csv(REGIMES / "drivers.csv")
    lines = ["| city | saving ratio as written (95% over seeds) | 5–95% over plausible points "
             "| points where ≥ 0.8 | points where > 0.5 | migrants' school requests served, "
             "5–95% over plausible points |", "| --- | --- | --- | --- | --- | --- |"]
    for city in meta["presets"]:
        r = iv[(iv["preset"] == city) & (iv["measure"] == "saving_ratio")].iloc[0]
        s = iv[(iv["preset"] == city) & (iv["measure"] == "migrant_school_served_share")].iloc[0]
        h = heads[heads["preset"] == city].set_index("headline")["share_of_plausible_points"]
        lines.append(
            f"| {city} | {r.as_written:.2f} ({r.seed_low:.2f}–{r.seed_high:.2f}) | "
            f"{r.param_low:.2f}–{r.param_high:.2f} | "
            f"{h['deflection saves at least 80% of what denial saves']:.0%} | "
            f"{h['deflection saves more than half of what denial saves']:.0%} | "
            f"{s.param_low:.0%}–{s.param_high:.0%} |")
    lines += ["", "Leading assumptions for the saving ratio (Morris μ* ± 95% bootstrap, "
              f"{meta['morris']} trajectories over every declared range; † clears seed "
              "noise):", ""]
    for city in meta["presets"]:
        d = drivers[drivers["preset"] == city].head(4)
        lines.append(f"- {city}: " + "; ".join(
            f"{_label(r.key)} {r.score:.3f} ± {r.conf:.3f}{' †' if r.above_noise else ''}"
            for r in d.itertuples()))
    lines += ["", f"`{meta['command']}` ({meta['machine']}); the tables are stored in "
              "`experiments/results/three_regimes_uncertainty/`.", ""]
    return "\n".join(lines)


#: Where the stored output of the uncertainty part of experiments/policy_levers.py lives.
LEVERS = ROOT / "experiments" / "results" / "policy_levers_uncertainty"


@block("policy-levers-robustness")
def policy_levers_robustness() -> str:
    """Each lever's effect over seeds and over plausible parameters, from the stored CSV of
    the experiment, in the table the experiment itself prints."""
    import importlib.util
    import json
    import sys

    import pandas as pd

    levers = sys.modules.get("policy_levers")
    if levers is None:  # the experiment's own table code, so that the page prints its table
        spec = importlib.util.spec_from_file_location(
            "policy_levers", ROOT / "experiments" / "policy_levers.py")
        levers = sys.modules["policy_levers"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(levers)
    meta = json.loads((LEVERS / "command.json").read_text(encoding="utf-8"))
    u = pd.read_csv(LEVERS / "uncertainty.csv")
    table = levers.uncertainty_markdown(u, meta["draws"], meta["draw_replications"])
    return (table + f"\n`{meta['command']}` ({meta['machine']}); the table is stored in "
            "`experiments/results/policy_levers_uncertainty/`.\n")
