"""The report: figures that add up to the tables, names that cannot break the page."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from maze import report
from maze.app import api
from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.scenario import from_dict
from maze.survival import kaplan_meier, time_to_service
from tests.conftest import paper_city, queue_city
from tests.html_page import parse

EVIL_OFFICE = '</script><script>window.pwned=1</script>'
EVIL_GROUP = '<img src=x onerror="window.pwned=2">'
EVIL_DOC = 'a&b <!-- "quoted" -->'
EVIL_CITY = "<b>city</b>"
N_FIGURES = 7


def evil_city(households: int = 200) -> dict[str, Any]:
    """The paper city with hostile names for an office, a group, a document and the city."""
    data = paper_city(households)
    data["city"]["name"] = EVIL_CITY
    data["offices"][1]["name"] = EVIL_OFFICE
    data["documents"] = {
        "permit": {"issuer": "police", "requires": [EVIL_DOC]},
        EVIL_DOC: {"issuer": EVIL_OFFICE, "needs": ["lease_own"]},
    }
    data["population"]["groups"][0]["name"] = EVIL_GROUP
    return data


@pytest.fixture(scope="module")
def paper_run() -> api.Run:
    return api.run(from_dict(paper_city(300)), seed=2)


@pytest.fixture(scope="module")
def evil_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = api.run(from_dict(evil_city()), seed=1)
    path = tmp_path_factory.mktemp("evil") / "report.html"
    report.write_report(run.events, run.journeys, run.raw.graph, run.summary, path)
    return path.read_text(encoding="utf-8")


# -- escaping --------------------------------------------------------------------------------

def test_hostile_names_never_become_markup(evil_page: str) -> None:
    names = [t for t, _ in parse(evil_page).elements]
    # One data block per figure, plotly.js once, and the drawing code: nothing else.
    assert names.count("script") == N_FIGURES + 2
    assert "img" not in names and "b" not in names[:names.index("body")]
    for raw in (EVIL_OFFICE, EVIL_GROUP, EVIL_DOC, "window.pwned=1</script>"):
        assert raw not in evil_page
    assert "<!--" not in evil_page


def test_hostile_names_survive_as_text_in_the_figure_data(evil_page: str) -> None:
    data = [s for s in parse(evil_page).scripts if s.lstrip().startswith("{")]
    assert len(data) == N_FIGURES
    for block in data:
        assert "<" not in block and ">" not in block  # all escaped as \u003c / \u003e
    sankey = json.loads(data[0])
    labels = sankey["data"][0]["node"]["label"]
    # Escaped once for plotly's pseudo-HTML, which shows it back as the literal name.
    assert "&lt;/script&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;" in labels
    buttons = [b["label"] for b in sankey["layout"]["updatemenus"][0]["buttons"]]
    assert any("&lt;img src=x onerror=&quot;window.pwned=2&quot;&gt;" in b for b in buttons)


def test_plotly_js_is_inlined_once_and_nothing_is_fetched(evil_page: str) -> None:
    assert evil_page.count("Plotly.newPlot") == 1  # the drawing loop
    assert len(re.findall(r"plotly\.js v\d", evil_page)) == 1
    assert not re.search(r"<script[^>]+src=", evil_page)
    assert not re.search(r"<link[^>]+href=\"?https?:", evil_page)


# -- the figures add up to the tables -------------------------------------------------------

def test_links_by_part_are_the_links_of_each_part_alone(paper_run: api.Run) -> None:
    """Counting one pass per group gives what the group's own events give, and the parts
    add up to everyone."""
    ev = paper_run.events
    for by in ("group", "service"):
        parts = report.path_links_by(ev, by)
        assert_frame_equal(parts.pop(None), report.path_links(ev))
        assert len(parts) == ev[by].nunique()
        for value, links in parts.items():
            assert_frame_equal(links, report.path_links(ev[ev[by] == value]))
        total = pd.concat(parts.values()).groupby(["node", "next", "outcome"])["n"].sum()
        assert total.to_dict() == report.path_links(ev).set_index(
            ["node", "next", "outcome"])["n"].to_dict()


def test_sankey_links_carry_every_request_to_its_outcome(paper_run: api.Run) -> None:
    ev, j = paper_run.events, paper_run.journeys
    links = report.path_links(ev)
    into = links[links["next"].str.contains(r"\|x:")]
    reached = into.groupby(into["next"].str.split("|x:", regex=False).str[1])["n"].sum()
    expected = j["outcome"].astype(str).value_counts()
    expected = expected[expected > 0]
    assert reached.sort_index().to_dict() == expected.sort_index().to_dict()
    # The link colour is the outcome of the requests on it.
    outcome_of = into["next"].str.split("|x:", regex=False).str[1]
    assert (outcome_of == into["outcome"]).all()
    # Flow is conserved at every office node.
    inflow = links.groupby("next")["n"].sum()
    outflow = links.groupby("node")["n"].sum()
    for node, n in outflow.items():
        if node in inflow:
            assert inflow[node] == n, node


def test_sankey_has_one_view_per_group_and_service(paper_run: api.Run) -> None:
    fig = report.sankey(paper_run.events)
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["everyone", "group: with lease", "group: without lease", "service: school"]
    assert [t.visible for t in fig.data] == [True, False, False, False]
    totals = [sum(v for v, t in zip(tr.link.value, tr.link.target, strict=True)
                  if tr.node.label[t] in {o.replace("_", " ") for o in OUTCOMES})
              for tr in fig.data]
    j = paper_run.journeys
    assert totals[0] == len(j)
    assert totals[1] == (j["group"] == "with_lease").sum()
    assert totals[2] == (j["group"] == "without_lease").sum()


def test_survival_curves_are_the_kaplan_meier_estimates(paper_run: api.Run) -> None:
    j = paper_run.journeys
    fig = report.survival_curves(j)
    served = [t for t in fig.data if t.xaxis == "x"]
    assert [t.name for t in served] == ["with lease", "without lease"]
    for trace, (_, part) in zip(served, j.groupby("group", sort=True), strict=True):
        km = kaplan_meier(*time_to_service(part))
        n = len(km)
        assert np.allclose(trace.y[:n], 1 - km["survival"].to_numpy())
        # Carried on flat to the end of the group's follow-up, never changed.
        assert len(trace.y) in (n, n + 1) and trace.y[-1] == trace.y[n - 1]
        assert trace.x[-1] == max(km["time"].iloc[-1], part["days_to_outcome"].max())
    # Nobody without a lease is ever served; everybody leaves the maze by the horizon.
    assert max(served[1].y) == 0
    inside = [t for t in fig.data if t.xaxis == "x2"]
    if not (j["outcome"] == "pending").any():
        assert all(t.y[-1] == 0 for t in inside)


def test_blame_spread_shares_sum_to_one_per_group(paper_run: api.Run) -> None:
    fig = report.blame_spread(paper_run.journeys)
    for t in fig.data:
        assert abs(sum(t.y) - 1) < 1e-9


def test_referral_graph_counts_the_moves_households_made(paper_run: api.Run) -> None:
    ev = paper_run.events
    moves = report.office_moves(ev)
    visits = ev[ev["activity"].isin(VISIT_ACTIVITIES)]
    expected = 0
    for _, case in visits.groupby("case_id"):
        offices = case.sort_values("time", kind="stable")["office"].astype(str).tolist()
        expected += sum(a != b for a, b in zip(offices, offices[1:], strict=False))
    assert moves.sum() == expected
    assert moves[("school", "police")] > 0
    fig = report.referral_graph_figure(paper_run.raw.graph, ev)
    # Each edge's hover marker says its moves, and its curve lies in the trace of its width.
    hover = next(t for t in fig.data if t.mode == "markers")
    assert sorted(hover.customdata) == sorted([0] * (len(hover.customdata) - len(moves))
                                              + moves.tolist())
    for text, n in zip(hover.text, hover.customdata, strict=True):
        assert f": {n} moves" in text
    lines = [t for t in fig.data if t.mode == "lines"]
    widths = [t.line.width for t in lines]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)  # wider: more moves
    top = max(moves)
    for x, y, n in zip(hover.x, hover.y, hover.customdata, strict=True):
        step = math.ceil(report.WIDTH_STEPS * n / top)
        trace = next(t for t in lines if t.line.width == (
            1.0 + 10.0 * step / report.WIDTH_STEPS if step else 0.8))
        assert (x, y) in set(zip(trace.x, trace.y, strict=True))
    nodes = fig.data[-1]
    assert len(nodes.x) == len(paper_run.raw.graph)
    assert "not drawn" not in fig.layout.title.text  # every edge is drawn


def test_a_dense_referral_graph_draws_its_busiest_edges_in_a_few_traces() -> None:
    """K offices referring to each other: K^2 edges, a few traces, the rest counted."""
    k = 24
    data = queue_city(rate=5.0, mean_service=0.01, horizon=60.0)
    data["offices"] = [{"name": f"o{i}", "service_time": {"dist": "exponential",
                                                          "mean": 0.01}} for i in range(k)]
    data["services"] = {"ask": {"entry": "o0"}}
    data["referrals"] = [{"from": f"o{i}", "to": f"o{j}", "probability": 0.7 / (k - 1)}
                         for i in range(k) for j in range(k) if i != j]
    run = api.run(from_dict(data), 0)
    moves = report.office_moves(run.events)
    fig = report.referral_graph_figure(run.raw.graph, run.events, max_edges=50)
    assert len(fig.data) <= report.WIDTH_STEPS + 3  # width steps, hover markers, nodes
    hover = next(t for t in fig.data if t.mode == "markers")
    assert len(hover.x) == 50
    assert sorted(hover.customdata, reverse=True) == sorted(moves, reverse=True)[:50]
    used = int((moves > 0).sum())
    title = fig.layout.title.text
    assert f"The 50 busiest of {k * (k - 1):,} edges are drawn" in title
    assert f"{int(moves.sum()) - sum(hover.customdata):,} moves along {used - 50:,} other" in title
    # The Sankey shows at most SANKEY_OFFICES offices per column, the rest as one node.
    sankey = report.sankey(run.events)
    labels = sankey.data[0].node.label
    assert report.OTHER_OFFICES in labels
    assert "offices beyond the 15 busiest are one node" in sankey.layout.title.text
    links = report.path_links(run.events)
    into = links[links["next"].str.contains(r"\|x:")]
    shown = report.fewer_offices(links)
    assert shown["n"].sum() == links["n"].sum()
    assert shown[shown["next"].str.contains(r"\|x:")]["n"].sum() == into["n"].sum()


def test_positions_put_each_level_of_government_in_its_own_column(paper_run: api.Run) -> None:
    g = paper_run.raw.graph
    pos = report.graph_positions(g)
    by_level: dict[str, set[float]] = {}
    for n, (x, _) in pos.items():
        by_level.setdefault(g.nodes[n]["level"], set()).add(round(x, 9))
    assert all(len(xs) == 1 for xs in by_level.values())
    assert len({next(iter(xs)) for xs in by_level.values()}) == len(by_level)
    assert report.graph_positions(g) == pos


def test_timeline_has_one_row_per_household_and_one_bar_per_visit(paper_run: api.Run) -> None:
    ev, j = paper_run.events, paper_run.journeys
    fig = report.timeline(ev, j, n=12, seed=3)
    ids = report.sample_households(j, 12, 3)
    assert len(ids) == 12
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == ev[ev["household_id"].isin(ids)
                                             & ev["activity"].isin(VISIT_ACTIVITIES)].shape[0]
    rows = set()
    for t in bars:
        rows |= set(t.y)
    assert len(rows) == len(ids) == len(fig.layout.yaxis.categoryarray)
    # Every outcome that occurred is in the sample.
    shown = {t.name.removeprefix("ended: ").replace(" ", "_") for t in fig.data
             if t.type == "scatter" and t.name and t.name.startswith("ended: ")}
    assert shown == set(j["outcome"].astype(str).unique())


def test_refusal_reasons_tell_denial_from_deflection() -> None:
    deflect = api.run(from_dict(paper_city(200)), seed=1)
    deny_city = paper_city(200)
    deny_city["city"]["regime"] = "deny"
    deny = api.run(from_dict(deny_city), seed=1)
    t_deflect = report.reason_table(deflect.events)
    t_deny = report.reason_table(deny.events)
    assert "hukou" not in t_deflect.columns or t_deflect["hukou"].sum() == 0
    assert t_deny["hukou"].sum() > 0
    fig = report.refusal_reasons(deny.events)
    n = int((deny.events["activity"] == "refuse").sum())
    k = int(((deny.events["activity"] == "refuse") & (deny.events["reason"] == "hukou")).sum())
    assert f"{k} of {n} refusals" in fig.layout.title.text


def test_report_is_the_same_for_the_same_run(paper_run: api.Run, tmp_path: Path) -> None:
    r = paper_run
    report.write_report(r.events, r.journeys, r.raw.graph, r.summary, tmp_path / "a.html")
    report.write_report(r.events, r.journeys, r.raw.graph, r.summary, tmp_path / "b.html")
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_the_summary_table_shows_migrants_apart_and_money_in_whole_yuan() -> None:
    summary = {"households": 10, "requests": 20, "served_share": 0.5,
               "city_cost_saved": 8104200.0,
               "migrants": {"requests": 8, "served_share": 0.125, "city_cost_saved": 8104200.0}}
    table = report._summary_table(summary)
    assert "<th>migrants&#x27; requests</th>" in table or "<th>migrants' requests</th>" in table
    assert "<td>50.0%</td><td>12.5%</td>" in table
    assert "8,104,200<" in table and "8,104,200.00" not in table
    assert "migrants" not in report._summary_table({"requests": 3, "served_share": 1.0})
    big = report._summary_table({"households": 2000, "requests": 2557})
    assert "<td>2,000</td>" in big and "<td>2,557</td>" in big  # counts grouped like money
