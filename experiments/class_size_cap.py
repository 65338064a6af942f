"""Does enforcing a dormant class-size cap keep migrant children out of the city's schools?

Classrooms long held 55-65 pupils [Chan & O'Brien 2019: Away from the City]; in 2012 Beijing capped
them at 30 and Chengdu at 45 [Chan & O'Brien 2019: Away from the City], checking hukou "because now
there are too many migrant students" [Chan & O'Brien 2019: Away from the City], and schools told
parents they were full [Chan & O'Brien 2019: Away from the City]. This sweeps the cap over 30, 45,
55 and 65 in the illustrative city (`offices/presets/illustrative.toml`), with its five documents
and with a counterfactual city that asks only for identity papers (``class_size_cap.toml`` says
which figures are assumptions), and reports, for migrant children asking for a school place: the
share enrolled in a city school, in a private school, sent home and giving up, and the share the
public school refused as full. Locals are placed first, so their share is reported too.

Run from the project root::

    python experiments/class_size_cap.py                  # local processes, every core
    python experiments/class_size_cap.py --workers 2      # a local Dask cluster
    python experiments/class_size_cap.py --replications 2 # a quick look

Writes ``experiments/out/class_size_cap/``: ``sweep/`` (every run, ``runs.parquet``,
``groups.parquet``, ``sweep.html``), ``table.csv`` and ``figure.html``. Interrupted,
it resumes where it stopped.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
EXPERIMENT = HERE / "class_size_cap.toml"
OUT = HERE / "out" / "class_size_cap"
CAP = "mechanisms.class_cap.cap"
MIGRANT_SCHOOL = "service=school & hukou=migrant"
LOCAL_SCHOOL = "service=school & hukou=local"
OUTCOMES = ("served_share", "alternative_share", "sent_away_share", "gave_up_share")


def told_full(events: pd.DataFrame) -> pd.DataFrame:
    """Per run: the share of migrant school requests the public school refused as full."""
    ev = events[(events["service"].astype(str) == "school") & (events["hukou"] == "migrant")]
    full = ev[(ev["office"].astype(str) == "public_school") & (ev["activity"] == "refuse")
              & (ev["reason"] == "capacity")]
    head = ["run", "paperwork", CAP, "replication"]
    asked = ev.groupby(head, sort=True)["case_id"].nunique()
    refused = full.groupby(head, sort=True)["case_id"].nunique()
    share = (refused.reindex(asked.index, fill_value=0) / asked).rename("told_full_share")
    return share.reset_index()


def table(result) -> pd.DataFrame:  # noqa: ANN001 - a maze.app.sweep.SweepResult
    """Means over replications with 95% intervals, one row per (paperwork, cap)."""
    from maze.app import sweep as sw

    g = result.groups
    migrants = g[(g["by"] == "service+hukou") & (g["group"] == MIGRANT_SCHOOL)]
    locals_ = g[(g["by"] == "service+hukou") & (g["group"] == LOCAL_SCHOOL)]
    full = told_full(sw.stored(result, "events"))
    parts = [sw.bands(migrants, CAP, list(OUTCOMES), by=["paperwork"]),
             sw.bands(full, CAP, "told_full_share", by=["paperwork"]),
             sw.bands(locals_.rename(columns={"served_share": "locals_served_share"}), CAP,
                      "locals_served_share", by=["paperwork"])]
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot_table(index=["paperwork", CAP], columns="measure",
                            values=["mean", "low", "high"], dropna=False)
    out = pd.DataFrame(index=wide.index)
    for m in (*OUTCOMES, "told_full_share", "locals_served_share"):
        for stat in ("mean", "low", "high"):
            out[f"{m}_{stat}"] = wide[(stat, m)]
    out["runs"] = long[long["measure"] == "served_share"].set_index(
        ["paperwork", CAP])["n"]
    return out.reset_index().rename(columns={CAP: "cap"})


def figure(t: pd.DataFrame, path: Path, replications: int) -> None:
    """Two panels: migrant children enrolled in the city, and told the school was full."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [("served_share", "enrolled in a city school"),
              ("told_full_share", "refused by the public school as full")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[1] for p in panels])
    colours = {"five documents": "#e76f51", "identity papers only": "#2a9d8f"}
    for col, (m, _) in enumerate(panels, start=1):
        for paperwork, part in t.groupby("paperwork", sort=True):
            c = colours.get(paperwork, "#1d3557")
            name = html.escape(str(paperwork))
            fig.add_trace(go.Scatter(
                x=list(part["cap"]) + list(part["cap"])[::-1],
                y=list(part[f"{m}_high"].clip(0, 1)) + list(part[f"{m}_low"].clip(0, 1))[::-1],
                fill="toself", mode="lines", line={"width": 0}, fillcolor=c, opacity=0.2,
                hoverinfo="skip", showlegend=False), row=1, col=col)
            fig.add_trace(go.Scatter(x=part["cap"], y=part[f"{m}_mean"], mode="lines+markers",
                                     name=name, line={"color": c}, showlegend=col == 1,
                                     legendgroup=name), row=1, col=col)
        fig.update_xaxes(title_text="pupils per class (cap)", tickvals=[30, 45, 55, 65],
                         row=1, col=col)
        fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=col)
    fig.update_layout(
        title=("Migrant children asking for a school place, by class-size cap "
               f"(means of {replications} replications, 95% intervals)"),
        height=460, width=1050)
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def main(argv: list[str] | None = None) -> int:
    from maze.app.commands.sweep import run_script, write_script_tables

    result, args = run_script(EXPERIMENT, OUT, __doc__.split("\n\n")[0], argv)
    t = table(result)
    write_script_tables(OUT, t, figure, result.experiment.replications)
    if not args.quiet:
        show = t[["paperwork", "cap", "runs", "served_share_mean", "alternative_share_mean",
                  "sent_away_share_mean", "gave_up_share_mean", "told_full_share_mean",
                  "locals_served_share_mean"]].copy()
        show.columns = ["paperwork", "cap", "runs", "enrolled", "private", "sent home",
                        "gave up", "told full", "locals enrolled"]
        print("Migrant children asking for a school place (means over replications):")
        print(show.to_string(index=False, float_format=lambda v: f"{v:6.1%}"))
        print(f"\ntables and figures in {OUT}/ (table.csv, figure.html, sweep/sweep.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
