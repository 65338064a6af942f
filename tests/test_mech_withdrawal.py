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


def displacements(ev: pd.DataFrame, office: str = "minban") -> pd.DataFrame:
    """Outcome rows of the cases the closure opened (they start at the closed school)."""
    opened = ev[(ev["activity"] == "request") & (ev["office"] == office)]["case_id"]
    ends = ev[(ev["outcome"].astype(str) != "") & ev["case_id"].isin(opened)]
    return ends[ends["outcome"] != "pending"]


def one_outcome_per_case(ev: pd.DataFrame) -> bool:
    ends = ev[ev["outcome"].astype(str) != ""]
    return bool(ends["case_id"].is_unique) and set(ends["case_id"]) == set(ev["case_id"])


def test_without_the_mechanism_nobody_is_displaced() -> None:
    result = run(minban_city())
    assert (result.journeys["outcome"] == "alternative").all()
    assert displacements(result.events).empty
    assert len(result.journeys) == 200


def test_a_notice_period_makes_departures_happen_before_the_closure() -> None:
    closure = NOTICE + 365.0
    noticed_run = run(minban_city(), leave=0.8, notice_days=365.0)
    noticed = displacements(noticed_run.events)
    sudden = displacements(run(minban_city(), leave=0.8, notice_days=0.0).events)
    # The place each household had stays its outcome; the closure opens a new case.
    j = noticed_run.journeys
    assert int((j["outcome"] == "alternative").sum()) == 200
    assert one_outcome_per_case(noticed_run.events)
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
    # Each new case starts with the notice: a refusal on "closure" at the minban.
    told = noticed_run.events[(noticed_run.events["office"] == "minban")
                              & (noticed_run.events["activity"] == "refuse")]
    assert len(told) == 200 and (told["time"] == NOTICE).all()


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
    assert int((j["last_office"] == "other_minban").sum()) == 200
    assert one_outcome_per_case(result.events)
    # Holdouts with no other school to go to are forced out at the closure instead.
    forced = run(minban_city(), leave=0.0).journeys
    opened = forced[forced["start"] == NOTICE]
    assert len(opened) == 200 and (opened["outcome"] == "sent_away").all()
    assert set(opened["last_reason"].astype(str)) == {"closure"}
    assert (opened["end"] == NOTICE + 365.0).all()


def test_a_closure_beyond_the_horizon_leaves_holdouts_pending() -> None:
    data = minban_city()
    data["city"]["horizon"] = 200.0
    result = run(data, leave=0.5)
    opened = result.journeys[result.journeys["start"] == NOTICE]
    assert len(opened) == 200
    assert set(opened["outcome"].astype(str)) == {"sent_away", "pending"}
    assert 0.3 < float((opened["outcome"] == "pending").mean()) < 0.7


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
    late = j[j["start"] > NOTICE]
    assert len(late) > 20 and (late["outcome"] == "sent_away").all()


def test_bad_tables_are_refused() -> None:
    base = minban_city()
    for table, key in (({"offices": ["nowhere"]}, "mechanisms.withdrawal.offices.0"),
                       ({"offices": ["minban"], "leave": 0.7, "move": 0.5},
                        "mechanisms.withdrawal"),
                       ({"offices": ["minban"], "notice_period": 1},
                        "mechanisms.withdrawal.notice_period")):
        with pytest.raises(ScenarioError, match=key):
            mechanisms(from_dict({**base, "mechanisms": {"withdrawal": table}}))


def test_the_fengtai_table_in_the_beijing_preset() -> None:
    # Switched on in the preset, families leave before the demolition; off, nobody moves.
    base = {"population.households": 400}
    off = api.run(api.load(preset="beijing", overrides={
        **base, "mechanisms.withdrawal.enabled": False}), seed=1)
    assert displacements(off.events, "minban_school").empty
    on = api.run(api.load(preset="beijing", overrides=base), seed=1)
    moved = displacements(on.events, "minban_school")
    assert len(moved) > 10
    assert (moved["time"] < 120.0 + 365.0).all() and (moved["time"] >= 120.0).all()
    assert one_outcome_per_case(on.events)
