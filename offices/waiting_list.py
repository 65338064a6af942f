"""Waiting lists: locals first, migrants by number, and the stated reason is "full" (Chan & O'Brien
2019).

"In Shanghai, most schools first fill their classes with registered residents before
allowing in any migrants, lest urban parents complain. Migrant students must get a
number on a waiting list and maintain high-enough test grades in the meantime; when
they move from elementary to middle school, they must obtain another number and go to
the bottom of a new list" [Chan & O'Brien 2019: Away from the City]. The list "avoided the
awkwardness of excluding migrants formally by making their inability to enroll a consequence of
classroom capacity" [Chan & O'Brien 2019: Away from the City]; a parent: the school "said it was
full" [Chan & O'Brien 2019: Away from the City].

How it works here. A listed office admits locals as they come, while seats last. A
migrant who reaches it with everything else in order gets a number (the day it joined
the list) and is told to come back on the day the list is called (``opens``), after
local enrolment: a ``retry`` whose stated reason is capacity. From that day, the
migrant is admitted only if its rank among the households still waiting is within
the places left for migrants (the seats left, less those kept back for late locals,
and at most ``places``); otherwise it is refused, again on "capacity". Grades below
``min_grades`` strike a child off, and the school still says it is full.

A child moving from primary to middle school (``school_stage = "middle"``) who has
schooled here before (``years_schooling`` > 0) would, without the reset, keep the
number it got when it first enrolled; with ``reset_at_middle`` it goes to the bottom
of the new list like a newcomer.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from maze.household import Request
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import MAX_SEATS, Scenario
from maze.world import World
from offices import register

#: Days in a school year, for turning years of schooling into an old list number.
YEAR = 365.0


class WaitingListConfig(BaseModel):
    """``[mechanisms.waiting_list]``: which offices keep a list, and how it is called."""

    model_config = ConfigDict(extra="forbid")

    #: Counts that scale with the city (``maze.scale``).
    SCALED: ClassVar[tuple[str, ...]] = ("reserve", "places")

    enabled: bool = True
    #: Offices (schools) that keep a waiting list for migrants.
    offices: tuple[str, ...] = Field(min_length=1)
    #: Day the list is called, after locals have enrolled; no migrant is admitted before.
    opens: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: Seats kept back for locals who may still come after the list is called.
    reserve: Annotated[int, Field(ge=0, le=MAX_SEATS)] = 0
    #: Most migrants an office admits from its list (None: as many as seats allow).
    places: Annotated[int, Field(ge=0, le=MAX_SEATS)] | None = None
    #: Order of the list: by number (first come, first listed), or by grades then number.
    order: Literal["number", "grades"] = "number"
    #: Grades (0 to 1) a listed child must keep up; below it, struck off as "full".
    min_grades: Annotated[float, Field(ge=0, le=1)] = 0.0
    #: A child moving on to middle school starts at the bottom of a new list.
    reset_at_middle: bool = True


@register("waiting_list", WaitingListConfig)
class WaitingList(Mechanism):
    #: After eligibility and paperwork: only households otherwise admissible are listed.
    order = 60

    def __init__(self, scenario: Scenario, config: WaitingListConfig):
        self.config = config
        self.offices = frozenset(config.offices)
        #: office -> case_id -> (request, sort key); households still waiting.
        self.lists: dict[str, dict[int, tuple[Request, tuple[float, ...]]]] = {
            o: {} for o in config.offices}
        self.admitted: dict[str, int] = dict.fromkeys(config.offices, 0)

    @staticmethod
    def check(scenario: Scenario, config: WaitingListConfig) -> tuple[str, str] | None:
        """Name the first listed office the scenario lacks, or a list called too late."""
        known = {o.name for o in scenario.offices}
        for i, name in enumerate(config.offices):
            if name not in known:
                return f"offices.{i}", f"office {name!r} does not exist"
        for svc_name, svc in scenario.services.items():
            # A yearly deadline (a month-day) comes back after any day the list is called.
            if (svc.entry in config.offices and isinstance(svc.deadline, float)
                    and config.opens > svc.deadline):
                return "opens", (f"the list is called on day {config.opens:g}, after the "
                                 f"deadline of service {svc_name!r} (day {svc.deadline:g}): "
                                 "nobody on it could be admitted")
        return None

    def number(self, world: World, req: Request, now: float) -> float:
        """The day the request's number dates from (lower is earlier on the list): the
        stage and years of school here are those of the child it is for."""
        if (not self.config.reset_at_middle and world.attr(req, "school_stage") == "middle"
                and world.attr(req, "years_schooling") > 0):
            return now - YEAR * float(world.attr(req, "years_schooling"))
        return now

    def _key(self, world: World, req: Request, now: float) -> tuple[float, ...]:
        return self._rekey(req, self.number(world, req, now))

    def places_left(self, world: World, office: str) -> float:
        """Places still open to migrants at an office."""
        seats = world.stations[office].seats_left
        left = float("inf") if seats is None else float(seats - self.config.reserve)
        if self.config.places is not None:
            left = min(left, float(self.config.places - self.admitted[office]))
        return left

    def rank(self, world: World, office: str, case_id: int) -> int:
        """Households ahead of this one among those still waiting (patience not run out)."""
        members = self.lists[office]
        mine = members[case_id][1]
        now = world.env.now
        ahead = 0
        for cid, (req, key) in members.items():
            if cid == case_id or key >= mine:
                continue
            hh = req.household
            if now - req.start < hh.attr("patience_days") and req.visits < hh.attr(
                    "patience_visits"):
                ahead += 1
        return ahead

    def decide(self, v: Visit) -> Verdict | None:
        office = v.station.name
        if v.fallback or v.document is not None or office not in self.offices:
            return None
        if v.household.local:
            return None
        now = v.world.env.now
        members = self.lists[office]
        req = v.request
        if req.case_id not in members:
            members[req.case_id] = (req, self._key(v.world, req, now))
        if now < self.config.opens:
            req.last_reason = "capacity"
            return Verdict("retry", "capacity", delay=self.config.opens - now)
        if v.household.attr("grades") < self.config.min_grades:
            return Verdict("refuse", "capacity")
        if self.rank(v.world, office, req.case_id) < self.places_left(v.world, office):
            return None
        return Verdict("refuse", "capacity")

    def take_over(self, world: World, previous: Mechanism) -> None:
        """New rules for the list from a date (places, reserve, order): the households
        waiting at an office that still keeps a list stay on it with the numbers they
        drew, and the places it has given stay given."""
        if not isinstance(previous, WaitingList):
            return
        for office in sorted(self.offices & previous.offices):
            self.admitted[office] = previous.admitted[office]
            for cid, (req, key) in previous.lists[office].items():
                self.lists[office][cid] = (req, self._rekey(req, key[-2]))

    def _rekey(self, req: Request, number: float) -> tuple[float, ...]:
        if self.config.order == "grades":
            return (-float(req.household.attr("grades")), number, float(req.case_id))
        return (number, float(req.case_id))

    def finished(self, world: World, request: Request) -> None:
        for office, members in self.lists.items():
            if members.pop(request.case_id, None) is not None and (
                    request.outcome == "served" and request.last_office == office):
                self.admitted[office] += 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
