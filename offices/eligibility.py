"""Near-impossible eligibility: minimum consecutive years and age limits (Chan & O'Brien 2019).

Beijing's 2012 vocational-school exam asked parents for 3 years of full-time work
and 3 consecutive years of Beijing social insurance, and the child for 3 years of
middle school in Beijing; the higher vocational track 6 years and 3 years of high
school [Chan & O'Brien 2019: Within the City]. Beijing's 2015 draft hukou rules asked for a
residence permit already held, an age under 45 and 7 consecutive years of social insurance
[Chan & O'Brien 2019: Why Deflect]. "Requiring them to have stayed in one city for a number of years
in a row has the same effect as excluding them" [Chan & O'Brien 2019: Within the City].

Streaks are consecutive: a household whose members change jobs has its work and
insurance streaks cut at the last change (``job_changes`` a year), and one that moves
home has its residence streak cut at the last move (``moves`` a year). Locals are not
asked.

Two layers use the same rule check:

- the declared rules every scenario has (``services.X.min_years``, ``max_age``),
  always on (:class:`Eligibility`);
- the switchable ``[mechanisms.eligibility]`` table (:class:`EligibilityRules`): rules
  per service and per school stage of the child, from a date, and prerequisites that
  must be held first (a residence permit before a hukou application).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from maze.expressions import holds
from maze.household import Household
from maze.mechanism import Mechanism, Verdict, Visit
from maze.population import ATTRIBUTES
from maze.scenario import MinYears, Scenario, Service, checked_condition
from offices import register

if TYPE_CHECKING:
    from maze.world import World

#: Streaks that a job change breaks (a new employer, a new insurance account).
JOB_STREAKS = ("years_work", "years_insurance")
#: Reads an attribute as the request at hand is judged by it (``Visit.attr``: a school
#: request reads its own child's stage and years of school here).
Reader = Callable[[str], Any]
#: The rule fields of MinYears and the household attribute each one reads.
STREAK_OF = (("work", "years_work"), ("insurance", "years_insurance"),
             ("residence", "years_residence"), ("schooling", "years_schooling"))


def streak(household: Household, attribute: str, read: Reader | None = None) -> float:
    """Consecutive years, cut short by the last job change or the last move of home.

    Migrants move and change jobs, and each move breaks a streak [Chan & O'Brien 2019: Within the
    City]: with one job change a year, no work or insurance streak is longer than a year; with two
    moves a year, no residence streak is longer than half a year. In a run over years
    (``[lives]``) the streaks grow with time and the drawn job changes and moves break
    them (maze.lives), so the value is read as it is. ``read`` reads the attributes
    (the household's own if None).
    """
    years = float((read or household.attr)(attribute))
    if household.over_years:
        return years  # kept up to date as time passes, each job change and move a break
    if attribute in JOB_STREAKS:
        changes = float(household.attr("job_changes"))
        if changes > 0:
            years = min(years, 1.0 / changes)
    elif attribute == "years_residence":
        moves = float(household.attr("moves"))
        if moves > 0:
            years = min(years, 1.0 / moves)
    return years


def unmet_rule(household: Household, min_years: MinYears,
               max_age: int | None = None, read: Reader | None = None) -> str | None:
    """The first of these rules the household fails (attribute name or ``age``), or None."""
    for field, attr in STREAK_OF:
        need = getattr(min_years, field)
        if need and streak(household, attr, read) < need:
            return attr
    if max_age is not None and household.attr("age") > max_age:
        return "age"
    return None


def unmet(household: Household, service: Service, read: Reader | None = None) -> str | None:
    """The first declared eligibility rule of ``service`` the household fails, or None."""
    failed = unmet_rule(household, service.min_years, service.max_age, read)
    if failed is None and service.condition is not None and not holds(
            service.condition, streak_reader(household, read)):
        return "condition"
    return failed


def streak_reader(household: Household, read: Reader | None = None) -> Reader:
    """Attributes for a written rule: ``years_*`` read as streaks, as in ``min_years``."""
    plain = read or household.attr
    return lambda a: streak(household, a, read) if a.startswith("years_") else plain(a)


class Eligibility(Mechanism):
    """The declared rules of each service (``min_years``, ``max_age``): always on."""

    name = "eligibility"

    def __init__(self) -> None:
        #: The services that declare any rule (the others are never refused here).
        self.ruled: dict[str, Service] = {}

    def install(self, world: World) -> None:
        self.ruled = {name: s for name, s in world.scenario.services.items()
                      if s.max_age is not None or s.condition is not None
                      or any(getattr(s.min_years, field) for field, _ in STREAK_OF)}

    def idle(self) -> bool:
        return not self.ruled

    def decide(self, v: Visit) -> Verdict | None:
        if not self.ruled or v.fallback or v.document is not None or v.household.local:
            return None
        svc = self.ruled.get(v.request.service)
        if svc is None or v.station.name != svc.entry:
            return None
        if unmet(v.household, svc, v.attr):
            return Verdict("refuse", "eligibility")
        return None


# -- the switchable layer -------------------------------------------------------------------

Stage = Literal["none", "preschool", "primary", "middle", "high"]


class Rule(BaseModel):
    """One eligibility rule: who it applies to, from when, and what it asks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    #: The child's school stage the rule is for (Beijing: a middle-school leaver needs 3
    #: years of middle school in the city); every stage if absent.
    stage: Stage | None = None
    min_years: MinYears = Field(default_factory=MinYears)
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None
    #: What must already be held: document names (held now, e.g. a residence permit) or
    #: yes/no household attributes (e.g. ``contract``).
    requires: tuple[str, ...] = ()
    #: A rule written as text (``age < 45 and not criminal_record``), parsed safely by
    #: :mod:`maze.expressions`; streak attributes read as streaks.
    condition: str | None = None
    #: Day (from the city's start date) the rule takes effect, and stops if given.
    from_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    until_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


    @field_validator("condition")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return checked_condition(v)


class EligibilityConfig(BaseModel):
    """``[mechanisms.eligibility]``: dated, per-stage rules on top of the declared ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    rules: tuple[Rule, ...] = Field(min_length=1)


@register("eligibility", EligibilityConfig)
class EligibilityRules(Mechanism):
    """Refuses (reason ``eligibility``) migrants who fail any rule in force for them."""

    order = 45  # at the counter, before the household is sent for documents

    def __init__(self, scenario: Scenario, config: EligibilityConfig):
        self.config = config
        self.by_service: dict[str, list[Rule]] = {}
        for r in config.rules:
            self.by_service.setdefault(r.service, []).append(r)

    @staticmethod
    def check(scenario: Scenario, config: EligibilityConfig) -> tuple[str, str] | None:
        for i, r in enumerate(config.rules):
            if r.service not in scenario.services:
                return f"rules.{i}.service", f"unknown service {r.service!r}"
            for name in r.requires:
                spec = ATTRIBUTES.get(name)
                if name not in scenario.documents and (spec is None or spec.kind != "bool"):
                    return (f"rules.{i}.requires", f"{name!r} is neither a document nor a "
                            "yes/no household attribute")
            if r.until_day is not None and r.until_day <= r.from_day:
                return f"rules.{i}.until_day", "must come after from_day"
        return None

    def fails(self, household: Household, rule: Rule, now: float,
              read: Reader | None = None) -> str | None:
        """Why ``household`` fails ``rule`` now, or None if it passes or the rule does not apply.

        ``read`` reads the attributes as the request is judged by them: a school request
        made for one child is judged by that child's stage, not its eldest sibling's.
        """
        if now < rule.from_day or (rule.until_day is not None and now >= rule.until_day):
            return None
        read = read or household.attr
        if rule.stage is not None and read("school_stage") != rule.stage:
            return None
        for name in rule.requires:
            if name in household.documents:
                continue
            if name in ATTRIBUTES and bool(read(name)):
                continue
            return name
        failed = unmet_rule(household, rule.min_years, rule.max_age, read)
        if failed is None and rule.condition is not None and not holds(
                rule.condition, streak_reader(household, read)):
            return "condition"
        return failed

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None or v.household.local:
            return None
        rules = self.by_service.get(v.request.service)
        if not rules or v.station.name != v.world.scenario.services[v.request.service].entry:
            return None
        now = v.world.env.now
        if any(self.fails(v.household, r, now, v.attr) for r in rules):
            return Verdict("refuse", "eligibility")
        return None

    def describe(self) -> dict:
        return {"name": self.name, **self.config.model_dump(mode="json")}
