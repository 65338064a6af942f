"""sensitivity.html: for each measure, the mu*-sigma plane and the assumptions ranked by mu*."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from maze.sensitivity import NOISE


def _households(st: dict) -> str:
    """The households of the city a study ran: as written, and in the copy each run was
    when the study was scaled (``--scale``)."""
    n, scale = st.get("households"), st.get("scale", 1) or 1
    if scale == 1 or not isinstance(n, int | float):
        return f"{n} households"
    return (f"{n} households in the city as written, each run a copy at scale {scale:g} "
            f"(about {round(n * scale):,} households)")


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _short(key: str) -> str:
    """The last parts of a dotted key, enough to tell assumptions apart on a figure."""
    parts = key.split(".")
    return ".".join(parts[-3:]) if len(parts) > 3 else key


def figures(result: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """(measure, plotly figure dicts): mu*-sigma scatter, ranked mu* bars, Sobol bars."""
    out = []
    for measure, m in result.morris.groupby("measure", sort=False):
        m = m.sort_values("mu_star", ascending=True)
        noise = m[m["key"] == NOISE]
        colours = ["#999999" if k == NOISE else "#1d3557" if a else "#a8dadc"
                   for k, a in zip(m["key"], m["above_noise"], strict=True)]
        labels = [_esc(_short(k)) for k in m["key"]]
        scatter = {"data": [{"type": "scatter", "mode": "markers+text", "x": m["mu_star"].tolist(),
                             "y": m["sigma"].tolist(), "text": labels,
                             "textposition": "top center", "marker": {"color": colours,
                                                                      "size": 9},
                             "hovertext": [_esc(k) for k in m["key"]],
                             "error_x": {"type": "data", "array": m["mu_star_conf"].tolist()}}],
                   "layout": {"title": {"text": f"{_esc(measure)}: μ* against σ"},
                              "xaxis": {"title": {"text": "μ* (mean |elementary effect|)"}},
                              "yaxis": {"title": {"text": "σ (interaction, non-linearity)"}},
                              "height": 520, "showlegend": False}}
        if len(noise):
            floor = float(noise["mu_star"].iloc[0])
            scatter["layout"]["shapes"] = [{"type": "line", "x0": floor, "x1": floor, "y0": 0,
                                            "y1": 1, "yref": "paper",
                                            "line": {"dash": "dot", "color": "#999999"}}]
        bars = {"data": [{"type": "bar", "orientation": "h", "x": m["mu_star"].tolist(),
                          "y": labels, "marker": {"color": colours},
                          "hovertext": [_esc(k) for k in m["key"]],
                          "error_x": {"type": "data", "array": m["mu_star_conf"].tolist()}}],
                "layout": {"title": {"text": f"{_esc(measure)}: assumptions ranked by μ* "
                                             "(95% bootstrap interval)"},
                           "height": 120 + 22 * len(m), "margin": {"l": 330},
                           "xaxis": {"title": {"text": "μ*"}}}}
        figs = [scatter, bars]
        s = result.sobol[result.sobol["measure"] == measure] if len(result.sobol) else \
            pd.DataFrame()
        if len(s):
            s = s.sort_values("ST", ascending=True)
            y = [_esc(_short(k)) for k in s["key"]]
            figs.append({"data": [
                {"type": "bar", "orientation": "h", "name": "first order S1", "x": s["S1"].tolist(),
                 "y": y, "error_x": {"type": "data", "array": s["S1_conf"].tolist()}},
                {"type": "bar", "orientation": "h", "name": "total ST", "x": s["ST"].tolist(),
                 "y": y, "error_x": {"type": "data", "array": s["ST_conf"].tolist()}}],
                "layout": {"title": {"text": f"{_esc(measure)}: Sobol indices"},
                           "barmode": "group", "height": 160 + 40 * len(s),
                           "margin": {"l": 330}}})
        out.append((measure, figs))
    return out


def write_html(result: Any, path: str | Path) -> None:
    """A self-contained page (plotly.js inlined once)."""
    import plotly.io as pio

    st = result.settings
    parts, first, n = [], True, 0
    for measure, figs in figures(result):
        parts.append(f"<h2>{_esc(measure)}</h2>")
        for fig in figs:
            parts.append(pio.to_html(fig, include_plotlyjs=first, full_html=False,
                                     div_id=f"fig{n}", validate=False))
            first, n = False, n + 1
    city = _esc(st.get("city", ""))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maze sensitivity: {city}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}</style></head>
<body><h1>maze sensitivity: {city}</h1>
<p>Morris screening of {len(st.get("assumptions", []))} declared assumptions
({st.get("trajectories")} trajectories, {st.get("levels")} levels, {st.get("replications")}
replication(s) a point, {_households(st)}, seed {st.get("seed")};
{st.get("morris_runs")} distinct runs). An elementary effect is the change in a measure when
one assumption moves across 1/{max(int(st.get("levels", 4)) - 1, 1)} of its declared range
(in quantiles of its distribution), so μ* is comparable across assumptions. The grey point
and dotted line, "{_esc(NOISE)}", changes only the seeds: its μ* is what seed noise alone
gives. Dark bars clear it (μ* minus its interval is above the noise); pale bars do not.
{"Sobol indices for the " + str(st.get("sobol_top")) + " leading assumptions (" +
 str(st.get("sobol_runs")) + " runs)." if st.get("sobol_top") else ""}</p>
{"".join(f"<p><strong>Warning:</strong> {_esc(w)}.</p>" for w in st.get("warnings", []))}
{''.join(parts)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
