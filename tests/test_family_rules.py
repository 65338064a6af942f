"""Family decisions over years, each a switchable rule: bring the child or leave it,
try again next year, back for the gaokao, go home; and insurance renewals' churn."""

from __future__ import annotations

import copy

import pytest

import offices
from maze.app import api
from maze.lives import YEAR_DAYS
from maze.scenario import ScenarioError, from_dict
from tests.school_city import with_mechanism
from tests.test_lives import FIRST, city_over_years, run


def test_a_household_told_too_late_is_served_next_year() -> None:
    # Papers take long to gather (a visit every 25 days), so most families reach the
    # school after its deadline (day 90): "too late, try again next year". They keep the
    # papers they gathered, and the next year, asking on their own day of the year, they
    # are in time. No fallback: a refused child stays in the city, out of school.
    data = city_over_years(years=2, households=80, in_migration=0)
    data["services"]["school"]["fallback"] = []
    data["population"]["days_between_visits"] = {"dist": "constant", "value": 25.0}
    data["population"]["groups"][0]["attributes"].update(
        {"home_ties": 0.0, "patience_days": 300.0, "residence_permit": False})
    data = with_mechanism(data, "try_again", {"after_deadline": 1.0, "after_refusal": 0.0})
    r = run(data)
    j = r.journeys
    school = j[j["service"] == "school"]
    first = school[school["start"] < YEAR_DAYS]
    late = first.loc[first["missed_deadline"] & (first["outcome"] == "gave_up"),
                     "household_id"]
    assert len(late) > 20
    second = school[(school["start"] >= YEAR_DAYS) & school["household_id"].isin(late)]
    assert set(second["household_id"]) == set(late)  # every one of them came back
    assert (second["outcome"] == "served").all()
    # Papers in hand, it takes days rather than months.
    assert second["days_to_outcome"].max() < 1.0 < first.loc[
        first["household_id"].isin(late), "days_to_outcome"].min()
    c = r.raw.children.set_index(["household_id", "year"])
    assert (c.loc[[(h, FIRST) for h in late], "outcome"] == "out_of_school").all()
    assert (c.loc[[(h, FIRST + 1) for h in late], "outcome"] == "city_public").all()


def test_without_try_again_a_household_told_too_late_never_returns() -> None:
    data = city_over_years(years=2, households=80, in_migration=0)
    data["services"]["school"]["fallback"] = []
    data["population"]["days_between_visits"] = {"dist": "constant", "value": 25.0}
    data["population"]["groups"][0]["attributes"].update(
        {"home_ties": 0.0, "patience_days": 300.0, "residence_permit": False})
    r = run(data)
    school = r.journeys[r.journeys["service"] == "school"]
    c = r.raw.children.set_index(["household_id", "year"])["stage"]
    # Late families whose child stays in its stage (a child moving on applies anyway).
    late = [h for h in school.loc[school["missed_deadline"], "household_id"]
            if c.get((h, FIRST)) == c.get((h, FIRST + 1))]
    assert len(late) > 20
    assert not ((school["start"] >= YEAR_DAYS) & school["household_id"].isin(late)).any()


def _bring(table: dict, fallback: tuple[str, ...] = ("minban", "home"),
           **attributes: object) -> api.Run:
    data = city_over_years(households=100)
    data["services"]["school"]["fallback"] = list(fallback)
    data["population"]["groups"][0]["attributes"].update(attributes)
    return run(with_mechanism(data, "bring_child", table))


def test_bring_child_decides_where_the_child_lives() -> None:
    every = _bring({"base": 1.0, "land": 1.0, "cost": 1.0}).raw.children
    none = _bring({"base": 0.0}).raw.children
    assert (every.loc[every["hukou"] == "migrant", "outcome"] != "left_behind").all()
    migrants = none[none["hukou"] == "migrant"]
    assert (migrants["outcome"] == "left_behind").all()
    assert (none.loc[none["hukou"] == "local", "outcome"] == "city_public").all()


def test_land_at_home_leaves_more_children_behind() -> None:
    table = {"base": 0.6, "land": 0.3, "later": 0.0}
    with_land = _bring(table, land_at_home=True).raw.children
    without = _bring(table, land_at_home=False).raw.children

    def behind(c):  # noqa: ANN001, ANN202
        m = c[(c["hukou"] == "migrant") & (c["year"] == FIRST)]
        return (m["outcome"] == "left_behind").mean()

    assert behind(with_land) > behind(without) + 0.2


def test_without_a_carer_at_home_the_child_stays_and_may_be_out_of_school() -> None:
    # Nobody at home: the child is brought whatever the odds, and the hometown school is
    # no fallback for it. Families without papers (and no private school) then have a
    # child out of school.
    table = {"base": 0.0}
    r = _bring(table, ("home",), carer_at_home=False, lease_own=False, home_ties=0.0)
    m = r.raw.children
    m = m[m["hukou"] == "migrant"]
    assert not (m["outcome"] == "left_behind").any()
    assert (m["outcome"] == "out_of_school").mean() > 0.5
    # The same families with a carer at home: the hometown takes the child.
    r2 = _bring({"base": 1.0}, ("home",), carer_at_home=True, lease_own=False,
                home_ties=0.0)
    assert not (r2.raw.children["outcome"] == "out_of_school").any()


def test_gaokao_sends_migrant_children_back_for_senior_high() -> None:
    data = city_over_years(households=80, in_migration=0,
                           stage_ages={"middle": (12, 14), "high": (15, 17)})
    for g in data["population"]["groups"]:
        g["attributes"]["school_stage"] = "middle"
    back = run(with_mechanism(data, "gaokao", {"back": 1.0})).raw.children
    stay = run(with_mechanism(data, "gaokao", {"back": 0.0})).raw.children
    high_back = back[(back["stage"] == "high") & (back["hukou"] == "migrant")]
    assert len(high_back) > 20
    assert (high_back["outcome"] == "hometown_gaokao").all()
    assert (high_back["case_id"] == -1).all()  # no application in the city
    high_stay = stay[(stay["stage"] == "high") & (stay["hukou"] == "migrant")]
    assert not (high_stay["outcome"] == "hometown_gaokao").any()
    assert (back.loc[back["hukou"] == "local", "outcome"] != "hometown_gaokao").all()


def test_return_home_replaces_the_coin_of_home_ties() -> None:
    data = city_over_years(years=2, households=80, in_migration=0)
    data["services"]["school"]["fallback"] = []
    data["population"]["groups"][0]["attributes"].update({"lease_own": False,
                                                          "home_ties": 1.0})
    coin = run(data).journeys
    rule = run(with_mechanism(data, "return_home", {"on_failure": 0.0, "yearly": 0.0}))
    migrants = coin[coin["hukou"] == "migrant"]
    assert (migrants["outcome"] == "sent_away").all()  # home_ties = 1: all go home
    j = rule.journeys
    assert not (j["outcome"] == "sent_away").any()
    assert (j.loc[j["hukou"] == "migrant", "outcome"] == "gave_up").all()


def test_return_home_yearly_and_its_drivers() -> None:
    data = city_over_years(households=100, in_migration=0)
    everyone = run(with_mechanism(data, "return_home", {"yearly": 1.0})).raw
    left = everyone.life_events[everyone.life_events["event"] == "leave_city"]
    migrants = everyone.households.loc[everyone.households["hukou"] == "migrant",
                                       "household_id"]
    assert set(left["household_id"]) == set(migrants)
    assert (left["time"] == YEAR_DAYS).all()  # at the first turn of a year

    def leavers(land: bool) -> int:
        d = city_over_years(years=4, households=200, in_migration=0)
        d["population"]["groups"][0]["attributes"]["land_at_home"] = land
        raw = run(with_mechanism(d, "return_home", {"yearly": 0.1, "land": 4.0})).raw
        return int((raw.life_events["event"] == "leave_city").sum())

    assert leavers(True) > leavers(False) * 1.5


def test_renewals_lose_cover_when_a_new_job_has_no_contract() -> None:
    # Urban insurance needs proof of employment (a labour contract). Jobs change twice a
    # year; a new job has a contract half the time: cover is lost at renewal and regained.
    data = city_over_years(years=4, households=150, in_migration=0)
    data["services"]["insurance"] = {"entry": "hr_bureau", "documents": ["employment"]}
    data["population"]["groups"][0]["needs"] = {"school": 0.0, "insurance": 1.0}
    data["population"]["groups"][1]["needs"] = {"school": 1.0, "insurance": 0.0}
    data["lives"]["renew"] = ["insurance"]

    def churn(contract: float | bool, again: bool = False) -> dict:
        d = copy.deepcopy(data)
        d["population"]["groups"][0]["attributes"].update(
            {"contract": contract, "job_changes": 2.0})
        if again:  # a family that lost its cover asks again the next year
            d = with_mechanism(d, "try_again", {"after_refusal": 1.0, "discouragement": 1.0,
                                                "services": ["insurance"]})
        return run(d).summary["renewals"]["insurance"]

    steady = churn(True)  # a contract with every job: nothing lost
    assert steady["renewals"] > 100 and steady["lost"] == 0 and steady["churn"] == 0.0
    moving = churn(0.5)
    assert moving["lost"] > 10 and 0.1 < moving["churn"] < 0.9
    assert moving["regained"] == 0  # nobody asks again
    assert sum(y["lost"] for y in moving["by_year"].values()) == moving["lost"]
    assert min(map(int, moving["by_year"])) == FIRST + 1  # the first renewals: the 2nd year
    again = churn(0.5, again=True)
    assert again["lost"] > 10 and again["regained"] > 5
    assert moving["mean_spell_years"] < steady["mean_spell_years"]


def test_family_rules_name_services_that_exist() -> None:
    data = with_mechanism(city_over_years(), "try_again", {"services": ["dibao"]})
    with pytest.raises(ScenarioError, match=r"mechanisms\.try_again\.services\.0"):
        offices.configs(from_dict(data))


def test_story_over_years_tells_requests_and_life_in_time_order() -> None:
    from maze.life_story import life_story_lines

    data = city_over_years(households=60, in_migration=0,
                           stage_ages={"primary": (11, 11), "middle": (12, 14)})
    data["population"]["groups"][0]["attributes"].update({"job_changes": 1.0})
    r = run(data)
    served = r.raw.children
    hid = int(served.loc[(served["hukou"] == "migrant") & (served["year"] == FIRST + 1)
                         & (served["outcome"] == "city_public"), "household_id"].iloc[0])
    lines = life_story_lines(r.events, r.raw.life_events, hid, from_dict(data))
    text = "\n".join(lines)
    headings = [line for line in lines if line.startswith("Year ")]
    assert headings[:2] == [f"Year {FIRST}:", f"Year {FIRST + 1}:"]
    # Two stages, two applications, each told under its year and tagged with it.
    assert f"Outcome of the school {FIRST} request" in text
    assert f"Outcome of the school {FIRST + 1} request" in text
    assert text.index("moved on to junior middle school") > text.index(headings[1])
    assert text.index(f"In all, for the school {FIRST} request") < text.index(headings[1])
    # Dated lines never go back in time.
    days = [int(line.split()[1]) for line in lines if line.startswith("Day ")]
    assert days == sorted(days)




def test_maze_story_over_years_from_the_command_line(tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from maze.app.cli import main

    scenario = api.load(preset="beijing", overrides={
        "population.households": 80, "city.horizon": YEAR_DAYS * 3,
        "lives": {"school": "school", "in_migration": 10}})
    path = tmp_path / "beijing_years.json"
    path.write_text(json.dumps(scenario.model_dump(mode="json", by_alias=True)))
    assert main(["story", str(path), "--household", "3"]) == 0
    out = capsys.readouterr().out
    assert "Year 2016:" in out
    assert "the family arrived in the city." in out
