"""sweep.html: a sweep read as a whole, then measure by measure, however many points it has.

The page opens with a summary table (each measure: its mean over every run, and the
settings where it was lowest and highest), then one figure with menus (the measure, the
grouping, and the setting of any other lever) rather than one figure per measure, group
and setting stacked, then the table of means for every setting. Measures and levers carry
readable names; shares are drawn and printed as percentages; confidence bands are cut to
what a measure can take (no share above 100%, nothing below 0). plotly.js is inlined once,
and every name from an experiment or scenario file is escaped (figure data as JSON with
``<``, ``>`` and ``&`` as Unicode escapes). :func:`figures` gives the figures as plotly
figure dicts for a notebook.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from maze.batch.tables import SweepResult, bands

#: Measures drawn in sweep.html, in this order (those that are empty in every run are
#: skipped): key -> (readable name, unit). Every one of them is 0 or more; shares at most 1.
MEASURES: dict[str, tuple[str, str]] = {
    "served_share": ("served in the city", "share"),
    "alternative_share": ("served privately instead", "share"),
    "sent_away_share": ("sent away", "share"),
    "gave_up_share": ("gave up", "share"),
    "denied_share": ("denied", "share"),
    "deterred_share": ("deterred", "share"),
    "pending_share": ("still waiting at the end", "share"),
    "median_days_to_service_among_served": ("days to service (median, among those served)",
                                            "days"),
    "mean_visits": ("visits to a counter (mean per request)", ""),
    "mean_offices_seen": ("offices met (mean per request)", ""),
    "mean_levels_seen": ("levels of government met (mean per request)", ""),
    "mean_loops": ("times sent round a referral loop (mean per request)", ""),
    "explicit_refusal_share": ("refused explicitly for hukou", "share"),
    "missed_deadline_share": ("missed a deadline", "share"),
    "mean_out_of_pocket": ("paid out of pocket (mean per request)", "RMB"),
    "mean_wage_lost": ("wages lost (mean per request)", "RMB"),
    "city_cost_saved": ("city cost saved (per run)", "RMB"),
}
PLOTTED = tuple(MEASURES)
#: Lines of a figure: all requests first, then each group.
ALL = "all requests"
PALETTE = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab17d", "#9d4edd", "#f4a261",
           "#457b9d", "#6c757d", "#bc4749")
#: The sections of the keys a lever may have, shown as readable words.
PREFIXES = {"population": "", "city": "city ", "mechanisms": "", "services": "service "}


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def measure_label(key: str) -> str:
    """'served in the city (%)', 'wages lost (mean per request, RMB)'."""
    name, unit = MEASURES.get(key, (key.replace("_", " "), ""))
    if unit == "share":
        return f"{name} (%)"
    return f"{name}, {unit}" if unit else name


def lever_label(key: str | None) -> str:
    """A lever's dotted scenario key in words: 'referral loop: rounds', 'days between
    visits: mean'; a tag keeps its name."""
    if not key:
        return ""
    parts = key.split(".")
    lead = ""
    if len(parts) > 1 and parts[0] in PREFIXES:
        lead, parts = PREFIXES[parts[0]], parts[1:]
    words = [p.replace("_", " ") for p in parts if not p.isdigit()]
    text = words[0] + (": " + " ".join(words[1:]) if len(words) > 1 else "")
    return lead + text


def _value(key: str, v: Any) -> str:
    """A measure's value as the page prints it."""
    if v is None or _isnan(v):
        return "—"
    unit = MEASURES.get(key, ("", ""))[1]
    if unit == "share":
        return f"{v:.1%}"
    if unit == "RMB":
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"


def _setting(keys: list[str], values: tuple[Any, ...] | list[Any]) -> str:
    return "; ".join(f"{lever_label(k)} = {v}" for k, v in zip(keys, values, strict=True))


def _levers(result: SweepResult) -> tuple[str | None, list[str]]:
    """The x axis, and the other levers that take more than one value."""
    exp = result.experiment
    x = exp.x
    others = [c for c in (*exp.parameters, *exp.tags) if c != x
              and result.runs[c].nunique(dropna=False) > 1]
    return x, others


def _subset(df: pd.DataFrame, setting: dict[str, Any]) -> pd.DataFrame:
    for k, v in setting.items():
        df = df[df[k].isna() if _isnan(v) else df[k] == v]
    return df


def figures(result: SweepResult) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """Sections of (title, figures): each measure against the lever, one line per group.

    One section per grouping and setting of the other levers; figures are plotly figure
    dicts (``plotly.graph_objects.Figure(d)`` to use one).
    """
    x, others = _levers(result)
    plotted = _plotted(result)
    sections = []
    settings = (result.runs[others].drop_duplicates().to_dict("records") if others else [{}])
    for by in result.experiment.by:
        for setting in settings:
            title = f"by {by}" + "".join(f"; {lever_label(k)} = {v}" for k, v in setting.items())
            groups = _subset(result.groups[result.groups["by"] == by], setting)
            runs = _subset(result.runs, setting)
            overall = bands(runs, x, plotted)
            by_group = bands(groups, x, plotted, by=["group"])
            names = sorted(by_group["group"].unique()) if len(by_group) else []
            figs = []
            for measure in plotted:
                traces: list[dict[str, Any]] = []
                lines = [(ALL, overall[overall["measure"] == measure], "#111111")]
                sel = by_group[by_group["measure"] == measure]
                lines += [(f"{by}: {str(g).replace('_', ' ')}", sel[sel["group"] == g],
                           PALETTE[i % len(PALETTE)])
                          for i, g in enumerate(names)]
                for name, b, colour in lines:
                    if not b.empty:
                        traces += _line(b, x, measure, name, colour)
                figs.append((measure, _layout(result, x, measure, traces, title)))
            sections.append((title, figs))
    return sections


def _layout(result: SweepResult, x: str | None, measure: str, traces: list[dict[str, Any]],
            title: str) -> dict[str, Any]:
    share = MEASURES.get(measure, ("", ""))[1] == "share"
    yaxis: dict[str, Any] = {"title": {"text": _esc(measure_label(measure))},
                             "rangemode": "tozero"}
    if share:
        yaxis.update(tickformat=".0%", range=[0, 1.02])
    xaxis: dict[str, Any] = {"title": {"text": _esc(lever_label(x) or "all runs")}}
    if x and not pd.api.types.is_numeric_dtype(result.runs[x]):
        xaxis["type"] = "category"
    return {"data": traces, "layout": {
        "title": {"text": _esc(measure_label(measure)) + f"<br><sup>{_esc(title)}</sup>"},
        "xaxis": xaxis, "yaxis": yaxis, "height": 460, "margin": {"t": 70, "b": 50},
        "legend": {"title": {"text": "requests"}}, "hovermode": "closest"}}


def _line(b: pd.DataFrame, x: str | None, measure: str, name: str,
          colour: str) -> list[dict[str, Any]]:
    """A mean line and its confidence band, as plotly trace dicts."""
    xs = [_esc(v) if isinstance(v, str) else v for v in b[x].tolist()] if x else \
        ["all runs"] * len(b)
    share = MEASURES.get(measure, ("", ""))[1] == "share"
    # A band stops where the measure does: no share above 100%, nothing below 0.
    low, high = b["low"].clip(lower=0), b["high"].clip(lower=0)
    if share:
        high = high.clip(upper=1)
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
    fmt = ".1%" if share else ",.4~g"
    out.append({"type": "scatter", "x": xs, "y": b["mean"].tolist(), "mode": "lines+markers",
                "name": _esc(name), "legendgroup": _esc(name),
                "line": {"color": colour, "dash": "dash" if name == ALL else "solid"},
                "customdata": custom,
                "hovertemplate": f"{_esc(name)}<br>%{{x}}: %{{y:{fmt}}} (95% CI "
                                 f"%{{customdata[1]:{fmt}}} to %{{customdata[2]:{fmt}}}; "
                                 "n = %{customdata[0]})<extra></extra>"})
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


# -- the page --------------------------------------------------------------------------------

def _means(result: SweepResult, plotted: list[str]) -> tuple[list[str], pd.DataFrame]:
    """Mean of each measure over replications, per setting of every lever (all requests)."""
    x, others = _levers(result)
    keys = [k for k in (*others, x) if k]
    b = bands(result.runs, None, plotted, by=keys) if keys else bands(result.runs, None,
                                                                        plotted)
    wide = b.pivot_table(index=keys or None, columns="measure", values="mean",
                         dropna=False) if keys else b.set_index("measure")[["mean"]].T
    return keys, wide.reset_index() if keys else wide


def summary_table(result: SweepResult) -> str:
    """Each measure: its mean over all runs, and the settings where it was lowest and highest."""
    plotted = _plotted(result)
    keys, wide = _means(result, plotted)
    rows = []
    for m in plotted:
        overall = result.runs[m].dropna().mean() if m in result.runs else float("nan")
        cells = [f'<th scope="row">{_esc(measure_label(m))}</th>', f"<td>{_value(m, overall)}</td>"]
        col = wide[m] if m in wide else pd.Series(dtype=float)
        if keys and col.notna().any():
            for pick in (col.idxmin(), col.idxmax()):
                where = _setting(keys, [wide.loc[pick, k] for k in keys])
                cells.append(f"<td>{_value(m, col[pick])}</td><td class=at>{_esc(where)}</td>")
        else:
            cells.append("<td>—</td><td></td><td>—</td><td></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ("<tr><th>measure (all requests)</th><th>mean over all runs</th>"
            "<th>lowest</th><th class=at>at</th><th>highest</th><th class=at>at</th></tr>")
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def means_table(result: SweepResult) -> str:
    """Every setting (rows) by every measure (columns): the mean over its replications."""
    plotted = _plotted(result)
    keys, wide = _means(result, plotted)
    if not keys:
        return ""
    head = "".join(f"<th>{_esc(lever_label(k))}</th>" for k in keys) + "".join(
        f"<th>{_esc(measure_label(m))}</th>" for m in plotted)
    body = []
    for _, r in wide.iterrows():
        body.append("<tr>" + "".join(f"<td>{_esc(r[k])}</td>" for k in keys) + "".join(
            f"<td>{_value(m, r.get(m))}</td>" for m in plotted) + "</tr>")
    return f'<table class="means"><tr>{head}</tr>{"".join(body)}</table>'


def _safe_json(data: Any) -> str:
    """JSON that cannot end a script element or open a comment inside one."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=_plain)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"not JSON: {type(v)}")


def _nan_free(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_free(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_free(v) for v in x]
    if hasattr(x, "item"):
        return _nan_free(x.item())
    return x


def write_html(result: SweepResult, path: str | Path) -> None:
    """A self-contained page: summary, one figure with menus, and the table of means."""
    from plotly.offline import get_plotlyjs

    exp = result.experiment
    x, others = _levers(result)
    sections = figures(result)
    plotted = _plotted(result)
    # sections come in (by, setting) order: the menus pick one of each.
    bys = list(exp.by)
    settings = len(sections) // max(len(bys), 1)
    data = {"figures": [[fig for _, fig in figs] for _, figs in sections],
            "settings": settings}
    swept = ", ".join(f"{_esc(lever_label(k))} (<code>{_esc(k)}</code>)"
                      for k in (*exp.parameters, *exp.tags)) or "nothing (replications)"
    left_out = [m for m in PLOTTED if m not in plotted]
    note = (" Left out, zero or empty in every run: "
            + _esc(", ".join(measure_label(m) for m in left_out)) + "." if left_out else "")
    measure_menu = "".join(f'<option value="{i}">{_esc(measure_label(m))}</option>'
                           for i, m in enumerate(plotted))
    by_menu = "".join(f'<option value="{i}">{_esc(b)}</option>' for i, b in enumerate(bys))
    setting_titles = [title.split("; ", 1)[1] if "; " in title else "every setting"
                      for title, _ in sections[:settings]]
    setting_menu = "".join(f'<option value="{i}">{_esc(t)}</option>'
                           for i, t in enumerate(setting_titles))
    other = ("" if settings <= 1 else
             f'<label>other levers <select id="setting">{setting_menu}</select></label>')
    name = _esc(exp.name)
    script = """
const D = JSON.parse(document.getElementById('sweep-data').textContent);
const pick = id => { const el = document.getElementById(id); return el ? Number(el.value) : 0; };
function draw() {
  const f = D.figures[pick('by') * D.settings + pick('setting')][pick('measure')];
  Plotly.react('figure', f.data, f.layout, {responsive: true, displaylogo: false});
}
for (const id of ['measure', 'by', 'setting']) {
  const el = document.getElementById(id);
  if (el) el.addEventListener('change', draw);
}
draw();
"""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maze sweep: {name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 1em;
color:#222}}nav{{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid
#ddd;z-index:10}}nav a{{margin-right:1.2em}}table{{border-collapse:collapse;font-size:14px}}
th,td{{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}}th{{font-weight:600}}
th:first-child,th.at,th[scope=row],td.at{{text-align:left}}th[scope=row],td.at{{font-weight:normal}}td.at{{color:#555}}
.scroll{{overflow:auto;max-height:70vh}}.means th{{position:sticky;top:0;background:#fafafa}}
.menus label{{margin-right:1.5em}}select{{font-size:15px;margin-left:.4em}}
section{{margin-top:1.5em;scroll-margin-top:3em}}.means th{{min-width:6em}}
#figure{{min-height:460px}}code{{font-size:12px;color:#666}}
</style></head>
<body><h1>maze sweep: {name}</h1>
<nav><a href="#summary">Summary</a><a href="#figures">Figures</a>
<a href="#means">Every setting</a></nav>
<p>{_esc(exp.description)}</p>
<p>Base city: {_esc(exp.base)}. Swept: {swept}. {exp.replications} replication(s) of each
setting (seeds spawned from {exp.seed}); {len(result.runs)} runs. Shares are of requests
(one household asking for one service), shown as percentages. Lines are means over
replications; bands are 95% t confidence intervals, cut to what a measure can take (0 to
100% for a share, 0 or more otherwise).{note}</p>
<section id="summary"><h2>Summary</h2>
<p>Over every setting: each measure's mean over all runs, and the setting where its mean
over replications was lowest and highest.</p>
{summary_table(result)}</section>
<section id="figures"><h2>Figures</h2>
<p>One measure at a time against {_esc(lever_label(x) or "the runs")}: the dashed line is
all requests, the others one group each.</p>
<div class="menus"><label>measure <select id="measure">{measure_menu}</select></label>
<label>groups <select id="by">{by_menu}</select></label>{other}</div>
<div id="figure"></div></section>
<section id="means"><h2>Every setting</h2>
<p>The mean over replications of each measure, all requests, one row per setting.</p>
<div class="scroll">{means_table(result)}</div></section>
<script type="application/json" id="sweep-data">{_safe_json(_nan_free(data))}</script>
<script>{get_plotlyjs()}</script>
<script>{script}</script>
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")
