"""Try again next year: a family turned away asks again the next year.

"By the time they cleared up the document approval, it was too late. The school year had
started and I was told to try enrolling my child again next year" [Chan & O'Brien 2019:
Within the City]. Without this rule
a household turned away never asks again for that service (a child out of school stays
out until its next stage, when its family applies anyway).

In a run over years, at the turn of each year a household whose last request for a
service failed asks again with probability

    p = after_deadline (told it was too late) or after_refusal (any other failure)
        x discouragement ** (earlier failed years for the same service)

and not at all after ``max_tries`` failed requests for it. A family that was deterred
(never went to a counter) asks with ``after_deterred``. Each size is an ASSUMPTION: the
text gives the instruction, not how many follow it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from maze.household import Request
from maze.mechanism import Mechanism
from maze.scenario import Scenario
from offices import register

if TYPE_CHECKING:
    from maze.world import World

Share = Annotated[float, Field(ge=0, le=1)]


class TryAgainConfig(BaseModel):
    """``[mechanisms.try_again]``: who comes back next year after a refusal."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Services asked for again (empty: all).
    services: tuple[str, ...] = ()
    #: Probability of asking again after missing the deadline. ASSUMPTION 0.8 (0.5-1):
    #: the family was told to.
    after_deadline: Share = 0.8
    #: Probability after any other failure (papers, capacity, eligibility, no reason).
    #: ASSUMPTION 0.4 (0.1-0.6).
    after_refusal: Share = 0.4
    #: Probability for a family deterred last time (it never went to a counter).
    after_deterred: Share = 0.0
    #: Factor per earlier failed year for the same service. ASSUMPTION 0.7 (0.5-1).
    discouragement: Annotated[float, Field(ge=0, le=1)] = 0.7
    #: Failed requests for one service after which a family stops asking.
    max_tries: Annotated[int, Field(ge=1, le=100)] = 5


@register("try_again", TryAgainConfig)
class TryAgain(Mechanism):
    kind = "family"
    carried = ("failed",)

    def __init__(self, scenario: Scenario, config: TryAgainConfig):
        self.config = config
        self.services = frozenset(config.services or scenario.services)
        #: (household, service) -> failed requests so far.
        self.failed: dict[tuple[int, str], int] = {}

    @staticmethod
    def check(scenario: Scenario, config: TryAgainConfig) -> tuple[str, str] | None:
        for i, name in enumerate(config.services):
            if name not in scenario.services:
                return f"services.{i}", f"unknown service {name!r}"
        return None

    def idle(self) -> bool:
        return False

    def probability(self, request: Request) -> float:
        """The probability that the household asks again next year after ``request``."""
        cfg = self.config
        key = (request.household.id, request.service)
        failures = self.failed.get(key, 1)
        if failures >= cfg.max_tries:
            return 0.0
        if request.outcome == "deterred":
            p = cfg.after_deterred
        elif request.missed_deadline:
            p = cfg.after_deadline
        else:
            p = cfg.after_refusal
        return p * cfg.discouragement ** (failures - 1)

    def tries_again(self, world: World, request: Request) -> bool | None:
        if request.service not in self.services:
            return None
        p = self.probability(request)
        return bool(p > 0 and world.rng["mechanisms"].random() < p)

    def finished(self, world: World, request: Request) -> None:
        if request.outcome in ("sent_away", "gave_up", "denied", "deterred"):
            key = (request.household.id, request.service)
            self.failed[key] = self.failed.get(key, 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
