"""Near-impossible eligibility: minimum consecutive years and age limits (seed 001).

Beijing's 2012 vocational-school exam asked parents for 3 years of full-time work
and 3 consecutive years of Beijing social insurance, and the child for 3 years of
middle school in Beijing [001:610-626]. Streaks are consecutive: a household whose
members change jobs has its work and insurance streaks cut at the last change.
Locals are not asked.
"""

from __future__ import annotations

from maze.expressions import holds
from maze.household import Household
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Service


def streak(household: Household, attribute: str) -> float:
    """Consecutive years, cut short by the last job change (one a year means a year at most)."""
    years = float(household.attr(attribute))
    changes = float(household.attr("job_changes"))
    if attribute in ("years_work", "years_insurance") and changes > 0:
        years = min(years, 1.0 / changes)
    return years


def unmet(household: Household, service: Service) -> str | None:
    """The first eligibility rule the household fails, or None."""
    rules = service.min_years
    for attr, need in (("years_work", rules.work), ("years_insurance", rules.insurance),
                       ("years_residence", rules.residence),
                       ("years_schooling", rules.schooling)):
        if need and streak(household, attr) < need:
            return attr
    if service.max_age is not None and household.attr("age") > service.max_age:
        return "age"
    if service.condition is not None and not holds(
            service.condition,  # streaks are cut by job changes here too
            lambda a: streak(household, a) if a.startswith("years_") else household.attr(a)):
        return "condition"
    return None


class Eligibility(Mechanism):
    name = "eligibility"

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None or v.household.local:
            return None
        svc = v.world.scenario.services[v.request.service]
        if v.station.name != svc.entry:
            return None
        if unmet(v.household, svc):
            return Verdict("refuse", "eligibility")
        return None
