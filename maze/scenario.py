"""The scenario: a validated, immutable description of one city.

A scenario is data only. It says which offices exist, who refers whom, which
documents exist and who issues them, what each service asks for, who the
households are, and which mechanisms are switched on. Behaviour lives
elsewhere: the engine runs the queues, the domain library (``offices``)
decides at each counter. Validation happens here, before anything runs, so a
bad file is refused with one message that names the file and the key.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from maze.distributions import Distribution
from maze.expressions import ExpressionError
from maze.expressions import parse as parse_condition
from maze.population import ATTRIBUTES, Attribute, check_attribute

#: Reasons an office may give when it refers or refuses (docs/reference/measures.md).
REASONS = ("hukou", "documents", "capacity", "deadline", "eligibility", "none", "price", "closure")
#: Reasons that do not name the household's registration: the deflection vocabulary.
NEUTRAL_REASONS = tuple(r for r in REASONS if r != "hukou")

#: Sanity limits: a scenario beyond these would exhaust memory or time before saying anything.
#: About 5 KB of memory and 0.3 ms per household for the default city (measured at 80,000
#: households), so a million households is ~5 GB and some minutes; five million was ~24 GB.
MAX_HOUSEHOLDS = 1_000_000
MAX_HORIZON_DAYS = 36_500.0
MAX_CLERKS = 100_000


class ScenarioError(Exception):
    """A scenario the engine refuses to run; the message is meant for the user as is."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        prefix = f"{_printable(source, 300)}: " if source else ""
        where = f"{_printable(key, 120)}: " if key else ""
        super().__init__(f"{prefix}{where}{_printable(message, 1000)}")


def _printable(text: str, limit: int) -> str:
    """One line, whatever a file put in its keys: control characters escaped, long text cut."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                  for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(min_length=1, max_length=200)]
Day = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Calendar(_Model):
    """When an office works: weekdays (0 = Monday) and closures as [start, end) day ranges."""

    weekdays: tuple[Annotated[int, Field(ge=0, le=6)], ...] = (0, 1, 2, 3, 4, 5, 6)
    closures: tuple[tuple[Day, Day], ...] = ()

    @field_validator("weekdays")
    @classmethod
    def _some_day(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("an office must open on at least one weekday")
        return tuple(sorted(set(v)))

    @field_validator("closures")
    @classmethod
    def _ordered(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        for start, end in v:
            if end <= start:
                raise ValueError(f"closure [{start}, {end}] ends before it starts")
        return tuple(sorted(v))

    @property
    def always_open(self) -> bool:
        return len(self.weekdays) == 7 and not self.closures


class Office(_Model):
    """A counter that households queue at: a bureau, a school, a hospital, the hometown."""

    name: Name
    kind: Name = "bureau"
    sector: Name = "civil_affairs"
    level: Name = "district"
    clerks: Annotated[int, Field(ge=1, le=MAX_CLERKS)] = 1
    seats: Annotated[int, Field(ge=0)] | None = None
    service_time: Distribution = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=0.02)
    )
    calendar: Calendar = Field(default_factory=Calendar)
    #: What serving a household here means for it: the city service, a private
    #: alternative, or being sent away (hometown, another city).
    role: Literal["city", "alternative", "sent_away"] = "city"
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: Days of travel before a visit (the hometown is far away).
    travel_days: Day = 0.0
    #: An office of the city's government. Blame spread counts the levels and sectors of
    #: government a household met; employers, private schools and clinics and the
    #: hometown are institutions it met, but not the city's government.
    government: bool = True


class Referral(_Model):
    """A declared edge of the referral graph: ``source`` sends households to ``target``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Name = Field(alias="from")
    target: Name = Field(alias="to")
    reason: Literal[REASONS] = "none"  # type: ignore[valid-type]
    service: Name | None = None
    #: Probability that a household reaching ``source`` is sent on (used by loops).
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0


class Document(_Model):
    """A paper a household must hold: who issues it and what it takes to get it."""

    issuer: Name | None = None
    requires: tuple[Name, ...] = ()
    #: Boolean household attributes that must be true for the issuer to give it.
    needs: tuple[Name, ...] = ()
    #: Whether households start with it: ``true``/``false`` or a boolean attribute name.
    held: bool | Name = False
    held_by_locals: bool = True
    fee: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: A rule on household attributes (``age < 45 and not criminal_record``); issued only if true.
    condition: str | None = None

    @field_validator("condition")
    @classmethod
    def _safe_rule(cls, v: str | None) -> str | None:
        return checked_condition(v)


class MinYears(_Model):
    """Minimum consecutive years in the city (docs/reference/mechanisms.md, mechanism 1)."""

    work: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    insurance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    residence: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    schooling: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


class Service(_Model):
    """A public service that exists on paper: where to ask, and what it asks for."""

    entry: Name
    documents: tuple[Name, ...] = ()
    min_years: MinYears = Field(default_factory=MinYears)
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None
    #: Day by which a household must be admitted (school-year start); none if absent.
    deadline: Day | None = None
    #: Offices tried, in order, when the city does not serve (private school, hometown).
    fallback: tuple[Name, ...] = ()
    #: What serving one migrant costs the city (RMB); saved when the migrant is not served.
    city_cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: What the household pays when served in the city.
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: A rule on household attributes (``years_insurance >= 7``); migrants failing it are refused.
    condition: str | None = None

    @field_validator("condition")
    @classmethod
    def _safe_rule(cls, v: str | None) -> str | None:
        return checked_condition(v)


class Arrivals(_Model):
    """When households start their requests: uniformly in a window, or as a Poisson process."""

    process: Literal["uniform", "poisson"] = "uniform"
    start: Day = 0.0
    end: Day | None = None
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class Group(_Model):
    """A kind of household (informal vendor, factory worker, graduate, local) and its share."""

    name: Name
    share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    hukou: Literal["local", "migrant"] = "migrant"
    #: Probability that a household of this group asks for each service.
    needs: dict[Name, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    attributes: dict[Name, Attribute] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _known(cls, v: dict[str, Attribute]) -> dict[str, Attribute]:
        unknown = sorted(set(v) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(
                f"unknown attribute {unknown[0]!r}; known: {', '.join(sorted(ATTRIBUTES))}"
            )
        for name, value in v.items():
            problem = check_attribute(name, value)
            if problem:
                raise ValueError(f"attribute {name!r}: {problem}")
        return v


class Population(_Model):
    households: Annotated[int, Field(ge=1, le=MAX_HOUSEHOLDS)] | None = None
    arrivals: Arrivals = Field(default_factory=Arrivals)
    #: Days between two visits (time to take another day off, to travel).
    days_between_visits: Distribution = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=2.0)
    )
    #: Days of wages one visit costs (queues, travel, office hours during work hours).
    visit_cost_days: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.5
    groups: tuple[Group, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> Population:
        total = sum(g.share for g in self.groups)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"group shares must sum to 1, they sum to {total:g}")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("group names must be unique")
        if self.households is None and (self.arrivals.process != "poisson"):
            raise ValueError("give households, or a poisson arrival rate")
        if self.arrivals.process == "poisson" and self.arrivals.rate is None:
            raise ValueError("a poisson arrival process needs a rate (households per day)")
        return self


class City(_Model):
    name: Name = "city"
    start_date: date = date(2012, 6, 1)
    horizon: Annotated[float, Field(gt=0, le=MAX_HORIZON_DAYS, allow_inf_nan=False)] = 365.0
    regime: Literal["provide", "deny", "deflect"] = "deflect"
    description: str = ""
    sources: tuple[str, ...] = ()


#: A child's school stages in the order a child passes through them (``school_stage``).
SCHOOL_STAGES = ("preschool", "primary", "middle", "high")


class Lives(_Model):
    """Households that stay for years: ``[lives]``. Absent, a run is one season.

    With it, households keep their attributes from year to year: they age, their streaks
    of work, insurance, residence and schooling grow one year per year and are broken by
    job changes and moves (the ``job_changes`` and ``moves`` rates a year), their child
    goes through the school stages and applies again at each, services named in
    ``renew`` are asked for again each year, and new households arrive every year.
    """

    #: Households arriving in each year after the first (the first year brings
    #: ``population.households``); the same number again if absent. Uniform arrivals
    #: repeat their window each year; Poisson arrivals run on across the years.
    in_migration: Annotated[int, Field(ge=0, le=MAX_HOUSEHOLDS)] | None = None
    #: The service a child needs at each school stage (a school place).
    school: Name | None = None
    #: Ages (first, last) of each stage: primary about 6-11, junior middle 12-14, senior
    #: high (the gaokao stage) 15-17. A child older than the last stage leaves school age.
    stage_ages: dict[Literal[SCHOOL_STAGES], tuple[int, int]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"preschool": (3, 5), "primary": (6, 11), "middle": (12, 14),
                                 "high": (15, 17)})
    #: Services held for a year and asked for again each year (urban insurance).
    renew: tuple[Name, ...] = ()
    #: Services whose cover counts as paying local social insurance (so the insurance
    #: streak grows while covered); the ``renew`` services if absent. A household with a
    #: labour contract pays through its employer.
    insured_by: tuple[Name, ...] | None = None
    #: Yearly probability that a household leaves the city for reasons the model does not
    #: follow (a job elsewhere, family). ASSUMPTION: no text gives it; 0.05-0.2 plausible.
    leave_rate: Annotated[float, Field(ge=0, le=1)] = 0.0

    @field_validator("stage_ages")
    @classmethod
    def _ordered_stages(cls, v: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        ages = {**{"preschool": (3, 5), "primary": (6, 11), "middle": (12, 14),
                   "high": (15, 17)}, **v}
        last = -1
        for stage in SCHOOL_STAGES:
            first, end = ages[stage]
            if not 0 <= first <= end <= 30:
                raise ValueError(f"{stage}: ages ({first}, {end}) must run upwards, 0 to 30")
            if first <= last:
                raise ValueError(f"{stage} must start after the stage before it ends")
            last = end
        return ages


class Scenario(_Model):
    """A whole city: validated, immutable, and complete enough to run."""

    city: City = Field(default_factory=City)
    offices: tuple[Office, ...] = Field(min_length=1)
    referrals: tuple[Referral, ...] = ()
    documents: dict[Name, Document] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(min_length=1)
    population: Population
    #: Switchable deflection mechanisms, each validated by the library that provides it.
    mechanisms: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    #: Households that stay for years (children's stages, renewals); None: one season.
    lives: Lives | None = None

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        offices = {o.name for o in self.offices}
        if len(offices) != len(self.offices):
            raise ValueError("office names must be unique")
        for i, r in enumerate(self.referrals):
            for end in ("source", "target"):
                name = getattr(r, end)
                if name not in offices:
                    key = "from" if end == "source" else "to"
                    raise _KeyedError(
                        f"referrals.{i}.{key}", f"refers to office {name!r}, which does not exist"
                    )
            if r.service is not None and r.service not in self.services:
                raise _KeyedError(f"referrals.{i}.service", f"unknown service {r.service!r}")
        for src in {r.source for r in self.referrals}:
            for svc in self.services:
                total = sum(r.probability for r in self.referrals
                            if r.source == src and r.service in (None, svc))
                if total > 1 + 1e-9:
                    raise _KeyedError("referrals", f"referral probabilities out of {src!r} "
                                      f"sum to {total:g} for service {svc!r}; at most 1")
        for name, doc in self.documents.items():
            if doc.issuer is not None and doc.issuer not in offices:
                raise _KeyedError(
                    f"documents.{name}.issuer", f"office {doc.issuer!r} does not exist"
                )
            for req in doc.requires:
                if req not in self.documents:
                    raise _KeyedError(f"documents.{name}.requires", f"unknown document {req!r}")
            for attr in doc.needs:
                _need_boolean(attr, f"documents.{name}.needs")
            if isinstance(doc.held, str):
                _need_boolean(doc.held, f"documents.{name}.held")
        cycle = _document_cycle(self.documents)
        if cycle:
            path = " -> ".join(cycle)
            raise _KeyedError(
                f"documents.{cycle[0]}.requires", f"document prerequisites form a cycle: {path}"
            )
        for name, svc in self.services.items():
            if svc.entry not in offices:
                raise _KeyedError(f"services.{name}.entry", f"office {svc.entry!r} does not exist")
            for d in svc.documents:
                if d not in self.documents:
                    raise _KeyedError(f"services.{name}.documents", f"unknown document {d!r}")
            for f in svc.fallback:
                if f not in offices:
                    raise _KeyedError(f"services.{name}.fallback", f"office {f!r} does not exist")
        for i, g in enumerate(self.population.groups):
            for svc in g.needs:
                if svc not in self.services:
                    raise _KeyedError(
                        f"population.groups.{i}.needs", f"unknown service {svc!r}"
                    )
        _check_arrivals(self)
        if self.lives is not None:
            _check_lives(self)
        return self

    @model_serializer(mode="wrap")
    def _without_lives(self, handler: Any) -> dict[str, Any]:
        # A one-season scenario is written as before (no ``lives: null``): its
        # scenario.json and the run ids hashed from it stay the same.
        data = handler(self)
        if isinstance(data, dict) and data.get("lives", 0) is None:
            del data["lives"]
        return data

    def office(self, name: str) -> Office:
        for o in self.offices:
            if o.name == name:
                return o
        raise KeyError(name)


def checked_condition(text: str | None) -> str | None:
    """Refuse a condition the safe parser does not accept (see maze.expressions)."""
    if text is not None:
        try:
            parse_condition(text)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
    return text


def _check_arrivals(s: Scenario) -> None:
    """Refuse arrival windows that are empty or would bring more households than a run holds.

    A Poisson process is drawn up front, so its expected size (rate times window) is
    checked here, before anything is drawn: a typo in the rate must not eat the memory.
    """
    a, horizon = s.population.arrivals, s.city.horizon
    if a.start >= horizon:
        raise _KeyedError("population.arrivals.start", f"day {a.start:g} is not before the "
                          f"horizon ({horizon:g} days), so nobody would arrive")
    if a.end is not None and a.end < a.start:
        raise _KeyedError("population.arrivals.end",
                          f"the window ends (day {a.end:g}) before it starts (day {a.start:g})")
    if a.process != "poisson" or a.rate is None:
        return
    days = min(horizon if a.end is None else a.end, horizon) - a.start
    if days <= 0:
        raise _KeyedError("population.arrivals.end", "a poisson arrival window must not be empty")
    expected = a.rate * days
    if expected > MAX_HOUSEHOLDS:  # drawn in full even when population.households caps it
        raise _KeyedError(
            "population.arrivals.rate",
            f"{a.rate:g} households a day for {days:g} days means about {expected:.3g} "
            f"households, more than the {MAX_HOUSEHOLDS:,} one run can hold; lower the rate "
            "or shorten the arrival window")


def _check_lives(s: Scenario) -> None:
    """The services ``[lives]`` names exist, and the years' arrivals fit in one run."""
    lives = s.lives
    assert lives is not None
    named = [("school", lives.school)] + [(f"renew.{i}", n) for i, n in enumerate(lives.renew)]
    named += [(f"insured_by.{i}", n) for i, n in enumerate(lives.insured_by or ())]
    for key, name in named:
        if name is not None and name not in s.services:
            raise _KeyedError(f"lives.{key}", f"unknown service {name!r}")
    pop = s.population
    if pop.arrivals.process == "uniform" and pop.households is not None:
        years = math.ceil(s.city.horizon / 365.0)
        total = pop.households + (years - 1) * (
            pop.households if lives.in_migration is None else lives.in_migration)
        if total > MAX_HOUSEHOLDS:
            raise _KeyedError("lives.in_migration", f"{years} years of arrivals make {total:,} "
                              f"households, more than the {MAX_HOUSEHOLDS:,} one run can hold")


class _KeyedError(ValueError):
    """A cross-reference error that knows which key it belongs to."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


def _need_boolean(attr: str, key: str) -> None:
    spec = ATTRIBUTES.get(attr)
    if spec is None or spec.kind != "bool":
        booleans = ", ".join(sorted(n for n, a in ATTRIBUTES.items() if a.kind == "bool"))
        raise _KeyedError(
            key, f"{attr!r} is not a yes/no household attribute; use one of {booleans}")


def _document_cycle(documents: Mapping[str, Document]) -> list[str]:
    """Return one cycle of document prerequisites (a paper that needs itself), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        stack.append(name)
        for req in documents[name].requires:
            if state.get(req) == 1:
                return stack[stack.index(req) :] + [req]
            if req not in state:
                found = visit(req)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return []

    for name in documents:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def _format_location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after", "function-before"))


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    ctx_err = (err.get("ctx") or {}).get("error")
    key = _format_location(err["loc"])
    if isinstance(ctx_err, _KeyedError):
        return ctx_err.key, str(ctx_err)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; every key is listed in docs/reference/scenario.md)"
    elif err["type"] == "missing":
        msg = "missing required key"
    elif err["type"] == "less_than_equal" and (err.get("ctx") or {}).get("le") in (
            MAX_HOUSEHOLDS, MAX_HORIZON_DAYS, MAX_CLERKS):
        msg += " (a sanity limit: a larger city would exhaust memory or time before finishing)"
    msg = msg.removeprefix("Value error, ")
    return key, msg


def from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a mapping into a Scenario, or raise one ScenarioError naming the key."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ScenarioError(msg, source=source, key=key or None) from None
    except RecursionError:
        raise ScenarioError("scenario is nested too deeply", source=source) from None


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file: TOML, or the ``scenario.json`` a run leaves
    beside its results (so that a stored run can be run again)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read file ({exc.__class__.__name__})", source=str(p)) from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ScenarioError(f"not valid JSON ({exc.__class__.__name__})",
                                source=str(p)) from None
        if not isinstance(data, dict):
            raise ScenarioError("a scenario is a JSON object", source=str(p))
        return from_dict(data, source=str(p))
    return loads(text, source=str(p))


def loads(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML ({exc})", source=source) from None
    return from_dict(data, source=source)


def override(scenario: Scenario, changes: Mapping[str, Any],
             source: str = "<override>") -> Scenario:
    """Return a new validated scenario with dotted keys replaced (``population.households``).

    Lists of tables are addressed by name where they have one (``offices.school.seats``)
    or by index (``population.groups.0.share``).
    """
    data = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)
    for dotted, value in changes.items():
        _set_dotted(data, dotted, value, source)
    return from_dict(data, source=source)


def _set_dotted(data: Any, dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                raise ScenarioError(
                    f"no entry named {part!r}", source=source, key=".".join(parts[: i + 1])
                )
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ScenarioError(
                "cannot set a key inside a value", source=source, key=".".join(parts[: i + 1])
            )


def _list_index(items: list[Any], part: str) -> int | None:
    if part.isdigit():
        idx = int(part)
        return idx if idx < len(items) else None
    for idx, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return idx
    return None
