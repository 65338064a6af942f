"""Going home: a migrant family leaves the city for its hometown.

Land in the hometown is "a final backstop in the face of on-the-job injury,
unemployment, or old age", and "for many of the aging workers ... returning to one's
hometown is the inevitable end" [Chuang 2020]; cities "nudge migrants to seek healthcare
or education elsewhere" [Chan & O'Brien 2019: Conclusion], and a large majority of
families given notice of a school's demolition "decided it would be best to make plans
to relocate" [Chan & O'Brien 2019: Away from the City]; "some go back to their home
village for a time" [Chan & O'Brien 2019: Within the City].

Two decisions, one rule: at the turn of each year (``yearly``), and when a request ends
with nothing in the city or its fallbacks (``on_failure``, replacing the coin flip of the
``home_ties`` attribute). The odds of going home are the base odds times

    land ** (holds land at home) x older ** (years of age past ``age_from``)
         x failed ** (failed requests this year) x cost ** (savings below ``cost_savings``)

Every size is an ASSUMPTION with a range in docs/explanation/families-over-years.md.
Locals never go "home".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from maze.household import Household, Request
from maze.mechanism import Mechanism
from maze.scenario import Scenario
from offices import register

if TYPE_CHECKING:
    from maze.world import World

Share = Annotated[float, Field(ge=0, le=1)]
Factor = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
YEAR = 365.0


class ReturnHomeConfig(BaseModel):
    """``[mechanisms.return_home]``: what sends a family home."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Yearly probability of going home with every factor at one. ASSUMPTION 0.05 (0.02-0.1).
    yearly: Share = 0.05
    #: Probability of going home when a request ends with nothing, every factor at one.
    #: ASSUMPTION 0.2 (0.1-0.5); home_ties drew 0.5 in the one-season presets.
    on_failure: Share = 0.2
    #: Odds factor for a family holding land at home. ASSUMPTION 2 (1.2-4).
    land: Factor = 2.0
    #: Age past which each further year raises the odds by ``older``. ASSUMPTION 45 (40-50).
    age_from: Annotated[float, Field(ge=0, le=120)] = 45.0
    #: ASSUMPTION 1.1 (1.0-1.2) a year of age past ``age_from``.
    older: Factor = 1.1
    #: Odds factor per failed request this year (failed access). ASSUMPTION 1.5 (1-3).
    failed: Factor = 1.5
    #: Savings (RMB) below which the cost of the city weighs (0: never).
    cost_savings: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 2000.0
    #: Odds factor below ``cost_savings``. ASSUMPTION 1.5 (1-3).
    cost: Factor = 1.5


@register("return_home", ReturnHomeConfig)
class ReturnHome(Mechanism):
    kind = "family"
    carried = ("failed",)

    def __init__(self, scenario: Scenario, config: ReturnHomeConfig):
        self.config = config
        #: (household, year) -> failed requests that year.
        self.failed: dict[tuple[int, int], int] = {}

    def probability(self, household: Household, base: float, now: float) -> float:
        """The probability of going home now, from ``base`` and the family's drivers."""
        cfg = self.config
        if base <= 0.0:
            return 0.0
        if base >= 1.0:
            return 1.0
        odds = base / (1.0 - base)
        if household.attr("land_at_home"):
            odds *= cfg.land
        past = float(household.attr("age")) - cfg.age_from
        if past > 0:
            odds *= cfg.older ** past
        year = int(math.floor(now / YEAR))
        # Failures of this year and the one before (a yearly decision looks back a year).
        failures = self.failed.get((household.id, year), 0) + self.failed.get(
            (household.id, year - 1), 0)
        odds *= cfg.failed ** failures
        if cfg.cost_savings and float(household.attr("savings")) < cfg.cost_savings:
            odds *= cfg.cost
        return odds / (1.0 + odds)

    def returns_home(self, world: World, household: Household) -> bool | None:
        if household.local:
            return False
        p = self.probability(household, self.config.yearly, world.env.now)
        return bool(world.rng["mechanisms"].random() < p)

    def goes_home(self, world: World, request: Request) -> bool | None:
        hh = request.household
        if hh.local:
            return None
        p = self.probability(hh, self.config.on_failure, world.env.now)
        return bool(world.rng["mechanisms"].random() < p)

    def finished(self, world: World, request: Request) -> None:
        if request.outcome in ("sent_away", "gave_up", "denied"):
            key = (request.household.id, int(math.floor(world.env.now / YEAR)))
            self.failed[key] = self.failed.get(key, 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
