"""Points systems: a score from a points table, and a threshold or a quota (Chan & O'Brien 2019).

Guangdong scores "skills, education, social security contributions, and criminal
records": a high school degree counts 20 points, a university degree 80, a criminal
record deducts; 60 points are needed to apply in the province, 85 for Guangzhou
[Chan & O'Brien 2019: Within the City]. Shanghai (2013): a permanent permit after seven years with
120 points; a master's degree is worth 100 and a doctorate 110 [Chan & O'Brien 2019: Within the
City]. Shenzhen opened 10,000 permanent spots in 2017 "reserved for applicants with the most points"
[Chan & O'Brien 2019: Within the City]: a quota, not a threshold. One father gave blood three times
in a summer for points [Chan & O'Brien 2019: Within the City]. Streaks count as the eligibility
rules count them: a job change cuts the insurance years ("the requirement of continuous permanent
employment also stood in the way of accumulating points" [Chan & O'Brien 2019: Within the City]).

A household below the threshold is refused on ``eligibility``. Under a quota the
application waits for the round's ranking (``retry`` until the round ends); those
outside the top scorers are refused on ``capacity`` (the spots are gone).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maze.household import Household
from maze.mechanism import Mechanism, Verdict, Visit
from maze.population import EDUCATION
from maze.scenario import MAX_SEATS, Scenario
from maze.world import World
from offices import register
from offices.eligibility import Reader, streak

Years = Literal["years_work", "years_insurance", "years_residence", "years_schooling"]
Education = Literal[EDUCATION]  # type: ignore[valid-type]
Points = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]


class PointsTable(BaseModel):
    """What each thing a household has or has done is worth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Points for the highest degree. A degree not listed earns the points of the highest
    #: listed degree below it (a doctor also holds a university degree).
    education: dict[Education, Points] = Field(default_factory=dict)
    #: Points per consecutive year (insurance, work, residence), as streaks count them.
    per_year: dict[Years, Points] = Field(default_factory=dict)
    #: Most years counted for each streak.
    max_years: dict[Years, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    #: The investment route (a firm paying enough tax or employing enough people).
    investor: Points = 0.0
    #: Points per blood donation, and the most donations counted.
    blood_donation: Points = 0.0
    max_blood_donations: Annotated[int, Field(ge=0)] | None = None
    #: Points for a criminal record: a deduction, so zero or negative.
    criminal_record: Annotated[float, Field(le=0, ge=-1e6)] = 0.0
    #: Points for a signed labour contract.
    contract: Points = 0.0


class PointsConfig(BaseModel):
    """``[mechanisms.points]``: which services are scored, the table, the bar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Counts that scale with the city (``maze.scale``).
    SCALED: ClassVar[tuple[str, ...]] = ("quota",)

    enabled: bool = True
    services: tuple[str, ...] = Field(min_length=1)
    table: PointsTable = Field(default_factory=PointsTable)
    #: Lowest score allowed to apply.
    threshold: Points | None = None
    #: Spots per round for the top scorers (a count), or a share of the round's applicants.
    quota: Annotated[int, Field(ge=0, le=MAX_SEATS)] | None = None
    quota_share: Annotated[float, Field(ge=0, le=1)] | None = None
    #: Length of a quota round in days; applications are ranked when it ends.
    round_days: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 365.0

    @model_validator(mode="after")
    def _a_bar(self) -> PointsConfig:
        if self.threshold is None and self.quota is None and self.quota_share is None:
            raise ValueError("give a threshold, a quota or a quota_share")
        if self.quota is not None and self.quota_share is not None:
            raise ValueError("give a quota or a quota_share, not both")
        return self


def score(household: Household, table: PointsTable, read: Reader | None = None) -> float:
    """The household's points under ``table``; ``read`` reads the attributes as the
    request is judged by them (a school request: its own child's years of school here)."""
    total = 0.0
    if table.education:
        level = EDUCATION.index(household.attr("education"))
        listed = [e for e in table.education if EDUCATION.index(e) <= level]
        if listed:
            total += table.education[max(listed, key=EDUCATION.index)]
    for attr, per in table.per_year.items():
        years = streak(household, attr, read)
        cap = table.max_years.get(attr)
        total += per * (min(years, cap) if cap is not None else years)
    if table.investor and household.attr("investor"):
        total += table.investor
    if table.blood_donation:
        n = float(household.attr("blood_donations"))
        if table.max_blood_donations is not None:
            n = min(n, table.max_blood_donations)
        total += table.blood_donation * n
    if household.attr("criminal_record"):
        total += table.criminal_record
    if table.contract and household.attr("contract"):
        total += table.contract
    return total


@register("points", PointsConfig)
class PointsSystem(Mechanism):
    """Scores migrants at the entry office of each scored service."""

    order = 55  # the package is complete; now it is scored

    def __init__(self, scenario: Scenario, config: PointsConfig):
        self.config = config
        self.services = set(config.services)
        #: Applications per (service, day the round closes): case_id -> (score, tie-break draw).
        self.rounds: dict[tuple[str, float], dict[int, tuple[float, float]]] = {}
        #: Admitted case ids per decided round.
        self.decided: dict[tuple[str, float], set[int]] = {}
        self.applied: dict[int, tuple[str, float]] = {}

    @staticmethod
    def check(scenario: Scenario, config: PointsConfig) -> tuple[str, str] | None:
        for s in config.services:
            if s not in scenario.services:
                return "services", f"unknown service {s!r}"
        return None

    @property
    def quota_on(self) -> bool:
        return self.config.quota is not None or self.config.quota_share is not None

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None or v.household.local:
            return None
        service = v.request.service
        if service not in self.services:
            return None
        if v.station.name != v.world.scenario.services[service].entry:
            return None
        now = v.world.env.now
        case = v.request.case_id
        if case in self.applied:
            key = self.applied[case]
            if key not in self.decided:
                self._rank(key)
            return None if case in self.decided[key] else Verdict("refuse", "capacity")
        points = score(v.household, self.config.table, v.attr)
        if self.config.threshold is not None and points < self.config.threshold:
            return Verdict("refuse", "eligibility")
        if not self.quota_on:
            return None
        length = self.config.round_days
        round_end = (int(now // length) + 1) * length
        key = (service, round_end)
        self.rounds.setdefault(key, {})[case] = (points, float(v.world.rng["mechanisms"].random()))
        self.applied[case] = key
        return Verdict("retry", "none", delay=round_end - now + 1e-6)

    def take_over(self, world: World, previous: Mechanism) -> None:
        """A new table, bar, quota or round length from a date: applications already made
        stay in their round, and rounds already decided stay decided; a round still open is
        ranked under the rules in force when it closes. Rounds are known by the day they
        close, so after a new length an application joins the next round of that length
        (with an old round closing the same day, if any), never a round already ranked."""
        if isinstance(previous, PointsSystem):
            self.rounds, self.decided, self.applied = (previous.rounds, previous.decided,
                                                       previous.applied)

    def _rank(self, key: tuple[str, float]) -> None:
        """Admit the round's top scorers (random tie-break among equal scores)."""
        apps = self.rounds.get(key, {})
        if self.config.quota is not None:
            spots = self.config.quota
        else:
            spots = math.floor(self.config.quota_share * len(apps) + 1e-9)
        ranked = sorted(apps, key=lambda c: (-apps[c][0], apps[c][1], c))
        self.decided[key] = set(ranked[:spots])

    def describe(self) -> dict:
        return {"name": self.name, **self.config.model_dump(mode="json")}
