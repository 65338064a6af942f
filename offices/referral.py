"""Declared referrals: an office sends a household on to another one, with a probability.

The edges of the referral graph that the scenario declares (``[[referrals]]``).
At a visit to the source office for the matching service, the household is sent
to one target, chosen with the declared probabilities; with the remaining
probability the office does its own job. This is Markovian routing, as in a
Jackson network, which is how the engine's queueing core is checked against theory.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import defaultdict
from itertools import accumulate
from operator import attrgetter

from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Referral, Scenario


class DeclaredReferrals(Mechanism):
    name = "referrals"

    def __init__(self, scenario: Scenario):
        self.table: dict[str, list[Referral]] = defaultdict(list)
        for r in scenario.referrals:
            self.table[r.source].append(r)
        # Per (office, service): the running sums of the matching referrals' probabilities
        # (added in declared order, as a walk over them would) and their verdicts, so a
        # visit costs a binary search, not a walk over every referral out of the office.
        # Sums sit in one contiguous array per route and verdicts are shared by target,
        # which keeps a dense routing matrix's visits as cheap as a sparse one's.
        # Made once per (reason, target) when first asked for (a routing matrix of 320
        # offices has 102,080 referrals and 319 targets).
        verdicts = _Verdicts()

        def route(edges: list[Referral]) -> tuple[array, list[Verdict]]:
            return (array("d", accumulate(map(attrgetter("probability"), edges))),
                    [verdicts[r.reason, r.target] for r in edges])

        self._routes: dict[tuple[str, str], tuple[array, list[Verdict]]] = {}
        for source, edges in self.table.items():
            everyone = None
            for service in scenario.services:
                match = [r for r in edges if r.service is None or r.service == service]
                if len(match) == len(edges):  # the same route for every such service
                    everyone = everyone or route(edges)
                    self._routes[source, service] = everyone
                else:
                    self._routes[source, service] = route(match)

    def idle(self) -> bool:
        return not self.table

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None:
            return None
        route = self._routes.get((v.station.name, v.request.service))
        if route is None:  # no referral out of this office
            return None
        # One draw per visit to an office with referrals, whether or not one matches the
        # service (the draws of the other decisions stay where they were).
        u = v.world.decisions.random()
        sums, verdicts = route
        i = bisect_right(sums, u)  # the first referral whose running sum exceeds u
        return verdicts[i] if i < len(verdicts) else None


class _Verdicts(dict):
    """The verdict of referring for each (reason, target), made on first use."""

    def __missing__(self, key: tuple[str, str]) -> Verdict:
        reason, target = key
        verdict = self[key] = Verdict("refer", reason, target=target)
        return verdict
