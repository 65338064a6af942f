"""What does each further required document cost migrants with and without contract and lease?

Cities ask for "five documents" (wuzheng) for a school place or urban health insurance,
Chengdu up to seven [Chan & O'Brien 2019: Within the City]; the hard ones hang on a lease in one's
own name (proof of address, and through it the residence permit) and a labour contract (proof of
employment) [Chan & O'Brien 2019: Within the City], which informal workers rarely have [Chan &
O'Brien 2019: Within the City]. This sweeps the number of documents from 3 to 7 in the illustrative
city (`offices/presets/illustrative.toml`) (``documents_required.toml`` says which documents make up
each number and which figures are assumptions) and reports, for migrant households split by whether
they hold a contract and a lease, the share of requests served in the city, sent to a private school
or home, or given up, with the visits made and wages lost on the way.

Run from the project root::

    python experiments/documents_required.py                  # local processes, every core
    python experiments/documents_required.py --workers 2      # a local Dask cluster
    python experiments/documents_required.py --replications 2 # a quick look

Writes ``experiments/out/documents_required/``: ``sweep/`` (every run, ``runs.parquet``,
``groups.parquet``, ``sweep.html``), ``table.csv`` and ``figure.html``. Interrupted, it
resumes where it stopped.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
EXPERIMENT = HERE / "documents_required.toml"
OUT = HERE / "out" / "documents_required"
BY = "hukou+contract+lease_own"
MEASURES = ("served_share", "alternative_share", "sent_away_share", "gave_up_share",
            "mean_visits", "mean_wage_lost")
#: Migrant groups, from the best placed to the worst, and their names in the outputs.
GROUPS = {
    "hukou=migrant & contract & lease_own": "contract and lease",
    "hukou=migrant & contract & no lease_own": "contract, no lease",
    "hukou=migrant & no contract & lease_own": "lease, no contract",
    "hukou=migrant & no contract & no lease_own": "neither",
}


def table(result) -> pd.DataFrame:  # noqa: ANN001 - a maze.app.sweep.SweepResult
    """Means over replications with 95% intervals, one row per (documents, migrant group)."""
    from maze.app import sweep as sw

    g = result.groups
    g = g[(g["by"] == BY) & g["group"].isin(list(GROUPS))]
    g = g.assign(households=g["group"].map(GROUPS))
    long = sw.bands(g, "documents", list(MEASURES), by=["households"])
    wide = long.pivot_table(index=["documents", "households"], columns="measure",
                            values=["mean", "low", "high"], dropna=False)
    out = pd.DataFrame(index=wide.index)
    for m in MEASURES:
        for stat in ("mean", "low", "high"):
            out[f"{m}_{stat}"] = wide[(stat, m)]
    out["requests_per_run"] = g.groupby(["documents", "households"])["requests"].mean()
    out = out.reset_index()
    order = {name: i for i, name in enumerate(GROUPS.values())}
    return out.sort_values(["documents", "households"], key=lambda c: c.map(order)
                           if c.name == "households" else c).reset_index(drop=True)


def figure(t: pd.DataFrame, path: Path, replications: int) -> None:
    """Two panels: requests served in the city, and wages lost per request, by documents."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [("served_share", "served in the city", ".0%"),
              ("mean_wage_lost", "wages lost per request (RMB)", ",.0f")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[1] for p in panels])
    colours = ["#2a9d8f", "#457b9d", "#e9c46a", "#e76f51"]
    for col, (m, _, fmt) in enumerate(panels, start=1):
        for i, name in enumerate(GROUPS.values()):
            part = t[t["households"] == name]
            if part.empty:
                continue
            low, high = part[f"{m}_low"], part[f"{m}_high"]
            if m.endswith("_share"):
                low, high = low.clip(0, 1), high.clip(0, 1)
            label = html.escape(name)
            fig.add_trace(go.Scatter(
                x=list(part["documents"]) + list(part["documents"])[::-1],
                y=list(high) + list(low)[::-1], fill="toself", mode="lines",
                line={"width": 0}, fillcolor=colours[i], opacity=0.2, hoverinfo="skip",
                showlegend=False), row=1, col=col)
            fig.add_trace(go.Scatter(x=part["documents"], y=part[f"{m}_mean"],
                                     mode="lines+markers", name=label,
                                     line={"color": colours[i]}, showlegend=col == 1,
                                     legendgroup=label), row=1, col=col)
        fig.update_xaxes(title_text="documents required", dtick=1, row=1, col=col)
        fig.update_yaxes(tickformat=fmt, rangemode="tozero", row=1, col=col)
    fig.update_layout(
        title=("Migrant households' requests (school and health insurance) by documents "
               f"required (means of {replications} replications, 95% intervals)"),
        height=460, width=1100)
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def main(argv: list[str] | None = None) -> int:
    from maze.app.commands.sweep import run_script, write_script_tables

    result, args = run_script(EXPERIMENT, OUT, __doc__.split("\n\n")[0], argv)
    t = table(result)
    write_script_tables(OUT, t, figure, result.experiment.replications)
    if not args.quiet:
        show = t[["documents", "households", *(f"{m}_mean" for m in MEASURES),
                  "requests_per_run"]].copy()
        show.columns = ["documents", "migrant households", "served", "private", "sent home",
                        "gave up", "visits", "wages lost", "requests/run"]
        fmt = {c: (lambda v: f"{v:6.1%}") for c in ("served", "private", "sent home",
                                                     "gave up")}
        fmt.update({"visits": lambda v: f"{v:5.1f}", "wages lost": lambda v: f"{v:7,.0f}",
                    "requests/run": lambda v: f"{v:6.0f}"})
        print("Migrant households' requests (means over replications):")
        print(show.to_string(index=False, formatters=fmt))
        print(f"\ntables and figures in {OUT}/ (table.csv, figure.html, sweep/sweep.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
