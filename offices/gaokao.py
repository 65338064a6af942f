"""Back to the hometown for the gaokao stage: the college entrance exam is taken where the
hukou is.

"Most cities require high school students to return to their parents' hometowns to take
the college entrance exam" [Chan & O'Brien 2019: Introduction]; "college entrance
examinations must be taken in one's place of registration, resulting in a situation
where the majority of the children of migrants return to their hometowns for high
school" [Chuang 2020]. Beijing's 2012 rules opened the vocational track only to children
whose parents had three years of work and of Beijing social insurance and who had done
all three years of middle school in Beijing [Chan & O'Brien 2019: Within the City].

When a migrant child in the city reaches the senior-high stage, it goes back to the
hometown with probability ``back`` ("the majority": ASSUMPTION 0.7, range 0.5-0.9), or
``back_if`` for a family meeting ``stay_condition`` (a rule on household attributes,
e.g. the 2012 streaks; ``school_stage`` and ``years_schooling`` are the child's own). The
child stays there for the whole stage (outcome ``hometown_gaokao``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from maze.expressions import holds
from maze.household import Household
from maze.mechanism import Mechanism
from maze.scenario import Scenario, checked_condition
from offices import register

if TYPE_CHECKING:
    from maze.lives import Child
    from maze.world import World

Share = Annotated[float, Field(ge=0, le=1)]


class GaokaoConfig(BaseModel):
    """``[mechanisms.gaokao]``: who goes back for the senior-high stage."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Probability a migrant child goes back. ASSUMPTION 0.7 (0.5-0.9): "the majority".
    back: Share = 0.7
    #: A rule (``years_insurance >= 3 and years_schooling >= 3``) under which a family may
    #: keep its child in the city; streaks read as streaks.
    stay_condition: str | None = None
    #: Probability of going back for a family meeting ``stay_condition``. ASSUMPTION.
    back_if: Share = 0.3

    @field_validator("stay_condition")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return checked_condition(v)


@register("gaokao", GaokaoConfig)
class Gaokao(Mechanism):
    kind = "family"

    def __init__(self, scenario: Scenario, config: GaokaoConfig):
        self.config = config

    def probability(self, household: Household, read: Callable[[str], Any] | None = None
                    ) -> float:
        """The chance of going back; ``read`` reads the attributes (the child's own stage
        and years of school here, its household's other values)."""
        cfg = self.config
        if cfg.stay_condition is not None and holds(cfg.stay_condition,
                                                    read or household.attr):
            return cfg.back_if
        return cfg.back

    def back_for_gaokao(self, world: World, household: Household, child: Child) -> bool | None:
        if household.local:
            return False
        lives = world.lives
        p = self.probability(household, None if lives is None else (
            lambda name: lives.child_attr(child, name)))
        return bool(world.rng["mechanisms"].random() < p)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
