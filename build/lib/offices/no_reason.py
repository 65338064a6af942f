"""Refusal with no reason at all (Chan & O'Brien 2019).

"They didn't even bother giving me a reason. They just said no; he's not allowed."
(a parent in Shanghai, 2017) [Chan & O'Brien 2019: Away from the City]. Such a refusal names neither
hukou nor any rule, so it counts among the neutral, inconspicuous ones (reason ``none``).

Each migrant request meeting one of the listed offices is refused, with probability
``rate``, when it first asks there for the service (``per = "request"``), or at each
such visit (``per = "visit"``). The texts give no rate; presets mark theirs as
assumptions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Scenario
from offices import register


class NoReasonConfig(BaseModel):
    """``[mechanisms.no_reason]``: how often, where, for which services."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    rate: Annotated[float, Field(ge=0, le=1)]
    #: Services concerned (every service if empty).
    services: tuple[str, ...] = ()
    #: Offices that refuse this way, at any visit (also for a document); if empty, each
    #: service's entry office when the household asks for the service.
    offices: tuple[str, ...] = ()
    per: Literal["request", "visit"] = "request"
    from_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    locals: bool = False


@register("no_reason", NoReasonConfig)
class NoReason(Mechanism):
    """A clerk who just says no, before looking at the papers."""

    order = 44
    carried = ("drawn",)

    def __init__(self, scenario: Scenario, config: NoReasonConfig):
        self.config = config
        self.services = set(config.services or scenario.services)
        self.offices = set(config.offices)
        self.entries = {n: s.entry for n, s in scenario.services.items()}
        #: (case_id, office) pairs already drawn for (per = "request").
        self.drawn: set[tuple[int, str]] = set()

    @staticmethod
    def check(scenario: Scenario, config: NoReasonConfig) -> tuple[str, str] | None:
        for s in config.services:
            if s not in scenario.services:
                return "services", f"unknown service {s!r}"
        names = {o.name for o in scenario.offices}
        for o in config.offices:
            if o not in names:
                return "offices", f"office {o!r} does not exist"
        return None

    def decide(self, v: Visit) -> Verdict | None:
        cfg = self.config
        if v.fallback or (v.household.local and not cfg.locals):
            return None
        if v.document is not None and not self.offices:
            return None  # by default only the service's own counter refuses this way
        service = v.request.service
        if service not in self.services or v.world.env.now < cfg.from_day:
            return None
        office = v.station.name
        if office not in (self.offices or {self.entries[service]}):
            return None
        if cfg.per == "request":
            key = (v.request.case_id, office)
            if key in self.drawn:
                return None
            self.drawn.add(key)
        if v.world.rng["mechanisms"].random() < cfg.rate:
            return Verdict("refuse", "none")
        return None

    def describe(self) -> dict:
        return {"name": self.name, **self.config.model_dump(mode="json")}
