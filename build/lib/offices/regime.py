"""Provide, deny or deflect: the three answers a city can give (Chan & O'Brien 2019, introduction).

*Provide* waives paperwork and eligibility for everyone (seats still run out, and a
school year still starts on its day).
*Deny* refuses households without local hukou at the service counter, saying so.
*Deflect* is the scenario as written: nobody says no, the rules do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maze.calendar import YearlyDeadline
from maze.mechanism import SERVE, Mechanism, Verdict, Visit
from offices.deadline import deadlines, too_late

if TYPE_CHECKING:
    from maze.world import World


class Regime(Mechanism):
    name = "regime"

    def __init__(self, regime: str):
        self.regime = regime
        self.entry: dict[str, str] = {}
        self.deadline: dict[str, YearlyDeadline] = {}

    def install(self, world: World) -> None:
        # Each service's entry office and deadline, looked up once rather than at every
        # counter.
        services = world.scenario.services.items()
        self.entry = {name: s.entry for name, s in services}
        self.deadline = {name: d for name, (_, d) in deadlines(world).items()}

    def idle(self) -> bool:
        return self.regime == "deflect"

    def decide(self, v: Visit) -> Verdict | None:
        # Deflecting is the scenario as written: this layer has nothing to say.
        if self.regime == "deflect" or v.fallback or v.document is not None:
            return None
        if v.station.name != self.entry[v.request.service]:
            return None
        if self.regime == "deny" and not v.household.local:
            return Verdict("refuse", "hukou")
        if self.regime == "provide":
            # Providing waives the rules, not the calendar: past the school-year start,
            # the deadline rule answers as it does for everyone.
            deadline = self.deadline.get(v.request.service)
            return SERVE if deadline is None or not (
                too_late(v.world, deadline, v.request.start, v.world.env.now)
                or deadline.come_back_in(v.request.start, v.world.env.now)) else None
        return None
