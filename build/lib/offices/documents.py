"""Paperwork: the documents a service asks for and the chains behind them (Chan & O'Brien 2019).

The "five documents" (wuzheng) for school or urban health insurance: household
registration booklet, proof of hometown residence, temporary residence permit,
proof of local address, proof of employment [Chan & O'Brien 2019: Within the City]. The hard ones
hang on things a migrant may not have: a permit needs proof of address, which needs a
lease in one's own name; proof of employment needs a contract [Chan & O'Brien 2019: Within the
City]. An issuer asks for missing prerequisites first, and refuses (neutrally, on
"documents") when the household lacks what the paper certifies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maze.expressions import holds
from maze.mechanism import Mechanism, Verdict, Visit
from maze.population import ATTRIBUTES

if TYPE_CHECKING:
    from maze.world import World


class Paperwork(Mechanism):
    name = "documents"

    def __init__(self) -> None:
        #: Entry office and documents of each service that asks for any.
        self.asks: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.papers = False

    def install(self, world: World) -> None:
        self.asks = {name: (s.entry, s.documents)
                     for name, s in world.scenario.services.items() if s.documents}
        # Documents can be sought without a service asking for them (a mechanism's extra
        # papers): the issuers' checks then still apply.
        self.papers = bool(world.scenario.documents)

    def idle(self) -> bool:
        return not self.asks and not self.papers

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback:
            return None
        held = v.household.documents
        if v.document is None:
            asks = self.asks.get(v.request.service)
            if asks is None or v.station.name != asks[0]:
                return None
            missing = tuple(d for d in asks[1] if d not in held)
            return Verdict("require", "documents", documents=missing) if missing else None
        doc = v.world.scenario.documents[v.document]
        missing = tuple(d for d in doc.requires if d not in held)
        if missing:
            return Verdict("require", "documents", documents=missing)
        if any(not v.household.attr(a) for a in doc.needs) or (
                doc.condition is not None and not holds(doc.condition, v.household.attr)):
            return Verdict("refuse", "documents")
        return None


def obtainable(scenario, household_attrs: dict, document: str) -> bool:  # noqa: ANN001
    """Whether a household with these yes/no attributes could ever get ``document``.

    Follows the prerequisite chain: a paper is out of reach if it, or anything it
    requires, needs an attribute the household lacks (and it does not hold it already).
    """
    doc = scenario.documents[document]
    if doc.held is True or (isinstance(doc.held, str) and household_attrs.get(doc.held)):
        return True
    if doc.issuer is None or any(not household_attrs.get(a) for a in doc.needs):
        return False
    if doc.condition is not None and not holds(
            doc.condition, lambda a: household_attrs.get(a, ATTRIBUTES[a].default)):
        return False
    return all(obtainable(scenario, household_attrs, r) for r in doc.requires)
