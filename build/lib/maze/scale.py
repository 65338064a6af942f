"""A smaller (or larger) copy of a city: every count of people and places times one factor.

A city's shares (of requests served, of families sent home) depend on how many households
compete for how many places, not on the city's size. So a copy with the first summer's
households, each later summer's arrivals (``lives.in_migration``), every office's seats
and the counts a mechanism declares (class sizes, quotas, places kept back) all multiplied
by the same factor keeps its shares, within the larger seed noise of fewer households; it
costs the factor's share of the time. This is how a ten-year history is made affordable
to calibrate.

Counts are rounded to whole numbers. Two limits, stated rather than hidden:

- clerks are rounded too, but never below one: a small office of a much smaller copy has
  relatively more clerks, so its queues are shorter. Waiting changes the shares only
  where a deadline or a household's patience meets a queue;
- a count rounded more than ``TOLERANCE`` away from its exact scaled value (three seats of
  a class cut to a third of a seat) would change what the city is, so such a factor is
  refused, naming the key. Values that are drawn later (a calibration's particles) are
  rounded without that check: their rounding is part of the draw's noise.

Which fields of a mechanism's table are counts is the mechanism library's word: the
caller passes them (``maze.app.api.scaled`` reads the attribute ``SCALED`` of each
registered configuration); the engine does not know what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from maze import scenario as sc
from maze.scenario import Scenario, ScenarioError

#: Largest relative error of a rounded count at which a scaled copy is still the same city.
TOLERANCE = 0.1


def scaled(scenario: Scenario, factor: float,
           counts: Mapping[str, Sequence[str]] | None = None, check: bool = True,
           source: str = "--scale") -> Scenario:
    """``scenario`` with every count of households, seats and clerks times ``factor``,
    and in each ``[mechanisms.NAME]`` table the dotted fields ``counts[NAME]``.

    With ``check``, a factor that rounds some count (clerks apart) by more than
    ``TOLERANCE`` of its exact value is refused, naming the key.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise ScenarioError(f"{factor!r} is not a positive number", source=source)
    if factor == 1:
        return scenario
    data = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)

    def count(key: str, value: Any, at_least: int = 0, checked: bool = True) -> Any:
        """``value`` times the factor, whole, and no less than ``at_least`` unless it was."""
        if isinstance(value, dict):  # a dated table: each value in force from its date
            return {day: count(f"{key}.{day}", v, at_least, checked)
                    for day, v in value.items()}
        if not isinstance(value, int) or isinstance(value, bool):
            return value
        exact = value * factor
        got = max(min(at_least, value), math.floor(exact + 0.5))
        if check and checked and exact > 0 and abs(got - exact) > TOLERANCE * exact:
            raise ScenarioError(
                f"{value} x {factor:g} = {exact:.3g} rounds to {got}, more than "
                f"{TOLERANCE:.0%} away: the scaled copy would not be the same city; "
                "choose a factor that keeps every count near whole", source=source, key=key)
        return got

    pop = data.get("population", {})
    if "households" in pop:
        pop["households"] = count("population.households", pop["households"], at_least=1)
    lives = data.get("lives")
    if lives and "in_migration" in lives:
        lives["in_migration"] = count("lives.in_migration", lives["in_migration"])
    for office in data.get("offices", []):
        where = f"offices.{office['name']}"
        if "seats" in office:
            office["seats"] = count(f"{where}.seats", office["seats"], at_least=1)
        office["clerks"] = count(f"{where}.clerks", office.get("clerks", 1), at_least=1,
                                 checked=False)
    for name, table in data.get("mechanisms", {}).items():
        for field in (counts or {}).get(name, ()):
            *parents, last = field.split(".")
            node = table
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and last in node:
                node[last] = count(f"mechanisms.{name}.{field}", node[last], at_least=1)
    return sc.from_dict(data, source=scenario.city.name + f" scaled x{factor:g}")
