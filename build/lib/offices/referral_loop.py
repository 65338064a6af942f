"""Referral loops: offices sending a household between them to certify its papers (Chan & O'Brien
2019).

After Beijing tightened document checks (after 2007; Shanghai did the same) schools
"now instruct parents to bring their full package of documents to the local
government for inspection" [Chan & O'Brien 2019: Within the City]; "at the local government office,
they told me to take the documents instead to the school" [Chan & O'Brien 2019: Within the City];
"by the time they cleared up the document approval, it was too late. The school year had started and
I was told to try enrolling my child again next year" [Chan & O'Brien 2019: Within the City].
Migrant students "can be left in approval limbo and never make the leap from being technically
eligible to actually enrolling" [Chan & O'Brien 2019: Within the City].

A household that reaches the service's entry office with its package complete is sent
round the listed offices (entry -> office 2 -> ... -> entry) a number of times: at
least ``rounds``, then once more with ``repeat_probability`` after each round, up to
``max_rounds``. Every leg is a ``refer`` (reason ``documents`` unless told otherwise),
so each one costs a visit, a gap between visits and a day's wage, while the school
year's deadline (``services.X.deadline``) keeps running. The texts give no count of
bounces: the presets mark theirs as assumptions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import REASONS, Scenario
from maze.world import World
from offices import register


class ReferralLoopConfig(BaseModel):
    """``[mechanisms.referral_loop]``: which service, which offices, how many bounces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    service: str
    #: The loop, starting at the service's entry office: ["public_school", "street_office"].
    offices: tuple[str, ...] = Field(min_length=2)
    #: Trips round the loop every household makes.
    rounds: Annotated[int, Field(ge=0, le=1000)] = 1
    #: After each trip, the chance of being sent round again.
    repeat_probability: Annotated[float, Field(ge=0, lt=1)] = 0.0
    max_rounds: Annotated[int, Field(ge=0, le=1000)] = 20
    reason: Literal[REASONS] = "documents"  # type: ignore[valid-type]
    #: Day the loop starts (tighter checks from a date).
    from_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: Whether locals are sent round too (the texts describe migrants' packages).
    locals: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> ReferralLoopConfig:
        if len(set(self.offices)) != len(self.offices):
            raise ValueError("each office appears once in the loop")
        if self.max_rounds < self.rounds:
            raise ValueError("max_rounds must be at least rounds")
        return self


@register("referral_loop", ReferralLoopConfig)
class ReferralLoop(Mechanism):
    """Sends households round the loop, leg by leg, before the entry office decides."""

    order = 60  # once the package is complete (after the declared paperwork)

    def __init__(self, scenario: Scenario, config: ReferralLoopConfig):
        self.config = config
        self.entry = scenario.services[config.service].entry
        self.position = {o: i for i, o in enumerate(config.offices)}
        #: case_id -> [rounds to make, rounds made]
        self.cases: dict[int, list[int]] = {}

    @staticmethod
    def check(scenario: Scenario, config: ReferralLoopConfig) -> tuple[str, str] | None:
        if config.service not in scenario.services:
            return "service", f"unknown service {config.service!r}"
        names = {o.name for o in scenario.offices}
        for o in config.offices:
            if o not in names:
                return "offices", f"office {o!r} does not exist"
        entry = scenario.services[config.service].entry
        if config.offices[0] != entry:
            return "offices", (f"the loop must start at the service's entry office "
                               f"{entry!r}")
        return None

    def take_over(self, world: World, previous: Mechanism) -> None:
        """New odds or offices from a date: households already sent round the loop keep
        the trips drawn for them and those made (new ones draw under the new rules)."""
        if isinstance(previous, ReferralLoop) and previous.config.service == self.config.service:
            self.cases = previous.cases

    def _draw_rounds(self, v: Visit) -> int:
        n = self.config.rounds
        rng = v.world.rng["mechanisms"]
        while n < self.config.max_rounds and self.config.repeat_probability > 0 and (
                rng.random() < self.config.repeat_probability):
            n += 1
        return n

    def decide(self, v: Visit) -> Verdict | None:
        cfg = self.config
        if v.fallback or v.document is not None or v.request.service != cfg.service:
            return None
        if v.household.local and not cfg.locals:
            return None
        pos = self.position.get(v.station.name)
        if pos is None:
            return None
        case = v.request.case_id
        state = self.cases.get(case)
        if pos == 0:
            if state is None:
                if v.world.env.now < cfg.from_day:
                    return None
                state = self.cases[case] = [self._draw_rounds(v), 0]
            if state[1] >= state[0]:
                return None
            return Verdict("refer", cfg.reason, target=cfg.offices[1])
        if state is None:
            return None  # not sent here by the loop
        nxt = (pos + 1) % len(cfg.offices)
        if nxt == 0:
            state[1] += 1
        return Verdict("refer", cfg.reason, target=cfg.offices[nxt])

    def describe(self) -> dict:
        return {"name": self.name, **self.config.model_dump(mode="json")}
