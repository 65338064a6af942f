"""Time over years and dated rules: end dates, yearly calendars and deadlines, values that
change on a date (validated with the file, key and date; applied on the day of the visit;
recorded in the event log), and the same tables twice on a multi-year run."""

from __future__ import annotations

import copy
import io
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy

import offices
from maze import measures
from maze import scenario as sc
from maze.app import api
from maze.calendar import OpeningCalendar, YearlyDeadline, occurrences
from maze.counter import Counter
from maze.eventlog import OUTCOMES
from maze.scenario import Calendar, ScenarioError, from_dict
from maze.world import World
from tests.conftest import queue_city
from tests.school_city import school_city
from tests.test_event_log_invariants import check_event_log


def _school_years(households: int = 200) -> dict[str, Any]:
    """The small school city over three school years, with a yearly deadline."""
    data = school_city(households)
    data["city"] = {"name": "years", "start_date": "2016-06-01", "end_date": "2019-05-31"}
    data["services"]["school"]["deadline"] = "09-01"
    data["population"]["arrivals"] = {"start": 0.0, "end": 1000.0}
    return data


# -- the clock -------------------------------------------------------------------------------

def test_end_date_gives_the_horizon_end_day_included():
    data = queue_city()
    data["city"] = {"start_date": "2010-01-01", "end_date": "2020-12-31"}
    s = from_dict(data)
    assert s.city.horizon == (date(2020, 12, 31) - date(2010, 1, 1)).days + 1 == 4018


def test_end_date_and_a_different_horizon_are_refused():
    data = queue_city()
    data["city"] = {"start_date": "2010-01-01", "end_date": "2010-12-31", "horizon": 100.0}
    with pytest.raises(ScenarioError, match=r"^x\.toml: city\.horizon: give horizon or end_date"):
        from_dict(data, "x.toml")


def test_yearly_closure_repeats_every_year_and_wraps_the_new_year():
    cal = OpeningCalendar(Calendar(closures=(("10-01", "10-08"), ("12-30", "01-02"))),
                          date(2016, 6, 1), horizon=3 * 366)
    for year in (2016, 2017, 2018):
        oct1 = (date(year, 10, 1) - date(2016, 6, 1)).days
        assert not cal.is_open(oct1 + 0.5) and not cal.is_open(oct1 + 6.9)
        assert cal.is_open(oct1 + 7.0)
        assert cal.next_open(oct1 + 0.5) == oct1 + 7.0
        dec30 = (date(year, 12, 30) - date(2016, 6, 1)).days
        assert not cal.is_open(dec30 + 2.5) and cal.is_open(dec30 + 3.0)
    assert cal.is_open(40.0)


def test_numeric_closures_keep_their_meaning():
    cal = OpeningCalendar(Calendar(closures=((122.0, 129.0),)), date(2016, 6, 1), 240.0)
    assert not cal.is_open(122.0) and cal.is_open(129.0) and cal.next_open(125.0) == 129.0


def test_a_request_after_the_deadline_is_judged_against_next_years():
    d = YearlyDeadline("09-01", None, date(2016, 6, 1), 3 * 365)
    sep1_2016, sep1_2017 = 92.0, 92.0 + 365
    assert occurrences("09-01", date(2016, 6, 1), 3 * 365)[1:3] == [sep1_2016, sep1_2017]
    # Asked in August 2016, papers ready on 2 September: too late for 2016.
    assert d.too_late(requested=70.0, now=sep1_2016 + 1)
    # Asked on 2 September 2016: its deadline is 1 September 2017.
    assert d.due(sep1_2016 + 1) == sep1_2017
    assert not d.too_late(requested=sep1_2016 + 1, now=sep1_2016 + 30)
    assert d.too_late(requested=sep1_2016 + 1, now=sep1_2017 + 1)
    # A one-off deadline stays one day: after it, always too late.
    once = YearlyDeadline(92.0, None, date(2016, 6, 1), 3 * 365)
    assert once.too_late(requested=200.0, now=201.0)


def test_too_late_this_year_is_served_next_year_when_applications_open():
    """Told in October 2016 to come back: served in June 2017, before its deadline."""
    data = school_city(1, groups=[{"name": "migrant", "share": 1.0, "attributes": {
        "lease_own": True, "contract": True, "residence_permit": True,
        "patience_days": 400.0}}])
    data["city"] = {"start_date": "2016-06-01", "end_date": "2018-05-31"}
    data["services"]["school"].update(deadline="09-01", opens="06-01")
    data["population"]["arrivals"] = {"start": 122.0, "end": 122.0}  # 1 October 2016
    ev = api.run(from_dict(data), 0).events
    told = ev[(ev["office"] == "school") & (ev["activity"] == "retry")]
    assert list(told["reason"]) == ["deadline"]
    opens_2017 = (date(2017, 6, 1) - date(2016, 6, 1)).days
    served = ev[ev["activity"] == "served"]
    assert len(served) == 1
    assert opens_2017 <= served["time"].iloc[0] <= opens_2017 + 92


# -- dated values: validation ----------------------------------------------------------------

def test_dated_value_error_names_file_key_and_date():
    data = _school_years()
    data["offices"][0]["clerks"] = {"2016-06-01": 2, "2017-09-01": 0}
    with pytest.raises(ScenarioError) as err:
        from_dict(data, "city.toml")
    assert str(err.value).startswith("city.toml: offices.school.clerks.2017-09-01: ")
    assert "greater than or equal to 1" in str(err.value)


def test_dated_value_with_nothing_in_force_at_the_start_is_refused():
    data = _school_years()
    data["offices"][0]["clerks"] = {"2017-09-01": 3}
    with pytest.raises(ScenarioError, match=r"offices\.school\.clerks: no value in force on "
                                            r"2016-06-01; the first is dated 2017-09-01"):
        from_dict(data, "city.toml")


def test_dated_values_after_the_horizon_are_still_checked():
    data = _school_years()
    data["services"]["school"]["city_cost"] = {"2016-06-01": 100.0, "2030-01-01": -5.0}
    with pytest.raises(ScenarioError, match=r"services\.school\.city_cost\.2030-01-01"):
        from_dict(data, "city.toml")


def test_dated_mechanism_table_error_names_the_date():
    data = _school_years()
    data["mechanisms"] = {"class_cap": {"office": "school", "classes": 2,
                                        "cap": {"2016-06-01": 30, "2018-09-01": 0}}}
    s = from_dict(data, "city.toml")  # the scenario layer leaves mechanism tables alone
    with pytest.raises(ScenarioError, match=r"^city\.toml: mechanisms\.class_cap\.cap\."
                                            r"2018-09-01: .*in the rules in force on 2018-09-01"):
        offices.configs(s, "city.toml")


def test_population_cannot_be_dated():
    data = _school_years()
    data["population"]["households"] = {"2016-06-01": 10, "2017-06-01": 20}
    with pytest.raises(ScenarioError, match="population.households: cannot change with the"):
        from_dict(data, "city.toml")


def test_dated_scenario_round_trips_through_its_json_and_overrides():
    data = _school_years()
    data["offices"][0]["clerks"] = {"2016-06-01": 1, "2017-09-01": 3}
    s = from_dict(data)
    dumped = s.model_dump(mode="json", by_alias=True)
    assert dumped["offices"][0]["clerks"] == {"2016-06-01": 1, "2017-09-01": 3}
    again = from_dict(dumped)
    assert [(v.day, v.scenario.offices[0].clerks) for v in again.versions] == [
        (0.0, 1), (457.0, 3)]
    changed = sc.override(s, {"offices.school.seats": 50})
    assert changed.offices[0].seats == 50 and len(changed.versions) == 2
    plain = sc.override(s, {"offices.school.clerks": 2})
    assert len(plain.versions) == 1 and plain.offices[0].clerks == 2


def test_one_version_when_nothing_is_dated():
    s = from_dict(school_city(10))
    assert len(s.versions) == 1 and s.versions[0].scenario is s and not s.dated


# -- dated values: applied on the day --------------------------------------------------------

def test_counter_resize_hands_new_clerks_to_the_line_and_lets_busy_ones_finish():
    env = simpy.Environment()
    c = Counter(env, 1)
    assert c.seize() is None
    waiting = [c.seize() for _ in range(3)]
    c.resize(3)  # two more clerks: the first two in line are served at once
    assert [w.triggered for w in waiting] == [True, True, False]
    assert c.count == 3 and c.free == 0
    c.resize(1)  # two let go: they leave when they are done
    c.release()
    c.release()
    assert not waiting[2].triggered and c.count == 1
    c.release()
    assert waiting[2].triggered


def test_clerks_changing_on_a_date_change_the_counter_that_day():
    data = queue_city(rate=2.0, mean_service=1.0, clerks=1, horizon=120.0)
    data["city"]["start_date"] = "2016-01-01"
    data["offices"][0]["clerks"] = {"2016-01-01": 3, "2016-03-01": 1}
    s = from_dict(data)
    world = World(s, 0, offices.mechanisms)
    seen = []

    def watch():
        for day in (59.5, 60.5):
            yield world.env.timeout(day - world.env.now)
            seen.append(world.stations["counter"].counter.capacity)

    world.env.process(watch())
    ev = world.run().events
    assert seen == [3, 1]
    visits = ev[ev["activity"] == "serve"]
    before = visits[visits["time"] < 60]["wait"].mean()
    after = visits[visits["time"] > 70]["wait"].mean()
    assert before < 1.0 < after  # 3 clerks keep up with 2 a day; 1 clerk does not
    # The event log says which rules each row was decided under.
    label = ev["rules_from"].astype(str).to_numpy()
    assert set(label[ev["time"].to_numpy() < 60]) == {"2016-01-01"}
    assert set(label[ev["time"].to_numpy() >= 60]) == {"2016-03-01"}


def test_a_mechanism_switched_on_from_a_date_applies_from_that_day():
    """Extra documents from 1 September 2017: the same households, before and after."""
    data = _school_years(400)
    data["mechanisms"] = {"extra_documents": {
        "enabled": {"2016-06-01": False, "2017-09-01": True},
        "additions": [{"service": "school", "documents": ["insurance_proof"]}]}}
    ev = api.run(from_dict(data), 0).events
    change = float((date(2017, 9, 1) - date(2016, 6, 1)).days)
    asked = ev[(ev["activity"] == "require")
               & ev["document"].astype(str).str.contains("insurance_proof")]
    assert len(asked) > 0 and asked["time"].min() >= change
    assert set(asked["rules_from"].astype(str)) == {"2017-09-01"}


def test_a_class_cap_cut_on_a_date_keeps_pupils_seated_and_refuses_after():
    data = _school_years(600)
    data["offices"][0].update(seats=200, intake="09-01")
    data["mechanisms"] = {"class_cap": {"office": "school", "classes": 4, "held": 50,
                                        "locals_first": False,
                                        "cap": {"2016-06-01": 50, "2017-09-01": 10}}}
    s = from_dict(data)
    run = api.run(s, 0)
    j, ev = run.journeys, run.events
    change = float((date(2017, 9, 1) - date(2016, 6, 1)).days)
    served = j[(j["outcome"] == "served")]
    first_year = served[served["end"] < 92]
    after_cut = served[(served["end"] >= change) & (served["end"] < change + 365)]
    # 40 seats a year after the cut (4 classes of 10), fewer than before it.
    assert len(after_cut) <= 40 < len(first_year)
    refused = ev[(ev["activity"] == "refuse") & (ev["reason"] == "capacity")]
    t = refused["time"]
    assert ((t >= change) & (t < change + 365)).sum() > ((t >= change - 365) & (t < change)).sum()


# -- a multi-year run: invariants and determinism --------------------------------------------

def _three_years_beijing() -> sc.Scenario:
    s = api.load(preset="beijing", overrides={"population.households": 300})
    data = s.model_dump(mode="json", by_alias=True)
    data["city"] = {**data["city"], "start_date": "2016-06-01", "end_date": "2019-05-31"}
    del data["city"]["horizon"]
    data["services"]["school"]["deadline"] = "09-01"
    data["population"]["arrivals"] = {"start": 0.0, "end": 1000.0}
    for o in data["offices"]:
        if o["calendar"]["closures"]:
            o["calendar"]["closures"] = [["10-01", "10-08"]]
    data["mechanisms"]["class_cap"]["cap"] = {"2016-06-01": 60, "2017-09-01": 30}
    data["mechanisms"]["extra_documents"]["enabled"] = {"2016-06-01": False,
                                                        "2018-09-01": True}
    return from_dict(data, "three years of Beijing")


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def test_multi_year_run_keeps_the_event_log_invariants(tmp_path):
    s = _three_years_beijing()
    assert [v.since.isoformat() for v in s.versions] == ["2016-06-01", "2017-09-01",
                                                          "2018-09-01"]
    folder = api.write(api.run(s, 0), tmp_path / "run", report=False)
    ev = pd.read_parquet(folder / "events.parquet")
    j = pd.read_parquet(folder / "journeys.parquet")
    check_event_log(ev, j, s.city.horizon)
    assert set(ev["rules_from"].astype(str)) == {"2016-06-01", "2017-09-01", "2018-09-01"}
    # The stored scenario runs the same again, dated values and all.
    again = sc.load(folder / "scenario.json")
    assert again.model_dump(mode="json") == s.model_dump(mode="json")


def test_multi_year_run_gives_the_same_tables_twice():
    s = _three_years_beijing()
    a, b = api.run(s, 3), api.run(copy.deepcopy(s), 3)
    assert _parquet(a.events) == _parquet(b.events)
    assert _parquet(a.journeys) == _parquet(b.journeys)
    assert np.isfinite(a.journeys["start"]).all()


# -- measures over years ---------------------------------------------------------------------

def test_years_table_counts_every_request_once_in_its_calendar_year():
    s = _three_years_beijing()
    run = api.run(s, 0)
    y = measures.years(run.journeys, s)
    assert list(y.columns[:4]) == ["year", "group", "hukou", "service"]
    assert int(y["requests"].sum()) == len(run.journeys)
    shares = y[[f"{o}_share" for o in OUTCOMES]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    made = pd.Timestamp("2016-06-01") + pd.to_timedelta(run.journeys["start"], unit="D")
    per_year = made.dt.year.value_counts().sort_index()
    assert y.groupby("year")["requests"].sum().to_dict() == per_year.to_dict()
    by_year = run.summary["by_year"]
    assert sorted(by_year) == ["2016", "2017", "2018", "2019"]
    assert by_year["2017"]["rule_changes"] == ["2017-09-01"]
    assert sum(b["requests"] for b in by_year.values()) == len(run.journeys)


def test_yearly_arrival_window_brings_households_every_summer():
    data = _school_years(3000)
    data["population"]["arrivals"] = {"start": "06-01", "end": "08-20"}
    s = from_dict(data)
    hh = api.run(s, 0).raw.households
    when = pd.Timestamp("2016-06-01") + pd.to_timedelta(hh["arrival"], unit="D")
    assert when.dt.month.isin([6, 7, 8]).all()
    assert ((when.dt.month == 8) & (when.dt.day >= 20)).sum() == 0
    counts = when.dt.year.value_counts()
    assert sorted(counts.index) == [2016, 2017, 2018]
    assert counts.min() > 900  # about a third each


def test_yearly_arrival_window_needs_month_days_at_both_ends():
    data = _school_years()
    data["population"]["arrivals"] = {"start": "06-01", "end": 80.0}
    with pytest.raises(ScenarioError, match="population.arrivals: a yearly arrival window"):
        from_dict(data, "x.toml")


def _migrant_shares(y: pd.DataFrame, service: str, outcome: str) -> pd.Series:
    m = y[(y["hukou"] == "migrant") & (y["service"] == service)]
    total = m.groupby("year")["requests"].sum()
    return (m[f"{outcome}_share"] * m["requests"]).groupby(m["year"]).sum() / total


def test_beijing_history_shows_the_closure_and_the_hukou_draft_as_steps():
    s = api.load(preset="beijing_history", overrides={
        "population.households": 800, "lives.in_migration": 800})
    assert [v.since.isoformat() for v in s.versions] == [
        "2010-01-01", "2012-09-01", "2012-12-01", "2015-09-01", "2015-12-10", "2017-01-01"]
    run = api.run(s, 0)
    y = measures.years(run.journeys, s)
    # Households persist ([lives]): children are followed over the years, pass a stage
    # and apply again, and insurance held is renewed.
    children = run.raw.children
    assert children is not None and children["year"].nunique() >= 10
    assert (children.groupby("child_id")["stage"].nunique() > 1).any()
    assert run.summary["renewals"]["health_insurance"]["renewals"] > 0
    # The migrant school is demolished a year after its notice (October 2012): the private
    # alternative is there in 2010 and gone from 2013.
    alternative = _migrant_shares(y, "school", "alternative")
    assert alternative[2010] > 0.2 and (alternative.loc[2013:] == 0).all()
    # The December 2015 draft rules (seven years of insurance, under 45) cut hukou
    # transfers: the years after are below every year before.
    hukou = _migrant_shares(y, "hukou_transfer", "served")
    assert hukou.loc[2017:2020].max() < hukou.loc[2010:2015].min()


def test_report_gets_a_year_axis_for_runs_over_years(tmp_path):
    from maze.report import figures

    s = _three_years_beijing()
    run = api.run(s, 0)
    y = measures.years(run.journeys, s)
    keys = [f.key for f in figures(run.events, run.journeys, run.raw.graph, years=y,
                                   changes=["2017-09-01"])]
    assert keys[-2:] == ["years-served", "years-outcomes"]
    outcomes = figures(run.events, run.journeys, run.raw.graph, years=y)[-1].figure
    steps = outcomes.layout.sliders[0].steps
    assert [st.label for st in steps] == ["2016", "2017", "2018", "2019"]
    # Each step shows that year's bars and nothing else.
    for st in steps:
        shown = [t.meta for t, v in zip(outcomes.data, st.args[0]["visible"], strict=True) if v]
        assert shown and set(shown) == {int(st.label)}
    one_year = y[y["year"] == 2016]
    assert figures(run.events, run.journeys, run.raw.graph, years=one_year)[-1].key == "reasons"


def test_overriding_the_end_date_or_the_horizon_replaces_the_other():
    s = api.load(preset="beijing", overrides={"city.end_date": "2018-05-31",
                                              "services.school.deadline": "09-01"})
    assert s.city.horizon == (date(2018, 5, 31) - date(2016, 6, 1)).days + 1
    back = sc.override(s, {"city.horizon": 100.0})
    assert back.city.horizon == 100.0 and back.city.end_date is None
