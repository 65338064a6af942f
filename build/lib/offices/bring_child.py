"""Bring the child to the city or leave it in the hometown: a family's decision.

"I heard they couldn't go to school in Beijing, so I didn't even consider bringing them
here" [Chan & O'Brien 2019: Away from the City]; of the new generation of married
migrants living with family members, "Seventy percent of them first move with their
spouse and later bring their children along" [Chan & O'Brien 2019: Statistics, note 22];
factories report that 72 percent of their workers do not live with their children
[Fish 2017]. Land in the hometown keeps a foothold there [Chuang 2020], and left-behind
children are "raised by grandparents or other relatives in the countryside" [Fish 2017].

The decision is taken when the family arrives and again at each school year while the
child is in the hometown. The probability of bringing the child is

    p = base x land (if the family holds land at home) x stage[child's stage]
          x cost (if its savings are below ``cost_savings``)
          x stories ** (failure stories about the school heard, with word_of_mouth)
          x failed ** (the family's own failed requests in the city)

and, in a later year, times ``later``. ``base`` is by default the group's need for the
school service (the scenario's share of the group living with its children). Every factor
is an ASSUMPTION: the texts name the drivers, not their sizes.

A child can be left in the hometown, or sent back there after a refusal, only where
someone can look after it (``carer_at_home``): without a carer the family keeps it in the
city, and the hometown is no fallback for its school (``needs_carer``). That is where
children out of school in the city come from: the city refuses, and home is no option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maze.household import Household, Request
from maze.mechanism import Mechanism
from maze.population import group_of
from maze.scenario import Scenario
from offices import register

if TYPE_CHECKING:
    from maze.lives import Child
    from maze.world import World

Share = Annotated[float, Field(ge=0, le=1)]
Factor = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Stage = Literal["preschool", "primary", "middle", "high"]


class BringChildConfig(BaseModel):
    """``[mechanisms.bring_child]``: what makes a family bring its child or leave it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Probability of bringing the child before the factors; the group's need for the
    #: school service if absent.
    base: Share | None = None
    #: Factor for a family holding land at home. ASSUMPTION 0.7 (0.5-0.9).
    land: Factor = 0.7
    #: Factor by the child's stage: older children stay behind more. ASSUMPTION.
    stage: dict[Stage, Factor] = Field(default_factory=lambda: {
        "preschool": 1.0, "primary": 1.0, "middle": 0.8, "high": 0.5})
    #: Savings (RMB) below which the cost of a child in the city weighs (0: never).
    cost_savings: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 5000.0
    #: Factor for a family below ``cost_savings``. ASSUMPTION 0.6 (0.4-0.9).
    cost: Factor = 0.6
    #: Factor per failure story about the school heard (needs word_of_mouth). ASSUMPTION.
    stories: Factor = 0.8
    #: Factor per failed request of the family in the city. ASSUMPTION 0.7 (0.5-1).
    failed: Factor = 0.7
    #: Factor for deciding again in a later year (a child left behind last year).
    #: ASSUMPTION 0.3 (0.1-0.5): most left-behind children stay behind from year to year.
    later: Factor = 0.3
    #: A child is left (or sent) in the hometown only if someone there can look after it.
    needs_carer: bool = True


@register("bring_child", BringChildConfig)
class BringChild(Mechanism):
    """Decides where a migrant family's child lives, and keeps the hometown out of reach
    as a school fallback when nobody there can look after it."""

    kind = "family"
    carried = ("failures", "decided")

    def __init__(self, scenario: Scenario, config: BringChildConfig):
        self.config = config
        self.scenario = scenario
        self.school = scenario.lives.school if scenario.lives is not None else None
        self.failures: dict[int, int] = {}
        self.decided: set[int] = set()
        self.home = frozenset(o.name for o in scenario.offices if o.role == "sent_away")

    def idle(self) -> bool:
        return self.school is None

    def probability(self, world: World, household: Household, child: Child) -> float:
        """The probability of bringing the child this year."""
        cfg = self.config
        p = cfg.base
        if p is None:  # the group's need for the school service, as the engine reads it
            needs = group_of(self.scenario, household.group).needs
            p = needs.get(self.school, 0.0 if needs else 1.0)
        if household.attr("land_at_home"):
            p *= cfg.land
        p *= cfg.stage.get(child.stage, 1.0)
        if cfg.cost_savings and float(household.attr("savings")) < cfg.cost_savings:
            p *= cfg.cost
        heard = _stories(world, household, self.school)
        if heard:
            p *= cfg.stories ** heard
        p *= cfg.failed ** self.failures.get(household.id, 0)
        if household.id in self.decided:
            p *= cfg.later
        return min(1.0, p)

    def brings_child(self, world: World, household: Household, child: Child) -> bool | None:
        if household.local:
            return None
        if self.config.needs_carer and not household.attr("carer_at_home"):
            return True  # nobody at home to leave the child with
        p = self.probability(world, household, child)
        self.decided.add(household.id)
        return bool(world.rng["mechanisms"].random() < p)

    def fallbacks(self, world: World, request: Request,
                  offices: tuple[str, ...]) -> tuple[str, ...] | None:
        if (request.service != self.school or not self.config.needs_carer
                or request.household.attr("carer_at_home")):
            return None
        return tuple(o for o in offices if o not in self.home)

    def finished(self, world: World, request: Request) -> None:
        if request.outcome in ("sent_away", "gave_up", "denied"):
            hid = request.household.id
            self.failures[hid] = self.failures.get(hid, 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}


def _stories(world: World, household: Household, service: str | None) -> int:
    """Failure stories about ``service`` the household has heard, if word of mouth runs."""
    for m in world.mechanisms:
        if m.name == "word_of_mouth" and service is not None:
            return int(m.stories_heard(household, service, world.env.now))  # type: ignore[attr-defined]
    return 0
