"""A dormant class-size cap enforced: fewer migrants admitted, locals untouched.

[Chan & O'Brien 2019: Away from the City]
"""

from __future__ import annotations

import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from tests.school_city import run, school_city, served_share, with_mechanism

#: Five classes of 60 while the rule sleeps (55-65 [Chan & O'Brien 2019: Away from the City]), 30
#: once enforced (Beijing).
CAP = {"office": "school", "held": 60, "cap": 30}


def _city(groups: list[dict] | None = None) -> dict:
    city = school_city(households=300, deadline=None, groups=groups)
    city["offices"][0]["seats"] = 300
    return city


def test_an_enforced_cap_lowers_migrant_admissions_but_not_local_ones() -> None:
    city = _city()
    off_run, on_run = run(city), run(with_mechanism(city, "class_cap", CAP))
    assert served_share(off_run, "migrant") > 0.95
    assert served_share(off_run, "local") == 1.0
    assert served_share(on_run, "local") == 1.0
    # 150 seats, 90 kept for the 90 locals: 60 of 210 migrants get in.
    j = on_run.journeys
    assert (j[j["group"] == "migrant"]["outcome"] == "served").sum() == 60
    ev = on_run.events
    refused = ev[(ev["activity"] == "refuse") & (ev["office"] == "school")]
    assert set(refused["reason"].astype(str)) == {"capacity"}   # "said it was full"
    assert set(refused["group"].astype(str)) == {"migrant"}
    assert not j["explicit_refusal"].any()


def test_without_locals_first_migrants_take_seats_locals_needed() -> None:
    city = _city()
    r = run(with_mechanism(city, "class_cap", {**CAP, "locals_first": False}))
    assert served_share(r, "local") < 1.0
    assert (r.journeys["outcome"] == "served").sum() == 150


def test_the_rule_sleeps_until_its_date() -> None:
    city = _city()
    r = run(with_mechanism(city, "class_cap", {**CAP, "from_day": 20.0}))
    j = r.journeys
    mig = j[j["group"] == "migrant"]
    assert (mig[mig["end"] < 20.0]["outcome"] == "served").all()
    late = mig[mig["start"] > 20.0]
    assert len(late) > 50
    assert (late["outcome"] == "served").mean() < 0.2
    assert served_share(r, "local") == 1.0


def test_a_fee_route_lets_those_who_can_pay_in() -> None:
    groups = [
        {"name": "saver", "share": 0.35, "attributes": {
            "lease_own": True, "contract": True, "savings": 20000.0}},
        {"name": "poor", "share": 0.35, "attributes": {
            "lease_own": True, "contract": True, "savings": 1500.0}},
        {"name": "local", "share": 0.3, "hukou": "local"},
    ]
    city = _city(groups)
    capped = run(with_mechanism(city, "class_cap", CAP))
    fee = run(with_mechanism(city, "class_cap", {**CAP, "fee_route": {"fee": 3000.0}}))
    assert served_share(fee, "saver") > 0.95
    assert served_share(fee, "saver") > served_share(capped, "saver") + 0.3
    assert served_share(fee, "poor") == served_share(capped, "poor") < 0.5
    j = fee.journeys
    savers = j[(j["group"] == "saver") & (j["outcome"] == "served")]
    assert (savers["out_of_pocket"] >= 3000.0).mean() > 0.5
    ev = fee.events
    poor_refused = ev[(ev["activity"] == "refuse") & (ev["group"] == "poor")
                      & (ev["office"] == "school")]
    assert set(poor_refused["reason"].astype(str)) == {"price"}
    assert served_share(fee, "local") == 1.0


def test_a_limited_fee_route() -> None:
    city = _city()
    r = run(with_mechanism(city, "class_cap", {**CAP, "fee_route": {"fee": 1000.0,
                                                                    "seats": 25}}))
    j = r.journeys
    assert (j[j["group"] == "migrant"]["outcome"] == "served").sum() == 60 + 25


@pytest.mark.parametrize("table, key", [
    ({"office": "nowhere", "cap": 30, "classes": 3}, "mechanisms.class_cap.office"),
    ({"office": "school", "cap": 30}, "mechanisms.class_cap.classes"),
    ({"office": "school", "cap": 45, "held": 30, "classes": 2}, "mechanisms.class_cap"),
    ({"office": "school", "cap": 30, "classes": 2, "fee_route": {"fee": -5}},
     "mechanisms.class_cap.fee_route.fee"),
])
def test_bad_caps_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(with_mechanism(school_city(), "class_cap", table)))
    assert key in str(err.value)
