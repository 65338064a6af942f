"""Near-impossible eligibility: each rule against the same city without it."""

from __future__ import annotations

import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from tests.school_city import run, school_city, served_share, with_mechanism


def _groups(**migrant_attrs: object) -> list[dict]:
    base = {"lease_own": True, "contract": True}
    return [
        {"name": "settled", "share": 0.4, "attributes": {**base, **migrant_attrs}},
        {"name": "newcomer", "share": 0.4, "attributes": base},
        {"name": "local", "share": 0.2, "hukou": "local"},
    ]


def test_middle_school_leavers_need_three_years_of_middle_school_here() -> None:
    # Beijing 2012 vocational exam [Chan & O'Brien 2019: Within the City]: the rule is for
    # middle-school leavers only.
    groups = [
        {"name": "middle_here", "share": 0.3, "attributes": {
            "lease_own": True, "contract": True, "school_stage": "middle",
            "years_schooling": 3.0}},
        {"name": "middle_new", "share": 0.3, "attributes": {
            "lease_own": True, "contract": True, "school_stage": "middle",
            "years_schooling": 1.0}},
        {"name": "primary_new", "share": 0.3, "attributes": {
            "lease_own": True, "contract": True, "school_stage": "primary",
            "years_schooling": 1.0}},
        {"name": "local", "share": 0.1, "hukou": "local", "attributes": {
            "school_stage": "middle"}},
    ]
    city = school_city(groups=groups)
    on = with_mechanism(city, "eligibility", {"rules": [
        {"service": "school", "stage": "middle", "min_years": {"schooling": 3}}]})
    off_run, on_run = run(city), run(on)
    for g in ("middle_here", "middle_new", "primary_new", "local"):
        assert served_share(off_run, g) > 0.95, g
    assert served_share(on_run, "middle_new") == 0.0
    assert served_share(on_run, "middle_here") > 0.95
    assert served_share(on_run, "primary_new") > 0.95
    assert served_share(on_run, "local") > 0.95
    ev = on_run.events
    refused = ev[(ev["activity"] == "refuse") & (ev["group"] == "middle_new")]
    assert len(refused) and set(refused["reason"].astype(str)) == {"eligibility"}


def test_a_residence_permit_must_be_held_first() -> None:
    # Beijing 2015 draft hukou rules [Chan & O'Brien 2019: Why Deflect]: "already possess" a
    # residence permit. The permit is a document the household could fetch, but the rule asks that
    # it be held.
    city = school_city(groups=_groups(residence_permit=True))
    on = with_mechanism(city, "eligibility", {"rules": [
        {"service": "school", "requires": ["permit"]}]})
    off_run, on_run = run(city), run(on)
    assert served_share(off_run, "newcomer") > 0.95
    assert served_share(on_run, "newcomer") == 0.0
    assert served_share(on_run, "settled") > 0.95
    # Refused at the first counter: fewer visits than fetching the permit.
    j_on, j_off = on_run.journeys, off_run.journeys
    assert (j_on[j_on["group"] == "newcomer"]["visits"].mean()
            < j_off[j_off["group"] == "newcomer"]["visits"].mean())


def test_job_changes_break_the_insurance_streak() -> None:
    # Seven consecutive years of insurance [Chan & O'Brien 2019: Why Deflect]; construction workers
    # change jobs.
    groups = [
        {"name": "steady", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "years_insurance": 8.0}},
        {"name": "job_changer", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "years_insurance": 8.0, "job_changes": 1.0}},
    ]
    city = school_city(groups=groups)
    on = with_mechanism(city, "eligibility", {"rules": [
        {"service": "school", "min_years": {"insurance": 7}, "max_age": 45}]})
    off_run, on_run = run(city), run(on)
    assert served_share(off_run, "job_changer") > 0.95
    assert served_share(on_run, "job_changer") == 0.0
    assert served_share(on_run, "steady") > 0.95


def test_moving_home_breaks_the_residence_streak() -> None:
    # Migrants move and break streaks (Chan & O'Brien 2019: Within the City): a residence rule of 3
    # years, households with 6 years in the city, one group moving home twice a year.
    attrs = {"lease_own": True, "contract": True, "years_residence": 6.0}
    groups = [{"name": "settled", "share": 0.5, "attributes": attrs},
              {"name": "mover", "share": 0.5, "attributes": {**attrs, "moves": 2.0}}]
    city = school_city(groups=groups)
    on = with_mechanism(city, "eligibility", {"rules": [
        {"service": "school", "min_years": {"residence": 3}}]})
    off_run, on_run = run(city), run(on)
    assert served_share(off_run, "mover") > 0.95
    assert served_share(on_run, "mover") == 0.0
    assert served_share(on_run, "settled") > 0.95
    refused = on_run.events[on_run.events["activity"] == "refuse"]
    assert set(refused["reason"].astype(str)) == {"eligibility"}


def test_an_age_limit() -> None:
    groups = [
        {"name": "young", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "age": 40.0}},
        {"name": "old", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "age": 50.0}},
    ]
    on = with_mechanism(school_city(groups=groups), "eligibility",
                        {"rules": [{"service": "school", "max_age": 45}]})
    r = run(on)
    assert served_share(r, "young") > 0.95
    assert served_share(r, "old") == 0.0


def test_a_rule_from_a_date_spares_early_applicants() -> None:
    city = school_city(groups=_groups())
    on = with_mechanism(city, "eligibility", {"rules": [
        {"service": "school", "min_years": {"work": 3}, "from_day": 20.0}]})
    j = run(on).journeys
    newcomers = j[j["group"] == "newcomer"]
    # The rule is read when the school decides: a journey that ends before day 20 is
    # spared, one that starts after it is not.
    early = newcomers[newcomers["end"] < 20.0]
    late = newcomers[newcomers["start"] > 20.0]
    assert len(early) > 10 and len(late) > 20
    assert (early["outcome"] == "served").all()
    assert (late["outcome"] == "served").sum() == 0


def test_a_rule_written_as_a_condition() -> None:
    groups = [
        {"name": "clean", "share": 0.5, "attributes": {"lease_own": True, "contract": True}},
        {"name": "record", "share": 0.5, "attributes": {
            "lease_own": True, "contract": True, "criminal_record": True}},
    ]
    on = with_mechanism(school_city(groups=groups), "eligibility", {"rules": [
        {"service": "school", "condition": "age < 45 and not criminal_record"}]})
    r = run(on)
    assert served_share(r, "clean") > 0.95
    assert served_share(r, "record") == 0.0


def test_switched_off_it_does_nothing() -> None:
    city = school_city(groups=_groups())
    off = with_mechanism(city, "eligibility", {"enabled": False, "rules": [
        {"service": "school", "max_age": 1}]})
    assert run(off).journeys["outcome"].tolist() == run(city).journeys["outcome"].tolist()


def test_the_declared_rules_still_apply() -> None:
    city = school_city(groups=_groups(years_residence=5.0))
    city["services"]["school"]["min_years"] = {"residence": 3}
    r = run(city)
    assert served_share(r, "settled") > 0.95
    assert served_share(r, "newcomer") == 0.0
    assert served_share(r, "local") > 0.95


@pytest.mark.parametrize("rules, key", [
    ([{"service": "clinic"}], "mechanisms.eligibility.rules.0.service"),
    ([{"service": "school", "requires": ["passport"]}],
     "mechanisms.eligibility.rules.0.requires"),
    ([{"service": "school", "stage": "college"}], "mechanisms.eligibility.rules.0.stage"),
    ([{"service": "school", "min_years": {"pension": 2}}],
     "mechanisms.eligibility.rules.0.min_years.pension"),
    ([{"service": "school", "condition": "__import__('os')"}],
     "mechanisms.eligibility.rules.0.condition"),
])
def test_bad_rules_name_the_key(rules: list, key: str) -> None:
    data = with_mechanism(school_city(), "eligibility", {"rules": rules})
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(data))
    assert key in str(err.value)
