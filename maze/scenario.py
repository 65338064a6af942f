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
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import partial
from operator import itemgetter
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo

from maze import dated
from maze.collector import fewer_collections
from maze.distributions import Distribution, Duration
from maze.expressions import ExpressionError
from maze.expressions import parse as parse_condition
from maze.population import (
    ATTRIBUTES,
    Attribute,
    check_attribute,
    too_big,
    too_big_message,
)

#: Reasons an office may give when it refers or refuses (docs/reference/measures.md).
REASONS = ("hukou", "documents", "capacity", "deadline", "eligibility", "none", "price", "closure")
#: Reasons that do not name the household's registration: the deflection vocabulary.
NEUTRAL_REASONS = tuple(r for r in REASONS if r != "hukou")

#: Sanity limits: a scenario beyond these would exhaust memory or time before saying anything.
#: About 5 KB of memory and 0.3 ms per household for the default city (measured at 80,000
#: households), so a million households is ~5 GB and some minutes; five million was ~24 GB.
MAX_HOUSEHOLDS = 1_000_000
MAX_HORIZON_DAYS = 36_500.0
#: The shortest horizon run (a quarter of an hour): shorter ones split into steps of zero.
MIN_HORIZON_DAYS = 0.01
#: Dates a scenario may start on; with the longest horizon a run still ends on a date the
#: tables (nanosecond timestamps, up to 2262), the export and the stories can hold.
MIN_START_DATE = date(1900, 1, 1)
MAX_START_DATE = date(2150, 12, 31)
MAX_CLERKS = 100_000
#: Most places (seats, reserved places, quota spots) a count may declare: a hundred for
#: each household a run can hold. A count is kept as a number the model computes with;
#: leave a count out for no limit.
MAX_SEATS = 100 * MAX_HOUSEHOLDS
#: The sanity limits above, and what an error message says of each.
_BIGGER = "a larger city would exhaust memory or time before finishing"
SANITY_LIMITS = {MAX_HOUSEHOLDS: _BIGGER, MAX_HORIZON_DAYS: _BIGGER, MAX_CLERKS: _BIGGER,
                 MAX_SEATS: "a hundred places for each household a run can hold; leave the "
                            "count out for no limit"}


def sanity_note(err: Mapping[str, Any]) -> str:
    """What to add to a pydantic error that hit one of the sanity limits ("" otherwise)."""
    limit = (err.get("ctx") or {}).get("le")
    if err.get("type") == "less_than_equal" and limit in SANITY_LIMITS:
        return f" (a sanity limit: {SANITY_LIMITS[limit]})"
    return ""


class ScenarioError(Exception):
    """A scenario the engine refuses to run; the message is meant for the user as is."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        #: The message alone, without file and key.
        self.message = message
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


def _check_month_day(text: str) -> str:
    month, day = (int(p) for p in text.split("-"))
    try:
        date(2000, month, day)  # a leap year: "02-29" is a day (of leap years only)
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the year (MM-DD)") from None
    return text


#: A day that comes back every year, as month-day ("09-01": the first of September).
MonthDay = Annotated[str, Field(pattern=r"^\d{2}-\d{2}$"), AfterValidator(_check_month_day)]
#: When something happens: a day from the start (92.0), a date ("2016-09-01", once) or a
#: month-day ("09-01", every year).
When = Day | date | MonthDay


class Calendar(_Model):
    """When an office works: weekdays (0 = Monday) and closures as [start, end) ranges.

    A closure is a pair of day offsets (``[122, 129]``), of dates (once) or of month-days
    (``["10-01", "10-08"]``: National Day week, every year; the end day is open again).
    """

    weekdays: tuple[Annotated[int, Field(ge=0, le=6)], ...] = (0, 1, 2, 3, 4, 5, 6)
    closures: tuple[tuple[When, When], ...] = ()

    @field_validator("weekdays")
    @classmethod
    def _some_day(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("an office must open on at least one weekday")
        return tuple(sorted(set(v)))

    @field_validator("closures")
    @classmethod
    def _ordered(cls, v: tuple[tuple[Any, Any], ...]) -> tuple[tuple[Any, Any], ...]:
        for start, end in v:
            if type(start) is not type(end):
                raise ValueError(f"closure [{start}, {end}] mixes kinds of day; give two day "
                                 "numbers, two dates or two month-days")
            if not isinstance(start, str) and end <= start:
                raise ValueError(f"closure [{start}, {end}] ends before it starts")
            if isinstance(start, str) and start == end:
                raise ValueError(f"closure [{start}, {end}] is empty")
        if all(isinstance(start, float) for start, _ in v):
            return tuple(sorted(v))
        return v

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
    seats: Annotated[int, Field(ge=0, le=MAX_SEATS)] | None = None
    service_time: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=0.02)
    )
    calendar: Calendar = Field(default_factory=Calendar)
    #: What serving a household here means for it: the city service, a private
    #: alternative, or being sent away (hometown, another city).
    role: Literal["city", "alternative", "sent_away"] = "city"
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: Days of travel before a visit (the hometown is far away).
    travel_days: Day = 0.0
    #: Seats are a yearly intake: on this month-day (``"09-01"``) every year all seats are
    #: free again (a school's new first-year classes). Without it, seats last the run.
    intake: MonthDay | None = None
    #: An office of the city's government. Blame spread counts the levels and sectors of
    #: government a household met; employers, private schools and clinics and the
    #: hometown are institutions it met, but not the city's government.
    government: bool = True


class Referral(NamedTuple):
    """A declared edge of the referral graph: ``source`` sends households to ``target``.

    Written as a table with the keys ``from``, ``to``, ``reason``, ``service`` and
    ``probability``. A light record rather than a model: a dense routing matrix of 320
    offices declares a hundred thousand of them.
    """

    source: str
    target: str
    reason: str = "none"
    service: str | None = None
    #: Probability that a household reaching ``source`` is sent on (used by loops).
    probability: float = 1.0


def _referral_table() -> type[_Model]:
    """How a referral is written in a file: what validates a referral table by table
    and names its bad key where ``_plain_referrals`` cannot vouch for all of them. (Made
    in here so that its messages call it ``Referral``, as the file does.)"""

    class Referral(_Model):
        """A declared edge of the referral graph: ``source`` sends households to ``target``."""

        model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

        source: Name = Field(alias="from")
        target: Name = Field(alias="to")
        reason: Literal[REASONS] = "none"  # type: ignore[valid-type]
        service: Name | None = None
        #: Probability that a household reaching ``source`` is sent on (used by loops).
        probability: Annotated[float, Field(ge=0, le=1)] = 1.0

    return Referral


_ReferralTable = _referral_table()

_NAME_LENGTH = (1, 200)  # as ``Name``
_REFERRAL_KEYS = frozenset(("from", "to", "reason", "service", "probability"))
_REASON_SET = frozenset(REASONS)
_new_referral = partial(tuple.__new__, Referral)


def _plain_referrals(value: Any) -> tuple[Referral, ...] | None:
    """The referrals of a list of plain tables, checked a column at a time; None when a
    table needs a closer look (``_ReferralTable``, which names the bad key).

    Accepted only where checking each table would accept it as written: texts that are
    texts, probabilities that are numbers from 0 to 1, no other key. So such referrals
    need neither the check that JSON can hold them nor the one that nothing was
    converted from text.
    """
    if type(value) is not list and type(value) is not tuple:
        return None
    n = len(value)
    if not n:
        return ()
    if set(map(type, value)) != {dict}:
        return None
    try:
        sources = list(map(itemgetter("from"), value))
        targets = list(map(itemgetter("to"), value))
    except KeyError:
        return None
    reasons = [t.get("reason", _ABSENT) for t in value]
    services = [t.get("service", _ABSENT) for t in value]
    chances = [t.get("probability", _ABSENT) for t in value]
    given = [n - column.count(_ABSENT) for column in (reasons, services, chances)]
    if sum(map(len, value)) != 2 * n + sum(given):
        return None  # some table has a key of its own
    reasons = _or_default(reasons, given[0], "none")
    services = _or_default(services, given[1], None)
    chances = _or_default(chances, given[2], 1.0)
    if not set(map(type, sources)) == set(map(type, targets)) == {str}:
        return None
    if not set(map(type, reasons)) == {str} or not _REASON_SET.issuperset(reasons):
        return None
    if not set(map(type, services)) <= {str, type(None)}:
        return None
    names = set(sources).union(targets, services)
    names.discard(None)
    low, high = _NAME_LENGTH
    if min(map(len, names)) < low or max(map(len, names)) > high:
        return None
    try:
        "".join(names).encode()  # a lone surrogate is not text pydantic reads
    except UnicodeEncodeError:
        return None
    kinds = set(map(type, chances))
    if not kinds <= {float, int}:
        return None
    if not (min(chances) >= 0 and max(chances) <= 1) or math.isnan(sum(chances)):
        return None  # a NaN, which comparisons let through
    if int in kinds:
        chances = [float(c) for c in chances]
    columns = (sources, targets, reasons, services, chances)
    return ReadReferrals(map(_new_referral, zip(*columns, strict=True)), columns)


class ReadReferrals(tuple):
    """Referrals read a column at a time, which keep the columns they were made from
    (``source``, ``target``, ``reason``, ``service`` and ``probability``, each a list in
    the referrals' order): a run that reads them by column (a routing matrix's routes)
    need not take 100,000 records apart again. Otherwise a tuple of ``Referral``."""

    columns: tuple[list[Any], ...] | None

    def __new__(cls, records: Iterable[Referral],
                columns: tuple[list[Any], ...] | None = None) -> ReadReferrals:
        self = super().__new__(cls, records)
        self.columns = columns  # (a copy or pickle sets them again from its state)
        return self


_ABSENT = object()


def _or_default(column: list[Any], given: int, default: Any) -> list[Any]:
    """A column of values read with ``_ABSENT`` where a table left the key out."""
    if given == len(column):
        return column
    if not given:
        return [default] * len(column)
    return [default if v is _ABSENT else v for v in column]


def _referrals_from(value: Any, handler: Any, info: ValidationInfo) -> tuple[Referral, ...]:
    """The referrals, from the quick check of all tables at once where it vouches for
    them (``from_dict`` passes its result on), else from checking table by table."""
    raw, plain = (info.context or {}).get("referrals", (None, None))
    if plain is not None and raw is value:
        return plain
    if isinstance(value, list | tuple) and value and all(
            isinstance(r, Referral) for r in value):  # records given in Python: checked again
        value = _as_tables(value)
    plain = _plain_referrals(value)
    if plain is not None:
        return plain
    return tuple(Referral(r.source, r.target, r.reason, r.service, r.probability)
                 for r in handler(value))


def _as_tables(value: Sequence[Referral], by_alias: bool = True) -> list[dict[str, Any]]:
    """Referral records as the tables a file would write."""
    a, b = ("from", "to") if by_alias else ("source", "target")
    return [{a: s, b: t, "reason": r, "service": v, "probability": p}
            for s, t, r, v, p in value]


def _referral_tables(value: tuple[Referral, ...], info: Any
                     ) -> list[dict[str, Any]] | tuple[dict[str, Any], ...]:
    """The referrals written back as tables (``from`` and ``to`` by alias, as declared)."""
    tables = _as_tables(value, info.by_alias)
    if info.exclude_none:
        for t in tables:
            if t["service"] is None:
                del t["service"]
    if info.exclude_defaults:
        for t in tables:
            for key, default in Referral._field_defaults.items():
                if key in t and t[key] == default:
                    del t[key]
    return tables if info.mode_is_json() else tuple(tables)


#: Referrals: written as tables (so the scenario reference lists their keys), held as
#: light records, validated all at once where the tables are plain.
Referrals = Annotated[tuple[_ReferralTable, ...],  # type: ignore[valid-type]
                      WrapValidator(_referrals_from), PlainSerializer(_referral_tables)]


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
    #: A month-day (``"09-01"``) comes back every year: a request is judged against the
    #: first deadline on or after the day it is made.
    deadline: When | None = None
    #: With a yearly deadline: the month-day applications for the coming year open. A
    #: household that comes earlier is told to come back then (reason ``deadline``).
    opens: MonthDay | None = None
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
    """When households start their requests: uniformly in a window, or as a Poisson process.

    A window of month-days (``start = "06-01"``, ``end = "08-20"``) comes back every year:
    the households are spread uniformly over that window of every year of the run.
    """

    process: Literal["uniform", "poisson"] = "uniform"
    start: Day | MonthDay = 0.0
    end: Day | MonthDay | None = None
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None

    @property
    def yearly(self) -> bool:
        return isinstance(self.start, str)

    @model_validator(mode="after")
    def _same_kind(self) -> Arrivals:
        if isinstance(self.start, str) or isinstance(self.end, str):
            if not (isinstance(self.start, str) and isinstance(self.end, str)):
                raise ValueError("a yearly arrival window gives start and end as month-days")
            if self.process != "uniform":
                raise ValueError("a yearly arrival window is uniform, not poisson")
            if self.start == self.end:
                raise ValueError("a yearly arrival window must not be empty")
        return self


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
    days_between_visits: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=2.0)
    )
    #: Days of wages one visit costs (queues, travel, office hours during work hours).
    visit_cost_days: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.5
    groups: tuple[Group, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> Population:
        total = sum(g.share for g in self.groups)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise _KeyedError("population.groups",
                              f"group shares must sum to 1, they sum to {total:g}")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise _KeyedError("population.groups", f"group names must be unique ({twice!r} "
                              "is used twice)")
        if self.households is None and (self.arrivals.process != "poisson"):
            raise _KeyedError("population.households",
                              "give households, or a poisson arrival rate")
        if self.arrivals.process == "poisson" and self.arrivals.rate is None:
            raise _KeyedError("population.arrivals.rate",
                              "a poisson arrival process needs a rate (households per day)")
        return self


class City(_Model):
    """The city's clock and regime: day 0 is ``start_date``; a run lasts ``horizon`` days,
    or up to and including ``end_date`` when that is given instead."""

    name: Name = "city"
    start_date: Annotated[date, Field(ge=MIN_START_DATE, le=MAX_START_DATE)] = date(2012, 6, 1)
    horizon: Annotated[float, Field(ge=MIN_HORIZON_DAYS, le=MAX_HORIZON_DAYS,
                                    allow_inf_nan=False)] = 365.0
    end_date: date | None = None
    regime: Literal["provide", "deny", "deflect"] = "deflect"
    description: str = ""
    sources: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _horizon_from_end(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("end_date") is None:
            return data
        try:
            start = _as_date(data.get("start_date", date(2012, 6, 1)))
            end = _as_date(data["end_date"])
        except (TypeError, ValueError):
            return data  # the fields' own validation names the bad date
        if end < start:
            raise _KeyedError("city.end_date", f"{end} is before the start date {start}")
        days = float((end - start).days + 1)
        if "horizon" in data and data["horizon"] != days:
            raise _KeyedError("city.horizon", f"give horizon or end_date, not both: from "
                              f"{start} to {end} inclusive is {days:g} days, not "
                              f"{data['horizon']}")
        return {**data, "horizon": days}


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(value)


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
    #: Years (fewest, most) between a child and the next younger one, drawn evenly for
    #: each younger child of a household with more than one (the ``children`` attribute).
    #: ASSUMPTION: no text gives birth spacing; (2, 5) years plausible.
    sibling_gap: tuple[Annotated[int, Field(ge=1, le=15)], Annotated[int, Field(ge=1, le=15)]] \
        = (2, 5)

    @field_validator("sibling_gap")
    @classmethod
    def _gap_runs_upwards(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"the fewest years ({v[0]}) must not exceed the most ({v[1]})")
        return v

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


class Uncertain(_Model):
    """The plausible values of one scenario number: a range (and how to draw from it) or a
    list of alternatives, with one line of why. Keyed in ``[uncertainty]`` by the dotted
    path an override would use; :mod:`maze.uncertainty` checks the key against the city."""

    range: tuple[float, float] | None = None
    #: Discrete alternatives (true/false, a list of documents) instead of a numeric range.
    values: tuple[Any, ...] | None = None
    dist: Literal["uniform", "loguniform", "triangular"] = "uniform"
    mode: float | None = None
    why: Annotated[str, Field(min_length=1, max_length=1000)]
    #: A citation when the value is published and the range is the uncertainty it states.
    source: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Uncertain:
        if (self.range is None) == (self.values is None):
            raise ValueError("give either range = [low, high] or values = [...]")
        if self.values is not None:
            if len(self.values) < 2:
                raise ValueError("values lists at least two alternatives")
            if self.dist != "uniform" or self.mode is not None:
                raise ValueError("dist and mode go with a range, not with values")
            return self
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError("range is [low, high] with finite low < high")
        if self.dist == "loguniform" and low <= 0:
            raise ValueError("a loguniform range starts above 0")
        if self.dist == "triangular":
            if self.mode is None or not low <= self.mode <= high:
                raise ValueError("a triangular range needs a mode between low and high")
        elif self.mode is not None:
            raise ValueError("mode goes with dist = \"triangular\"")
        return self


class Scenario(_Model):
    """A whole city: validated, immutable, and complete enough to run."""

    city: City = Field(default_factory=City)
    offices: tuple[Office, ...] = Field(min_length=1)
    referrals: Referrals = ()
    documents: dict[Name, Document] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(min_length=1)
    population: Population
    #: Switchable deflection mechanisms, each validated by the library that provides it.
    mechanisms: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    #: Households that stay for years (children's stages, renewals); None: one season.
    lives: Lives | None = None
    #: Declared plausible values of assumed numbers, by dotted key (see maze.uncertainty).
    uncertainty: dict[Annotated[str, Field(min_length=1, max_length=300)], Uncertain] = Field(
        default_factory=dict)

    #: The dated tables of the file, by where they sit (empty: one set of rules throughout).
    _dated: dict[dated.Path, dated.DatedSeries] = PrivateAttr(default_factory=dict)
    #: The rules in force from each change date within the horizon (see ``versions``).
    _versions: tuple[dated.Version, ...] = PrivateAttr(default=())
    #: Every version, those dated outside the horizon too (each validated).
    _checked: tuple[dated.Version, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _dated_values(cls, data: Any, handler: Any, info: ValidationInfo) -> Scenario:
        """Read dated tables: validate the city as it stands on every date one changes."""
        if info.context is not None and info.context.get("undated"):
            return handler(data)  # ``from_dict`` saw no date key in the whole text
        series = dated.find(data) if isinstance(data, Mapping) else {}
        if not series:
            return handler(data)
        for path in series:
            key = dated.dotted(path)
            if path[0] == "population" or key in _UNDATED:
                raise _KeyedError(key, "cannot change with the date: " + (
                    "the population is drawn once, at the start" if path[0] == "population"
                    else "it sets the clock of the run"))
        try:
            city = City.model_validate(data.get("city", {}))
        except ValidationError:
            return handler(dated.resolve(data, series, date.max))  # names the bad city key
        start = city.start_date
        changes = dated.change_dates(series)
        checked: dict[date, Scenario] = {}
        for day in sorted({start, *changes}):
            try:
                plain = dated.resolve(data, series, day, first_if_none=day < start)
                checked[day] = cls.model_validate(plain)
            except dated.DatedError as exc:
                raise _KeyedError(exc.key, str(exc)) from None
            except ValidationError as exc:
                key, msg = _first_error(exc)
                raise _KeyedError(dated_key(series, key, day),
                                  f"{msg} (in the rules in force on {day.isoformat()})") from None
        obj = handler(dated.resolve(data, series, start))
        obj._dated = series
        obj._checked = tuple(dated.Version(float((day - start).days), day, checked[day])
                             for day in sorted(checked))
        obj._versions = tuple(v for v in obj._checked if 0 <= v.day < city.horizon)
        return obj

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any, info: Any) -> Any:
        """Dated tables are written back as they were given, so the file runs the same.

        A one-season scenario is written as before: keys of runs over years left unset
        (``lives``, ``city.end_date``, ``offices.*.intake``, ``services.*.opens``) are
        left out rather than written as null, so its scenario.json and the run ids
        hashed from it stay the same.
        """
        data = handler(self)
        if not isinstance(data, dict):
            return data
        _drop_none(data, "lives")
        _drop_none(data.get("city"), "end_date")
        for office in data.get("offices") or ():
            _drop_none(office, "intake")
        for service in (data.get("services") or {}).values():
            _drop_none(service, "opens")
        if self._dated:
            dated.restore(data, {p: _json_series(s) if info.mode == "json" else s
                                 for p, s in self._dated.items()})
        return data

    @property
    def versions(self) -> tuple[dated.Version, ...]:
        """The rules in force from each date on which a dated value changes, first the
        start date; one version (this scenario) when nothing is dated."""
        return self._versions or (dated.Version(0.0, self.city.start_date, self),)

    @property
    def checked_versions(self) -> tuple[dated.Version, ...]:
        """Every version of the rules, those dated before the start or after the horizon
        too: what validation looks at."""
        return self._checked or self.versions

    @property
    def dated(self) -> dict[dated.Path, dated.DatedSeries]:
        """The dated tables of the scenario, by where they sit."""
        return dict(self._dated)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        offices = {o.name for o in self.offices}
        if len(offices) != len(self.offices):
            raise ValueError("office names must be unique")
        _check_referrals(self.referrals, offices, self.services)
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

    def office(self, name: str) -> Office:
        for o in self.offices:
            if o.name == name:
                return o
        raise KeyError(name)


#: Keys that set the clock of a run, and so cannot change with the date.
_UNDATED = frozenset({"city.start_date", "city.end_date", "city.horizon"})


def dated_key(series: Mapping[dated.Path, dated.DatedSeries], key: str, day: date) -> str:
    """The key of a bad value, with the date of the dated value in force when it is one
    (``offices.0.clerks.2014-09-01``)."""
    for path in dated.paths_under(series, key):
        head = dated.dotted(path)
        return f"{head}.{series[path].dated_on(day).isoformat()}{key[len(head):]}"
    return key


def _drop_none(table: Any, key: str) -> None:
    if isinstance(table, dict) and key in table and table[key] is None:
        del table[key]


def _json_series(s: dated.DatedSeries) -> dated.DatedSeries:
    """A dated series whose values can be written as JSON (TOML dates become text)."""
    def plain(v: Any) -> Any:
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v
    return dated.DatedSeries(s.dates, tuple(plain(v) for v in s.values))


def checked_condition(text: str | None) -> str | None:
    """Refuse a condition the safe parser does not accept (see maze.expressions)."""
    if text is not None:
        try:
            parse_condition(text)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
    return text


def _check_referrals(referrals: tuple[Referral, ...], offices: set[str],
                     services: Mapping[str, Service]) -> None:
    """Referrals name offices and services that exist, and send on at most everyone.

    Checked a column at a time (a routing matrix of 320 offices declares 102,080), and
    referral by referral only to name the first bad one.
    """
    if not referrals:
        return
    sources, targets, _, named, chances = zip(*referrals, strict=True)
    if not (offices.issuperset(sources) and offices.issuperset(targets)
            and {None, *services}.issuperset(named)):
        for i, r in enumerate(referrals):
            for end in ("source", "target"):
                name = getattr(r, end)
                if name not in offices:
                    key = "from" if end == "source" else "to"
                    raise _KeyedError(
                        f"referrals.{i}.{key}", f"refers to office {name!r}, which does not exist"
                    )
            if r.service is not None and r.service not in services:
                raise _KeyedError(f"referrals.{i}.service", f"unknown service {r.service!r}")
    # Grouped by source once: scanning every referral for every source was cubic in the
    # number of offices for a dense routing matrix. Each sum adds in declared order.
    if set(named) == {None}:  # every referral applies to every service
        out_of: dict[str, list[float]] = {}
        for src, p in zip(sources, chances, strict=True):
            out_of.setdefault(src, []).append(p)
        totals = {src: sum(ps) for src, ps in out_of.items()}
        for src, total in totals.items():
            if total > 1 + 1e-9:
                svc = next(iter(services))
                raise _KeyedError("referrals", f"referral probabilities out of {src!r} "
                                  f"sum to {total:g} for service {svc!r}; at most 1")
        return
    edges_of: dict[str, list[Referral]] = {}
    for r in referrals:
        edges_of.setdefault(r.source, []).append(r)
    for src, edges in edges_of.items():
        for svc in services:
            total = sum(r.probability for r in edges if r.service in (None, svc))
            if total > 1 + 1e-9:
                raise _KeyedError("referrals", f"referral probabilities out of {src!r} "
                                  f"sum to {total:g} for service {svc!r}; at most 1")


def _check_arrivals(s: Scenario) -> None:
    """Refuse arrival windows that are empty or would bring more households than a run holds.

    A Poisson process is drawn up front, so its expected size (rate times window) is
    checked here, before anything is drawn: a typo in the rate must not eat the memory.
    """
    a, horizon = s.population.arrivals, s.city.horizon
    if a.yearly:
        from maze.calendar import yearly_windows  # the calendar module reads this one

        if not yearly_windows(a.start, a.end, s.city.start_date, horizon):
            raise _KeyedError("population.arrivals.start", f"the window {a.start} to {a.end} "
                              "falls on no day of the run, so nobody would arrive")
        return
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
    attribute = _attribute_error(err)
    if attribute:
        return attribute
    if too_big(err.get("input")) and err["type"] not in _BOUND_ERRORS:
        where, bounds = _number_at(err["loc"])
        return _format_location(where), too_big_message(err["input"], bounds) or ""
    msg = err["msg"]
    if _names_union_member(err["loc"]):
        key = _format_location(err["loc"][:-1])  # not the member's name: services.school.deadline
        msg = _union_message(exc, err) or msg
    if err["type"] == "extra_forbidden":
        taken = keys_taken(Scenario, err["loc"])
        msg = ("unknown key (check the spelling; "
               + (f"this table takes {', '.join(taken)}; " if taken else "")
               + "every key is listed in the scenario reference of the documentation site, "
               "docs/reference/scenario.md)")
    elif err["type"] == "missing":
        msg = "missing required key"
    msg += sanity_note(err)
    msg = msg.removeprefix("Value error, ")
    named = _ATTRIBUTE_PROBLEM.match(msg)
    if named and err["loc"][-1:] == ("attributes",):
        key, msg = f"{key}.{named['name']}", msg[named.end():]  # ...attributes.grades
    return key, msg


#: How ``Group._known`` names the attribute a problem is with.
_ATTRIBUTE_PROBLEM = re.compile(r"attribute '(?P<name>\w+)': ")


#: The name pydantic gives a member of a union in an error's location.
_UNION_MEMBER = re.compile(r"^(constrained-)?(float|int|bool|str)$|\[")


#: What each member of a union of a day, a date and a month-day takes, by pydantic's name.
_MEMBER_WORDS = (("float", "a number of days"), ("date", "a date (YYYY-MM-DD)"),
                 ("_check_month_day", "a month-day (MM-DD)"))


def _union_message(exc: ValidationError, err: Mapping[str, Any]) -> str | None:
    """For a text given to a key that takes a day, a date or a month-day (a deadline, an
    arrival window): what the key takes and, if the text has the shape of a month-day but
    names no day (``02-30``), that. pydantic names only its first member ("a valid
    number"), which says nothing of the forms the key reads. None for other unions."""
    if not isinstance(err.get("input"), str):
        return None
    parent = err["loc"][:-1]
    members = [e for e in exc.errors() if e["loc"][:-1] == parent and len(e["loc"]) > 0]
    names = [str(e["loc"][-1]) for e in members]
    words = [w for part, w in _MEMBER_WORDS if any(part in n for n in names)]
    if len(words) < 2:
        return None
    said = next((e["msg"].removeprefix("Value error, ") for e in members
                 if e["type"] == "value_error"), None)
    return said or (f"takes {', '.join(words[:-1])} or {words[-1]}, not "
                    f"{_printable(repr(err['input']), 60)}")


def _names_union_member(loc: Sequence[Any]) -> bool:
    """Whether ``loc``'s last part is the member of a union that pydantic names after the
    union's key (``services.school.deadline.constrained-float``), not a key of the file: an
    unknown key named ``float`` in a table is that key (``city.float``)."""
    where, tp, _ = _walk(Scenario, loc)
    return (len(where) == len(loc) - 1 and get_origin(tp) in (Union, UnionType)
            and bool(_UNION_MEMBER.search(str(loc[-1]))))


#: Errors that already state the range a value is outside.
_BOUND_ERRORS = frozenset(("less_than_equal", "less_than", "greater_than_equal", "greater_than"))


def _attribute_error(err: Mapping[str, Any]) -> tuple[str, str] | None:
    """A household attribute that no form of it accepts (each member of the ``Attribute``
    union fails, and pydantic names the first, ``...contract.bool``): the key of the
    attribute and what its kind takes."""
    loc = err["loc"]
    for i in range(len(loc) - 2):
        if loc[i] == "attributes" and loc[i + 1] in ATTRIBUTES and isinstance(loc[i + 2], str):
            problem = check_attribute(loc[i + 1], err.get("input"))
            if problem:
                return _format_location(loc[: i + 2]), problem
    return None


def _number_at(loc: Sequence[Any]) -> tuple[tuple[Any, ...], list[str]]:
    """The key of a number in the scenario's models (``loc`` without the name of the union
    member pydantic adds) and the bounds declared for it (``">= 0"``, ``"<= 1"``)."""
    where, tp, meta = _walk(Scenario, loc)
    if len(where) < len(loc) and get_origin(tp) in (Union, UnionType):
        # the union's number member (``Day | None``, ``float | Distribution``)
        for member in get_args(tp):
            m_tp, m_meta = _unwrap(member, [])
            if m_tp in (int, float):
                meta = m_meta
                break
    bounds = [f"{sym} {getattr(m, attr):g}" for m in meta
              for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
              if isinstance(getattr(m, attr, None), int | float)]
    return tuple(where), bounds


def _walk(root: type[BaseModel], loc: Sequence[Any]) -> tuple[tuple[Any, ...], Any, list[Any]]:
    """Follow ``loc`` through ``root``'s fields: the part of it that names fields and items,
    and the type found there (unwrapped) with its constraints."""
    tp: Any = root
    meta: list[Any] = []
    where: list[Any] = []
    for part in loc:
        tp, meta = _unwrap(tp, meta)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if info is None:
                break
            tp, meta = info.annotation, list(info.metadata)
        elif get_origin(tp) in (tuple, list) and isinstance(part, int):
            tp, meta = get_args(tp)[0], []
        elif get_origin(tp) is dict and isinstance(part, str):
            tp, meta = get_args(tp)[1], []
        else:
            break
        where.append(part)
    tp, meta = _unwrap(tp, meta)
    return tuple(where), tp, meta


def keys_taken(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys the table holding ``loc``'s last part takes (for "unknown key"), or []
    when that table is not one model (a union, a free mapping)."""
    where, tp, _ = _walk(root, loc[:-1])
    if len(where) < len(loc) - 1 or not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return []
    return [f.alias or n for n, f in tp.model_fields.items()]


def _unwrap(tp: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    """A type without ``Annotated`` (its constraints added to ``meta``) and without ``None``
    in a union."""
    while True:
        if get_origin(tp) is Annotated:
            tp, *extra = get_args(tp)
            meta = [*meta, *(x for e in extra
                             for x in (e.metadata if isinstance(e, FieldInfo) else [e]))]
        elif get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp):
            rest = [a for a in get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
        else:
            return tp, meta


#: A key written as a date in JSON text (a value never ends in ``": ``, and one inside a
#: string has its quote escaped).
_DATE_KEY = re.compile(r'"\d{4}-\d{2}-\d{2}": ')


def from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a mapping into a Scenario, or raise one ScenarioError naming the key.

    Validation is strict: a number must be a number (``"50"`` is refused, not read as 50),
    a count an integer (not ``true``, not ``50.5``), a date a date. The mapping goes through
    JSON on the way, so it holds what a TOML or JSON file can hold.
    """
    # Checking a dense routing matrix makes a record per referral: collections of the
    # cycle collector while they are made cost a third of the check.
    with fewer_collections():
        try:
            return _from_dict(data, source)
        except ScenarioError as exc:
            if not exc.key:
                raise
            key, note = readable_key(exc.key, data)
            if key == exc.key and not note:
                raise
            raise ScenarioError(exc.message + note, source=exc.source, key=key) from None


def readable_key(key: str, data: Any) -> tuple[str, str]:
    """A dotted key a user can find in the file: a list entry with a name is named
    (``offices.3.foo`` -> ``offices.employer.foo``, as overrides address it), and an entry
    without one keeps its number and gets a note saying which entry that is, counted from
    1, and what it holds (``; the 1st entry of mechanisms.eligibility.rules (service =
    "school")``). ``data`` is the mapping as written; parts not found in it stay as they are.
    """
    parts = key.split(".")
    node, out, note = data, [], ""
    for i, part in enumerate(parts):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            item = node[int(part)]
            name = _entry_name(node, item) if parts[i + 1:i + 2] != ["name"] else None
            if name is None:
                where = ".".join(out)
                held = _entry_fields(item)
                note = (f"; the {_ordinal(int(part) + 1)} entry of {where}"
                        + (f" ({held})" if held else ""))
            out.append(name or part)
            node = item
        elif isinstance(node, Mapping) and part in node:
            out.append(part)
            node = node[part]
        else:
            out.extend(parts[i:])
            break
    return ".".join(out), note


def _entry_name(items: list[Any], item: Any) -> str | None:
    """The entry's ``name`` when it addresses it alone (a short text, no dot, not a number)."""
    name = item.get("name") if isinstance(item, Mapping) else None
    if not (isinstance(name, str) and 0 < len(name) <= 80 and name.isprintable()
            and "." not in name and not name.isdigit()):
        return None
    same = sum(1 for x in items if isinstance(x, Mapping) and x.get("name") == name)
    return name if same == 1 else None


#: Keys that identify an entry best, shown first when an entry has no usable name.
_IDENTIFYING = ("name", "title", "key")


def _entry_fields(item: Any) -> str:
    """The first two short texts or numbers of an entry, as the file writes them (a name,
    title or key first)."""
    if not isinstance(item, Mapping):
        return ""
    keys = sorted(item, key=lambda k: _IDENTIFYING.index(k) if k in _IDENTIFYING else 3)
    shown = [f"{k} = {json.dumps(item[k], ensure_ascii=False)}" for k in keys
             if isinstance(k, str) and isinstance(item[k], str | int | float)
             and not isinstance(item[k], bool) and len(str(item[k])) <= 80][:2]
    return _printable(", ".join(shown), 160)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _from_dict(data: Mapping[str, Any], source: str) -> Scenario:
    if not isinstance(data, Mapping):
        raise TypeError(f"a scenario is a mapping of keys, not {type(data).__name__}")
    # Referrals in plain tables are checked all at once (a routing matrix of 320 offices
    # has 102,080), and need no JSON text: the quick check takes only texts and numbers.
    raw = data.get("referrals")
    plain = _plain_referrals(raw) if raw else None
    try:
        text = json.dumps(data if plain is None else {**data, "referrals": []},
                          default=_json_value, allow_nan=True)
    except ValueError as exc:  # an integer of thousands of digits
        raise ScenarioError(f"a value cannot be read ({str(exc).split(';')[0]})",
                            source=source) from None
    except TypeError as exc:
        raise ScenarioError(f"a value cannot be read ({exc})", source=source) from None
    except RecursionError:
        raise ScenarioError("scenario is nested too deeply", source=source) from None
    # The text is there to refuse what JSON cannot hold (endless integers, objects); and
    # a scenario with no dated table has no key written as a date in it, so the search for
    # dated tables through every value (a routing table can have 100,000) is skipped.
    undated = _DATE_KEY.search(text) is None
    del text
    try:
        scenario = Scenario.model_validate(data, context={"undated": undated,
                                                          "referrals": (raw, plain)})
        # Referrals the quick check took are as written: nothing was converted there.
        validated = scenario.model_dump(mode="python", by_alias=True,
                                        exclude={"referrals"} if plain is not None else None)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ScenarioError(msg, source=source, key=key or None) from None
    except RecursionError:
        raise ScenarioError("scenario is nested too deeply", source=source) from None
    coerced = _first_coercion(data, validated)
    if coerced:
        raise ScenarioError(coerced[1], source=source, key=coerced[0])
    return scenario


#: Leaf types a value validated as itself keeps.
_SAME = frozenset((str, int, float, bool, type(None)))


def _kept(raw: Any, validated: Any) -> bool:
    """A text, number, yes/no or nothing that validation kept as it was (nothing to check
    under it: a routing table of a few hundred offices has a hundred thousand of them)."""
    return type(raw) is type(validated) and type(raw) in _SAME


def _all_kept(raw: dict, validated: dict) -> bool:
    """Every value of a table (a referral, an office) kept as written."""
    for k, x in raw.items():
        if k in validated:
            y = validated[k]
            if type(x) is not type(y) or type(x) not in _SAME:
                return False
    return True


def _first_coercion(raw: Any, validated: Any) -> tuple[str, str] | None:
    """The first value validation converted from text or true/false into a number.

    pydantic reads ``"50"`` as 50 and ``true`` as 1; a scenario must write numbers as
    numbers, so the raw value is compared with the validated one, key by key.
    """
    stack: list[tuple[Any, Any, tuple[str, ...]]] = [(raw, validated, ())]
    while stack:
        r, v, path = stack.pop()
        if isinstance(r, Mapping) and isinstance(v, Mapping):
            stack.extend((r[k], v[k], (*path, str(k))) for k in reversed(list(r))
                         if k in v and not _kept(r[k], v[k]))
        elif isinstance(r, list | tuple) and isinstance(v, list | tuple) and len(r) == len(v):
            items = [(a, b, (*path, str(i))) for i, (a, b) in enumerate(zip(r, v, strict=True))
                     if not _kept(a, b) and not (type(a) is dict and type(b) is dict
                                                 and _all_kept(a, b))]
            stack.extend(reversed(items))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            if isinstance(r, str):
                return ".".join(path), f"a number is written without quotes, not {r!r}"
            if isinstance(r, bool):
                return ".".join(path), "a number or count, not true or false"
    return None


def _json_value(value: Any) -> Any:
    """Dates as ISO text, NumPy numbers as Python ones; anything else is not scenario data."""
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a scenario value")


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file: TOML, or the ``scenario.json`` a run leaves
    beside its results (so that a stored run can be run again).

    The file must be a regular file of bounded size (see :mod:`maze.inputs`).
    """
    from maze import inputs

    p = Path(path) if isinstance(path, str | Path) else path
    text = inputs.read_text(p)
    if p.suffix.lower() == ".json":
        data = inputs.parse_json(text, str(p))
        if not isinstance(data, dict):
            raise ScenarioError("a scenario is a JSON object", source=str(p))
        return from_dict(data, source=str(p))
    return loads(text, source=str(p))


def loads(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML text."""
    from maze import inputs

    scenario = from_dict(inputs.parse_toml(text, source), source=source)
    if scenario.uncertainty:
        from maze import uncertainty  # it reads scenarios; checked only where a file is read

        uncertainty.declared(scenario, source=source)
    return scenario


def override(scenario: Scenario, changes: Mapping[str, Any],
             source: str = "<override>") -> Scenario:
    """Return a new validated scenario with dotted keys replaced (``population.households``).

    Lists of tables are addressed by name where they have one (``offices.school.seats``)
    or by index (``population.groups.0.share``).
    """
    data = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)
    # The end of the run is given one way: a new end date replaces the horizon, a new
    # horizon the end date.
    city = data.setdefault("city", {})
    if "city.end_date" in changes and "city.horizon" not in changes:
        city.pop("horizon", None)
    elif "city.horizon" in changes and "city.end_date" not in changes:
        city.pop("end_date", None)
    for dotted, value in changes.items():
        _set_dotted(data, dotted, value, source)
    return from_dict(data, source=source)


def get_dotted(scenario: Scenario, dotted: str, source: str = "<scenario>") -> Any:
    """The value at a dotted key, addressed as :func:`override` addresses it."""
    node: Any = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                raise ScenarioError(f"no entry named {part!r}", source=source,
                                    key=".".join(parts[: i + 1]))
            node = node[idx]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ScenarioError("no such key in the scenario", source=source,
                                key=".".join(parts[: i + 1]))
    return node


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
