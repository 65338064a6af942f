"""Deadlines: a school year starts on a fixed day, and late is refused (Chan & O'Brien 2019).

"By the time they cleared up the document approval, it was too late. The school
year had started and I was told to try enrolling my child again next year."
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maze.mechanism import Mechanism, Verdict, Visit

if TYPE_CHECKING:
    from maze.world import World


class Deadline(Mechanism):
    name = "deadline"

    def __init__(self) -> None:
        #: Entry office and deadline day of each service that has a deadline.
        self.deadlines: dict[str, tuple[str, float]] = {}

    def install(self, world: World) -> None:
        self.deadlines = {name: (s.entry, s.deadline)
                          for name, s in world.scenario.services.items()
                          if s.deadline is not None}

    def idle(self) -> bool:
        return not self.deadlines

    def decide(self, v: Visit) -> Verdict | None:
        if not self.deadlines or v.fallback or v.document is not None:
            return None
        entry_deadline = self.deadlines.get(v.request.service)
        if entry_deadline is None or v.station.name != entry_deadline[0]:
            return None
        if v.world.day_of_year(v.world.env.now) > entry_deadline[1]:
            v.request.missed_deadline = True
            return Verdict("refuse", "deadline")
        return None
