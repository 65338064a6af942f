"""Provide, deny or deflect: the three answers a city can give (seed 001, introduction).

*Provide* waives paperwork and eligibility for everyone (seats still run out).
*Deny* refuses households without local hukou at the service counter, saying so.
*Deflect* is the scenario as written: nobody says no, the rules do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maze.mechanism import SERVE, Mechanism, Verdict, Visit

if TYPE_CHECKING:
    from maze.world import World


class Regime(Mechanism):
    name = "regime"

    def __init__(self, regime: str):
        self.regime = regime
        self.entry: dict[str, str] = {}

    def install(self, world: World) -> None:
        # Each service's entry office, looked up once rather than at every counter.
        self.entry = {name: s.entry for name, s in world.scenario.services.items()}

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
            return SERVE
        return None
