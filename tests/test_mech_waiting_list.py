"""Waiting lists (mechanism 6): locals first, migrants by number, and "it was full"."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from offices import mechanisms


def school_city(households: int = 150, seats: int = 80, **groups: Any) -> dict[str, Any]:
    """One public school with too few seats for everyone; the hometown as the way out."""
    migrant_attrs = {"patience_days": 1000.0, "patience_visits": 50.0,
                     "grades": {"dist": "uniform", "low": 0.0, "high": 1.0}}
    return {
        "city": {"name": "listed", "horizon": 150.0},
        "offices": [
            {"name": "public_school", "kind": "school", "sector": "education", "clerks": 2,
             "seats": seats, "service_time": {"dist": "exponential", "mean": 0.02}},
            {"name": "home", "kind": "hometown", "level": "hometown", "role": "sent_away",
             "service_time": {"dist": "constant", "value": 0.01}},
        ],
        "services": {"school": {"entry": "public_school", "fallback": ["home"]}},
        "population": {
            "households": households,
            "arrivals": {"start": 0.0, "end": 60.0},
            "days_between_visits": {"dist": "constant", "value": 1.0},
            "groups": groups.get("groups") or [
                {"name": "local", "share": 0.4, "hukou": "local",
                 "attributes": {"patience_days": 1000.0}},
                {"name": "migrant", "share": 0.6, "attributes": migrant_attrs},
            ],
        },
    }


def run(data: dict[str, Any], seed: int = 0, **listing: Any) -> api.Run:
    if listing:
        data = {**data, "mechanisms": {"waiting_list": {"offices": ["public_school"],
                                                         **listing}}}
    return api.run(from_dict(data), seed=seed)


def served_share(j: pd.DataFrame, hukou: str) -> float:
    part = j[j["hukou"] == hukou]
    return float((part["outcome"] == "served").mean())


def joined(ev: pd.DataFrame) -> pd.Series:
    """Day each case first reached the school (when it got its number)."""
    at_school = ev[(ev["office"] == "public_school") & (ev["activity"] != "request")]
    return at_school.groupby("case_id")["time"].min()


def test_locals_first_and_migrants_told_it_is_full() -> None:
    off = run(school_city()).journeys
    on_run = run(school_city(), opens=61.0)
    on, ev = on_run.journeys, on_run.events
    # Without the list, seats go to whoever comes first: some locals are turned away.
    assert served_share(off, "local") < 1.0
    # With it, every local is seated, and migrants lose the seats they had.
    assert served_share(on, "local") == 1.0
    assert served_share(on, "migrant") < served_share(off, "migrant")
    # Every migrant refused or kept waiting at the school was told: capacity. Never hukou.
    told = ev[(ev["office"] == "public_school") & ev["activity"].isin(["refuse", "retry"])]
    assert len(told) > 0
    assert set(told["reason"].astype(str)) == {"capacity"}
    assert not on["explicit_refusal"].any()
    lost = on[(on["hukou"] == "migrant") & (on["outcome"] != "served")]
    assert len(lost) > 0 and set(lost["last_reason"].astype(str)) == {"capacity"}
    # Nobody was admitted from the list before it was called.
    served_m = ev[(ev["activity"] == "serve") & ev["household_id"].isin(
        on.loc[on["hukou"] == "migrant", "household_id"])]
    assert (served_m["time"] >= 61.0).all()


def test_the_list_is_called_in_order_of_number() -> None:
    result = run(school_city(), opens=61.0)
    j = result.journeys.set_index("case_id")
    day = joined(result.events)
    migrants = j[j["hukou"] == "migrant"]
    served = day[migrants.index[migrants["outcome"] == "served"]]
    refused = day[migrants.index[migrants["outcome"] != "served"]]
    assert len(served) > 5 and len(refused) > 5
    assert served.max() <= refused.min()


def test_ordered_by_grades_the_best_pupils_get_the_places() -> None:
    result = run(school_city(), opens=61.0, order="grades")
    j = result.journeys
    hh = result.raw.households.set_index("household_id")
    j = j.assign(grades=hh.loc[j["household_id"], "grades"].to_numpy())
    migrants = j[j["hukou"] == "migrant"]
    served = migrants[migrants["outcome"] == "served"]["grades"]
    refused = migrants[migrants["outcome"] != "served"]["grades"]
    assert len(served) > 5 and len(refused) > 5
    assert served.min() >= refused.max()


def test_low_grades_strike_a_child_off_but_the_school_says_full() -> None:
    result = run(school_city(seats=400), opens=61.0, min_grades=0.5)
    j = result.journeys
    hh = result.raw.households.set_index("household_id")
    grades = hh.loc[j["household_id"], "grades"].to_numpy()
    migrant = (j["hukou"] == "migrant").to_numpy()
    served = (j["outcome"] == "served").to_numpy()
    # Plenty of seats: every migrant above the bar is admitted, none below it.
    assert served[migrant & (grades >= 0.5)].all()
    assert not served[migrant & (grades < 0.5)].any()
    assert set(j.loc[migrant & (grades < 0.5), "last_reason"].astype(str)) == {"capacity"}


def test_moving_to_middle_school_puts_a_child_at_the_bottom_of_a_new_list() -> None:
    pupils = {"patience_days": 1000.0, "patience_visits": 50.0, "school_stage": "middle"}
    groups = [
        {"name": "local", "share": 0.3, "hukou": "local"},
        {"name": "continuing", "share": 0.3,
         "attributes": {**pupils, "years_schooling": 6.0}},  # primary school here
        {"name": "newcomer", "share": 0.4, "attributes": {**pupils, "years_schooling": 0.0}},
    ]
    data = school_city(households=200, seats=130, groups=groups)
    kept = run(data, opens=61.0, reset_at_middle=False).journeys
    reset = run(data, opens=61.0, reset_at_middle=True).journeys

    def share(j: pd.DataFrame, group: str) -> float:
        return float((j[j["group"] == group]["outcome"] == "served").mean())

    # Keeping the old number, each of the 60 continuing pupils gets one of the 70 places
    # left after the 60 locals.
    assert share(kept, "continuing") == 1.0
    # Sent to the bottom of a new list, they fare no better than newcomers.
    assert share(reset, "continuing") < 0.7
    assert share(reset, "continuing") < share(kept, "continuing")
    assert share(reset, "newcomer") > share(kept, "newcomer")


def test_places_cap_the_migrants_admitted() -> None:
    result = run(school_city(seats=400), opens=61.0, places=10)
    j = result.journeys
    assert int(((j["hukou"] == "migrant") & (j["outcome"] == "served")).sum()) == 10
    assert served_share(j, "local") == 1.0


def test_off_unless_declared_and_unknown_office_is_refused() -> None:
    names = [m.name for m in mechanisms(from_dict(school_city()))]
    assert "waiting_list" not in names
    bad = {**school_city(), "mechanisms": {"waiting_list": {"offices": ["nowhere"]}}}
    with pytest.raises(ScenarioError, match="mechanisms.waiting_list"):
        mechanisms(from_dict(bad))
    late = school_city()
    late["services"]["school"]["deadline"] = 50.0
    late["mechanisms"] = {"waiting_list": {"offices": ["public_school"], "opens": 61.0}}
    with pytest.raises(ScenarioError, match="mechanisms.waiting_list.opens: .*deadline"):
        mechanisms(from_dict(late))
    off = {**school_city(), "mechanisms": {"waiting_list": {"offices": ["public_school"],
                                                            "enabled": False}}}
    assert "waiting_list" not in [m.name for m in mechanisms(from_dict(off))]
