"""Referral loops: school -> street office -> school [Chan & O'Brien 2019: Within the City]."""

from __future__ import annotations

import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from tests.school_city import run, school_city, with_mechanism

LOOP = {"service": "school", "offices": ["school", "street_office"]}


def _migrants(j):  # noqa: ANN001, ANN202
    return j[j["hukou"] != "local"]


def test_a_loop_raises_visits_loops_and_time_to_service() -> None:
    city = school_city(deadline=None)
    off_j = _migrants(run(city).journeys)
    on_j = _migrants(run(with_mechanism(city, "referral_loop", {**LOOP, "rounds": 2})).journeys)
    assert (off_j["outcome"] == "served").all() and (on_j["outcome"] == "served").all()
    # Two rounds: four more visits (street office, school, street office, school).
    assert (on_j["visits"] - off_j["visits"].to_numpy() == 4).all()
    assert on_j["loops"].mean() > off_j["loops"].mean() + 3
    assert on_j["referrals"].mean() > off_j["referrals"].mean() + 3
    assert on_j["days_to_outcome"].median() > off_j["days_to_outcome"].median() + 4


def test_the_school_year_starts_while_the_household_circles() -> None:
    # The deadline is the start of the school year [Chan & O'Brien 2019: Within the City]; arrivals
    # end at day 40.
    city = school_city(deadline=50.0)
    off_run = run(city)
    on_run = run(with_mechanism(city, "referral_loop", {**LOOP, "rounds": 3}))
    off_j, on_j = _migrants(off_run.journeys), _migrants(on_run.journeys)
    assert on_j["missed_deadline"].mean() > off_j["missed_deadline"].mean() + 0.2
    assert (on_j["outcome"] == "served").mean() < (off_j["outcome"] == "served").mean() - 0.2
    # Neutral reasons only: documents on the way round, deadline at the end.
    ev = on_run.events
    reasons = set(ev[ev["activity"].isin(["refer", "refuse"])]["reason"].astype(str))
    assert reasons == {"documents", "deadline"}
    assert not on_run.journeys["explicit_refusal"].any()
    # Locals are not sent round.
    loc = on_run.journeys[on_run.journeys["hukou"] == "local"]
    assert (loc["outcome"] == "served").all() and (loc["visits"] == 1).all()


def test_a_repeat_probability_sends_some_round_again() -> None:
    city = school_city(deadline=None)
    fixed = _migrants(run(with_mechanism(city, "referral_loop", {**LOOP})).journeys)
    repeat = _migrants(run(with_mechanism(city, "referral_loop", {
        **LOOP, "repeat_probability": 0.5, "max_rounds": 10})).journeys)
    extra = (repeat["visits"] - fixed["visits"].to_numpy()) / 2   # rounds beyond the first
    assert (extra >= 0).all() and (extra <= 9).all()
    # Geometric with p = 0.5: mean about 1 extra round (210 households).
    assert 0.7 < extra.mean() < 1.3
    assert (extra == 0).mean() == pytest.approx(0.5, abs=0.12)


def test_a_loop_through_three_offices() -> None:
    city = school_city(deadline=None)
    on = run(with_mechanism(city, "referral_loop", {
        "service": "school", "offices": ["school", "street_office", "hr_bureau"]}))
    ev = on.events
    one = ev[(ev["case_id"] == _migrants(on.journeys)["case_id"].iloc[0])]
    refers = one[one["activity"] == "refer"]
    assert list(refers["target"].astype(str)) == ["street_office", "hr_bureau", "school"]


@pytest.mark.parametrize("table, key", [
    ({"service": "school", "offices": ["street_office", "school"]},
     "mechanisms.referral_loop.offices"),
    ({"service": "school", "offices": ["school", "nowhere"]}, "mechanisms.referral_loop.offices"),
    ({"service": "school", "offices": ["school"]}, "mechanisms.referral_loop.offices"),
    ({**LOOP, "repeat_probability": 1.0}, "mechanisms.referral_loop.repeat_probability"),
    ({**LOOP, "reason": "bad luck"}, "mechanisms.referral_loop.reason"),
])
def test_bad_loops_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(with_mechanism(school_city(), "referral_loop", table)))
    assert key in str(err.value)
