"""Rule cases: one household, one city, one service, and what the texts say should happen.

A rule case is a worked example a teacher or a researcher can read and write without
programming, in the spirit of OpenFisca's test cases (inputs in, expected outputs out):
"a factory worker in Beijing with a lease in her own name but no labour contract asks for
a school place on day 10; the employer will not certify her employment (documents), and
she ends in the private school". Case files are TOML (``tests/cases/*.toml``):

.. code-block:: toml

    [[case]]
    title = "Lease but no contract: no proof of employment"
    description = "Proof of employment needs a contract [Chan & O'Brien 2019: Within the City]."
    city = "beijing"                  # a preset, or an inline scenario table
    service = "school"
    arrival_day = 10
    [case.household]                  # attributes not named take the catalogue default
    lease_own = true
    contract = false
    [case.expect]
    outcome = "alternative"
    refused = { office = "employer", reason = "documents" }

The city is run with exactly this one household (``population.households = 1``, arrival
window ``[arrival_day, arrival_day]``, the service asked with probability 1), through
``maze.app.api.run`` and so the whole mechanism chain of the city. Each case is run on
``seeds`` seeds (0, 1, ...): a rule that depends on luck shows as a case that holds for one
seed and not another. Unknown keys are refused, naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

import offices
from maze import scenario as sc
from maze.app import api
from maze.eventlog import OUTCOMES
from maze.population import ATTRIBUTES, too_big_message
from maze.scenario import REASONS, Scenario, ScenarioError, readable_key

Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Reason = Literal[REASONS]  # type: ignore[valid-type]
#: Visit activities that carry a reason the office gave (serve and issue carry none).
REASONED = ("require", "refer", "refuse", "retry")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _attribute_type(name: str) -> Any:
    """The one fixed value a case may give an attribute (no probabilities, no draws)."""
    spec = ATTRIBUTES[name]
    if spec.kind == "bool":
        return StrictBool | None
    if spec.kind == "category":
        return Literal[spec.categories] | None  # type: ignore[valid-type]
    return Annotated[float, Field(allow_inf_nan=False, ge=spec.low, le=spec.high)] | None


#: One household: its group's name (its hukou, "migrant" or "local", if not given), its
#: hukou, and fixed values for catalogue attributes.
HouseholdSpec = create_model(
    "HouseholdSpec", __config__=ConfigDict(extra="forbid", frozen=True),
    group=(Annotated[str, Field(min_length=1, max_length=100)] | None, None),
    hukou=(Literal["local", "migrant"], "migrant"),
    **{name: (_attribute_type(name), None) for name in ATTRIBUTES},
)


class Refusal(_Strict):
    """The first refusal of the journey: where, and the reason given."""

    office: str | None = None
    reason: Reason | None = None


class Expect(_Strict):
    """What should happen; only what is given is checked."""

    #: The outcome, or a list of acceptable outcomes.
    outcome: Outcome | Annotated[list[Outcome], Field(min_length=1)] | None = None
    #: Every counter visited, in order.
    offices: list[str] | None = None
    #: The first refusal (``refuse``) of the journey.
    refused: Refusal | None = None
    #: Reasons the offices gave when they asked for papers, sent on, refused or said wait,
    #: each once, in the order first given.
    reasons: list[Reason] | None = None
    #: Reasons that must never be given.
    never: list[Reason] = Field(default_factory=list)
    #: Whether an office refused naming hukou.
    explicit_refusal: bool | None = None
    #: Documents issued along the way (any order).
    documents: list[str] | None = None
    missed_deadline: bool | None = None
    #: The office where the journey ended (served, sent away, or the last one tried).
    ends_at: str | None = None
    #: Fees and prices paid along the way, in RMB (lost wages not counted).
    paid: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class Case(_Strict):
    """One rule case: a city, one household, the service it asks for, the expectation."""

    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(min_length=1)]
    #: A preset name, or an inline scenario (its population, if any, is replaced).
    city: str | dict[str, Any]
    regime: Literal["provide", "deny", "deflect"] | None = None
    #: Dotted scenario keys to change, as ``maze.scenario.override`` takes them.
    set: dict[str, Any] = Field(default_factory=dict)
    service: str
    arrival_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: The day the household asks, as a date (instead of ``arrival_day``): the same
    #: household the day before and the day after a rule changes.
    arrival_date: date | None = None
    #: Number of seeds (0, 1, ...) on which the expectation must hold.
    seeds: Annotated[int, Field(ge=1, le=50)] = 3
    household: HouseholdSpec = Field(default_factory=HouseholdSpec)  # type: ignore[valid-type]
    expect: Expect
    #: Why the model differs from the text: the case is kept as the text says, and
    #: expected to fail until the model changes.
    xfail: str | None = None


class CaseFile(_Strict):
    case: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedCase:
    """A case and where it came from."""

    case: Case
    source: str
    index: int

    @property
    def id(self) -> str:
        """A pytest id: the file's stem and the title in lower-case words."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.case.title.lower()).strip("-")
        return f"{Path(self.source).stem}-{slug}"

    @property
    def where(self) -> str:
        return f"{self.source}: case {self.index} ({self.case.title!r})"


def load(path: str | Path) -> list[LoadedCase]:
    """Read a case file; a bad file raises one ScenarioError naming the file and the key."""
    from maze import inputs

    p = Path(path)
    data = inputs.read_toml(p)  # a regular file, bounded in size and nesting
    try:
        parsed = CaseFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(x) for x in err["loc"]]
        # Union members add their type to the location (``str``, ``list[...]``): drop them.
        loc = [x for x in loc if not re.match(r"^(str|list|dict|literal|bool|float)\b", x)]
        msg = too_big_message(err.get("input")) or err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            if len(loc) >= 2 and loc[-2] == "household":
                msg += ("; a household takes group, hukou and these attributes: "
                        + ", ".join(sorted(ATTRIBUTES)))
            elif len(loc) >= 2 and loc[-2] == "expect":
                msg += "; expect takes " + ", ".join(Expect.model_fields)
            elif len(loc) == 3:
                msg += "; a case takes " + ", ".join(Case.model_fields)
        elif err["type"] == "missing":
            msg = "missing required key"
        key, note = readable_key(".".join(loc), data)
        raise ScenarioError(msg + note, source=str(p), key=key or None) from None
    titles = [c.title for c in parsed.case]
    for i, t in enumerate(titles):
        if titles.index(t) != i:
            raise ScenarioError(f"title {t!r} is used twice in this file", source=str(p),
                                key=f"case.{i}.title")
    return [LoadedCase(c, str(p), i) for i, c in enumerate(parsed.case)]


def load_dir(folder: str | Path) -> list[LoadedCase]:
    """Every case of every ``*.toml`` file in a folder, files in name order."""
    return [c for f in sorted(Path(folder).glob("*.toml")) for c in load(f)]


def scenario(loaded: LoadedCase) -> Scenario:
    """The case's city with its one household, validated."""
    case = loaded.case
    source = loaded.where
    if isinstance(case.city, str):
        try:
            preset = api.load(preset=case.city)
        except ScenarioError as exc:
            raise ScenarioError(str(exc), source=source, key="city") from None
        base = preset.model_dump(by_alias=True, mode="json", exclude_none=True)
    else:
        base = dict(case.city)
    city = base.get("city") if isinstance(base.get("city"), dict) else {}
    services = base.get("services") if isinstance(base.get("services"), dict) else {}
    pop = base.get("population") or {}
    attrs = {k: v for k, v in case.household.model_dump().items()
             if k not in ("group", "hukou") and v is not None}
    arrival_day = case.arrival_day
    if case.arrival_date is not None:
        if "arrival_day" in case.model_fields_set:
            raise ScenarioError("give arrival_day or arrival_date, not both", source=source,
                                key="arrival_date")
        start = date.fromisoformat(str(city.get("start_date", sc.City().start_date)))
        arrival_day = float((case.arrival_date - start).days)
        if arrival_day < 0:
            raise ScenarioError(f"{case.arrival_date} is before the city's start date "
                                f"{start}", source=source, key="arrival_date")
    base["population"] = {
        "households": 1,
        "arrivals": {"process": "uniform", "start": arrival_day, "end": arrival_day},
        **{k: pop[k] for k in ("days_between_visits", "visit_cost_days") if k in pop},
        "groups": [{"name": case.household.group or case.household.hukou, "share": 1.0,
                    "hukou": case.household.hukou,
                    "needs": {case.service: 1.0}, "attributes": attrs}],
    }
    if case.regime is not None:
        base["city"] = {**city, "regime": case.regime}
    if case.service not in services:
        raise ScenarioError(f"the city has no service {case.service!r}; it has "
                            f"{', '.join(services) or 'none'}", source=source, key="service")
    horizon = city.get("horizon", sc.City.model_fields["horizon"].default)
    if isinstance(horizon, int | float) and arrival_day >= horizon:
        raise ScenarioError(f"day {arrival_day:g} is not before the city's horizon "
                            f"({horizon:g} days)", source=source, key="arrival_day")
    built = sc.from_dict(base, source=source)
    if case.set:
        built = sc.override(built, case.set, source=source)
    offices.configs(built, source)
    _check_names(built, case.expect, source)
    return built


def _check_names(s: Scenario, expect: Expect, source: str) -> None:
    """An expectation naming an office or a document the city lacks is a typo, not a fail."""
    names = {o.name for o in s.offices}
    for key, office in ([("expect.offices", o) for o in expect.offices or ()]
                        + [("expect.refused.office", expect.refused and expect.refused.office),
                           ("expect.ends_at", expect.ends_at)]):
        if office is not None and office not in names:
            raise ScenarioError(f"the city has no office {office!r}; it has "
                                f"{', '.join(sorted(names))}", source=source, key=key)
    for d in expect.documents or ():
        if d not in s.documents:
            raise ScenarioError(f"the city has no document {d!r}", source=source,
                                key="expect.documents")


@dataclass
class Observed:
    """What happened to the household's request in one run."""

    seed: int
    outcome: str
    offices: list[str]
    refused: tuple[str, str] | None
    reasons: list[str]
    explicit_refusal: bool
    documents: list[str]
    missed_deadline: bool
    ends_at: str
    paid: float
    events: pd.DataFrame = field(repr=False)
    run: Any = field(repr=False)


def observe(built: Scenario, service: str, seed: int) -> Observed:
    """Run the city and read the household's first request for the service."""
    run = api.run(built, seed=seed)
    ev = run.events
    ev = ev[(ev["household_id"] == 0) & (ev["service"] == service)]
    first = ev["case_id"].min()  # a closure may open later cases for the same household
    ev = ev[ev["case_id"] == first]
    visits = ev[ev["activity"].isin(("serve", "issue", *REASONED))]
    activity = visits["activity"].astype(str)
    reason = visits["reason"].astype(str)
    refusals = visits[activity == "refuse"]
    j = run.journeys
    row = j[j["case_id"] == first].iloc[0]
    issued = [d for docs in visits.loc[activity == "issue", "document"].astype(str)
              for d in docs.split("+") if d]
    return Observed(
        seed=seed,
        outcome=str(row["outcome"]),
        offices=visits["office"].astype(str).tolist(),
        refused=(None if refusals.empty else
                 (str(refusals["office"].iloc[0]), str(refusals["reason"].iloc[0]))),
        reasons=list(dict.fromkeys(reason[activity.isin(REASONED)])),
        explicit_refusal=bool(row["explicit_refusal"]),
        documents=issued,
        missed_deadline=bool(row["missed_deadline"]),
        ends_at=str(row["last_office"]),
        paid=float(row["out_of_pocket"]),
        events=ev,
        run=run,
    )


def _refusal_words(office: str | None, reason: str | None) -> str:
    out = "refused"
    if reason is not None:
        out += f" for {reason}"
    if office is not None:
        out += f" at {office}"
    return out


def _path(offices: list[str]) -> str:
    return " -> ".join(offices) if offices else "(no counter)"


def mismatches(expect: Expect, seen: Observed) -> list[str]:
    """Each way the run differs from the expectation, as a sentence (empty: it matches)."""
    out: list[str] = []
    if expect.outcome is not None:
        wanted = [expect.outcome] if isinstance(expect.outcome, str) else expect.outcome
        if seen.outcome not in wanted:
            out.append(f"expected outcome {' or '.join(wanted)}, got {seen.outcome} "
                       f"(at {seen.ends_at or 'no office'})")
    if expect.offices is not None and seen.offices != expect.offices:
        out.append(f"expected the offices {_path(expect.offices)}, got {_path(seen.offices)}")
    if expect.refused is not None:
        want = expect.refused
        if seen.refused is None:
            out.append(f"expected {_refusal_words(want.office, want.reason)}, got no refusal "
                       f"(offices {_path(seen.offices)})")
        else:
            office, reason = seen.refused
            if (want.office not in (None, office)) or (want.reason not in (None, reason)):
                out.append(f"expected {_refusal_words(want.office, want.reason)}, got "
                           f"{_refusal_words(office, reason)}")
    if expect.reasons is not None and seen.reasons != expect.reasons:
        out.append(f"expected the reasons {', '.join(expect.reasons) or '(none)'}, got "
                   f"{', '.join(seen.reasons) or '(none)'}")
    for r in expect.never:
        if r in seen.reasons:
            out.append(f"expected no office to give the reason {r}, but one did "
                       f"(reasons {', '.join(seen.reasons)})")
    if expect.explicit_refusal is not None and seen.explicit_refusal != expect.explicit_refusal:
        out.append("expected an explicit refusal naming hukou, got none"
                   if expect.explicit_refusal else
                   "expected no explicit refusal naming hukou, got one")
    if expect.documents is not None and sorted(seen.documents) != sorted(expect.documents):
        out.append(f"expected the documents {', '.join(sorted(expect.documents)) or '(none)'}, "
                   f"got {', '.join(sorted(seen.documents)) or '(none)'}")
    if expect.missed_deadline is not None and seen.missed_deadline != expect.missed_deadline:
        out.append("expected the deadline to be missed, it was not" if expect.missed_deadline
                   else "expected the deadline to be kept, it was missed")
    if expect.ends_at is not None and seen.ends_at != expect.ends_at:
        out.append(f"expected to end at {expect.ends_at}, ended at {seen.ends_at or 'no office'}")
    if expect.paid is not None and abs(seen.paid - expect.paid) > 0.005:
        out.append(f"expected to pay {expect.paid:,.2f} RMB, paid {seen.paid:,.2f} RMB")
    return out


@dataclass
class Verdict:
    """A case checked on each of its seeds."""

    loaded: LoadedCase
    runs: list[Observed]
    problems: list[str]

    @property
    def holds(self) -> bool:
        return not self.problems

    def story(self, seed_index: int = 0) -> list[str]:
        """The household's journey in plain words, for the run of one seed."""
        from maze import story

        seen = self.runs[seed_index]
        return story.story_lines(seen.run.events, 0, seen.run.scenario)

    def report(self) -> str:
        """What a failed case prints: the case, what differed, and the journey told."""
        lines = [f"{self.loaded.where}", *(f"  {p}" for p in self.problems), "",
                 "  the journey (seed 0):"]
        lines += [f"    {line}" for line in self.story()]
        return "\n".join(lines)


def check(loaded: LoadedCase) -> Verdict:
    """Run the case on each of its seeds and compare with its expectation."""
    built = scenario(loaded)
    runs = [observe(built, loaded.case.service, seed) for seed in range(loaded.case.seeds)]
    # The same difference on several seeds is said once, with the seeds it happened on.
    seeds_of: dict[str, list[int]] = {}
    for r in runs:
        for p in mismatches(loaded.case.expect, r):
            seeds_of.setdefault(p, []).append(r.seed)
    problems = [p if len(runs) == 1 else
                f"seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}: {p}"
                for p, s in seeds_of.items()]
    return Verdict(loaded, runs, problems)
