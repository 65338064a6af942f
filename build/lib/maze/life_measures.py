"""Measures of lives over years: what children did each school year, and renewals' churn.

Derived from the tables a run over years leaves behind (children, journeys), never kept
beside them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from maze.lives import CHILD_OUTCOMES
from maze.measures import request_years
from maze.scenario import Scenario


def children_summary(children: pd.DataFrame) -> dict[str, Any]:
    """Counts of children's school years by outcome (overall, by year, for migrants), and
    how many children finished compulsory schooling (primary and junior middle) in the city.

    Child-years count each child once a year; ``children_ever`` counts each child once
    per outcome it had in any year.
    """
    c = children
    out: dict[str, Any] = {
        "children": int(c["child_id"].nunique()),
        "child_years": int(len(c)),
        "child_years_by_outcome": _counts(c["outcome"]),
        "children_ever": {o: int(c.loc[c["outcome"] == o, "child_id"].nunique())
                          for o in CHILD_OUTCOMES},
    }
    migrants = c[c["hukou"].astype(str) != "local"]
    out["migrant_child_years_by_outcome"] = _counts(migrants["outcome"])
    out["by_year"] = {str(int(y)): _counts(part["outcome"])
                      for y, part in c.groupby("year", sort=True)}
    per_child = c.drop_duplicates("child_id")["compulsory_in_city"]
    out["compulsory_in_city"] = {
        "completed": int((per_child == True).sum()),  # noqa: E712 - nullable boolean
        "not_completed": int((per_child == False).sum()),  # noqa: E712
        "unknown": int(per_child.isna().sum()),
    }
    return out


def _counts(outcome: pd.Series) -> dict[str, int]:
    values = outcome.astype(str).value_counts()
    return {o: int(values.get(o, 0)) for o in CHILD_OUTCOMES}


def churn(journeys: pd.DataFrame, services: tuple[str, ...], scenario: Scenario
          ) -> dict[str, Any]:
    """Coverage lost and regained for services renewed each year (urban insurance).

    A household is covered in a (calendar) year when its request for the service that
    year was
    served. ``renewals``: requests of households covered the year before; ``lost``: those
    not served (coverage lost at renewal); ``churn``: lost / renewals. ``regained``:
    households served again after losing cover. A spell is a run of consecutive covered
    years; ``mean_spell_years`` is over ended and unended spells alike (right-censored).
    ``by_year`` gives renewals and losses for each year in which there were renewals.
    """
    out: dict[str, Any] = {}
    for service in services:
        # Requests still open at the horizon say nothing yet (censored).
        j = journeys[(journeys["service"].astype(str) == service)
                     & (journeys["outcome"].astype(str) != "pending")]
        if not len(j):
            out[service] = {"renewals": 0, "lost": 0, "churn": None, "regained": 0,
                            "spells": 0, "mean_spell_years": None, "by_year": {}}
            continue
        year = request_years(j, scenario)
        t = pd.DataFrame({"household_id": j["household_id"].to_numpy(), "year": year,
                          "served": (j["outcome"].astype(str) == "served").to_numpy()})
        # One answer per household and year: the last request of the year.
        t = t.groupby(["household_id", "year"], sort=True)["served"].last().reset_index()
        prev_hh = t["household_id"].shift()
        prev_year = t["year"].shift()
        prev_served = t["served"].shift(fill_value=False).astype(bool)
        follows = (prev_hh == t["household_id"]) & (prev_year == t["year"] - 1)
        renewal = follows & prev_served
        lost = renewal & ~t["served"]
        # A spell starts at a covered year not following a covered year.
        starts = t["served"] & ~(follows & prev_served)
        spells = int(starts.sum())
        lost_before = lost.groupby(t["household_id"]).cumsum().astype(bool)
        regained = t["served"] & ~renewal & lost_before.groupby(t["household_id"]).shift(
            fill_value=False).astype(bool)
        covered_years = int(t["served"].sum())
        out[service] = {
            "renewals": int(renewal.sum()),
            "lost": int(lost.sum()),
            "churn": float(lost.sum() / renewal.sum()) if renewal.sum() else None,
            "regained": int(regained.groupby(t["household_id"]).any().sum()),
            "spells": spells,
            "mean_spell_years": covered_years / spells if spells else None,
            # Per year of the renewal: covered households asking again, and those that
            # lost cover.
            "by_year": {str(int(y)): {"renewals": int(renewal[t["year"] == y].sum()),
                                      "lost": int(lost[t["year"] == y].sum())}
                        for y in sorted(t.loc[renewal, "year"].unique())},
        }
    return out
