"""A family's story over years: every step of every request in time order, with the events
of its life between them (the child's stages, job changes and moves, renewals, leaving).

Runs over years (``[lives]``) leave a table of life events beside the event log; this
tells both, year by year. Within a year the steps of the family's requests are told
together day by day, each tagged with its request, as :func:`maze.story.story_lines`
tells one season; each year ends with the tally of the requests begun in it.

Pure: the event log, the life events and the scenario in, text out.
"""

from __future__ import annotations

import math

import pandas as pd

from maze.scenario import Scenario
from maze.story import (
    Step,
    Teller,
    _portrait,
    _tags,
    _tally,
    _words,
    request_steps,
    visits_of,
)

#: How a stage is said.
STAGE_WORDS = {"preschool": "preschool", "primary": "primary school",
               "middle": "junior middle school", "high": "senior high school (the gaokao stage)",
               "none": "the end of school age"}


def _event_sentence(t: Teller, event: str, detail: str) -> str | None:
    """One life event as a sentence (None for an event the story does not tell)."""
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
    d = t.date(time)
    return f"Day {math.floor(time)} ({d.day} {d:%B %Y})"




def life_story_lines(events: pd.DataFrame, life_events: pd.DataFrame, household_id: int,
                     scenario: Scenario) -> list[str]:
    """The family's years, each under its own heading: life events and the steps of its
    requests in time order, then the tally of each request begun that year."""
    ev = events[events["household_id"] == household_id]
    life = life_events[life_events["household_id"] == household_id]
    if not len(ev) and not len(life):
        return [f"Household {household_id} did not live in the city during this run."]
    t = Teller(scenario)
    lines = [_portrait(ev.iloc[0], household_id) if len(ev) else f"Household {household_id}."]
    # (time, order within the instant, request number, step number, step)
    merged: list[tuple[float, int, int, int, Step]] = []
    for i, (time, event, detail) in enumerate(life[["time", "event", "detail"]].itertuples(
            index=False)):
        sentence = _event_sentence(t, str(event), str(detail))
        if sentence is not None:
            merged.append((float(time), 0, -1, i,
                           Step(float(time), f"{_when(t, float(time))}: {sentence}", "life")))
    cases = ev.groupby("case_id", sort=False)
    order = sorted(cases.groups, key=lambda c: (float(ev.loc[cases.groups[c], "time"].min()), c))
    # two children asking for school in one year make two "school 2010" requests: the
    # later one is the "second school 2010"
    tags = _tags([f"{_words(str(ev.loc[cases.groups[c], 'service'].iloc[0]))} "
                  f"{t.date(float(ev.loc[cases.groups[c], 'time'].min())).year}"
                  for c in order])
    tallies: dict[int, list[str]] = {}
    for k, case_id in enumerate(order):
        case = ev.loc[cases.groups[case_id]]
        start = float(case["time"].min())
        tag = tags[k]
        # sent to the hometown, a family over years stays (maze.lives leaves only on a
        # request that ends elsewhere)
        for n, step in enumerate(request_steps(t, case, family_stays=True)):
            if step.kind != "tally":
                merged.append((step.time, 1, k, n if step.kind != "outcome" else 10**9, step))
        tally = _tally(t, case, visits_of(t, case))
        tallies.setdefault(t.date(start).year, []).append(
            tally.replace("In all:", f"In all, for the {tag} request:", 1))
    merged.sort(key=lambda m: (m[0], m[1], m[2], m[3]))
    year: int | None = None

    def close(y: int | None) -> None:
        if y is not None and tallies.get(y):
            lines.extend(["", *tallies[y]])

    for time, _, k, _, step in merged:
        y = t.date(time).year
        if y != year:
            close(year)
            year = y
            lines += ["", f"Year {y}:"]
        text = step.text
        if step.kind == "outcome":
            text = text.replace("Outcome,", f"Outcome of the {tags[k]} request,", 1)
        elif step.kind != "life":
            day, _, rest = text.partition(": ")
            text = f"{day}, {tags[k]}: {rest}"
        lines.append(text)
    close(year)
    return lines
