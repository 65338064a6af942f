"""The offline report: one self-contained HTML page showing where households get stuck.

Each figure answers one of the texts' questions: which paths households take
through the offices and how they end (Sankey), how long service takes and how
long people stay in the maze (Kaplan-Meier), who ends how (outcomes by group),
how many counters and offices a household meets (blame spread), which
referrals carry the traffic and where the queues are (the referral graph), what
a journey looks like in time (timeline), and whether a refusal says "hukou" or
something neutral (reasons). The same figure functions feed the live dashboard.

plotly.js is inlined once, so the page opens without a network. Every name that
comes from a scenario file is HTML-escaped before it reaches a figure or the
page, and the figure JSON is written with ``<``, ``>`` and ``&`` as Unicode
escapes, so no office or group name can close a ``<script>`` element.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.measures import NOT_REACHED
from maze.scenario import NEUTRAL_REASONS
from maze.survival import kaplan_meier, time_to_service

OUTCOME_COLOURS = {
    "served": "#2a9d8f", "alternative": "#8ab17d", "sent_away": "#e9c46a",
    "gave_up": "#f4a261", "denied": "#e76f51", "deterred": "#9d9d9d", "pending": "#6c757d",
}
#: Reasons for turning a household away: hukou stands out, the neutral ones are muted.
REASON_COLOURS = {
    "hukou": "#c1121f", "documents": "#457b9d", "capacity": "#a8dadc", "deadline": "#6d597a",
    "eligibility": "#b5838d", "none": "#adb5bd", "price": "#e9c46a", "closure": "#495057",
}
OFFICE_COLOUR = "#457b9d"
GROUP_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22")
#: Levels of government from the household's side of the counter outwards.
LEVEL_ORDER = ("firm", "private", "street", "district", "municipal", "city", "provincial",
               "central", "hometown")
MORE_OFFICES = "… more offices"
OTHER_OFFICES = "… other offices"
#: Offices a column of the Sankey shows at most; the others are one node.
SANKEY_OFFICES = 15


def _esc(x: object) -> str:
    """A scenario-derived name made safe for HTML and plotly's pseudo-HTML labels."""
    return html.escape(str(x), quote=True)


def _words(x: object) -> str:
    return _esc(str(x).replace("_", " "))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def group_colours(names: Iterable[object]) -> dict[str, str]:
    """One colour per group, in sorted order, so every figure uses the same ones."""
    if isinstance(names, pd.Series):  # a column: its few values, not every row
        names = names.unique()
    return {n: GROUP_PALETTE[i % len(GROUP_PALETTE)]
            for i, n in enumerate(sorted({str(x) for x in names}))}


def _outcome_of_case(events: pd.DataFrame) -> pd.Series:
    ends = events[events["activity"].isin(OUTCOMES)].drop_duplicates("case_id", keep="last")
    return pd.Series(ends["activity"].astype(str).to_numpy(), index=ends["case_id"].to_numpy())


# -- the paths taken ---------------------------------------------------------------------------

def path_links(events: pd.DataFrame, max_steps: int = 6) -> pd.DataFrame:
    """Sankey links: entry office, then each office visited, then the outcome.

    Returns one row per (node, next, outcome) with ``n`` requests. A node is
    ``"step|kind:name"`` with kind ``o`` (an office), ``x`` (an outcome) or ``m``
    (more offices), so an office met twice appears in two columns and no office
    name can pass for an outcome. Consecutive visits to the same office are one
    step; beyond ``max_steps`` offices the path is summarised as "more offices".
    """
    return path_links_by(events, None, max_steps)[None]


def path_links_by(events: pd.DataFrame, by: str | None, max_steps: int = 6
                  ) -> dict[object, pd.DataFrame]:
    """:func:`path_links` of everyone (key None) and of each value of column ``by``.

    The paths are worked out once, on category codes and case numbers (strings only
    for the links found), and counted for each part: a request belongs to one group and
    one service, so splitting the events first would only repeat the sort per part.
    """
    activity = events["activity"]
    acts = [str(a) for a in activity.cat.categories]
    offices = [str(o) for o in events["office"].cat.categories]
    act_code = activity.cat.codes.to_numpy()
    out_of = np.append(np.isin(acts, OUTCOMES), False)  # by activity code; -1 is no outcome
    keep = np.flatnonzero(np.append(np.isin(acts, ("request", *VISIT_ACTIVITIES, *OUTCOMES)),
                                    False)[act_code])
    case_all = events["case_id"].to_numpy()
    order = keep[np.lexsort((keep, events["time"].to_numpy()[keep], case_all[keep]))]
    case = case_all[order]
    is_out = out_of[act_code[order]]
    # A label per row: an office's code, or (past the offices) an outcome's or "more".
    n_off = len(offices)
    more = n_off + len(acts)
    label = np.where(is_out, n_off + act_code[order].astype(np.int64),
                     events["office"].cat.codes.to_numpy()[order].astype(np.int64))
    if by is None:
        part_names: list[object] = []
        part = np.zeros(len(order), dtype=np.int64)
        present: set[int] = set()
    else:
        column = events[by]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("category")
        part_names = list(column.cat.categories)
        codes = column.cat.codes.to_numpy()
        part = codes[order].astype(np.int64)
        present = set(np.unique(codes).tolist())  # the values groupby (observed) would give

    def changed(case: np.ndarray, label: np.ndarray) -> np.ndarray:
        """Rows that start a case or differ from the row before in it."""
        keep = np.ones(len(case), dtype=bool)
        keep[1:] = (case[1:] != case[:-1]) | (label[1:] != label[:-1])
        return keep

    def steps(case: np.ndarray) -> np.ndarray:
        """Each row's number within its case (rows sorted by case)."""
        at = np.arange(len(case))
        first = np.ones(len(case), dtype=bool)
        first[1:] = case[1:] != case[:-1]
        return at - np.maximum.accumulate(np.where(first, at, 0))

    k = changed(case, label)
    case, label, is_out, part = case[k], label[k], is_out[k], part[k]
    label = np.where(~is_out & (steps(case) >= max_steps), more, label)
    k = changed(case, label)
    case, label, is_out, part = case[k], label[k], is_out[k], part[k]
    step = np.minimum(steps(case), max_steps)
    step[is_out] = max_steps + 1
    # Each case's outcome: its last outcome row in the log's order ("pending" if none).
    outs = np.flatnonzero(out_of[act_code])[::-1]
    ids, first = np.unique(case_all[outs], return_index=True)
    has_next = np.zeros(len(case), dtype=bool)
    has_next[:-1] = case[:-1] == case[1:]
    src = np.flatnonzero(has_next)
    pending = acts.index("pending") if "pending" in acts else -1
    at = np.searchsorted(ids, case[src])
    found_case = at < len(ids)
    found_case[found_case] = ids[at[found_case]] == case[src][found_case]
    outcome = np.where(found_case, act_code[outs[first]][np.minimum(at, len(ids) - 1)]
                       if len(ids) else pending, pending).astype(np.int64)
    # (step, label, next step, next label, outcome) as one number, counted by np.unique.
    sizes = (max_steps + 2, more + 1, max_steps + 2, more + 1, len(acts) + 1)
    key = np.ravel_multi_index((step[src], label[src], step[src + 1], label[src + 1],
                                outcome + 1), sizes)

    def name(step: int, label: int) -> str:
        if label == more:
            return f"{step}|m:"
        if label >= n_off:
            return f"{step}|x:{acts[label - n_off]}"
        return f"{step}|o:{offices[label]}"

    def count(keys: np.ndarray) -> pd.DataFrame:
        values, n = np.unique(keys, return_counts=True)
        parts = np.unravel_index(values, sizes)
        found = np.stack([*parts[:4], parts[4] - 1], axis=1)
        rows = sorted((name(a, b), name(c, d), acts[o] if o >= 0 else "pending", int(m))
                      for (a, b, c, d, o), m in zip(found.tolist(), n.tolist(), strict=True))
        return pd.DataFrame(rows, columns=["node", "next", "outcome", "n"]).astype(
            {"n": np.int64})

    out: dict[object, pd.DataFrame] = {None: count(key)}
    src_part = part[src]
    for code, value in enumerate(part_names):  # in the column's order, as groupby gives
        if code in present:
            out[value] = count(key[src_part == code])
    return out


def node_label(node: str) -> str:
    """What a Sankey node shows: the office or outcome, escaped."""
    kind, _, name = node.split("|", 1)[1].partition(":")
    if kind == "r":
        return _esc(OTHER_OFFICES)
    return _esc(MORE_OFFICES) if kind == "m" else _words(name)


def fewer_offices(links: pd.DataFrame, per_column: int = SANKEY_OFFICES) -> pd.DataFrame:
    """The links with each column's offices beyond its ``per_column`` busiest as one node.

    A city with hundreds of offices would draw hundreds of nodes per column and tens of
    thousands of links; the busiest offices (by requests through them) stay as they are.
    """
    nodes = pd.concat([links[["node", "n"]],
                       links[["next", "n"]].rename(columns={"next": "node"})])
    nodes = nodes[nodes["node"].str.contains("|o:", regex=False)]
    flow = nodes.groupby("node")["n"].sum()
    column = flow.index.str.split("|", n=1).str[0]
    ranked = flow.reset_index().assign(column=column).sort_values(
        ["column", "n", "node"], ascending=[True, False, True], kind="stable")
    rest = ranked[ranked.groupby("column").cumcount() >= per_column]
    if rest.empty:
        return links
    merge = {node: f"{col}|r:" for node, col in zip(rest["node"], rest["column"], strict=True)}
    out = links.assign(node=[merge.get(x, x) for x in links["node"]],
                       next=[merge.get(x, x) for x in links["next"]])
    return out.groupby(["node", "next", "outcome"], as_index=False)["n"].sum()


def _sankey_trace(links: pd.DataFrame, visible: bool) -> go.Sankey:
    nodes = sorted(set(links["node"]) | set(links["next"]),
                   key=lambda s: (int(s.split("|", 1)[0]), s))
    index = {n: i for i, n in enumerate(nodes)}
    labels = [node_label(n) for n in nodes]
    colours = [OUTCOME_COLOURS.get(n.split("|", 1)[1][2:], "#777777")
               if n.split("|", 1)[1].startswith("x:") else OFFICE_COLOUR for n in nodes]
    src_label = [node_label(n) for n in links["node"]]
    dst_label = [node_label(n) for n in links["next"]]
    return go.Sankey(
        visible=visible, arrangement="snap",
        node={"label": labels, "color": colours, "pad": 14, "thickness": 16,
              "hovertemplate": "%{label}: %{value} requests<extra></extra>"},
        link={"source": [index[s] for s in links["node"]],
              "target": [index[t] for t in links["next"]],
              "value": links["n"].tolist(),
              "color": [_rgba(OUTCOME_COLOURS.get(o, "#777777"), 0.45)
                        for o in links["outcome"]],
              "customdata": [[a, b, _words(o)] for a, b, o in
                             zip(src_label, dst_label, links["outcome"], strict=True)],
              "hovertemplate": "%{customdata[0]} → %{customdata[1]}<br>%{value} requests "
                               "that ended %{customdata[2]}<extra></extra>"})


def sankey(events: pd.DataFrame, by: str = "group", max_steps: int = 6,
           title: str = "Paths through the maze") -> go.Figure:
    """Entry office -> offices -> outcome; width = requests, colour = how they ended.

    A dropdown shows everyone, one group, or one service at a time.
    """
    everyone: pd.DataFrame | None = None
    parts: list[tuple[str, pd.DataFrame]] = []
    for column in dict.fromkeys(c for c in (by, "service") if c in events.columns):
        links = path_links_by(events, column, max_steps)
        everyone = links.pop(None)
        parts += [(f"{column}: {value}", part) for value, part in links.items()]
    if everyone is None:
        everyone = path_links(events, max_steps)
    subsets = [("everyone", everyone), *parts]
    fig = go.Figure()
    merged = False
    for i, (_, links) in enumerate(subsets):
        shown = fewer_offices(links)
        merged |= shown is not links
        fig.add_trace(_sankey_trace(shown, visible=(i == 0)))
    buttons = []
    for i, (name, _) in enumerate(subsets):
        vis = [j == i for j in range(len(subsets))]
        buttons.append({"label": _words(name), "method": "restyle", "args": [{"visible": vis}]})
    fig.update_layout(
        title={"text": _esc(title) + "<br><sup>link width: requests (one household asking for "
                                     "one service); colour: how the request ended"
                + (f"; in each column, offices beyond the {SANKEY_OFFICES} busiest are one "
                   f"node, {_esc(OTHER_OFFICES)}" if merged else "") + "</sup>"},
        height=560, margin={"t": 90, "l": 10, "r": 10, "b": 20},
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right",
                      "y": 1.16, "yanchor": "top", "showactive": True}])
    return fig


# -- time ------------------------------------------------------------------------------------

def _time_in_maze(journeys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Days from the request to any outcome; pending requests censored at the horizon."""
    tried = journeys["outcome"] != "deterred"
    d = journeys.loc[tried, "days_to_outcome"].to_numpy(dtype=float)
    ended = (journeys.loc[tried, "outcome"] != "pending").to_numpy()
    return d, ended


def _until(km: pd.DataFrame, durations: np.ndarray, follow_up: float) -> pd.DataFrame:
    """The step curve carried on, flat, to the end of the group's follow-up.

    After the last event the estimate does not change while requests are still
    observed; drawing the flat part shows how long they were watched.
    """
    last = float(km["time"].iloc[-1])
    if not np.isfinite(follow_up) or follow_up <= last:
        return km
    tail = {"time": follow_up, "at_risk": int((durations >= follow_up).sum()), "events": 0,
            "survival": float(km["survival"].iloc[-1])}
    return pd.concat([km, pd.DataFrame([tail])], ignore_index=True)


#: Points a survival curve is drawn with at most; a bigger city's curve has a step for
#: nearly every request and is drawn at the last step of each of this many equal spans
#: of time.
CURVE_POINTS = 2000


def thin(km: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """The curve's first row and its last row in each of ``points`` equal spans of time.

    Drawn as steps, the thinned curve passes through the estimate at every kept time and
    is off by less than one span elsewhere.
    """
    if len(km) <= points:
        return km
    t = km["time"].to_numpy()
    span = (t[-1] - t[0]) / points or 1.0
    bucket = np.minimum(((t - t[0]) // span).astype(np.int64), points - 1)
    last = np.ones(len(km), dtype=bool)
    last[:-1] = bucket[1:] != bucket[:-1]
    last[0] = True
    return km[last]


def survival_curves(journeys: pd.DataFrame, by: str = "group") -> go.Figure:
    """Kaplan-Meier: share served in the city, and share still in the maze, by day."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "Share served in the city (requests that ended unserved never are)",
        "Share still in the maze (among requests that tried)"))
    colours = group_colours(journeys[by])
    thinned = False
    for name, part in journeys.groupby(by, sort=True, observed=True):
        colour = colours[str(name)]
        durations, served = time_to_service(part)
        follow_up = float(part["days_to_outcome"].max()) if len(part) else 0.0
        full = kaplan_meier(durations, served)
        thinned |= len(full) > CURVE_POINTS
        km = _until(thin(full), durations, follow_up)
        fig.add_trace(go.Scatter(
            x=km["time"], y=1 - km["survival"], mode="lines", line_shape="hv",
            line={"color": colour}, name=_words(name), legendgroup=_esc(name),
            customdata=km["at_risk"],
            hovertemplate="day %{x:.1f}: %{y:.1%} served (%{customdata} still at risk)"
                          "<extra>" + _words(name) + "</extra>"), row=1, col=1)
        d, ended = _time_in_maze(part)
        if len(d):
            full = kaplan_meier(d, ended)
            thinned |= len(full) > CURVE_POINTS
            km2 = _until(thin(full), d, follow_up)
            fig.add_trace(go.Scatter(
                x=km2["time"], y=km2["survival"], mode="lines", line_shape="hv",
                line={"color": colour, "dash": "dot"}, name=_words(name),
                legendgroup=_esc(name), showlegend=False,
                hovertemplate="day %{x:.1f}: %{y:.1%} still in the maze"
                              "<extra>" + _words(name) + "</extra>"), row=1, col=2)
    fig.update_xaxes(title_text="days since the request", rangemode="tozero")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    note = (f"<br><sup>each curve drawn at its last step in each of {CURVE_POINTS:,} equal "
            "spans of time</sup>" if thinned else "")
    fig.update_layout(title="Time to service and time in the maze (Kaplan–Meier; pending "
                            "censored at the horizon)" + note, height=440,
                      margin={"t": 90}, legend={"title": _words(by)})
    return fig


# -- outcomes and blame spread ---------------------------------------------------------------

def outcome_bars(journeys: pd.DataFrame, by: str = "group") -> go.Figure:
    """How requests ended, by group, as stacked shares."""
    counts = (journeys.groupby(by, observed=True)["outcome"].value_counts()
              .unstack(fill_value=0))
    counts.index = counts.index.astype(str)
    totals = counts.sum(axis=1)
    fig = go.Figure()
    for o in OUTCOMES:
        if o in counts.columns and counts[o].sum() > 0:
            share = counts[o] / totals
            fig.add_trace(go.Bar(
                x=[_words(i) for i in counts.index], y=share, name=_words(o),
                marker_color=OUTCOME_COLOURS[o], customdata=counts[o],
                hovertemplate="%{x}: %{y:.1%} " + _words(o) + " (%{customdata} requests)"
                              "<extra></extra>"))
    fig.update_layout(barmode="stack", title="Outcomes by group", yaxis_title="share of requests",
                      yaxis_tickformat=".0%", height=440, legend={"traceorder": "normal"})
    return fig


def blame_spread(journeys: pd.DataFrame, by: str = "group", max_visits: int = 20) -> go.Figure:
    """Distributions of counter visits and of distinct offices met, by group."""
    tried = journeys[journeys["outcome"] != "deterred"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "Visits to a counter per request", "Distinct offices met per request"))
    colours = group_colours(journeys[by])
    for name, part in tried.groupby(by, sort=True, observed=True):
        n = len(part)
        if not n:
            continue
        visits = part["visits"].clip(upper=max_visits).value_counts().sort_index()
        offices = part["offices_seen"].value_counts().sort_index()
        for col, series, what in ((1, visits, "visits"), (2, offices, "offices")):
            fig.add_trace(go.Bar(
                x=series.index, y=series / n, name=_words(name), legendgroup=_esc(name),
                showlegend=(col == 1), marker_color=colours[str(name)], customdata=series,
                hovertemplate=f"%{{x}} {what}: %{{y:.1%}} (%{{customdata}} requests)"
                              f"<extra>{_words(name)}</extra>"), row=1, col=col)
    fig.update_xaxes(title_text=f"visits ({max_visits} means {max_visits} or more)", dtick=1,
                     row=1, col=1)
    fig.update_xaxes(title_text="offices", dtick=1, row=1, col=2)
    fig.update_yaxes(tickformat=".0%", title_text="share of requests", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(barmode="group", title="Blame spread: how many counters and offices a "
                      "household meets (requests that tried)", height=440, margin={"t": 90},
                      legend={"title": _words(by)})
    return fig


# -- the referral graph ----------------------------------------------------------------------

def office_moves(events: pd.DataFrame) -> pd.Series:
    """How many times households went from one office straight to another, by (from, to)."""
    visit = np.append(events["activity"].cat.categories.isin(VISIT_ACTIVITIES), False)
    rows = np.flatnonzero(visit[events["activity"].cat.codes.to_numpy()])
    case = events["case_id"].to_numpy()[rows]
    order = rows[np.lexsort((rows, events["time"].to_numpy()[rows], case))]
    case = events["case_id"].to_numpy()[order]
    office = events["office"].cat.codes.to_numpy()[order].astype(np.int64)
    move = (case[1:] == case[:-1]) & (office[1:] != office[:-1])
    pairs, n = np.unique(np.stack([office[:-1][move], office[1:][move]], axis=1), axis=0,
                         return_counts=True)
    names = [str(o) for o in events["office"].cat.categories]
    moves = {(names[a], names[b]): int(m)
             for (a, b), m in zip(pairs.tolist(), n.tolist(), strict=True)}
    index = pd.MultiIndex.from_tuples(sorted(moves), names=["a", "b"])
    return pd.Series([moves[k] for k in index], index=index, dtype=np.int64)


def graph_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """networkx positions with one column per level of government, household side first."""
    if not len(graph):
        return {}
    levels = [str(graph.nodes[n].get("level", "")) for n in graph.nodes]
    known = [lv for lv in LEVEL_ORDER if lv in levels]
    rest = sorted({lv for lv in levels if lv not in LEVEL_ORDER})
    layer = {lv: i for i, lv in enumerate(known + rest)}
    subsets: dict[int, list[str]] = {i: [] for i in range(len(layer))}
    for n, lv in zip(graph.nodes, levels, strict=True):
        subsets[layer[lv]].append(n)  # scenario order within a column: stable across runs
    pos = nx.multipartite_layout(graph, subset_key=subsets, align="vertical", scale=1.0)
    return {str(n): (float(p[0]), float(p[1])) for n, p in pos.items()}


#: Edges of the referral graph drawn at most: a dense routing matrix has K^2 of them, more
#: than a page can draw or a reader follow, so a bigger graph shows its busiest edges and
#: says how many it left out.
MAX_EDGES = 200
#: Edge widths come in this many steps, one trace each (not one trace per edge).
WIDTH_STEPS = 8


def referral_graph_figure(graph: nx.DiGraph, events: pd.DataFrame,
                          max_edges: int = MAX_EDGES) -> go.Figure:
    """The referral graph: edge width = households that made the move, node size = wait."""
    pos = graph_positions(graph)
    counts = office_moves(events)
    visit = np.append(events["activity"].cat.categories.isin(VISIT_ACTIVITIES), False)
    visits = events[visit[events["activity"].cat.codes.to_numpy()]]
    by_office = visits.groupby("office", observed=True)
    wait = {str(k): float(v) for k, v in by_office["wait"].mean().items()}
    n_visits = {str(k): int(v) for k, v in by_office.size().items()}
    moved = {k: int(v) for k, v in counts.items()}
    edges = [e for e in set(graph.edges) | set(moved) if e[0] in pos and e[1] in pos]
    ranked = sorted(edges, key=lambda e: (-moved.get(e, 0), e))  # busiest first
    shown, left = sorted(ranked[:max_edges]), ranked[max_edges:]
    top = float(max(moved.values(), default=0)) or 1.0
    fig = go.Figure()
    annotations = []
    steps: dict[int, tuple[list, list]] = {}
    mid_x, mid_y, mid_text, mid_n = [], [], [], []
    for a, b in shown:
        n = moved.get((a, b), 0)
        declared = graph.has_edge(a, b)
        why = sorted({str(w.get("reason", "")) for w in graph.edges[a, b].get("why", [])}
                     ) if declared else []
        xs, ys = _curve(pos[a], pos[b])
        xs_all, ys_all = steps.setdefault(math.ceil(WIDTH_STEPS * n / top), ([], []))
        xs_all += [*xs, None]
        ys_all += [*ys, None]
        k = int(0.8 * (len(xs) - 1))
        mid_x.append(xs[len(xs) // 2])
        mid_y.append(ys[len(ys) // 2])
        mid_n.append(n)
        mid_text.append(f"{_words(a)} → {_words(b)}: {n} moves"
                        + (f"<br>reason in the scenario: {_esc(', '.join(why))}" if why else "")
                        + ("" if declared else "<br>(not a declared edge: a fallback or return)"))
        annotations.append({"x": xs[k], "y": ys[k], "ax": xs[k - 1], "ay": ys[k - 1],
                            "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
                            "showarrow": True, "arrowhead": 2, "arrowsize": 1.3,
                            "arrowwidth": 1.5, "arrowcolor": "rgba(40,60,80,0.8)",
                            "text": ""})
    for step, (xs, ys) in sorted(steps.items()):
        # Step 0: edges nobody took, dotted; then wider with more moves.
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
            line={"width": 1.0 + 10.0 * step / WIDTH_STEPS if step else 0.8,
                  "color": "rgba(69,123,157,0.55)" if step else "rgba(150,150,150,0.5)",
                  "dash": "solid" if step else "dot"}))
    # One invisible marker per edge, at its middle, carries what hovering it says.
    fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", text=mid_text, customdata=mid_n,
                             hoverinfo="text", showlegend=False,
                             marker={"size": 8, "color": "rgba(0,0,0,0)"}))
    names = [str(n) for n in graph.nodes]
    top_wait = max(wait.values(), default=0.0) or 1.0
    sizes = [14 + 40 * min(wait.get(n, 0.0) / top_wait, 1.0) for n in names]
    hover = [f"{_words(n)} ({_esc(graph.nodes[n].get('level', ''))}, "
             f"{_words(graph.nodes[n].get('sector', ''))})<br>{n_visits.get(n, 0)} visits; "
             f"mean wait {wait.get(n, 0.0):.2f} days" for n in names]
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
        text=[_words(n) for n in names], textposition="top center", hovertext=hover,
        hoverinfo="text", showlegend=False,
        marker={"size": sizes, "color": [OUTCOME_COLOURS["alternative"] if
                                         graph.nodes[n].get("role") == "alternative" else
                                         OUTCOME_COLOURS["sent_away"] if
                                         graph.nodes[n].get("role") == "sent_away" else
                                         OFFICE_COLOUR for n in names],
                "line": {"width": 1, "color": "#333"}}))
    levels = sorted({(pos[n][0], str(graph.nodes[n].get("level", ""))) for n in names})
    for x, lv in levels:
        annotations.append({"x": x, "y": 1.0, "xref": "x", "yref": "paper", "showarrow": False,
                            "text": f"<b>{_words(lv)}</b>", "yanchor": "bottom"})
    title = ("The referral graph (columns: level of government; edge width: households that "
             "went from one office to the next; node size: mean wait)")
    if left:
        used = [e for e in left if moved.get(e, 0)]
        title += (f"<br><sup>The {len(shown):,} busiest of {len(edges):,} edges are drawn; not "
                  f"drawn: {sum(moved[e] for e in used):,} moves along {len(used):,} other "
                  f"edges, and {len(left) - len(used):,} edges nobody took.</sup>")
    fig.update_layout(
        title=title,
        xaxis={"visible": False, "range": _pad([p[0] for p in pos.values()])},
        yaxis={"visible": False, "range": _pad([p[1] for p in pos.values()])},
        annotations=annotations, height=560, plot_bgcolor="white", margin={"t": 110})
    return fig


def _curve(p0: tuple[float, float], p1: tuple[float, float], bend: float = 0.15,
           steps: int = 24) -> tuple[list[float], list[float]]:
    """A quadratic curve bent to the left of its direction, so A->B and B->A stay apart."""
    (x0, y0), (x1, y1) = p0, p1
    cx = (x0 + x1) / 2 - bend * (y1 - y0)
    cy = (y0 + y1) / 2 + bend * (x1 - x0)
    t = np.linspace(0.0, 1.0, steps + 1)
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1
    return [float(x) for x in xs], [float(y) for y in ys]


def _pad(values: list[float]) -> list[float]:
    if not values:
        return [-1.0, 1.0]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return [lo - 0.18 * span, hi + 0.18 * span]


# -- journeys in time ------------------------------------------------------------------------

def sample_households(journeys: pd.DataFrame, n: int = 30, seed: int = 0) -> list[int]:
    """A reproducible sample of households, covering every outcome that occurred."""
    rng = np.random.default_rng(seed)
    hh = journeys.drop_duplicates("household_id")
    chosen: list[int] = []
    for _, part in hh.groupby(hh["outcome"].astype(str), sort=True):
        chosen.append(int(part["household_id"].iloc[rng.integers(len(part))]))
    rest = np.setdiff1d(hh["household_id"].to_numpy(), chosen)
    extra = max(0, n - len(chosen))
    if extra and len(rest):
        chosen += [int(x) for x in rng.choice(rest, size=min(extra, len(rest)), replace=False)]
    return sorted(chosen[:max(n, 1)])


def timeline(events: pd.DataFrame, journeys: pd.DataFrame, n: int = 30,
             seed: int = 0) -> go.Figure:
    """A Gantt-style view of a sample of journeys: one row per household, one bar per visit.

    A bar runs from arrival at the counter to leaving it (at least a day wide, so
    short visits stay visible); the grey line is the whole request, the marker its outcome.
    """
    ids = sample_households(journeys, n, seed)
    j = journeys[journeys["household_id"].isin(ids)]
    j = j.sort_values(["group", "household_id", "start"], kind="stable")
    row_of = {}
    for hid, grp in zip(j["household_id"], j["group"], strict=True):
        row_of.setdefault(int(hid), f"#{int(hid)} {_words(grp)}")
    ev = events[events["household_id"].isin(ids)]
    visits = ev[ev["activity"].isin(VISIT_ACTIVITIES)]
    horizon = float(events["time"].max()) if len(events) else 1.0
    min_width = max(horizon / 200.0, 0.5)
    fig = go.Figure()
    for _, r in j.iterrows():
        fig.add_trace(go.Scatter(
            x=[r["start"], r["end"]], y=[row_of[int(r["household_id"])]] * 2, mode="lines",
            line={"color": "rgba(120,120,120,0.45)", "width": 2}, hoverinfo="skip",
            showlegend=False))
    offices = sorted(visits["office"].astype(str).unique())
    palette = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8ab17d", "#6d597a",
               "#b5838d", "#457b9d", "#a8dadc", "#495057", "#bc6c25")
    for k, office in enumerate(offices):
        part = visits[visits["office"].astype(str) == office]
        width = np.maximum(part["time"].to_numpy() - part["start"].to_numpy(), min_width)
        text = [f"{_words(s)}: day {t:.1f}, {_words(office)} — {a}"
                + (f" ({_words(rs)})" if rs and a != "serve" else "")
                + (f", waited {w:.1f} days" if w >= 0.05 else "")
                for s, t, a, rs, w in zip(part["service"].astype(str), part["start"],
                                          part["activity"].astype(str),
                                          part["reason"].astype(str), part["wait"],
                                          strict=True)]
        fig.add_trace(go.Bar(
            base=part["start"], x=width, y=[row_of[int(h)] for h in part["household_id"]],
            orientation="h", name=_words(office),
            marker={"color": palette[k % len(palette)], "line": {"width": 0}},
            hovertext=text, hoverinfo="text"))
    for o in OUTCOMES:
        part = j[j["outcome"] == o]
        if len(part):
            fig.add_trace(go.Scatter(
                x=part["end"], y=[row_of[int(h)] for h in part["household_id"]],
                mode="markers", name=f"ended: {_words(o)}",
                marker={"symbol": "diamond", "size": 11, "color": OUTCOME_COLOURS[o],
                        "line": {"width": 1, "color": "#333"}},
                hovertext=[f"{_words(s)}: {_words(o)} on day {e:.1f}"
                           for s, e in zip(part["service"].astype(str), part["end"],
                                           strict=True)],
                hoverinfo="text"))
    rows = list(dict.fromkeys(row_of.values()))
    fig.update_layout(
        title=f"A sample of {len(rows)} households in time (one row per household, one bar "
              "per visit, colour: office)",
        barmode="overlay", height=max(360, 22 * len(rows) + 160),
        xaxis_title="day (day 0 is the scenario's start date)",
        yaxis={"categoryorder": "array", "categoryarray": rows[::-1], "automargin": True},
        legend={"title": "office / outcome"})
    return fig


# -- reasons ---------------------------------------------------------------------------------

def reason_table(events: pd.DataFrame, by: str = "group",
                 activities: tuple[str, ...] = ("refuse",)) -> pd.DataFrame:
    """Counts of the reasons given, by group (rows) and reason (columns)."""
    rows = events.loc[events["activity"].isin(activities), [by, "reason"]]
    # Counted by category first, then named: turning every row into a string cost more than
    # the rest of the report at a million households.
    counts = rows.groupby([by, "reason"], observed=True, sort=False).size()
    t = pd.crosstab(counts.index.get_level_values(0).astype(str),
                    counts.index.get_level_values(1).astype(str), values=counts.to_numpy(),
                    aggfunc="sum").fillna(0).astype(np.int64)
    t.index.name, t.columns.name = by, "reason"
    return t.reindex(columns=[r for r in ("hukou", *NEUTRAL_REASONS) if r in t.columns])


def refusal_reasons(events: pd.DataFrame, by: str = "group") -> go.Figure:
    """The reasons offices gave: explicit hukou against the neutral ones, by group."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "Refusals at the counter",
        "Every turn-away: refusals, referrals, papers asked for, lines left"))
    shown: set[str] = set()
    for col, acts in ((1, ("refuse",)), (2, ("refuse", "refer", "require", "retry", "leave"))):
        t = reason_table(events, by, acts)
        totals = t.sum(axis=1).replace(0, 1)
        for reason in t.columns:
            fig.add_trace(go.Bar(
                x=[_words(i) for i in t.index], y=t[reason] / totals,
                name=("hukou (explicit)" if reason == "hukou" else f"{_words(reason)} (neutral)"),
                legendgroup=reason, showlegend=reason not in shown,
                marker_color=REASON_COLOURS.get(reason, "#777"), customdata=t[reason],
                hovertemplate="%{x}: %{y:.1%} " + _words(reason) + " (%{customdata})"
                              "<extra></extra>"), row=1, col=col)
            shown.add(reason)
    refusals = events[events["activity"] == "refuse"]
    n = len(refusals)
    explicit = int((refusals["reason"].astype(str) == "hukou").sum())
    share = f"{explicit / n:.1%}" if n else "none"
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(barmode="stack", height=440, margin={"t": 90},
                      title=f"Reasons given: {explicit} of {n} refusals ({share}) named hukou; "
                            "the rest were neutral")
    return fig


# -- the page --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """One section of the report: an id, a heading, what to look for, and the figure."""

    key: str
    heading: str
    blurb: str
    figure: go.Figure


def figures(events: pd.DataFrame, journeys: pd.DataFrame, graph: nx.DiGraph,
            by: str = "group", years: pd.DataFrame | None = None,
            changes: Iterable[str] = ()) -> list[Figure]:
    """Every figure of the report, in page order (the dashboard shows the same ones); with
    ``years`` (years.parquet) spanning more than one year, the figures over the years too."""
    return [
        Figure("sankey", "Paths taken",
               "Where each request started, which offices it passed through, and how it ended. "
               "Pick a group or a service in the menu at the top right.",
               sankey(events, by)),
        Figure("survival", "Time to service",
               "Left: the share served in the city by each day after the request. Right: the "
               "share still going from office to office. Requests still open at the horizon "
               "are censored.", survival_curves(journeys, by)),
        Figure("outcomes", "Outcomes by group", "How requests ended, by group.",
               outcome_bars(journeys, by)),
        Figure("spread", "Blame spread",
               "How many times a household stood at a counter, and how many different offices "
               "it met, before its request ended.", blame_spread(journeys, by)),
        Figure("graph", "The referral graph",
               "Offices in columns by level of government. Thick edges carry many households; "
               "big nodes have long waits. Dotted edges exist in the scenario but nobody took "
               "them.", referral_graph_figure(graph, events)),
        Figure("timeline", "Journeys in time",
               "A sample of households, one row each: every bar is one visit to a counter.",
               timeline(events, journeys)),
        Figure("reasons", "Reasons given",
               "Did the office say hukou, or something neutral: papers, capacity, a deadline, "
               "nothing at all?", refusal_reasons(events, by)),
        *year_figures(years, changes),
    ]


# -- over the years -------------------------------------------------------------------------

def _pooled(years: pd.DataFrame, keys: list[str], outcome: str) -> pd.Series:
    """An outcome's share of the requests in each ``keys`` cell of years.parquet rows."""
    weight = years[f"{outcome}_share"] * years["requests"]
    return weight.groupby([years[k] for k in keys]).sum() / years.groupby(keys)["requests"].sum()


def served_by_year(years: pd.DataFrame, changes: Iterable[str] = ()) -> go.Figure:
    """Share served in the city by year of request, one line per group, a menu per service,
    and a dashed line on each date the rules changed."""
    fig = go.Figure()
    services = ["all services", *sorted(years["service"].unique())]
    groups = sorted(years["group"].unique())
    colours = group_colours(groups)
    for i, service in enumerate(services):
        part = years if i == 0 else years[years["service"] == service]
        served = _pooled(part, ["group", "year"], "served")
        for g in groups:
            if g not in served.index.get_level_values(0):
                continue
            line = served.loc[g]
            fig.add_trace(go.Scatter(
                x=[f"{y}-07-01" for y in line.index], y=line.to_numpy(), mode="lines+markers",
                name=_words(g), legendgroup=g, visible=(i == 0), line={"color": colours[g]},
                meta=service, hovertemplate=_words(g) + ", requests of %{x|%Y}: %{y:.1%} served"
                                            "<extra></extra>"))
    for day in changes:
        fig.add_vline(x=day, line_dash="dash", line_color="#888")
        fig.add_annotation(x=day, y=1.0, yref="paper", text=day, showarrow=False,
                           textangle=-90, xanchor="right", yanchor="top",
                           font={"size": 10, "color": "#555"})
    buttons = [{"label": _words(s), "method": "update",
                "args": [{"visible": [t.meta == s for t in fig.data]}]} for s in services]
    fig.update_layout(
        title="Served in the city, by year of request (dashed: a rule changed)",
        yaxis_title="share of requests", yaxis_tickformat=".0%", yaxis_range=[0, 1.02],
        xaxis_title="year of request (plotted mid-year)", height=460,
        updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15}])
    return fig


def outcomes_by_year(years: pd.DataFrame) -> go.Figure:
    """How requests ended, by group, one year at a time: a slider picks the year."""
    fig = go.Figure()
    year_list = sorted(int(y) for y in years["year"].unique())
    groups = sorted(years["group"].unique())
    counts = years.groupby(["year", "group"])["requests"].sum()
    for k, year in enumerate(year_list):
        here = years[years["year"] == year]
        present = [g for g in groups if g in set(here["group"])]
        for o in OUTCOMES:
            share = _pooled(here, ["group"], o).reindex(present)
            if not (share > 0).any():
                continue
            fig.add_trace(go.Bar(
                x=[_words(g) for g in present], y=share.to_numpy(), name=_words(o),
                legendgroup=o, showlegend=True, visible=(k == 0), meta=year,
                marker_color=OUTCOME_COLOURS.get(o, "#999999"),
                customdata=[int(counts.get((year, g), 0)) for g in present],
                hovertemplate="%{x}: %{y:.1%} " + _words(o) + " of %{customdata} requests "
                              f"made in {year}<extra></extra>"))
    steps = [{"label": str(year), "method": "update",
              "args": [{"visible": [t.meta == year for t in fig.data]},
                       {"title": f"Outcomes by group, requests made in {year}"}]}
             for year in year_list]
    fig.update_layout(
        barmode="stack", title=f"Outcomes by group, requests made in {year_list[0]}",
        yaxis_title="share of requests", yaxis_tickformat=".0%", yaxis_range=[0, 1.0],
        height=480, legend={"traceorder": "normal"},
        sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "year: "},
                  "pad": {"t": 40}}])
    return fig


def year_figures(years: pd.DataFrame, changes: Iterable[str] = ()) -> list[Figure]:
    """The report's figures over the years; none when the requests fall in one year."""
    if years is None or years["year"].nunique() < 2:
        return []
    changes = list(changes)
    return [
        Figure("years-served", "Served, year by year",
               "The share of each year's requests served in the city, by group. Dashed lines "
               "mark the dates on which a dated rule of the scenario changed; a change shows "
               "in the requests made after it. Pick a service in the menu.",
               served_by_year(years, changes)),
        Figure("years-outcomes", "Outcomes, year by year",
               "How the requests made in one year ended, by group. Move the slider to change "
               "the year.", outcomes_by_year(years)),
    ]


def _safe_json(fig: go.Figure) -> str:
    """Figure JSON that cannot end a script element or open a comment inside one."""
    text = pio.to_json(fig, validate=False, pretty=False, remove_uids=True)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # pragma: no cover - would break the page; never seen
        raise RuntimeError("the bundled plotly.js contains '</script'")
    return js


def _summary_table(summary: dict[str, Any]) -> str:
    keys = [("households", "households"), ("requests", "requests"),
            ("served_share", "served in the city"), ("alternative_share", "private alternative"),
            ("sent_away_share", "sent away"), ("gave_up_share", "gave up"),
            ("denied_share", "denied"), ("deterred_share", "deterred"),
            ("pending_share", "still waiting at the horizon"),
            ("median_days_to_service", "median days to service"),
            ("mean_visits", "mean visits"), ("mean_offices_seen", "mean offices met"),
            ("mean_levels_seen", "mean levels met"),
            ("explicit_refusal_share", "requests refused for hukou"),
            ("city_cost_saved", "city cost saved (RMB)")]
    migrants = summary.get("migrants")
    migrants = migrants if isinstance(migrants, dict) and migrants else None
    head = ("<tr><th></th><th>all requests</th><th>migrants' requests</th></tr>"
            if migrants else "")
    rows = "".join(
        f"<tr><th>{_esc(label)}</th><td>{_esc(_fmt(k, summary.get(k)))}</td>"
        + (f"<td>{_esc(_fmt(k, migrants.get(k)) if k in migrants else '')}</td>"
           if migrants else "") + "</tr>"
        for k, label in keys if k in summary)
    return f"<table class=summary>{head}{rows}</table>"


def _fmt(key: str, v: object) -> str:
    if v is None:
        return NOT_REACHED if key == "median_days_to_service" else "—"
    if key.endswith("_share") and isinstance(v, float):
        return f"{v:.1%}"
    if key == "city_cost_saved" and isinstance(v, float | int):
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"  # 2,557 requests, as the money beside them
    return str(v)


def render_page(sections: list[Figure], summary: dict[str, Any]) -> str:
    """The whole HTML page as a string."""
    title = f"maze: {_esc(summary.get('scenario'))} (seed {_esc(summary.get('seed'))})"
    nav = " · ".join(f'<a href="#{s.key}">{_esc(s.heading)}</a>' for s in sections)
    body = []
    config = json.dumps({"responsive": True, "displaylogo": False})
    for s in sections:
        body.append(
            f'<section id="{s.key}"><h2>{_esc(s.heading)}</h2><p>{_esc(s.blurb)}</p>'
            f'<div id="fig-{s.key}" class="figure"></div>\n'
            f'<script type="application/json" id="data-{s.key}">{_safe_json(s.figure)}</script>'
            f"</section>")
    draw = ("for (const el of document.querySelectorAll('script[id^=\"data-\"]')) {"
            "const f = JSON.parse(el.textContent);"
            "Plotly.newPlot('fig-' + el.id.slice(5), f.data, f.layout, " + config + ");}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
color:#222}}table{{border-collapse:collapse}}th,td{{padding:2px 12px;text-align:left}}
th{{font-weight:normal;color:#555}}nav{{margin:1em 0}}section{{margin-top:2em}}
.figure{{min-height:300px}}</style></head>
<body><h1>{title}</h1>
<p>Regime: <b>{_esc(summary.get('regime'))}</b>. Shares are of requests (one household asking
for one service). Days count from the request; day 0 of the city is its start date.</p>
{_summary_table(summary)}
<nav>{nav}</nav>
{''.join(body)}
<script>{_plotly_js()}</script>
<script>{draw}</script>
</body></html>
"""


def write_report(events: pd.DataFrame, journeys: pd.DataFrame, graph: nx.DiGraph,
                 summary: dict[str, Any], path: str | Path,
                 years: pd.DataFrame | None = None) -> None:
    """Write report.html: every figure, plotly.js inlined once, no network needed."""
    changes = [d for y in (summary.get("by_year") or {}).values()
               for d in y.get("rule_changes", ())]
    page = render_page(figures(events, journeys, graph, years=years, changes=changes), summary)
    Path(path).write_text(page, encoding="utf-8")
