"""sweep.html: each measure of a sweep against its lever, one line per group, with bands.

A self-contained page (plotly.js inlined once); :func:`figures` gives the same figures
as plotly figure dicts for a notebook.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from maze.batch.tables import SweepResult, bands

#: Measures drawn in sweep.html, in this order (those that are empty in every run are skipped).
PLOTTED = ("served_share", "alternative_share", "sent_away_share", "gave_up_share",
           "denied_share", "deterred_share", "pending_share",
           "median_days_to_service_among_served", "mean_visits", "mean_offices_seen",
           "mean_levels_seen", "mean_loops", "explicit_refusal_share", "missed_deadline_share",
           "mean_out_of_pocket", "mean_wage_lost", "city_cost_saved")


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


PALETTE = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab17d", "#9d4edd", "#f4a261",
           "#457b9d", "#6c757d", "#bc4749")


def figures(result: SweepResult) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """Sections of (title, figures): each measure against the lever, one line per group.

    Figures are plotly figure dicts (``plotly.graph_objects.Figure(d)`` to use one).
    """
    exp = result.experiment
    x = exp.x
    others = [c for c in (*exp.parameters, *exp.tags) if c != x
              and result.runs[c].nunique(dropna=False) > 1]
    plotted = _plotted(result)
    sections = []
    settings = (result.runs[others].drop_duplicates().to_dict("records") if others else [{}])
    for by in exp.by:
        for setting in settings:
            title = f"by {by}" + "".join(f"; {k} = {v}" for k, v in setting.items())
            groups = result.groups[result.groups["by"] == by]
            runs = result.runs
            for k, v in setting.items():
                groups = groups[groups[k].isna() if _isnan(v) else groups[k] == v]
                runs = runs[runs[k].isna() if _isnan(v) else runs[k] == v]
            overall = bands(runs, x, plotted)
            by_group = bands(groups, x, plotted, by=["group"])
            names = sorted(by_group["group"].unique()) if len(by_group) else []
            figs = []
            for measure in plotted:
                traces: list[dict[str, Any]] = []
                lines = [("all requests", overall[overall["measure"] == measure], "#111111")]
                sel = by_group[by_group["measure"] == measure]
                lines += [(str(g), sel[sel["group"] == g], PALETTE[i % len(PALETTE)])
                          for i, g in enumerate(names)]
                for name, b, colour in lines:
                    if not b.empty:
                        traces += _line(b, x, measure, name, colour)
                layout = {"title": {"text": _esc(measure.replace("_", " "))},
                          "xaxis": {"title": {"text": _esc(x or "")}},
                          "yaxis": {"title": {"text": _esc(measure)}},
                          "height": 380, "margin": {"t": 50, "b": 40}}
                if x and not pd.api.types.is_numeric_dtype(result.runs[x]):
                    layout["xaxis"]["type"] = "category"
                figs.append((measure, {"data": traces, "layout": layout}))
            sections.append((title, figs))
    return sections


def _line(b: pd.DataFrame, x: str | None, measure: str, name: str,
          colour: str) -> list[dict[str, Any]]:
    """A mean line and its confidence band, as plotly trace dicts."""
    xs = [_esc(v) if isinstance(v, str) else v for v in b[x].tolist()] if x else \
        ["all runs"] * len(b)
    low, high = b["low"], b["high"]
    if measure.endswith("_share"):  # a share's interval stops at 0 and 1
        low, high = low.clip(0, 1), high.clip(0, 1)
    ok = low.notna().to_numpy()
    out = []
    if ok.any():
        bx = [v for v, k in zip(xs, ok, strict=True) if k]
        out.append({"type": "scatter", "x": bx + bx[::-1],
                    "y": high[ok].tolist() + low[ok].tolist()[::-1], "mode": "lines",
                    "fill": "toself", "fillcolor": _rgba(colour, 0.15), "line": {"width": 0},
                    "hoverinfo": "skip", "showlegend": False, "legendgroup": _esc(name)})
    custom = [[int(n), None if _isnan(lo) else lo, None if _isnan(hi) else hi]
              for n, lo, hi in zip(b["n"], low, high, strict=True)]
    out.append({"type": "scatter", "x": xs, "y": b["mean"].tolist(), "mode": "lines+markers",
                "name": _esc(name), "legendgroup": _esc(name),
                "line": {"color": colour, "dash": "dash" if name == "all requests" else "solid"},
                "customdata": custom,
                "hovertemplate": "%{y:.4g} (95% CI %{customdata[1]:.4g} to "
                                 "%{customdata[2]:.4g}; n = %{customdata[0]})"})
    return out


def _plotted(result: SweepResult) -> list[str]:
    """The measures worth a figure: those not zero (or empty) in every run and group."""
    out = []
    for m in PLOTTED:
        values = pd.concat([result.runs.get(m, pd.Series(dtype=float)),
                            result.groups.get(m, pd.Series(dtype=float))]).dropna()
        if len(values) and (values != 0).any():
            out.append(m)
    return out


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def write_html(result: SweepResult, path: str | Path) -> None:
    """A self-contained page (plotly.js inlined once): each measure against the lever."""
    import plotly.io as pio

    exp = result.experiment
    parts, first, n = [], True, 0
    for title, figs in figures(result):
        parts.append(f"<h2>{_esc(title)}</h2>")
        for _, fig in figs:
            parts.append(pio.to_html(fig, include_plotlyjs=first, full_html=False,
                                     div_id=f"fig{n}", validate=False))
            first, n = False, n + 1
    swept = ", ".join(_esc(k) for k in (*exp.parameters, *exp.tags)) or "nothing (replications)"
    left_out = [m for m in PLOTTED if m not in _plotted(result)]
    note = (f" Left out, zero or empty in every run: {_esc(', '.join(left_out))}."
            if left_out else "")
    name = _esc(exp.name)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maze sweep: {name}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}</style></head>
<body><h1>maze sweep: {name}</h1>
<p>{_esc(exp.description)}</p>
<p>Base city: {_esc(exp.base)}. Swept: {swept}. {exp.replications} replication(s) of each
setting (seeds spawned from {exp.seed}); {len(result.runs)} runs. Lines are means over
replications, bands 95% t confidence intervals (for shares, cut at 0 and 1); shares are of
requests.{note}</p>
{''.join(parts)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
