"""Narrated journeys: dated steps that agree with the event log and the journeys table."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import pytest

from maze import story
from maze.app import api
from maze.app.cli import main
from maze.scenario import Scenario, from_dict
from tests.conftest import paper_city

DAY = re.compile(r"^Day (\d+) \((\d+) (\w+)\)")


@pytest.fixture(scope="module")
def paper() -> tuple[Scenario, api.Run]:
    data = paper_city(200)
    data["city"]["start_date"] = "2013-08-20"
    scenario = from_dict(data)
    return scenario, api.run(scenario, seed=5)


def _household(run: api.Run, group: str, outcome: str) -> int:
    j = run.journeys
    return int(j[(j["group"] == group) & (j["outcome"] == outcome)]["household_id"].iloc[0])


def test_a_household_without_a_lease_hears_why_the_paper_is_refused(paper) -> None:
    scenario, run = paper
    hid = _household(run, "without_lease", "sent_away")
    text = story.tell(run.events, hid, scenario)
    assert text.startswith(f"Household {hid} is a without lease household")
    assert "the school asked for papers they did not have: permit" in text
    assert "the street office would not issue the address: their lease is not in their own " \
           "name" in text
    assert "Outcome, day" in text and "sent away" in text
    assert "Nobody ever said it was because of their hukou." in text


def test_dates_follow_the_city_calendar(paper) -> None:
    scenario, run = paper
    hid = _household(run, "with_lease", "served")
    lines = story.story_lines(run.events, hid, scenario)
    dated = [m for m in (DAY.match(x) for x in lines) if m]
    assert len(dated) >= 3
    for m in dated:
        d = date(2013, 8, 20) + timedelta(days=int(m.group(1)))
        assert (int(m.group(2)), m.group(3)) == (d.day, d.strftime("%B"))
    days = [int(m.group(1)) for m in dated]
    assert days == sorted(days)


def test_the_tally_agrees_with_the_journeys_table(paper) -> None:
    scenario, run = paper
    j = run.journeys
    for _, row in j.sample(20, random_state=0).iterrows():
        lines = story.story_lines(run.events, int(row["household_id"]), scenario)
        tally = [x for x in lines if x.startswith("In all")]
        assert len(tally) == (j["household_id"] == row["household_id"]).sum()
        mine = j[j["household_id"] == row["household_id"]].sort_values(["start", "case_id"])
        for text, (_, req) in zip(tally, mine.iterrows(), strict=True):
            m = re.search(r"(\d+) visits? to (\d+) offices? \(.*\) at (\d+|no) levels?", text)
            assert m is not None, text
            levels = 0 if m.group(3) == "no" else int(m.group(3))
            assert (int(m.group(1)), int(m.group(2)), levels) == (
                req["visits"], req["offices_seen"], req["levels_seen"])


def _row(t: float, office: str, activity: str, reason: str = "", document: str = "",
         wait: float = 0.0) -> dict:
    return {"case_id": 0, "household_id": 7, "service": "school", "time": t, "office": office,
            "activity": activity, "reason": reason, "target": "", "document": document,
            "start": t - wait, "wait": wait, "fee": 0.0, "wage_lost": 50.0, "outcome": "",
            "group": "without_lease", "hukou": "migrant", "origin": "other",
            "education": "middle", "contract": False, "lease_own": False,
            "residence_permit": False}


def test_runs_of_the_same_answer_are_told_once(paper) -> None:
    scenario, _ = paper
    events = pd.DataFrame([
        _row(0.2, "school", "request"),
        _row(0.3, "school", "require", "documents", "permit"),
        _row(3.4, "police", "require", "documents", "address", wait=2.5),
        _row(6.4, "police", "require", "documents", "address"),
        _row(9.4, "police", "require", "documents", "address"),
        _row(9.4, "", "gave_up", "documents"),
    ])
    lines = story.story_lines(events, 7, scenario)
    assert lines[3:] == [
        "Day 0 (20 August): the family asked the school for a school place for their child.",
        "Day 0 (20 August): the school asked for papers they did not have: permit, so they "
        "went to the police.",
        "Day 3 (23 August) to day 9 (29 August): after waiting 3 days, the police would "
        "not go on without address first. They came back 2 more times; the answer was the "
        "same each time.",
        "Outcome, day 9 (29 August): they gave up, and stay in the city without a school "
        "place for their child.",
        "In all: 9 days (20 August to 29 August), 4 visits to 2 offices (school and police) "
        "at 2 levels of the city's government (district and municipal); 0 RMB in fees and "
        "200 RMB in lost wages. "
        "Nobody ever said it was because of their hukou.",
    ]


def test_durations_count_days_as_on_the_calendar(paper) -> None:
    scenario, _ = paper
    events = pd.DataFrame([
        _row(0.7, "school", "request"),
        _row(1.2, "school", "serve", wait=0.6),
        _row(1.2, "", "served"),
    ])
    lines = story.story_lines(events, 7, scenario)
    # 20 August late to 21 August early: a reader counts one day, and one day of waiting.
    assert "Day 1 (21 August): after waiting 1 day, the school said yes" in lines[4]
    assert lines[-1].startswith("In all: 1 day (20 August to 21 August), 1 visit ")
    same = pd.DataFrame([_row(0.2, "school", "request"), _row(0.9, "school", "serve", wait=0.5),
                         _row(0.9, "", "served")])
    assert story.story_lines(same, 7, scenario)[-1].startswith("In all: the same day, 1 visit")


def test_several_requests_are_told_together_in_time_order(paper) -> None:
    scenario, _ = paper
    school = [_row(0.1, "school", "request"),
              _row(0.2, "school", "require", "documents", "permit"),
              _row(30.5, "police", "require", "documents", "address"),
              _row(34.0, "", "gave_up", "documents")]
    home = [{**r, "case_id": 1, "service": "school"} for r in (
        _row(2.0, "school", "request"), _row(2.1, "school", "refuse", "hukou"),
        _row(15.0, "", "sent_away"))]
    lines = story.story_lines(pd.DataFrame(school + home), 7, scenario)
    body = [x for x in lines if x.startswith(("Day ", "Outcome"))]
    days = [int(re.match(r"(?:Day|Outcome of the .* request, day) (\d+)", x).group(1))
            for x in body]
    assert days == sorted(days) == [0, 0, 2, 2, 15, 30, 34]
    assert lines[2].startswith("2 requests, told together day by day")
    assert "how one ends does not end the others" in lines[2]
    went_home = body[4]
    assert went_home.startswith("Outcome of the second school request, day 15 (4 September): "
                                "sent away")
    assert "This ends the second school request only; the school request goes on." in went_home
    assert body[5].startswith("Day 30 (19 September), school: ")
    assert not any("went home" in x for x in lines)
    tallies = [x for x in lines if x.startswith("In all")]
    assert [x.split(":")[0] for x in tallies] == ["In all, for the school request",
                                                  "In all, for the second school request"]


def test_the_typical_household_has_its_groups_commonest_outcome(paper) -> None:
    _, run = paper
    j = run.journeys
    for group in ("with_lease", "without_lease"):
        hid = story.typical_household(j, group)
        part = j[j["group"] == group]
        mine = j[j["household_id"] == hid]
        assert (mine["group"] == group).all()
        assert mine["outcome"].iloc[0] == part["outcome"].value_counts().idxmax()
    with pytest.raises(KeyError):
        story.typical_household(j, "nobody")


def test_story_command_prints_a_journey(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["story", "--households", "150", "--seed", "2", "--group", "graduate"]) == 0
    out = capsys.readouterr().out
    assert "graduate household" in out
    assert re.search(r"^Day \d+ \(\d+ \w+\)[,:] ", out, re.M)
    assert "In all" in out


def test_story_command_refuses_bad_choices_in_one_line(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["story", "--households", "50", "--group", "nobody"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("maze: error: --group: no group 'nobody'") and "\n" not in err
    assert main(["story", "--households", "50", "--household", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no household 50" in err and "\n" not in err


def test_a_closure_notice_is_told_as_news_not_as_a_request() -> None:
    """The case a closure notice opens starts at the closing school with its refusal; the
    story says a notice went up, counts no visit for it, and never has the family ask."""
    scenario = api.load(preset="beijing", overrides={"population.households": 1500})
    run = api.run(scenario, seed=0)
    ev = run.events
    opened = ev[(ev["reason"] == "closure") & (ev["activity"] == "refuse")]
    assert len(opened), "the Beijing preset's notice reopens no case"
    case_id = int(opened["case_id"].iloc[0])
    hid = int(opened["household_id"].iloc[0])
    t = story.Teller(scenario)
    case = ev[ev["case_id"] == case_id]
    assert story.notice_row(t, case) is not None
    text = story.tell(ev, hid, scenario)
    office = str(opened["office"].iloc[0]).replace("_", " ")
    assert f"a notice went up at the {office}: it would close" in text
    assert f"the family asked the {office}" not in text
    assert f"after a notice that the {office} would close" in text
    # the closure falls after this season: a case it opened and nothing ended stays open,
    # and the story claims no more than that (the child may have given the place up)
    open_cases = ev[(ev["activity"] == "pending")
                    & ev["case_id"].isin(opened["case_id"])]["case_id"]
    assert len(open_cases)
    still = ev[ev["case_id"] == int(open_cases.iloc[0])]
    ending = [x.text for x in story.request_steps(t, still) if x.kind == "outcome"]
    assert ending and ending[0].endswith(
        f"ends before the {office} closes, with the case the notice opened still open.")
    steps = story.request_steps(t, case)
    assert steps[0].kind == "start" and "notice went up" in steps[0].text
    assert not any(s.kind == "visit" and "closed for good" in s.text for s in steps)
    # an ordinary request is not mistaken for one
    first = ev[ev["case_id"] == int(ev["case_id"].min())]
    assert story.notice_row(t, first) is None


def test_a_served_request_is_not_told_that_nobody_said_hukou(paper) -> None:
    scenario, run = paper
    hid = _household(run, "with_lease", "served")
    text = story.tell(run.events, hid, scenario)
    assert "Outcome, day" in text and "served in the city" in text
    assert "hukou" not in text.split("In all:")[-1]


def test_offices_and_degrees_are_told_in_words() -> None:
    t = story.Teller(api.load(preset="beijing"))
    assert t.office("hr_social_security_bureau") == "the human resources and social security bureau"
    row = pd.Series({"group": "graduate", "hukou": "migrant", "origin": "other",
                     "education": "master"})
    assert "a master's degree" in story._portrait(row, 1)


def test_a_family_over_years_tells_two_children_apart_and_stays_when_one_goes_home() -> None:
    """Two school requests begun in one year are 'school 2010' and 'second school 2010';
    a request sent to the hometown leaves the family in the city (maze.lives moves the
    child only), so its story does not say the family left."""
    from maze.life_story import life_story_lines

    scenario = api.load(preset="beijing_history",
                        overrides={"population.households": 150, "lives.in_migration": 20})
    run = api.run(scenario, 0)
    school = run.journeys[run.journeys["service"] == "school"]
    home = school[(school["outcome"] == "sent_away") & (school["last_office"] == "hometown")]
    assert len(home)
    stories = {hid: "\n".join(life_story_lines(run.events, run.raw.life_events, hid,
                                               scenario))
               for hid in home["household_id"].unique()[:20]}
    assert not any("they left the city for the hometown" in s for s in stories.values())
    assert all("sent away to the hometown; the family stays in the city" in s
               for s in stories.values())
    years = [(scenario.city.start_date + timedelta(days=float(d))).year for d in school["start"]]
    twice = school.groupby([school["household_id"], years]).size()
    hid, year = twice[twice > 1].index[0]
    text = "\n".join(life_story_lines(run.events, run.raw.life_events, int(hid), scenario))
    assert f", school {year}: " in text and f", second school {year}: " in text
