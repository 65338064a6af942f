"""Blocks of docs/tutorials/calibration.md: a stored calibration of Beijing, rendered."""

from __future__ import annotations

from blocks import ROOT, block

#: The stored output of the Beijing calibration (the command is in command.json).
STORED = ROOT / "experiments" / "results" / "calibration_beijing"


def _load():  # noqa: ANN202 - pandas frames and dicts
    import json

    import pandas as pd

    meta = json.loads((STORED / "command.json").read_text(encoding="utf-8"))
    summary = json.loads((STORED / "calibration.json").read_text(encoding="utf-8"))
    return (meta, summary, pd.read_csv(STORED / "fit.csv"),
            pd.read_csv(STORED / "diagnostics.csv"))


@block("calibration-beijing-fit")
def calibration_beijing_fit() -> str:
    """The fit table, calibrate and validate targets apart."""
    meta, summary, fit, diag = _load()
    head = ("| target | figure | sd | measure 5% | median | 95% | figure's 90% | z | "
            "covered |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    out = []
    for use, title in (("calibrate", "Fitted (calibrate)"),
                       ("validate", "Kept apart (validate), the out-of-sample test")):
        out += [f"**{title}**", "", head]
        for r in fit[fit["use"] == use].itertuples():
            out.append(f"| {r.target} | {r.observed:.3f} | {r.sd:.2f} | "
                       f"{r.predictive_q05:.3f} | {r.predictive_median:.3f} | "
                       f"{r.predictive_q95:.3f} | {r.figure_q05:.2f} to {r.figure_q95:.2f} | "
                       f"{r.z:+.1f} | {'yes' if r.covered else 'no'} |")
        out.append("")
    out.append(f"{_verdict(summary, diag)}. {summary['simulations']:,} simulations in "
               f"{summary['generations']} generations of {summary['population_size']} "
               f"particles, {summary['predictive_draws']} posterior predictive runs"
               + (f", {meta['seconds'] / 60:.0f} minutes" if meta.get("seconds") else "")
               + "; "
               f"`{meta['command']}` ({meta['machine']}"
               + (f"; {meta['load']}" if meta.get("load") else "") + ").")
    return "\n".join(out) + "\n"


def _schedule(diag) -> str:  # noqa: ANN001 - a pandas frame
    """The column of the acceptance schedule: temperature (measurement error) or epsilon."""
    return "temperature" if "temperature" in diag else "epsilon"


def _verdict(summary: dict, diag) -> str:  # noqa: ANN001 - a pandas frame
    """Converged or not, by the method's declared end point."""
    if summary.get("method", "distance") == "distance":
        return "Method distance, which declares no end point: not converged"
    last = diag.iloc[-1]
    return (("Converged" if summary["converged"] else "**Not converged**")
            + f" (last generation at temperature {last['temperature']:.3g}, effective "
              f"sample size {last['effective_sample_size']:.0f})")


@block("calibration-beijing-diagnostics")
def calibration_beijing_diagnostics() -> str:
    """Epsilon, acceptance and effective sample size by generation; calibrated values."""
    _, summary, _, diag = _load()
    schedule = _schedule(diag)
    out = [f"| generation | {schedule} | simulations | acceptance | effective sample size | "
           "median distance |", "| --- | --- | --- | --- | --- | --- |"]
    for r in diag.to_dict("records"):
        out.append(f"| {r['generation']} | {r[schedule]:.3g} | {r['simulations']} | "
                   f"{r['acceptance_rate']:.2f} | {r['effective_sample_size']:.1f} | "
                   f"{r['median_distance']:.2f} |")
    out += ["", "| parameter | prior | posterior median | 90% interval |",
            "| --- | --- | --- | --- |"]
    for v in summary["calibrated"]:
        out.append(f"| `{v['key']}` | {v['prior_low']:g} to {v['prior_high']:g} | "
                   f"{v['median']:.3g} | {v['q05']:.3g} to {v['q95']:.3g} |")
    return "\n".join(out) + "\n"


#: Calibrations of the other city presets, stored the same way.
OTHERS = ("shanghai", "guangzhou", "chengdu")


def _stored(city: str):  # noqa: ANN202 - pandas frames and dicts
    import json

    import pandas as pd

    stored = ROOT / "experiments" / "results" / f"calibration_{city}"
    return (json.loads((stored / "command.json").read_text(encoding="utf-8")),
            json.loads((stored / "calibration.json").read_text(encoding="utf-8")),
            pd.read_csv(stored / "fit.csv"), pd.read_csv(stored / "diagnostics.csv"))


def _cities(cities: tuple[str, ...]) -> str:
    """Each city's fit target by target, its posterior, and how its run ended."""
    rows = ["| city | target | use | figure | measure 5% / median / 95% | z | covered |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    params = ["| city | parameter | prior | posterior median (90%) |",
              "| --- | --- | --- | --- |"]
    notes = []
    for city in cities:
        meta, summary, fit, diag = _stored(city)
        for r in fit.sort_values("use", kind="stable").itertuples():
            rows.append(f"| {city} | {r.target} | {r.use} | {r.observed:.3f} | "
                        f"{r.predictive_q05:.3f} / {r.predictive_median:.3f} / "
                        f"{r.predictive_q95:.3f} | {r.z:+.1f} | {'yes' if r.covered else 'no'} |")
        for v in summary["calibrated"]:
            params.append(f"| {city} | `{v['key'].split('.', 1)[1]}` | {v['prior_low']:g} "
                          f"to {v['prior_high']:g} | {v['median']:.3g} ({v['q05']:.3g} to "
                          f"{v['q95']:.3g}) |")
        schedule = _schedule(diag)
        scale = summary.get("scale", 1.0)
        size = (f"a copy at x{scale:g} of {summary['households']:,} households"
                if scale != 1 else f"{summary['households']:,} households")
        took = f", {meta['seconds'] / 60:.0f} minutes" if meta.get("seconds") else ""
        notes.append(f"- **{city}** ({size}): {_verdict(summary, diag)}. "
                     f"{summary['simulations']:,} simulations in {summary['generations']} "
                     f"generations of {summary['population_size']}{took}; {schedule} "
                     f"{diag[schedule].iloc[0]:.3g} to {diag[schedule].iloc[-1]:.3g}, last "
                     f"acceptance rate {diag['acceptance_rate'].iloc[-1]:.2f}. "
                     f"`{meta['command']}` ({meta['machine']}"
                     + (f"; {meta['load']}" if meta.get("load") else "") + ").")
    return "\n".join(rows) + "\n\n" + "\n".join(params) + "\n\n" + "\n".join(notes) + "\n"


@block("calibration-other-cities")
def calibration_other_cities() -> str:
    """Shanghai, Guangzhou and Chengdu: each target's fit, the posterior, and the run."""
    return _cities(OTHERS)


@block("scaled-history")
def scaled_history() -> str:
    """The history at full size against its scaled copies, measure by measure."""
    import json

    import pandas as pd

    stored = ROOT / "experiments" / "results" / "scaled_history"
    meta = json.loads((stored / "command.json").read_text(encoding="utf-8"))
    table = pd.read_csv(stored / "comparison.csv")
    scales = [s for s in dict.fromkeys(table["scale"]) if s != 1.0]
    head = "| measure | full size: mean (sd over seeds) | " + " | ".join(
        f"x{s:g}: mean (z)" for s in scales) + " |"
    out = [head, "| --- " * (2 + len(scales)) + "|"]
    for name, rows in table.groupby("measure", sort=False):
        full = rows[rows["scale"] == 1.0].iloc[0]
        cells = [f"{full['mean']:.3f} ({full['sd_over_seeds']:.3f})"]
        for s in scales:
            r = rows[rows["scale"] == s].iloc[0]
            z = "" if pd.isna(r["z"]) else f" ({r['z']:+.1f})"
            most = int(table.loc[table["scale"] == s, "runs"].max())
            defined = "" if r["runs"] == most else f", defined in {r['runs']} of {most} runs"
            cells.append(f"{r['mean']:.3f}{z}{defined}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    runs = table.groupby("scale", sort=False).agg(runs=("runs", "max"),
                                                   cpu=("cpu_seconds_per_run", "first"))
    cost = "; ".join(f"x{s:g}: {int(r.runs)} seeds, {r.cpu:.2f} s of CPU a run"
                     for s, r in runs.iterrows())
    return ("\n".join(out) + f"\n\n{cost}. `{meta['command']}` ({meta['machine']}; "
            f"{meta['load']}).\n")


@block("calibration-beijing-history")
def calibration_beijing_history() -> str:
    """Beijing's history fitted on a tenth-size copy: the fit by year, the posterior."""
    return _cities(("beijing_history",))
