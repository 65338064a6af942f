"""Deadlines: a school year starts on a fixed day, and late is refused (Chan & O'Brien 2019).

"By the time they cleared up the document approval, it was too late. The school
year had started and I was told to try enrolling my child again next year."

A deadline given as a month-day (``"09-01"``) comes back every year: a request is
judged against the first school start on or after the day it was made, so one made
after this year's start is judged against next year's. With ``opens``, a household
that comes before applications for its year open is told to come back then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maze.calendar import YearlyDeadline
from maze.mechanism import Mechanism, Verdict, Visit

if TYPE_CHECKING:
    from maze.world import World


class Deadline(Mechanism):
    name = "deadline"

    def __init__(self) -> None:
        #: Entry office and deadline of each service that has a deadline.
        self.deadlines: dict[str, tuple[str, YearlyDeadline]] = {}

    def install(self, world: World) -> None:
        self.deadlines = deadlines(world)

    def idle(self) -> bool:
        return not self.deadlines

    def decide(self, v: Visit) -> Verdict | None:
        if not self.deadlines or v.fallback or v.document is not None:
            return None
        entry_deadline = self.deadlines.get(v.request.service)
        if entry_deadline is None or v.station.name != entry_deadline[0]:
            return None
        deadline, now, start = entry_deadline[1], v.world.env.now, v.request.start
        if too_late(v.world, deadline, start, now):
            v.request.missed_deadline = True
            return Verdict("refuse", "deadline")
        wait = deadline.come_back_in(start, now)
        if wait > 0:
            v.request.missed_deadline = True
            return Verdict("retry", "deadline", delay=wait)
        return None


def too_late(world: World, deadline: YearlyDeadline, requested: float, now: float) -> bool:
    """Whether a visit now misses the deadline of a request made on day ``requested``.

    A deadline given as a day number is read on the world's yearly calendar
    (``World.day_of_year``: the day itself in a one-season run, the day within its year
    in a run with ``[lives]``); a month-day deadline against the request's own year.
    """
    if deadline.once:
        return world.day_of_year(now) > deadline.days[0]
    return deadline.too_late(requested, now)


def deadlines(world: World) -> dict[str, tuple[str, YearlyDeadline]]:
    """The entry office and deadline of each service of the rules in force that has one."""
    city = world.scenario.city
    return {name: (s.entry, YearlyDeadline(s.deadline, s.opens, city.start_date, city.horizon))
            for name, s in world.scenario.services.items() if s.deadline is not None}
