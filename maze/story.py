"""Narrated journeys: one household's way through the maze, told in plain words with dates.

A teacher can read a story aloud where a table of shares would lose the room:
each counter visit becomes a dated sentence ("Day 12 (13 June): at the street
office, ..."), runs of the same answer are told once, and the story ends with
the outcome and how many offices and levels of government the family met, which
is what the texts call the spread of blame.

Pure: the event log and the scenario in, text out. Nothing here runs a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.population import ATTRIBUTES
from maze.scenario import Scenario

#: How a service is asked for, where the scenario's name alone reads badly.
SERVICE_WORDS = {
    "school": "a school place for their child",
    "health_insurance": "urban health insurance",
    "healthcare": "treatment for an illness",
    "medical_care": "treatment for an illness",
    "residence_permit": "a residence permit",
    "hukou_transfer": "a local hukou",
    "vocational_exam": "a seat at the vocational-school entrance exam for their child",
    "permanent_residence": "a permanent residence permit",
    "dibao": "minimum living support (dibao)",
}

#: Offices whose scenario name reads badly as words.
OFFICE_WORDS = {
    "hr_social_security_bureau": "human resources and social security bureau",
    "hr_bureau": "human resources bureau",
}

#: Highest degrees, as a portrait says them.
EDUCATION_WORDS = {
    "none": "no schooling", "primary": "primary education", "middle": "middle-school education",
    "high_school": "high-school education",
    "university": "a university degree", "master": "a master's degree",
    "doctorate": "a doctorate",
}

#: Why an issuer would not give a paper, when the household lacks a yes/no attribute.
LACKS = {
    "lease_own": "their lease is not in their own name",
    "contract": "they have no signed labour contract",
    "residence_permit": "they hold no temporary residence permit",
    "rural_insurance": "they are not insured in their hometown",
    "investor": "they own no firm that qualifies",
}

#: What an office said, by reason, when it turned the family away.
REFUSALS = {
    "hukou": "told them plainly that without a local hukou there was nothing for them",
    "documents": "would not accept their papers",
    "capacity": "said it was full",
    "deadline": "said the deadline had passed and they should try again next year",
    "eligibility": "said they did not qualify (not enough consecutive years of work, insurance "
                   "or residence in the city, or too old)",
    "none": "just said no, without giving a reason",
    "price": "wanted more money than the family had left",
    "closure": "was closed for good",
}

#: Why an office sent the family on, by reason.
SENT_BECAUSE = {
    "hukou": "because they had no local hukou",
    "documents": "to have their papers certified",
    "capacity": "saying it was full",
    "deadline": "saying it was too late",
    "eligibility": "saying they did not qualify there",
    "none": "without saying why",
    "price": "saying it was too expensive",
    "closure": "because it was closing",
}


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def _office_words(name: str) -> str:
    """An office's name as words ('human resources and social security bureau')."""
    return OFFICE_WORDS.get(name) or _words(name)


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _money(x: float) -> str:
    return f"{x:,.0f} RMB"


def _days(x: float) -> str:
    n = round(x)
    return "1 day" if n == 1 else f"{n} days"


def _more(n: int) -> str:
    return "once more" if n == 1 else f"{n} more times"


def _times(n: int, noun: str = "time") -> str:
    return "once" if n == 1 and noun == "time" else f"1 {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class Teller:
    """What the story needs from the scenario: office kinds and levels, the start date."""

    scenario: Scenario

    def office(self, name: str) -> str:
        """'the street office', 'the hometown'."""
        words = _office_words(name)
        return words if words.startswith("the ") else f"the {words}"

    def day(self, t: float) -> str:
        d = self.date(t)
        return f"Day {math.floor(t)} ({d.day} {d:%B})"

    def date(self, t: float) -> date:
        return self.scenario.city.start_date + timedelta(days=math.floor(t))

    def service(self, name: str) -> str:
        return SERVICE_WORDS.get(name, _words(name))

    def entry(self, service: str) -> str | None:
        spec = self.scenario.services.get(service)
        return spec.entry if spec else None

    def issuers(self, documents: str) -> set[str]:
        """Offices that issue any of the '+'-joined documents."""
        docs = self.scenario.documents
        return {docs[d].issuer for d in documents.split("+") if d in docs and docs[d].issuer}

    def fallbacks(self, service: str) -> tuple[str, ...]:
        spec = self.scenario.services.get(service)
        return spec.fallback if spec else ()

    def role(self, office: str) -> str:
        try:
            return self.scenario.office(office).role
        except KeyError:
            return "city"

    def level(self, office: str) -> str | None:
        """The office's level of government, or None if it is not the city's government."""
        try:
            spec = self.scenario.office(office)
        except KeyError:
            return None
        return spec.level if spec.government else None

    def why_not_issued(self, document: str, row: pd.Series) -> str:
        doc = self.scenario.documents.get(document)
        if doc is None:
            return ""
        lacking = [a for a in doc.needs if a in row.index and not bool(row[a])]
        if not lacking:
            lacking = list(doc.needs)
        reasons = [LACKS.get(a, f"they do not meet the condition '{ATTRIBUTES[a].doc}'"
                             if a in ATTRIBUTES else _words(a)) for a in lacking]
        return f": {_list(reasons)}" if reasons else ""


def _same(a: pd.Series, b: pd.Series) -> bool:
    return all(str(a[c]) == str(b[c]) for c in ("office", "activity", "reason", "document"))


def _visit_sentence(t: Teller, r: pd.Series, nxt: pd.Series | None, times: int) -> str:
    """One visit (or a run of identical ones) as a sentence: who said what, and why."""
    name = str(r["office"])
    office = t.office(name)
    act = str(r["activity"])
    reason = str(r["reason"]) or "none"
    docs = [_words(d) for d in str(r["document"]).split("+") if d]
    at_entry = name == t.entry(str(r["service"]))
    fee = float(r["fee"])
    paid = f", for {_money(fee)}" if fee else ""
    going = ""
    if (nxt is not None and act == "require" and str(nxt["office"]) != name
            and str(nxt["office"]) in t.issuers(str(r["document"]))):
        going = f", so they went to {t.office(str(nxt['office']))}"
    if act == "require":
        what = (f"asked for papers they did not have: {_list(docs)}" if at_entry
                else f"would not go on without {_list(docs)} first")
    elif act == "issue":
        what = f"issued the {_list(docs)}{paid}"
    elif act == "refer":
        target = t.office(str(r["target"])) if str(r["target"]) else "another office"
        what = f"sent them to {target} {SENT_BECAUSE.get(reason, '')}".rstrip()
    elif act == "leave":
        what = "never saw them: their patience ran out in the line and they left"
    elif act == "retry":
        what = "told them to come back later" + ("" if reason == "none"
                                                 else f" ({_words(reason)})")
    elif act == "refuse":
        if reason == "documents" and docs and not at_entry:
            what = f"would not issue the {_list(docs)}" + t.why_not_issued(
                str(r["document"]).split("+")[0], r)
        else:
            what = REFUSALS.get(reason, f"said no ({_words(reason)})")
    elif t.role(name) == "alternative":
        what = f"took them{paid}"
    elif t.role(name) == "sent_away":
        what = f"took them back{paid}"
    else:
        what = f"said yes: {t.service(str(r['service']))}{paid}"
    if name in t.fallbacks(str(r["service"])):
        if t.role(name) == "sent_away":
            sentence = f"out of options in the city, they went back to {office}"
            if act != "serve":
                sentence += f", which {what}"
        else:
            sentence = f"out of options in the city, they tried {office}, which {what}"
    else:
        sentence = f"{office} {what}{going}"
    waited = _calendar_days(t, float(r["start"]), float(r["time"]))
    if waited >= 1:
        sentence = f"after waiting {_days(waited)}, {sentence}"
    again = "" if times == 1 else (f" They came back {_more(times - 1)}; the answer was the "
                                   "same each time.")
    return f"{sentence}.{again}"


def notice_row(t: Teller, case: pd.DataFrame) -> int | None:
    """The index of the refusal that opened ``case`` as a closure notice, or None.

    A closure with notice reopens the case of each household placed at the closing office:
    the new case starts at that office (not at the service's counter) with a refusal on
    "closure" at the moment it is asked. That refusal is news the family receives, not a
    visit it made, and is told as such.
    """
    asked = case[case["activity"] == "request"]
    if not len(asked):
        return None
    first = asked.iloc[0]
    office = str(first["office"])
    if office == t.entry(str(first["service"])):
        return None
    same = case[(case["activity"] == "refuse") & (case["reason"].astype(str) == "closure")
                & (case["office"].astype(str) == office) & (case["time"] == first["time"])]
    return same.index[0] if len(same) else None


def visits_of(t: Teller, case: pd.DataFrame) -> pd.DataFrame:
    """The counter visits of a case: its visit events without a closure notice."""
    visits = case[case["activity"].isin(VISIT_ACTIVITIES)]
    notice = notice_row(t, case)
    return visits if notice is None else visits.drop(index=notice)


def _notice_sentence(t: Teller, r: pd.Series) -> str:
    return (f"{t.day(float(r['time']))}: a notice went up at {t.office(str(r['office']))}: it "
            "would close, and the place the family had there would end.")


def _start_sentence(t: Teller, r: pd.Series) -> str:
    return (f"{t.day(float(r['time']))}: the family asked {t.office(str(r['office']))} for "
            f"{t.service(str(r['service']))}.")


def _end_sentence(t: Teller, r: pd.Series, visits: pd.DataFrame,
                  notice: str | None = None, family_stays: bool = False) -> str:
    """The outcome line; ``notice`` is the closing office if a closure notice opened the case.
    ``family_stays``: a request sent to the hometown does not take the family there (runs
    over years, where a child sent to the hometown's school leaves its parents in the city)."""
    o = str(r["activity"])
    when = t.day(float(r["time"]))
    office = str(r["office"])
    service = t.service(str(r["service"]))
    if o == "served":
        text = "served in the city"
    elif o == "alternative" and notice is not None and office == notice:
        # a pupil who left the closing school (a new stage) before it closed
        text = f"their child kept its place at {t.office(office)} until it left that school"
    elif o == "alternative":
        text = f"served privately, by {t.office(office)}, instead of by the public service"
    elif o == "sent_away":
        if office and t.role(office) == "sent_away":
            text = (f"sent away to {t.office(office)}; the family stays in the city"
                    if family_stays else f"sent away; they left the city for {t.office(office)}")
        elif office:  # pushed out of a place they had (a school closed)
            text = f"sent away; with {t.office(office)} closing, they left the city"
        else:
            text = "sent away; finding nothing in the city, they looked to their hometown instead"
    elif o == "gave_up":
        text = f"they gave up, and stay in the city without {service}"
    elif o == "denied":
        text = "denied; told no outright because of their hukou, they gave up"
    elif o == "deterred":
        text = ("deterred; they never went to a counter, having heard that families like "
                "theirs do not get in")
    elif notice is not None and office == notice:
        text = (f"the period ends before {t.office(office)} closes, with the case the notice "
                "opened still open")
    else:
        text = "the period ends with the request still open"
    return f"Outcome, {when[0].lower()}{when[1:]}: {text}."


def _portrait(row: pd.Series, household_id: int) -> str:
    parts = []
    if "group" in row.index:
        parts.append(f"a {_words(row['group'])} household")
    if "hukou" in row.index:
        if str(row["hukou"]) == "local":
            parts.append("with a local hukou")
        else:
            origin = str(row.get("origin", ""))
            parts.append("whose hukou is " + (
                "in another province" if origin == "other" else "elsewhere in this province"
                if origin == "same" else "elsewhere"))
    facts = []
    if "education" in row.index:
        level = str(row["education"])
        facts.append(EDUCATION_WORDS.get(level, f"{_words(level)} education"))
    local = str(row.get("hukou", "")) == "local"
    for attr, yes, no in (("contract", "a labour contract", "no labour contract"),
                          ("lease_own", "a lease in their own name",
                           "no lease in their own name"),
                          ("residence_permit", "a temporary residence permit",
                           "no residence permit")):
        if attr in row.index and not local:
            facts.append(yes if bool(row[attr]) else no)
    who = ", ".join(parts) if parts else "a household"
    if who[:2] == "a " and who[2:3] in "aeiou":
        who = "an " + who[2:]
    return f"Household {household_id} is {who}: {_list(facts)}." if facts else \
        f"Household {household_id} is {who}."


@dataclass(frozen=True)
class Step:
    """One dated line of a request's story, with the time it happened (for ordering)."""

    time: float
    text: str
    kind: str = "visit"  # "start", "visit", "outcome" or "tally"


def request_steps(t: Teller, case: pd.DataFrame, family_stays: bool = False) -> list[Step]:
    """The steps of one request: the asking, each visit (runs merged), the end, the tally
    (``family_stays``: as :func:`_end_sentence`)."""
    case = case.sort_values("time", kind="stable")
    steps: list[Step] = []
    first = case[case["activity"] == "request"]
    notice = notice_row(t, case)
    if len(first):
        start = _start_sentence if notice is None else _notice_sentence
        steps.append(Step(float(first["time"].iloc[0]), start(t, first.iloc[0]), "start"))
    visits = visits_of(t, case)
    rows = [r for _, r in visits.iterrows()]
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and _same(rows[i], rows[j + 1]):
            j += 1
        nxt = rows[j + 1] if j + 1 < len(rows) else None
        when = t.day(float(rows[i]["time"]))
        if j > i:
            last = t.day(float(rows[j]["time"]))
            when += f" to {last[0].lower()}{last[1:]}"
        steps.append(Step(float(rows[i]["time"]),
                          f"{when}: {_visit_sentence(t, rows[i], nxt, j - i + 1)}"))
        i = j + 1
    end = case[case["activity"].isin(OUTCOMES)]
    if len(end):
        steps.append(Step(float(end["time"].iloc[-1]),
                          _end_sentence(t, end.iloc[-1], visits,
                                        None if notice is None
                                        else str(case.loc[notice, "office"]), family_stays),
                          "outcome"))
    steps.append(Step(float(case["time"].max()), _tally(t, case, visits), "tally"))
    return steps


def request_story(t: Teller, case: pd.DataFrame) -> list[str]:
    """The lines for one request: the asking, each visit (runs merged), and the end."""
    return [s.text for s in request_steps(t, case)]


def _calendar_days(t: Teller, start: float, end: float) -> int:
    """Days between two moments as a reader counts them on the calendar (1 June to 2 June
    is one day, whatever the hours)."""
    return (t.date(end) - t.date(start)).days


def _span(t: Teller, start: float, end: float) -> str:
    """'the same day', 'the next day' or 'N days (1 June to 9 June)'."""
    n = _calendar_days(t, start, end)
    if n <= 0:
        return "the same day"
    a, b = t.date(start), t.date(end)
    since = f"{a.day} {a:%B}" + (f" {a.year}" if a.year != b.year else "")
    return f"{_days(n)} ({since} to {b.day} {b:%B}{f' {b.year}' if a.year != b.year else ''})"


def _tally(t: Teller, case: pd.DataFrame, visits: pd.DataFrame) -> str:
    offices = list(dict.fromkeys(visits["office"].astype(str)))
    levels = [lv for lv in dict.fromkeys(t.level(o) for o in offices) if lv is not None]
    fees = float(visits["fee"].sum())
    wages = float(visits["wage_lost"].sum())
    explicit = bool(((visits["activity"].astype(str) == "refuse")
                     & (visits["reason"].astype(str) == "hukou")).any())
    if not len(visits):
        return "In all: no office was visited."
    where = _list([_office_words(o) for o in offices])
    ends = case[case["activity"].isin(OUTCOMES)]["activity"].astype(str)
    served = len(ends) > 0 and ends.iloc[-1] == "served"
    return (f"In all: {_span(t, float(case['time'].min()), float(case['time'].max()))}, "
            f"{_times(len(visits), 'visit')} to {len(offices)} "
            f"{'office' if len(offices) == 1 else 'offices'} ({where})"
            + (f" at {len(levels)} {'level' if len(levels) == 1 else 'levels'} of the city's "
               f"government ({_list([_words(lv) for lv in levels])}); " if levels else
               " at no level of the city's government; ")
            + f"{_money(fees)} in fees and {_money(wages)} in lost wages. "
            + ("One office said outright that it was because of their hukou."
               if explicit else "" if served else
               "Nobody ever said it was because of their hukou.")).rstrip()


def tell(events: pd.DataFrame, household_id: int, scenario: Scenario) -> str:
    """One household's story, every request, as plain text with one step per line."""
    return "\n".join(story_lines(events, household_id, scenario))


def story_lines(events: pd.DataFrame, household_id: int, scenario: Scenario) -> list[str]:
    """The story as a list of lines: a portrait, then every request's steps in time order.

    A household with several requests has them told together, day by day, each step
    tagged with the service it is about: the model follows each request on its own
    (an outcome ends that request only), and the story says so.
    """
    ev = events[events["household_id"] == household_id]
    if not len(ev):
        return [f"Household {household_id} asked for nothing during this run."]
    t = Teller(scenario)
    lines = [_portrait(ev.iloc[0], household_id)]
    cases = ev.groupby("case_id", sort=False)
    order = sorted(cases.groups, key=lambda c: (float(ev.loc[cases.groups[c], "time"].min()), c))
    if len(order) == 1:
        case = ev.loc[cases.groups[order[0]]]
        service = t.service(str(case["service"].iloc[0]))
        lines += ["", f"Asking for {service}:", *request_story(t, case)]
        return lines
    services = [str(ev.loc[cases.groups[c], "service"].iloc[0]) for c in order]
    tags = _tags([_words(s) for s in services])
    asked = []
    for c, service in zip(order, services, strict=True):
        case = ev.loc[cases.groups[c]]
        notice = notice_row(t, case)
        asked.append(t.service(service) if notice is None else
                     f"{t.service(service)} anew, after a notice that "
                     f"{t.office(str(case.loc[notice, 'office']))} would close")
    lines += ["", f"{len(order)} requests, told together day by day: "
              + _list(asked) + ". The model follows each request "
              "on its own: how one ends does not end the others.", ""]
    merged: list[tuple[float, int, int, Step]] = []
    ends: dict[int, float] = {}
    for k, case_id in enumerate(order):
        steps = request_steps(t, ev.loc[cases.groups[case_id]])
        for n, step in enumerate(steps):
            if step.kind != "tally":
                merged.append((step.time, n if step.kind != "outcome" else 10**9, k, step))
            if step.kind == "outcome":
                ends[k] = step.time
    merged.sort(key=lambda m: (m[0], m[2], m[1]))
    for time, _, k, step in merged:
        text = step.text
        if step.kind == "outcome":
            text = text.replace("Outcome,", f"Outcome of the {tags[k]} request,", 1)
            going = [tags[o] for o in range(len(order)) if o != k and ends.get(o, math.inf) > time
                     and _started(merged, o, time)]
            if going:
                text += (f" (This ends the {tags[k]} request only; the "
                         f"{_list(going)} {'request goes' if len(going) == 1 else 'requests go'}"
                         " on.)")
        else:
            day, _, rest = text.partition(": ")
            text = f"{day}, {tags[k]}: {rest}"
        lines.append(text)
    lines.append("")
    for k, case_id in enumerate(order):
        case = ev.loc[cases.groups[case_id]]
        tally = _tally(t, case, visits_of(t, case))
        lines.append(tally.replace("In all:", f"In all, for the {tags[k]} request:", 1))
    return lines


ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")


def _tags(names: list[str]) -> list[str]:
    """'school', 'health insurance', 'second school': a service asked for again is counted."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else
                   f"{ORDINALS[n - 1] if n <= len(ORDINALS) else f'{n + 1}th'} {name}")
    return out


def _started(merged: list[tuple[float, int, int, Step]], k: int, time: float) -> bool:
    """Whether request ``k`` had begun by ``time``."""
    return any(m[2] == k and m[0] <= time for m in merged)


def typical_household(journeys: pd.DataFrame, group: str | None = None) -> int:
    """A household whose story is typical of its group (or of migrants, or of everyone).

    Among the requests of the group, take the most common outcome, then the request
    with the median number of visits among those; ties go to the lowest id.
    """
    j = journeys
    if group is not None:
        j = j[j["group"].astype(str) == group]
    elif "hukou" in j.columns and (j["hukou"] != "local").any():
        j = j[j["hukou"] != "local"]
    if not len(j):
        raise KeyError(group)
    outcome = j["outcome"].astype(str).value_counts().sort_index(kind="stable")
    common = outcome.idxmax()
    part = j[j["outcome"].astype(str) == common]
    med = part["visits"].median()
    part = part.assign(dist=(part["visits"] - med).abs())
    part = part.sort_values(["dist", "household_id"], kind="stable")
    return int(part["household_id"].iloc[0])
