"""Declared referrals: an office sends a household on to another one, with a probability.

The edges of the referral graph that the scenario declares (``[[referrals]]``).
At a visit to the source office for the matching service, the household is sent
to one target, chosen with the declared probabilities; with the remaining
probability the office does its own job. This is Markovian routing, as in a
Jackson network, which is how the engine's queueing core is checked against theory.
"""

from __future__ import annotations

from collections import defaultdict

from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Referral, Scenario


class DeclaredReferrals(Mechanism):
    name = "referrals"

    def __init__(self, scenario: Scenario):
        self.table: dict[str, list[Referral]] = defaultdict(list)
        for r in scenario.referrals:
            self.table[r.source].append(r)

    def idle(self) -> bool:
        return not self.table

    def decide(self, v: Visit) -> Verdict | None:
        if not self.table or v.fallback or v.document is not None:
            return None
        edges = self.table.get(v.station.name)
        if not edges:
            return None
        u = v.world.decisions.random()
        acc = 0.0
        for r in edges:
            if r.service is not None and r.service != v.request.service:
                continue
            acc += r.probability
            if u < acc:
                return Verdict("refer", r.reason, target=r.target)
        return None
