"""A family's story over years: every request in time order, with the events of its life
between them (the child's stages, job changes and moves, renewals, leaving the city).

Runs over years (``[lives]``) leave a table of life events beside the event log; this
tells both, year by year, reusing the words of :mod:`maze.story` for each request.

Pure: the event log, the life events and the scenario in, text out.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd

from maze.population import YEAR_DAYS
from maze.scenario import Scenario
from maze.story import Teller, _portrait, request_story

#: How a stage is said.
STAGE_WORDS = {"preschool": "preschool", "primary": "primary school",
               "middle": "junior middle school", "high": "senior high school (the gaokao stage)",
               "none": "the end of school age"}


def _event_sentence(t: Teller, event: str, detail: str) -> str | None:
    """One life event as a sentence (None for events told by the requests themselves)."""
    if event == "arrive":
        return "the family arrived in the city."
    if event == "child":
        stage, _, rest = detail.partition(", ")
        age, _, where = rest.partition(", ")
        return (f"their child ({STAGE_WORDS.get(stage, stage)}, {age}) "
                + ("came with them." if where == "in the city" else
                   "stayed in the hometown."))
    if event == "child_stage":
        return f"their child moved on to {STAGE_WORDS.get(detail, detail)}."
    if event == "bring_child":
        return "they brought their child from the hometown."
    if event == "child_home":
        return "their child went to school in the hometown, while they stayed in the city."
    if event == "gaokao_home":
        return ("their child went back to the hometown for senior high school, where the "
                "gaokao must be taken.")
    if event == "renew":
        return f"{t.service(detail)} had to be renewed for the new year."
    if event == "try_again":
        return f"they tried again for {t.service(detail)}."
    if event == "job_change":
        return ("a change of job had broken their streak of work and of local insurance, "
                "and their old employer's papers no longer counted.")
    if event == "move":
        return ("a move of home had broken their streak of residence, and the papers of "
                "their old address no longer counted.")
    if event == "leave_city":
        return f"the family left the city ({detail})."
    return None


def _when(t: Teller, time: float) -> str:
    d = t.scenario.city.start_date + timedelta(days=math.floor(time))
    return f"Day {math.floor(time)} ({d.day} {d:%B %Y})"


def life_story_lines(events: pd.DataFrame, life_events: pd.DataFrame, household_id: int,
                     scenario: Scenario) -> list[str]:
    """The family's years, each under its own heading: life events and requests (each
    request told whole where it starts), in time order."""
    ev = events[events["household_id"] == household_id]
    life = life_events[life_events["household_id"] == household_id]
    if not len(ev) and not len(life):
        return [f"Household {household_id} did not live in the city during this run."]
    t = Teller(scenario)
    lines = [_portrait(ev.iloc[0], household_id) if len(ev) else f"Household {household_id}."]
    items: list[tuple[float, int, int, list[str]]] = []
    for i, (time, event, detail) in enumerate(life[["time", "event", "detail"]].itertuples(
            index=False)):
        sentence = _event_sentence(t, str(event), str(detail))
        if sentence is not None:
            items.append((float(time), 0, i, [f"{_when(t, float(time))}: {sentence}"]))
    for case_id, case in ev.groupby("case_id", sort=True):
        start = float(case["time"].min())
        items.append((start, 1, int(case_id),
                      [f"Asking for {t.service(str(case['service'].iloc[0]))}:",
                       *request_story(t, case)]))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    year = None
    for time, _, _, block in items:
        y = int(math.floor(time / YEAR_DAYS))
        if y != year:
            year = y
            first = scenario.city.start_date + timedelta(days=y * YEAR_DAYS)
            lines += ["", f"Year {y + 1} (from {first.day} {first:%B %Y}):"]
        lines += block
    return lines
