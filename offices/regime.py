"""Provide, deny or deflect: the three answers a city can give (seed 001, introduction).

*Provide* waives paperwork and eligibility for everyone (seats still run out).
*Deny* refuses households without local hukou at the service counter, saying so.
*Deflect* is the scenario as written: nobody says no, the rules do.
"""

from __future__ import annotations

from maze.mechanism import SERVE, Mechanism, Verdict, Visit


class Regime(Mechanism):
    name = "regime"

    def __init__(self, regime: str):
        self.regime = regime

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None:
            return None
        if v.station.name != v.world.scenario.services[v.request.service].entry:
            return None
        if self.regime == "deny" and not v.household.local:
            return Verdict("refuse", "hukou")
        if self.regime == "provide":
            return SERVE
        return None
