"""Points systems: thresholds exclude the low-educated; quotas admit only the top scorers."""

from __future__ import annotations

import pytest

from maze.app import api
from maze.household import Household
from maze.scenario import ScenarioError, from_dict
from offices.points import PointsTable, score
from tests.school_city import run, school_city, served_share, with_mechanism

#: Guangdong's published values [Chan & O'Brien 2019: Within the City]; the deduction is not
#: quantified there.
GUANGDONG = {"education": {"high_school": 20, "university": 80}, "criminal_record": -30}


def _groups() -> list[dict]:
    base = {"lease_own": True, "contract": True}
    return [
        {"name": "middle_school", "share": 0.3, "attributes": {**base, "education": "middle"}},
        {"name": "high_school", "share": 0.3,
         "attributes": {**base, "education": "high_school"}},
        {"name": "graduate", "share": 0.3, "attributes": {**base, "education": "university"}},
        {"name": "local", "share": 0.1, "hukou": "local", "attributes": {"education": "middle"}},
    ]


def _hh(**attrs: object) -> Household:
    defaults = {"education": "middle", "years_insurance": 0.0, "years_work": 0.0,
                "years_residence": 0.0, "years_schooling": 0.0, "job_changes": 0.0, "moves": 0.0,
                "investor": False, "blood_donations": 0.0, "criminal_record": False,
                "contract": False}
    cols = {k: [v] for k, v in {**defaults, **attrs}.items()}
    return Household(0, "g", False, cols)


def test_the_table_adds_up() -> None:
    table = PointsTable(education={"high_school": 20, "university": 80, "master": 100,
                                   "doctorate": 110},
                        per_year={"years_insurance": 2}, max_years={"years_insurance": 10},
                        blood_donation=2, max_blood_donations=3, criminal_record=-30,
                        investor=50)
    assert score(_hh(), table) == 0
    assert score(_hh(education="university"), table) == 80
    assert score(_hh(education="doctorate"), table) == 110
    assert score(_hh(years_insurance=25.0), table) == 20          # capped at 10 years
    assert score(_hh(years_insurance=25.0, job_changes=1.0), table) == 2   # streak broken
    assert score(_hh(blood_donations=5.0), table) == 6             # three donations counted
    assert score(_hh(education="university", criminal_record=True), table) == 50
    assert score(_hh(investor=True), table) == 50


def test_an_unlisted_degree_earns_the_highest_listed_one_below_it() -> None:
    table = PointsTable(education=GUANGDONG["education"])
    assert score(_hh(education="doctorate"), table) == 80
    assert score(_hh(education="middle"), table) == 0


def test_a_threshold_excludes_the_low_educated() -> None:
    city = school_city(groups=_groups())
    on = with_mechanism(city, "points", {"services": ["school"], "threshold": 60,
                                         "table": GUANGDONG})
    off_run, on_run = run(city), run(on)
    for g in ("middle_school", "high_school", "graduate"):
        assert served_share(off_run, g) > 0.95
    assert served_share(on_run, "middle_school") == 0.0
    assert served_share(on_run, "high_school") == 0.0
    assert served_share(on_run, "graduate") > 0.95
    assert served_share(on_run, "local") > 0.95      # locals are not scored
    ev = on_run.events
    refused = ev[(ev["activity"] == "refuse") & (ev["group"] != "graduate")]
    assert set(refused["reason"].astype(str)) == {"eligibility"}


def test_the_guangzhou_bar_is_higher_than_the_province() -> None:
    # 60 for the province, 85 for Guangzhou [Chan & O'Brien 2019: Within the City]: a graduate with
    # 5 insurance years at 1 point a year (ASSUMPTION) makes 85, one with 2 years does not.
    groups = [
        {"name": "five_years", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "education": "university",
            "years_insurance": 5.0}},
        {"name": "two_years", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "education": "university",
            "years_insurance": 2.0}},
    ]
    table = {**GUANGDONG, "per_year": {"years_insurance": 1}}
    city = school_city(groups=groups)
    province = run(with_mechanism(city, "points", {"services": ["school"], "threshold": 60,
                                                   "table": table}))
    guangzhou = run(with_mechanism(city, "points", {"services": ["school"], "threshold": 85,
                                                    "table": table}))
    assert served_share(province, "two_years") > 0.95
    assert served_share(guangzhou, "two_years") == 0.0
    assert served_share(guangzhou, "five_years") > 0.95


def test_a_criminal_record_deducts() -> None:
    groups = [
        {"name": "clean", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "education": "university"}},
        {"name": "record", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "education": "university",
            "criminal_record": True}},
    ]
    r = run(with_mechanism(school_city(groups=groups), "points",
                           {"services": ["school"], "threshold": 60, "table": GUANGDONG}))
    assert served_share(r, "clean") > 0.95
    assert served_share(r, "record") == 0.0


def test_a_quota_admits_only_the_top_scorers() -> None:
    # Shenzhen 2017: spots for "applicants with the most points" [Chan & O'Brien 2019: Within the
    # City].
    groups = [{"name": "migrant", "share": 1.0, "attributes": {
        "lease_own": True, "contract": True, "patience_days": 400.0,
        "years_insurance": {"dist": "uniform", "low": 0.0, "high": 10.0}}}]
    city = school_city(households=200, deadline=None, groups=groups)
    on = with_mechanism(city, "points", {
        "services": ["school"], "quota": 30, "round_days": 100.0,  # one round
        "table": {"per_year": {"years_insurance": 3}}})
    r = run(on)
    j = r.journeys
    served = j[j["outcome"] == "served"]
    assert len(served) == 30
    hh = r.raw.households.set_index("household_id")
    ins = hh["years_insurance"]
    best_refused = ins.loc[j[j["outcome"] != "served"]["household_id"]].max()
    worst_served = ins.loc[served["household_id"]].min()
    assert worst_served >= best_refused
    # The others were told the spots were gone, after waiting for the ranking.
    ev = r.events
    refused = ev[ev["activity"] == "refuse"]
    assert set(refused["reason"].astype(str)) == {"capacity"}
    assert set(refused["case_id"]) == set(j[j["outcome"] != "served"]["case_id"])
    assert served["end"].min() >= 100.0
    # Without the quota everybody is served, sooner.
    off = run(city).journeys
    assert (off["outcome"] == "served").all()
    assert off["days_to_outcome"].median() < served["days_to_outcome"].median()


def test_a_quota_share_scales_with_applicants() -> None:
    groups = [{"name": "migrant", "share": 1.0, "attributes": {
        "lease_own": True, "contract": True, "patience_days": 400.0}}]
    city = school_city(households=200, deadline=None, groups=groups)
    r = run(with_mechanism(city, "points", {"services": ["school"], "quota_share": 0.1,
                                            "round_days": 100.0, "table": {}}))
    assert (r.journeys["outcome"] == "served").sum() == 20   # 10% of 200 in one round


def test_a_household_that_loses_patience_does_not_wait_for_the_ranking() -> None:
    groups = [{"name": "migrant", "share": 1.0, "attributes": {
        "lease_own": True, "contract": True, "patience_days": 30.0}}]
    city = school_city(households=100, deadline=None, groups=groups)
    r = run(with_mechanism(city, "points", {"services": ["school"], "quota": 50,
                                            "round_days": 365.0, "table": {}}))
    assert (r.journeys["outcome"] == "served").sum() == 0


@pytest.mark.parametrize("table, key", [
    ({"services": ["school"]}, "mechanisms.points"),
    ({"services": ["clinic"], "threshold": 60}, "mechanisms.points.services"),
    ({"services": ["school"], "threshold": 60, "table": {"education": {"phd": 1}}},
     "mechanisms.points.table.education.phd"),
    ({"services": ["school"], "threshold": 60, "table": {"criminal_record": 10}},
     "mechanisms.points.table.criminal_record"),
    ({"services": ["school"], "quota": 5, "quota_share": 0.1},
     "mechanisms.points"),
])
def test_bad_tables_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(with_mechanism(school_city(), "points", table)))
    assert key in str(err.value)
