"""Deadlines: a school year starts on a fixed day, and late is refused (seed 001).

"By the time they cleared up the document approval, it was too late. The school
year had started and I was told to try enrolling my child again next year."
"""

from __future__ import annotations

from maze.mechanism import Mechanism, Verdict, Visit


class Deadline(Mechanism):
    name = "deadline"

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None:
            return None
        svc = v.world.scenario.services[v.request.service]
        if svc.deadline is None or v.station.name != svc.entry:
            return None
        if v.world.env.now > svc.deadline:
            v.request.missed_deadline = True
            return Verdict("refuse", "deadline")
        return None
