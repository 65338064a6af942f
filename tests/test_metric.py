"""Measures declared as data: named measures agree with the summary, expressions with
hand-computed values, and bad measures are refused before anything runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maze import metric
from maze.app import api
from maze.scenario import ScenarioError


@pytest.fixture(scope="module")
def beijing():
    scenario = api.load(preset="beijing", overrides={"population.households": 300})
    return scenario, api.run(scenario, 3)


def _value(data, beijing):
    scenario, run = beijing
    return metric.evaluate_all([metric.spec(data, scenario, source="t.toml", key="t")], run)[0]


def test_named_measures_match_the_summary(beijing):
    _, run = beijing
    for name in metric.NAMED:
        got = _value({"measure": name, "filters": {"service": "school"}}, beijing)
        want = run.summary["by_service"]["school"][name]
        assert (want is None and math.isnan(got)) or got == pytest.approx(want, abs=1e-9), name
    got = _value({"measure": "served_share", "filters": {"hukou": "migrant"}}, beijing)
    assert got == pytest.approx(run.summary["migrants"]["served_share"], abs=1e-9)


def test_expressions_and_filters_count_the_rows(beijing):
    _, run = beijing
    j = run.journeys
    rows = j[(j["service"] == "school") & (j["hukou"] == "migrant")
             & j["group"].isin(["informal_worker", "factory_worker"])]
    got = _value({"expression": 'count(outcome == "served") / count() + mean(visits)',
                  "filters": {"service": "school", "hukou": "migrant",
                              "group": ["informal_worker", "factory_worker"]}}, beijing)
    want = (rows["outcome"] == "served").mean() + rows["visits"].mean()
    assert got == pytest.approx(want)
    assert len(rows) > 20 and 0 < (rows["outcome"] == "served").mean() < 1
    h = run.raw.households
    got = _value({"expression": "share(contract and not lease_own)", "table": "households",
                  "filters": {"hukou": "migrant"}}, beijing)
    m = h[h["hukou"] == "migrant"]
    assert got == pytest.approx((m["contract"] & ~m["lease_own"]).mean())
    assert _value({"expression": "sum(city_cost_saved)", "filters": {"year": 2016}},
                  beijing) == pytest.approx(j.loc[j["start"] < 214, "city_cost_saved"].sum())
    # On households, the year is the year of arrival.
    arrived_2016 = h[(h["hukou"] == "migrant") & (h["arrival"] < 214)]
    assert len(arrived_2016) < (h["hukou"] == "migrant").sum() or h["arrival"].max() < 214
    assert _value({"expression": "share(contract)", "table": "households",
                   "filters": {"hukou": "migrant", "year": 2016}},
                  beijing) == pytest.approx(arrived_2016["contract"].mean())
    assert math.isnan(_value({"expression": "mean(visits)",
                              "filters": {"service": "hukou_transfer", "outcome": "alternative"}},
                             beijing))


@pytest.mark.parametrize("data, key, words", [
    ({"measure": "served_shar"}, "t.measure", "unknown measure 'served_shar'"),
    ({"measure": "served_share", "filters": {"service": "clinic"}}, "t.filters.service",
     "service 'clinic' matches nothing"),
    ({"measure": "served_share", "filters": {"group": "vendor"}}, "t.filters.group",
     "group 'vendor' matches nothing"),
    ({"measure": "served_share", "filters": {"group": "local", "hukou": "migrant"}},
     "t.filters", "match no group"),
    ({"measure": "served_share", "filters": {"group": "local", "service": "hukou_transfer"}},
     "t.filters.service", "ever asks for hukou_transfer"),
    ({"measure": "served_share", "filters": {"year": 1999}}, "t.filters.year",
     "year 1999 matches nothing"),
    ({"measure": "served_share", "filters": {"colour": "red"}}, "t.filters.colour",
     "cannot filter on 'colour'"),
    ({"expression": 'share(outcome == "servd")'}, "t.expression", "never 'servd'"),
    ({"expression": "share(shoe_size > 3)"}, "t.expression", "unknown column 'shoe_size'"),
    ({"expression": "visits + 1"}, "t.expression", "inside an aggregate"),
    ({"expression": '__import__("os").system("true")'}, "t.expression", "not allowed"),
    ({"expression": "mean(visits).real"}, "t.expression", "not allowed"),
    ({"expression": "share(visits)"}, "t.expression", "needs a condition"),
    ({"measure": "served_share", "expression": "count()"}, "t", "not both"),
])
def test_bad_measures_are_refused_with_file_and_key(beijing, data, key, words):
    scenario, _ = beijing
    with pytest.raises(ScenarioError) as err:
        metric.spec(data, scenario, source="targets/x.toml", key="t")
    message = str(err.value)
    assert message.startswith(f"targets/x.toml: {key}: ") and words in message
    assert "\n" not in message


def test_an_expression_is_never_evaluated_as_python(beijing, monkeypatch):
    import builtins

    def refuse(*args, **kwargs):
        raise AssertionError("eval called")
    monkeypatch.setattr(builtins, "eval", refuse)
    assert 0 <= _value({"expression": "share(visits > 2) * 100"}, beijing) <= 100
    assert np.isfinite(_value({"expression": "-median(days_to_outcome) + max(visits)"}, beijing))


def test_a_checked_measure_travels_to_other_processes(beijing):
    """Worker processes and Dask receive measures pickled; an expression's evaluator is
    rebuilt from its text and gives the same value."""
    import pickle

    scenario, run = beijing
    s = metric.spec({"expression": 'count(outcome == "served") / count() + mean(visits)',
                     "filters": {"service": "school", "hukou": "migrant"}}, scenario,
                    source="t.toml", key="t")
    again = pickle.loads(pickle.dumps(s))
    assert again.expression.text == s.expression.text and again.filters == s.filters
    assert metric.evaluate_all([again], run) == metric.evaluate_all([s], run)


def test_the_year_filter_on_households_keeps_that_year_s_arrivals_only():
    """In a city over years households arrive every summer: the year filter on the
    households table keeps those that arrived in that calendar year, and no others."""
    from datetime import timedelta

    scenario = api.load(preset="beijing_history", overrides={
        "population.households": 150, "lives.in_migration": 150,
        "city.end_date": "2012-12-31"})
    run = api.run(scenario, 0)
    h = run.raw.households
    start = scenario.city.start_date
    year = h["arrival"].map(lambda d: (start + timedelta(days=float(d))).year)
    assert set(year) >= {2010, 2011, 2012}
    for y in (2010, 2012):
        want = h.loc[(year == y) & (h["hukou"] == "migrant"), "contract"].mean()
        got = _value({"expression": "share(contract)", "table": "households",
                      "filters": {"hukou": "migrant", "year": y}}, (scenario, run))
        assert got == pytest.approx(want)
    n = {y: _value({"expression": "count()", "table": "households", "filters": {"year": y}},
                   (scenario, run)) for y in (2010, 2011, 2012)}
    assert sum(n.values()) == len(h) and min(n.values()) > 0
