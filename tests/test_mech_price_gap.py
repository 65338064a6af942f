"""Price gaps (mechanism 9): what insurance pays back decides where migrants seek care."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from offices import mechanisms


def health_city(households: int = 400, **attributes: Any) -> dict[str, Any]:
    """A city hospital, a black clinic, and the hometown clinic two days away."""
    attrs = {"origin": {"same": 0.5, "other": 0.5}, "rural_insurance": True,
             "urgency": {"dist": "uniform", "low": 0.0, "high": 1.0},
             "savings": {"dist": "lognormal", "mean": 8000.0, "sd": 5000.0},
             "daily_wage": 109.0, **attributes}
    return {
        "city": {"name": "clinics", "horizon": 200.0},
        "offices": [
            {"name": "city_hospital", "kind": "hospital", "sector": "health",
             "level": "municipal", "clerks": 3},
            {"name": "black_clinic", "kind": "black_clinic", "sector": "health",
             "level": "private", "role": "alternative"},
            {"name": "hometown_clinic", "kind": "hometown", "sector": "health",
             "level": "hometown", "role": "sent_away", "travel_days": 2.0},
        ],
        "services": {"health": {"entry": "city_hospital",
                                "fallback": ["black_clinic", "hometown_clinic"]}},
        "population": {
            "households": households,
            "arrivals": {"start": 0.0, "end": 100.0},
            "days_between_visits": {"dist": "constant", "value": 1.0},
            "groups": [{"name": "migrant", "share": 1.0, "attributes": attrs}],
        },
    }


def gap(city_rate: float = 0.10, **more: Any) -> dict[str, Any]:
    """The Hangzhou gap: 10% back in the city, 80% at home, on a 5,000 RMB bill."""
    return {"services": ["health"],
            "bills": {"city_hospital": 5000.0, "black_clinic": 1500.0,
                      "hometown_clinic": 5000.0},
            "rates": {"city_hospital": city_rate, "hometown_clinic": 0.80},
            "later_costs": {"black_clinic": 5000.0},
            "wait_days": {"hometown_clinic": 30.0},
            "urgency_cost": 200.0, "untreated_cost": 6000.0, **more}


def run(data: dict[str, Any], seed: int = 0, table: dict[str, Any] | None = None) -> api.Run:
    if table is not None:
        data = {**data, "mechanisms": {"price_gap": table}}
    return api.run(from_dict(data), seed=seed)


def shares(j: pd.DataFrame) -> dict[str, float]:
    return {k: float(v) for k, v in j["outcome"].astype(str).value_counts(normalize=True).items()}


def test_the_gap_sends_patients_home_or_untreated_and_says_price() -> None:
    off = run(health_city()).journeys
    on_run = run(health_city(), table=gap())
    on, ev = on_run.journeys, on_run.events
    assert shares(off) == {"served": 1.0}
    s = shares(on)
    assert s["served"] < 0.6
    assert s["sent_away"] > 0.3 and s["gave_up"] > 0.03
    walked_out = ev[(ev["office"] == "city_hospital") & (ev["activity"] == "refuse")]
    assert len(walked_out) > 0 and set(walked_out["reason"].astype(str)) == {"price"}
    untreated = on[on["outcome"] == "gave_up"]
    assert set(untreated["last_reason"].astype(str)) == {"price"}
    # Those who went home paid the 20% share there, and lost the wages of the trip.
    home = on[on["outcome"] == "sent_away"]
    assert home["out_of_pocket"].to_list() == pytest.approx([1000.0] * len(home))
    assert (home["wage_lost"] > on[on["outcome"] == "served"]["wage_lost"].max()).all()


def test_a_wider_gap_sends_more_patients_away() -> None:
    narrow = shares(run(health_city(), table=gap(city_rate=0.5)).journeys)
    wide = shares(run(health_city(), table=gap(city_rate=0.1)).journeys)
    assert wide.get("served", 0.0) < narrow["served"] - 0.3
    assert wide["sent_away"] > narrow["sent_away"]
    assert wide.get("gave_up", 0.0) > narrow.get("gave_up", 0.0)


def test_insurance_not_accepted_hurts_other_province_migrants() -> None:
    # Chengdu takes Sichuan receipts, not those from other provinces [Chan & O'Brien 2019: Why
    # Deflect].
    j = run(health_city(), table=gap(city_rate=0.5, accepted={"same": 1.0, "other": 0.0})
            ).journeys

    def served(origin: str) -> float:
        return float((j[j["origin"] == origin]["outcome"] == "served").mean())

    assert served("same") > served("other") + 0.3


def test_off_site_settlement_raises_treatment_in_the_city() -> None:
    blocked = {"accepted": {"same": 0.0, "other": 0.0}}
    without = shares(run(health_city(), table=gap(**blocked)).journeys)
    with_it = shares(run(health_city(), table=gap(**blocked, offsite_settlement=1.0)).journeys)
    half = shares(run(health_city(), table=gap(**blocked, offsite_settlement=0.5)).journeys)
    assert without.get("served", 0.0) < half["served"] < with_it["served"]
    assert with_it["served"] > 0.7
    assert with_it.get("sent_away", 0.0) < without["sent_away"]


def test_who_waits_to_go_home_is_the_one_who_is_not_urgent() -> None:
    # Savings to pay either way: only urgency separates the two [Chan & O'Brien 2019: Away from the
    # City].
    result = run(health_city(savings=20000.0), table=gap(city_rate=0.5))
    j = result.journeys
    urgency = result.raw.households.set_index("household_id").loc[j["household_id"], "urgency"]
    j = j.assign(urgency=urgency.to_numpy())
    home = j[j["outcome"] == "sent_away"]["urgency"]
    city = j[j["outcome"] == "served"]["urgency"]
    assert len(home) > 20 and len(city) > 20
    assert home.max() < city.min()


def test_the_5000_rmb_surgery_sends_a_poor_urgent_patient_away_untreated() -> None:
    # 90% of 5,000 RMB out of pocket, in great pain, no time to go home [Chan & O'Brien 2019: Away
    # from the City].
    poor = health_city(households=50, urgency=1.0, savings=4000.0)
    j = run(poor, table=gap()).journeys
    assert (j["outcome"] == "gave_up").all()
    assert set(j["last_reason"].astype(str)) == {"price"}
    # With the savings to pay the 4,500 RMB, the same patients are treated in the city.
    rich = health_city(households=50, urgency=1.0, savings=20000.0)
    assert (run(rich, table=gap()).journeys["outcome"] == "served").all()


def test_bad_tables_are_refused() -> None:
    base = health_city()
    table = gap()
    table["bills"] = {"city_hospital": 5000.0, "black_clinic": 1500.0}
    with pytest.raises(ScenarioError, match="mechanisms.price_gap.bills.*hometown_clinic"):
        mechanisms(from_dict({**base, "mechanisms": {"price_gap": table}}))
    with pytest.raises(ScenarioError, match="mechanisms.price_gap.services.0"):
        mechanisms(from_dict({**base, "mechanisms": {"price_gap": gap(services=["school"])}}))
    with pytest.raises(ScenarioError, match="mechanisms.price_gap.rates.city_hospital"):
        mechanisms(from_dict({**base, "mechanisms": {"price_gap": gap(city_rate=1.5)}}))


def test_hangzhou_preset_and_the_off_site_settlement_lever() -> None:
    small = {"population.households": 800}
    as_written = api.run(api.load(preset="hangzhou", overrides=small), seed=1).journeys
    lever = api.run(api.load(preset="hangzhou", overrides={
        **small, "mechanisms.price_gap.offsite_settlement": 1.0}), seed=1).journeys

    def care(j: pd.DataFrame) -> dict[str, float]:
        m = j[(j["service"] == "medical_care") & (j["hukou"] == "migrant")]
        return shares(m)

    before, after = care(as_written), care(lever)
    # As written, most migrants go home for care and some go without; few are treated here.
    assert before["sent_away"] > 0.5 and before["gave_up"] > 0.05
    assert before["served"] < 0.4
    # Settling at the home rate without going home brings most of them to the city hospital.
    assert after["served"] > before["served"] + 0.4
    assert after.get("gave_up", 0.0) < before["gave_up"]
