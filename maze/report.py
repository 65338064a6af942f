"""The offline report: one self-contained HTML page with the paths taken and time to service.

plotly.js is inlined once, so the page opens without a network. Every name that
comes from a scenario file is escaped before it reaches the page.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.survival import kaplan_meier, time_to_service

OUTCOME_COLOURS = {
    "served": "#2a9d8f", "alternative": "#8ab17d", "sent_away": "#e9c46a",
    "gave_up": "#f4a261", "denied": "#e76f51", "deterred": "#9d9d9d", "pending": "#6c757d",
}


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def path_links(events: pd.DataFrame, max_steps: int = 6) -> pd.DataFrame:
    """Sankey links: step k office -> step k+1 office, ending in the outcome."""
    rows = events[events["activity"].isin(VISIT_ACTIVITIES) | events["activity"].isin(OUTCOMES)]
    rows = rows[rows["activity"] != "request"]
    rows = rows.sort_values(["case_id", "time"], kind="stable")
    labels = []
    for act, office in zip(rows["activity"].astype(str), rows["office"].astype(str),
                           strict=True):
        labels.append(f"outcome: {act}" if act in OUTCOMES else office)
    df = pd.DataFrame({"case_id": rows["case_id"].to_numpy(), "label": labels})
    df = df[df["label"] != df.groupby("case_id")["label"].shift()]  # collapse repeats
    df["step"] = df.groupby("case_id").cumcount()
    is_outcome = df["label"].str.startswith("outcome: ")
    df.loc[~is_outcome & (df["step"] >= max_steps), "label"] = "… more offices"
    df = df[df["label"] != df.groupby("case_id")["label"].shift()]
    df["step"] = df.groupby("case_id").cumcount().clip(upper=max_steps)
    df.loc[is_outcome, "step"] = max_steps + 1
    df["node"] = df["step"].astype(str) + "|" + df["label"]
    df["next"] = df.groupby("case_id")["node"].shift(-1)
    links = df.dropna(subset=["next"]).groupby(["node", "next"]).size().reset_index(name="n")
    return links


def sankey(events: pd.DataFrame, title: str = "Paths through the maze") -> go.Figure:
    links = path_links(events)
    nodes = sorted(set(links["node"]) | set(links["next"]),
                   key=lambda s: (int(s.split("|", 1)[0]), s))
    index = {n: i for i, n in enumerate(nodes)}
    labels = [_esc(n.split("|", 1)[1]) for n in nodes]
    colours = [OUTCOME_COLOURS.get(n.split("outcome: ", 1)[-1], "#457b9d")
               if "outcome: " in n else "#457b9d" for n in nodes]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colours, "pad": 12},
        link={"source": [index[s] for s in links["node"]],
              "target": [index[t] for t in links["next"]], "value": links["n"].tolist()}))
    fig.update_layout(title=_esc(title), height=520)
    return fig


def survival_curves(journeys: pd.DataFrame, by: str = "group") -> go.Figure:
    fig = go.Figure()
    for name, part in journeys.groupby(by, sort=True, observed=True):
        km = kaplan_meier(*time_to_service(part))
        fig.add_trace(go.Scatter(x=km["time"], y=1 - km["survival"], mode="lines",
                                 line_shape="hv", name=_esc(name)))
    fig.update_layout(title="Time to service in the city (Kaplan–Meier; pending censored)",
                      xaxis_title="days since the request", yaxis_title="share served",
                      yaxis_range=[0, 1], height=420)
    return fig


def outcome_bars(journeys: pd.DataFrame, by: str = "group") -> go.Figure:
    shares = (journeys.groupby(by, observed=True)["outcome"].value_counts(normalize=True)
              .unstack(fill_value=0.0))
    fig = go.Figure()
    for o in OUTCOMES:
        if o in shares.columns:
            fig.add_trace(go.Bar(x=[_esc(i) for i in shares.index], y=shares[o], name=o,
                                 marker_color=OUTCOME_COLOURS[o]))
    fig.update_layout(barmode="stack", title="Outcomes by group", yaxis_title="share of requests",
                      height=420)
    return fig


def referral_graph_figure(graph: nx.DiGraph, events: pd.DataFrame) -> go.Figure:
    visits = events[events["activity"].isin(VISIT_ACTIVITIES)].sort_values(
        ["case_id", "time"], kind="stable")
    nxt = visits.groupby("case_id")["office"].shift(-1)
    moves = pd.DataFrame({"a": visits["office"].astype(str), "b": nxt.astype(object)}).dropna()
    moves = moves[moves["a"] != moves["b"]]
    counts = moves.groupby(["a", "b"]).size()
    wait = visits.groupby("office", observed=True)["wait"].mean()
    pos = nx.spring_layout(graph, seed=1) if len(graph) else {}
    fig = go.Figure()
    top = max(counts.max(), 1) if len(counts) else 1
    for (a, b), n in counts.items():
        if a in pos and b in pos:
            fig.add_trace(go.Scatter(x=[pos[a][0], pos[b][0]], y=[pos[a][1], pos[b][1]],
                                     mode="lines", line={"width": 1 + 8 * n / top,
                                                         "color": "#9aa"},
                                     hoverinfo="text", text=f"{_esc(a)} → {_esc(b)}: {n}",
                                     showlegend=False))
    names = list(graph.nodes)
    sizes = [12 + 30 * min(float(wait.get(n, 0.0)) / (float(wait.max()) or 1.0), 1.0)
             if len(wait) else 12 for n in names]
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
        text=[_esc(n) for n in names], textposition="top center", marker={"size": sizes},
        hovertext=[f"{_esc(n)}: mean wait {float(wait.get(n, 0.0)):.2f} days" for n in names],
        showlegend=False))
    fig.update_layout(title="The referral graph (edge width: households sent; node size: wait)",
                      xaxis_visible=False, yaxis_visible=False, height=520)
    return fig


def _summary_table(summary: dict[str, Any]) -> str:
    keys = ["households", "requests", "served_share", "alternative_share", "sent_away_share",
            "gave_up_share", "denied_share", "deterred_share", "pending_share",
            "median_days_to_service", "mean_visits", "mean_offices_seen",
            "explicit_refusal_share", "city_cost_saved"]
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(summary.get(k)))}</td></tr>" for k in keys)
    return f"<table>{rows}</table>"


def _fmt(v: object) -> str:
    if v is None:
        return "not reached"
    if isinstance(v, float):
        return f"{v:,.3f}"
    return str(v)


def write_report(events: pd.DataFrame, journeys: pd.DataFrame, graph: nx.DiGraph,
                 summary: dict[str, Any], path: str | Path) -> None:
    figs = [sankey(events), survival_curves(journeys), outcome_bars(journeys),
            referral_graph_figure(graph, events)]
    parts = []
    for i, fig in enumerate(figs):
        parts.append(pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False,
                                 div_id=f"fig{i}"))
    title = f"maze: {_esc(summary.get('scenario'))} (seed {_esc(summary.get('seed'))})"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse}}th,td{{padding:2px 10px;text-align:left}}</style></head>
<body><h1>{title}</h1>
<p>Regime: {_esc(summary.get('regime'))}. Shares are of requests (one household asking for one
service). Time to service counts days from the request to being served in the city.</p>
{_summary_table(summary)}
{''.join(parts)}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
