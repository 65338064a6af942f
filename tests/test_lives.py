"""Lives over years: households that persist, streaks that grow, children through stages."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from maze import measures
from maze.app import api
from maze.life_story import life_story_lines
from maze.lives import CHILD_COLUMNS, YEAR_DAYS, Streak
from maze.scenario import ScenarioError, from_dict
from maze.world import World
from offices import mechanisms, presets
from tests.school_city import school_city
from tests.test_event_log_invariants import check_event_log

YEARS = 3
#: The test city starts on 1 January of a year that is not a leap year (nor are the next
#: two): its calendar years are FIRST, FIRST + 1, ... and each is 365 days long.
FIRST = 2013


def city_over_years(years: int = YEARS, households: int = 120, **lives: Any) -> dict[str, Any]:
    """The mechanism tests' school city run for ``years`` years, children in primary."""
    data = school_city(households=households)
    data["city"]["horizon"] = YEAR_DAYS * years
    data["city"]["start_date"] = f"{FIRST}-01-01"
    data["lives"] = {"school": "school", "in_migration": households // 4, **lives}
    for g in data["population"]["groups"]:
        g.setdefault("attributes", {})["school_stage"] = "primary"
    return data


def run(data: dict[str, Any], seed: int = 0) -> api.Run:
    return api.run(from_dict(data), seed=seed)


class _Clock:
    now = 0.0


def test_a_streak_grows_one_year_per_year_and_a_break_resets_it() -> None:
    clock = _Clock()
    s = Streak(clock, base=[2.0, 0.5], t0=[0.0, 0.0], growing=[True, True],
               breaks={1: [400.0]})
    clock.now = 365.0
    assert s[0] == pytest.approx(3.0) and s[1] == pytest.approx(1.5)
    clock.now = 730.0
    assert s[0] == pytest.approx(4.0)
    assert s[1] == pytest.approx(330.0 / 365.0)  # moved on day 400: from zero since then
    s.stop_at(0)
    clock.now = 1095.0
    assert s[0] == 0.0  # stopped (insurance no longer paid): stays at zero
    s.start(0)
    clock.now = 1095.0 + 182.5
    assert s[0] == pytest.approx(0.5)


def test_streaks_in_a_run_grow_with_time_and_reset_on_a_move() -> None:
    data = city_over_years()
    for g in data["population"]["groups"]:
        g["attributes"].update({"moves": 0.5, "job_changes": 0.3})
    scenario = from_dict(data)
    world = World(scenario, 3, mechanisms(scenario))
    world.run()
    lives = world.lives
    assert lives is not None and world.env.now == scenario.city.horizon
    residence = world.columns["years_residence"]
    arrival = world.households["arrival"].to_numpy()
    drawn = world.households["years_residence"].to_numpy()
    now = world.env.now
    moved = 0
    for hid in range(len(arrival)):
        moves = [t for t in lives.moves.get(hid, []) if t <= now]
        if moves:
            moved += 1
            expected = (now - moves[-1]) / YEAR_DAYS
        else:
            expected = drawn[hid] + (now - arrival[hid]) / YEAR_DAYS
        assert residence[hid] == pytest.approx(expected)
    assert moved > 20  # the rate is high enough for the test to see moves


def test_streaks_read_by_the_offices_move_on_one_year_per_year() -> None:
    scenario = from_dict(city_over_years())
    world = World(scenario, 0, mechanisms(scenario))
    world.lives.hooks = {}
    world.env.run(until=100.0)
    hh = world.household(0)
    before = {a: hh.attr(a) for a in ("years_work", "years_residence", "age")}
    world.env.run(until=100.0 + YEAR_DAYS)
    # No job change or move was drawn in this city: one year more, exactly.
    assert hh.attr("years_work") == pytest.approx(before["years_work"] + 1.0)
    assert hh.attr("years_residence") == pytest.approx(before["years_residence"] + 1.0)


def test_households_arrive_every_year_and_age() -> None:
    r = run(city_over_years(households=80))
    hh = r.raw.households
    year = (hh["arrival"] // YEAR_DAYS).astype(int)
    assert year.value_counts().sort_index().tolist() == [80, 20, 20]
    ev = r.raw.life_events
    assert (ev["event"] == "arrive").sum() == len(hh)
    # Every household asks for school in the year it arrives, and later arrivals too.
    j = r.journeys
    first_year_of = (j["start"] // YEAR_DAYS).astype(int)
    assert set(first_year_of) == {0, 1, 2}


def test_a_stage_transition_applies_again() -> None:
    # Every child is 11 on arrival (the last primary year): at the next school year it
    # moves on to junior middle school and its family applies again.
    data = city_over_years(households=60, in_migration=0,
                           stage_ages={"primary": (11, 11), "middle": (12, 14)})
    r = run(data)
    c = r.raw.children
    year0 = c[c["year"] == FIRST].set_index("household_id")
    year1 = c[c["year"] == FIRST + 1].set_index("household_id")
    assert (year0["stage"] == "primary").all() and (year1["stage"] == "middle").all()
    j = r.journeys
    migrants_served = year0.index[year0["outcome"] == "city_public"]
    assert len(migrants_served) > 30
    for hid in migrants_served:
        cases = j[(j["household_id"] == hid) & (j["service"] == "school")]
        years = sorted((cases["start"] // YEAR_DAYS).astype(int))
        assert years == [0, 1], (hid, years)  # one application per stage, not per year
        assert year1.loc[hid, "case_id"] != year0.loc[hid, "case_id"]
    # Within a stage the place is kept: no application in year 2.
    year2 = c[c["year"] == FIRST + 2].set_index("household_id")
    kept = year2.index[year2["outcome"] == "city_public"]
    assert len(kept) and (year2.loc[kept, "case_id"] == year1.loc[kept, "case_id"]).all()


def _both_paths(hometown_seats: int | None, lease: bool = False) -> api.Run:
    """Migrants who cannot get their papers (no lease) or can, and a hometown school that
    takes everyone (None) or nobody (0). No private school; families stay in the city."""
    data = city_over_years(households=80)
    data["services"]["school"]["fallback"] = ["home"]
    home = next(o for o in data["offices"] if o["name"] == "home")
    if hometown_seats is not None:
        home["seats"] = hometown_seats
    data["population"]["groups"][0]["attributes"].update(
        {"lease_own": lease, "home_ties": 0.0})
    return run(data)


def test_out_of_school_when_both_city_and_hometown_paths_fail() -> None:
    c = _both_paths(hometown_seats=0).raw.children
    migrants = c[c["hukou"] == "migrant"]
    assert (migrants["outcome"] == "out_of_school").mean() > 0.9
    assert not migrants["outcome"].isin(["city_public", "left_behind"]).any()


@pytest.mark.parametrize(("seats", "lease", "expected"),
                         [(None, False, "left_behind"), (0, True, "city_public")])
def test_never_out_of_school_when_one_path_succeeds(seats: int | None, lease: bool,
                                                    expected: str) -> None:
    r = _both_paths(hometown_seats=seats, lease=lease)
    c = r.raw.children
    migrants = c[c["hukou"] == "migrant"]
    assert (migrants["outcome"] == expected).mean() > 0.9
    assert not (c["outcome"] == "out_of_school").any()
    assert r.summary["children"]["child_years_by_outcome"]["out_of_school"] == 0


def test_children_table_and_summary() -> None:
    r = run(city_over_years())
    c = r.raw.children
    assert tuple(c.columns) == CHILD_COLUMNS
    assert not c.duplicated(["child_id", "year"]).any()
    assert c["age"].between(6, 17).all()
    s = r.summary["children"]
    assert s["child_years"] == len(c)
    assert sum(s["child_years_by_outcome"].values()) == len(c)
    assert s["children"] == c["child_id"].nunique()


def test_one_season_runs_have_no_lives_tables() -> None:
    r = run(school_city(households=50))
    assert r.raw.children is None and r.raw.life_events is None
    assert "children" not in r.summary
    assert "lives" not in from_dict(school_city()).model_dump(mode="json")


def _written(data: dict[str, Any], out: Path) -> dict[str, str]:
    folder = api.write(run(data, seed=2), out, report=False)
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.iterdir()}


def test_a_run_over_years_is_byte_identical_twice(tmp_path: Path) -> None:
    data = city_over_years()
    for g in data["population"]["groups"]:
        g["attributes"].update({"moves": 0.4, "job_changes": 0.4})
    a, b = _written(data, tmp_path / "a"), _written(data, tmp_path / "b")
    assert a == b
    assert {"children.parquet", "life_events.parquet"} <= set(a)


@pytest.mark.parametrize(("seed", "rules"), [(0, False), (1, True)])
def test_event_log_invariants_hold_over_years(tmp_path: Path, seed: int, rules: bool) -> None:
    family = {f"mechanisms.{m}": {} for m in ("bring_child", "try_again", "gaokao",
                                              "return_home")} if rules else {}
    beijing = api.load(preset="beijing", overrides={
        "population.households": 250, "city.horizon": YEAR_DAYS * 3,
        "lives": {"school": "school", "in_migration": 80, "renew": ["health_insurance"],
                  "leave_rate": 0.1}, **family})
    folder = api.write(api.run(beijing, seed), tmp_path / "run", report=False)
    ev = pd.read_parquet(folder / "events.parquet")
    j = pd.read_parquet(folder / "journeys.parquet")
    check_event_log(ev, j, beijing.city.horizon)
    assert (j["start"] >= 2 * YEAR_DAYS).any()  # requests in the last year too


def test_lives_names_services_that_exist() -> None:
    data = city_over_years()
    data["lives"]["renew"] = ["insurance"]
    with pytest.raises(ScenarioError, match=r"lives\.renew\.0.*unknown service"):
        from_dict(data)
    data = copy.deepcopy(city_over_years())
    data["lives"]["stage_ages"] = {"primary": (6, 13)}
    with pytest.raises(ScenarioError, match="middle must start after"):
        from_dict(data)


def test_every_preset_runs_over_years() -> None:
    for name in presets.names():
        s = api.load(preset=name, overrides={"population.households": 60,
                                             "city.horizon": YEAR_DAYS * 2, "lives": {}})
        r = api.run(s, seed=0)
        assert (r.journeys["start"] >= YEAR_DAYS).any() or len(r.raw.households) > 60, name


@pytest.mark.parametrize("reset", [True, False])
def test_the_waiting_list_number_resets_at_middle_school(reset: bool) -> None:
    # Shanghai: "when they move from elementary to middle school, they must obtain another
    # number and go to the bottom of a new list". Children are 11 on arrival; a year later
    # they move on and their families apply again, with a number dated from that request
    # (the bottom of the list), unless the list keeps numbers (reset_at_middle = false).
    data = city_over_years(years=2, households=60, in_migration=0,
                           stage_ages={"primary": (11, 11), "middle": (12, 14)})
    data["mechanisms"] = {"waiting_list": {"offices": ["school"], "reset_at_middle": reset}}
    scenario = from_dict(data)
    chain = mechanisms(scenario)
    world = World(scenario, 0, chain)
    wl = next(m for m in chain if m.name == "waiting_list")
    # Each request's number and years of school here, as read when it joined the list.
    numbered: dict[int, tuple[float, float, float]] = {}
    number = wl.number

    def spy(world_: World, req: Any, now: float) -> float:
        got = number(world_, req, now)
        numbered[req.case_id] = (got, now, world_.attr(req, "years_schooling"))
        return got

    wl.number = spy  # type: ignore[method-assign]
    world.run()
    c = world.lives.children_table()
    moved = c[(c["year"] == FIRST + 1) & (c["stage"] == "middle") & (c["hukou"] == "migrant")
              & (c["outcome"] == "city_public")]
    assert len(moved) > 20
    for case_id in moved["case_id"]:
        got, now, schooling = numbered[case_id]
        # Nearly a year of primary school here (placed in the weeks after it applied).
        assert 0.7 < schooling < 1.0
        if reset:
            assert got == now  # the bottom of a new list
        else:
            assert got == pytest.approx(now - YEAR_DAYS * schooling)


def _two_children(rule: dict[str, Any], **attributes: Any) -> api.Run:
    """Households with two children five years apart, the eldest in middle school (12-14,
    the younger 7-9, in primary), under one eligibility rule for the school service."""
    data = city_over_years(years=1, households=200, in_migration=0, sibling_gap=(5, 5))
    for g in data["population"]["groups"]:
        g["attributes"].update(school_stage="middle", children=2, **attributes)
    data["mechanisms"] = {"eligibility": {"rules": [{"service": "school", **rule}]}}
    return run(data)


def _outcomes(r: api.Run) -> dict[tuple[str, int], set[str]]:
    """The outcomes of migrant children's school cases, by (stage, birth order)."""
    c, j = r.raw.children, r.journeys
    m = c[(c["hukou"] == "migrant") & (c["case_id"] >= 0)].merge(
        j[["case_id", "outcome"]], on="case_id", suffixes=("_year", ""))
    return {k: set(g["outcome"]) for k, g in m.groupby(["stage", "birth_order"],
                                                        observed=True)}


@pytest.mark.parametrize("stage", ["primary", "middle"])
def test_each_school_request_is_judged_by_its_own_childs_stage(stage: str) -> None:
    # A rule for one stage (Beijing 2012: the middle-school leaver's exam) applies to the
    # request of the child in that stage, not to its sibling's: the household's stage
    # (its eldest's) does not decide a younger child's request.
    out = _outcomes(_two_children({"stage": stage, "min_years": {"schooling": 100}}))
    other = "middle" if stage == "primary" else "primary"
    ruled = (stage, 0 if stage == "middle" else 1)
    free = (other, 0 if other == "middle" else 1)
    assert out[ruled] == {"alternative"}  # refused at the school: the private school
    assert out[free] == {"served"}


def test_each_school_request_reads_its_own_childs_years_of_school() -> None:
    # The drawn years of school here (5) are the eldest's; a younger child (7 to 9 on
    # arrival, school from 6) has had at most 1 to 3 of them: a rule asking for 4 refuses
    # the younger child's request and admits the eldest's.
    out = _outcomes(_two_children({"min_years": {"schooling": 4}}, years_schooling=5.0))
    assert out[("middle", 0)] == {"served"}
    assert out[("primary", 1)] == {"alternative"}


def test_children_and_years_tables_share_calendar_years() -> None:
    # One meaning of "year": the children table's year of a school year is the calendar
    # year in which its school place was asked for, which is how years.parquet counts
    # requests. A history that starts on 1 January 2010 and a leap year (2012) inside it.
    s = api.load(preset="beijing_history", overrides={
        "population.households": 300, "lives.in_migration": 300})
    r = api.run(s, 0)
    c, j = r.raw.children, r.journeys
    y = measures.years(j, s)
    assert sorted(c["year"].unique()) == sorted(y["year"].unique()) == list(range(2010, 2021))
    # Every school request belongs to a child followed in the year it was made.
    school = j[j["service"] == "school"].assign(year=lambda d: measures.request_years(d, s))
    rows = set(zip(c["household_id"], c["year"], strict=True))
    assert all((h, yr) in rows for h, yr in zip(school["household_id"], school["year"],
                                                strict=True))
    # A child's case was asked for in its row's year, or earlier for a place kept.
    made = school.set_index("case_id")["year"]
    with_case = c[c["case_id"] >= 0]
    asked = made.loc[with_case["case_id"]].to_numpy()
    assert (asked <= with_case["year"].to_numpy()).all()
    # Joined on (year, group): the children whose case was made that year are among that
    # year's school requests of years.parquet, in every year.
    new = with_case[asked == with_case["year"].to_numpy()]
    joined = new.groupby(["year", "group"], observed=True).size().rename("children").to_frame(
        ).join(y[y["service"] == "school"].set_index(["year", "group"])["requests"])
    assert joined["requests"].notna().all()
    assert (joined["children"] <= joined["requests"]).all()
    assert set(joined.index.get_level_values("year")) == set(range(2010, 2021))


def test_every_child_of_a_household_is_followed() -> None:
    # Households with 1.5 children (half have two); the younger is 5 years younger, so a
    # sibling of a 6- to 10-year-old is not of school age yet and applies when it turns 6.
    data = city_over_years(years=4, households=200, in_migration=0, sibling_gap=(5, 5))
    for g in data["population"]["groups"]:
        g["attributes"]["children"] = 1.5
    r = run(data)
    c, j = r.raw.children, r.journeys
    assert not c.duplicated(["child_id", "year"]).any()
    assert set(c.groupby("household_id")["child_id"].nunique()) == {1, 2}
    # Every child is seen on arrival (a life event each), half the households have two.
    seen = r.raw.life_events.query("event == 'child'").groupby("household_id").size()
    assert len(seen) == 200 and set(seen) == {1, 2}
    assert 0.35 < (seen == 2).mean() < 0.65
    assert set(c["birth_order"]) == {0, 1}
    both = c.pivot_table(index=["household_id", "year"], columns="birth_order", values="age")
    both = both.dropna()
    assert len(both) and ((both[0] - both[1]) == 5).all()
    # Each school-age child in the city asks for its own place: two school requests of one
    # household on the same day, each the case of one child.
    school = j[j["service"] == "school"]
    cases = c[c["case_id"] >= 0].drop_duplicates(["child_id", "case_id"])
    assert not cases.duplicated("case_id").any()  # a case is one child's
    assert (school.groupby(["household_id", "start"]).size() == 2).any()
    # A younger child starts primary school in a later year and its family applies then.
    first_year = c.groupby("child_id")["year"].min()
    household_first = c.groupby("household_id")["year"].min()
    later = c[(c["birth_order"] == 1) & (c["child_id"].map(first_year)
                                        > c["household_id"].map(household_first))]
    starters = later[later["year"] == later["child_id"].map(first_year)]
    assert len(starters) and (starters["stage"] == "primary").all()
    made = measures.request_years(school, from_dict(data))
    year_of_case = dict(zip(school["case_id"], made, strict=True))
    assert all(year_of_case[k] == y for k, y in zip(starters["case_id"], starters["year"],
                                                    strict=True) if k >= 0)
    assert (starters["case_id"] >= 0).any()


def test_one_child_households_keep_their_tables() -> None:
    # children = 1 (the default) draws nothing more: one child per household, eldest only.
    c = run(city_over_years()).raw.children
    assert (c["birth_order"] == 0).all()
    assert c.groupby("household_id")["child_id"].nunique().max() == 1


def test_a_seat_won_after_the_family_left_is_given_back(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # A request still on its way when its family leaves the city can end with a place: the
    # place is given back that day (nobody is there to take it).
    released: list[tuple[str, int, float]] = []
    original = World.release_seat

    def spy(self: World, office: str, household: Any = None, case: int = -1) -> None:
        if household is not None:
            released.append((office, household.id, self.env.now))
        original(self, office, household, case)

    monkeypatch.setattr(World, "release_seat", spy)
    s = api.load(preset="beijing_history", overrides={"population.households": 600,
                                                      "lives.in_migration": 600})
    r = api.run(s, 0)
    left = r.raw.life_events.query("event == 'leave_city'").set_index("household_id")["time"]
    j = r.journeys
    late = j[(j["service"] == "school") & j["outcome"].isin(["served", "alternative"])
             & (j["household_id"].map(left) < j["end"])]
    assert len(late)
    given_back = set(released)
    assert all((str(o), int(h), float(t)) in given_back for o, h, t in zip(
        late["last_office"], late["household_id"], late["end"], strict=True))


def _closing_private_school(lives: dict[str, Any], **attributes: Any) -> api.Run:
    """Two years; the public school has 5 seats, so most children go to the private school,
    which a notice on day 200 says will close on day 565 (after the turn of the year, when
    the 11-year-olds move on to junior middle school)."""
    data = city_over_years(years=2, households=200, in_migration=0, **lives)
    for g in data["population"]["groups"]:
        g["attributes"].update(attributes)
    data["offices"][0]["seats"] = 5
    data["mechanisms"] = {"withdrawal": {"offices": ["minban"], "notice": 200.0,
                                         "notice_days": 365.0}}
    return run(data)


def test_a_closure_case_ends_when_its_pupil_moves_on_before_the_closure() -> None:
    # A pupil of the closing school who moves on to junior middle school on 1 January gives
    # its place up then: the case the notice opened for it ends that day, at the closing
    # school, as the place it had there ("alternative"); it is not left waiting to the end
    # of the run, and the story does not call it still open.
    r = _closing_private_school({"stage_ages": {"primary": (11, 11), "middle": (12, 14)}})
    j = r.journeys
    notices = j[(j["start"] == 200.0) & (j["hukou"] == "migrant")]
    assert len(notices) > 50
    c = r.raw.children
    moved = set(c[(c["year"] == FIRST + 1) & (c["stage"] == "middle")]["household_id"])
    ends = notices[notices["household_id"].isin(moved)]
    assert len(ends) > 50
    assert set(ends["outcome"]) == {"alternative"}
    assert set(ends["last_office"]) == {"minban"} and set(ends["end"]) == {YEAR_DAYS}
    hid = int(ends["household_id"].iloc[0])
    story = "\n".join(life_story_lines(r.events, r.raw.life_events, hid, r.scenario))
    assert "kept its place at the minban until it left that school" in story
    assert "still open" not in story


def test_a_brother_moving_on_leaves_his_sister_to_the_closure() -> None:
    # Two children at the closing school, the elder (11) moving on to middle school on
    # 1 January, the younger (10) staying: the elder's notice case ends that day, the
    # younger's at the closure (day 565), when she is pushed out like every holdout.
    r = _closing_private_school({"sibling_gap": (1, 1)}, children=2)
    c, j = r.raw.children, r.journeys
    first = c[c["year"] == FIRST]
    both = first[first["outcome"] == "private"].groupby("household_id")["age"].apply(sorted)
    pairs = {h for h, ages in both.items() if ages == [10, 11]}
    assert len(pairs) > 5
    notices = j[(j["start"] == 200.0) & j["household_id"].isin(pairs)]
    for hid, cases in notices.groupby("household_id"):
        assert sorted(cases["end"]) == [YEAR_DAYS, 565.0], hid
        younger = cases[cases["end"] == 565.0]
        assert set(younger["outcome"]) <= {"sent_away", "gave_up"}, hid


def test_the_households_years_of_school_are_those_of_the_child_its_stage_describes() -> None:
    # The household's school_stage is its eldest child still at school; its years_schooling
    # (read by household services, e.g. a vocational exam's rule of 3 years here) are that
    # same child's, not those of an elder one who has left school age.
    data = city_over_years(years=4, households=150, in_migration=0, sibling_gap=(4, 4),
                           stage_ages={"primary": (6, 11), "middle": (12, 14), "high": (15, 15)})
    for g in data["population"]["groups"]:
        g["attributes"].update(school_stage="middle", children=2, years_schooling=5.0)
    scenario = from_dict(data)
    world = World(scenario, 0, mechanisms(scenario))
    world.run()
    lives, now = world.lives, world.env.now
    column, stage = world.columns["years_schooling"], world.columns["school_stage"]
    moved_on = 0
    for hid, kids in lives.children.items():
        if hid in lives.gone or len(kids) < 2:
            continue
        lead = next((c for c in kids if c.followed and c.stage in ("primary", "middle",
                                                                     "high")), kids[0])
        assert stage[hid] == lead.stage
        assert column[hid] == pytest.approx(lead.years_schooling(now)), hid
        moved_on += lead is not kids[0]
    assert moved_on > 20  # households whose eldest has left school age
