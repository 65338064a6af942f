"""Service withdrawal (mechanism 8): a migrant school closed after a notice period."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from offices import mechanisms

NOTICE = 40.0


def minban_city(households: int = 200, arrivals_end: float = 30.0) -> dict[str, Any]:
    """A full public school: migrants end up in a private migrant school (minban)."""
    return {
        "city": {"name": "fengtai", "horizon": 450.0},
        "offices": [
            {"name": "public_school", "kind": "school", "sector": "education", "seats": 0},
            {"name": "minban", "kind": "private_school", "level": "private",
             "role": "alternative"},
            {"name": "other_minban", "kind": "private_school", "level": "private",
             "role": "alternative", "seats": 1000},
            {"name": "home", "kind": "hometown", "level": "hometown", "role": "sent_away"},
        ],
        "services": {"school": {"entry": "public_school", "fallback": ["minban", "home"]}},
        "population": {
            "households": households,
            "arrivals": {"start": 0.0, "end": arrivals_end},
            "days_between_visits": {"dist": "constant", "value": 1.0},
            "groups": [{"name": "migrant", "share": 1.0, "attributes": {"home_ties": 1.0}}],
        },
    }


def run(data: dict[str, Any], seed: int = 0, **closing: Any) -> api.Run:
    if closing:
        data = {**data, "mechanisms": {"withdrawal": {"offices": ["minban"],
                                                       "notice": NOTICE, **closing}}}
    return api.run(from_dict(data), seed=seed)


def displacements(ev: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows that came after the household had been placed at the minban."""
    ends = ev[ev["outcome"].astype(str) != ""]
    return ends[ends.duplicated("case_id", keep="first")]


def test_without_the_mechanism_nobody_is_displaced() -> None:
    result = run(minban_city())
    assert (result.journeys["outcome"] == "alternative").all()
    assert displacements(result.events).empty


def test_a_notice_period_makes_departures_happen_before_the_closure() -> None:
    closure = NOTICE + 365.0
    noticed = displacements(run(minban_city(), leave=0.8, notice_days=365.0).events)
    sudden = displacements(run(minban_city(), leave=0.8, notice_days=0.0).events)
    # Everyone placed at the minban is displaced in both cases ...
    assert len(noticed) == len(sudden) == 200
    # ... but with a year's notice most leave early, between the notice and the closure,
    early = noticed[noticed["time"] < closure]
    assert 0.7 < len(early) / len(noticed) < 0.9
    assert (early["time"] >= NOTICE).all()
    # while without notice every departure happens on the closure day.
    assert (sudden["time"] == NOTICE).all()
    assert set(noticed["reason"].astype(str)) == {"closure"}
    assert set(noticed["activity"].astype(str)) == {"sent_away"}


def test_cutting_utilities_pushes_holdouts_out_before_the_closure() -> None:
    closure = NOTICE + 365.0
    plain = displacements(run(minban_city(), leave=0.5).events)
    cut = displacements(run(minban_city(), leave=0.5, utilities_cut=60.0,
                            utilities_push=0.9).events)
    at_closure_plain = int((plain["time"] >= closure).sum())
    at_closure_cut = int((cut["time"] >= closure).sum())
    assert at_closure_plain > 50
    assert at_closure_cut < at_closure_plain / 3
    pushed = cut[(cut["time"] >= closure - 60.0) & (cut["time"] < closure)]
    assert len(pushed) > 0.5 * at_closure_plain


def test_movers_end_at_another_alternative() -> None:
    result = run(minban_city(), move=1.0, alternatives=["other_minban"])
    j = result.journeys
    assert (j["outcome"] == "alternative").all()
    assert (j["last_office"] == "other_minban").all()
    # Holdouts with no other school to go to are forced out at the closure instead.
    forced = run(minban_city(), leave=0.0).journeys
    assert (forced["outcome"] == "sent_away").all()
    assert set(forced["last_reason"].astype(str)) == {"closure"}


def test_the_closed_school_refuses_newcomers_on_closure() -> None:
    result = run(minban_city(arrivals_end=80.0), leave=1.0)
    ev, j = result.events, result.journeys
    at_minban = ev[(ev["office"] == "minban") & ev["activity"].isin(["serve", "refuse"])]
    after = at_minban[at_minban["start"] >= NOTICE]
    before = at_minban[at_minban["start"] < NOTICE]
    assert len(after) > 20 and len(before) > 20
    assert set(after["activity"].astype(str)) == {"refuse"}
    assert set(after["reason"].astype(str)) == {"closure"}
    assert set(before["activity"].astype(str)) == {"serve"}
    # Refused at the minban, they go home; nobody is served there after the notice.
    late = j[j["start"] >= NOTICE]
    assert (late["outcome"] == "sent_away").all()


def test_bad_tables_are_refused() -> None:
    base = minban_city()
    for table, key in (({"offices": ["nowhere"]}, "mechanisms.withdrawal.offices.0"),
                       ({"offices": ["minban"], "leave": 0.7, "move": 0.5},
                        "mechanisms.withdrawal"),
                       ({"offices": ["minban"], "notice_period": 1},
                        "mechanisms.withdrawal.notice_period")):
        with pytest.raises(ScenarioError, match=key):
            mechanisms(from_dict({**base, "mechanisms": {"withdrawal": table}}))
