"""sweep.html read by a person: a summary, navigation, one figure with menus, readable
names, percentages, and bands that stay within what each measure can take."""

from __future__ import annotations

import json
import re

import pytest

from maze.app import sweep as sw
from maze.app import sweep_page as page_
from tests.test_sweep import SEATS, experiment_file

DAYS = "population.days_between_visits.mean"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("sweep_page")
    path = experiment_file(folder, households=150, replications=3,
                           grid=f'"{DAYS}" = [1.0, 4.0, 8.0]\n"{SEATS}" = [60, 600]')
    result = sw.sweep(path, folder / "out", executor="serial")
    return result, (folder / "out" / "sweep.html").read_text(encoding="utf-8")


def test_the_page_opens_with_a_summary_and_navigation(swept) -> None:
    result, page = swept
    assert re.search(r'<nav>.*href="#summary".*href="#figures".*href="#means"', page, re.S)
    summary = page[page.index('id="summary"'):page.index('id="figures"')]
    assert "served in the city (%)" in summary and "lowest" in summary
    assert "days between visits: mean = " in summary  # where the extremes were
    # One figure, drawn from menus, instead of one per measure, grouping and setting.
    assert page.count('<div id="figure">') == 1
    assert 'id="measure"' in page and 'id="by"' in page and 'id="setting"' in page
    n_settings = result.runs[SEATS].nunique()
    assert page.count("<option") == (len(page_._plotted(result)) + len(result.experiment.by)
                                      + n_settings)
    means = page[page.index('id="means"'):]
    assert means.count("<tr>") == 1 + len(result.runs[[DAYS, SEATS]].drop_duplicates())


def test_names_are_readable_and_shares_are_percentages(swept) -> None:
    result, page = swept
    assert "population.days_between_visits.mean</code>" in page  # the key, once, for reference
    assert page_.lever_label(DAYS) == "days between visits: mean"
    assert page_.lever_label("mechanisms.referral_loop.rounds") == "referral loop: rounds"
    assert page_.measure_label("served_share") == "served in the city (%)"
    for _, figs in page_.figures(result):
        for measure, fig in figs:
            axis = fig["layout"]["yaxis"]
            assert "_" not in axis["title"]["text"], axis["title"]["text"]
            assert "_" not in fig["layout"]["xaxis"]["title"]["text"]
            if measure.endswith("_share"):
                assert axis["tickformat"] == ".0%" and axis["range"] == [0, 1.02]
                assert all("%{y:.1%}" in t["hovertemplate"] for t in fig["data"]
                           if "hovertemplate" in t)


def test_bands_stay_within_what_a_measure_can_take(swept) -> None:
    result, _ = swept
    seen_band = False
    for _, figs in page_.figures(result):
        for measure, fig in figs:
            for trace in fig["data"]:
                if trace.get("fill") == "toself":
                    seen_band = True
                    ys = [y for y in trace["y"] if y is not None]
                    assert min(ys) >= 0, measure
                    if measure.endswith("_share"):
                        assert max(ys) <= 1, measure
    assert seen_band


def test_no_name_twice_in_a_legend(swept) -> None:
    result, _ = swept
    for title, figs in page_.figures(result):
        for measure, fig in figs:
            shown = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
            assert len(shown) == len(set(shown)), (title, measure, shown)
            assert page_.ALL in shown


def test_the_embedded_figures_are_json_that_cannot_close_the_script(swept) -> None:
    result, page = swept
    body = re.search(r'<script type="application/json" id="sweep-data">(.*?)</script>', page,
                     re.S).group(1)
    assert "<" not in body and ">" not in body
    data = json.loads(body)
    assert len(data["figures"]) == len(result.experiment.by) * data["settings"]
