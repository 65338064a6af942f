"""Measures: journeys derived from the event log, and the summary of a run.

Journeys are never kept beside the events: they are computed from them, so the
two tables cannot disagree. The summary answers the texts' questions: who is
served, how long it takes, who gives up or is sent away, how many offices and
levels of government a household meets (blame spread), how often a refusal
names hukou (conspicuousness), and what the city saves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.scenario import Scenario
from maze.survival import kaplan_meier, median_time, time_to_service

#: Household attributes carried into the event log and journeys (the "group attributes").
GROUP_COLUMNS = ("group", "hukou", "origin", "education", "occupation", "contract", "lease_own",
                 "residence_permit", "school_stage")


def attach_groups(events: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    """The event log with each household's group attributes joined on."""
    cols = households.set_index("household_id")[list(GROUP_COLUMNS)]
    idx = cols.index.get_indexer(events["household_id"])
    out = events.copy()
    for c in GROUP_COLUMNS:
        column = cols[c]
        if not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)):
            # Categorise the households once, then index the codes: the same categories as
            # categorising every event row, at a fraction of the cost. (From pandas' own
            # array: going through a NumPy object array first cost more than the rest.)
            per_household = pd.Categorical(column.array)
            out[c] = pd.Categorical.from_codes(
                per_household.codes[idx], dtype=per_household.dtype).remove_unused_categories()
        else:
            out[c] = column.to_numpy()[idx]
    return out


def journeys(events: pd.DataFrame, households: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """One row per request, derived from the event log."""
    ev = events
    cases = ev.groupby("case_id", sort=True, observed=True)
    # One reduction per column (quicker than the same three through .agg).
    first = pd.DataFrame({"household_id": cases["household_id"].first(),
                          "service": cases["service"].first(), "start": cases["time"].min()})
    last_rows = ev[ev["activity"].isin(OUTCOMES)].drop_duplicates("case_id", keep="last")
    last = last_rows[["case_id", "time", "outcome", "office", "reason"]].set_index("case_id")
    j = first.join(last.rename(
        columns={"time": "end", "office": "last_office", "reason": "last_reason"}))
    # The outcomes' categories, in the contract's order (straight from the log's categories).
    j["outcome"] = j["outcome"].cat.set_categories(list(OUTCOMES))
    j["days_to_outcome"] = j["end"] - j["start"]

    visits = ev[ev["activity"].isin(VISIT_ACTIVITIES)]
    by_case = visits.groupby("case_id", sort=True, observed=True)
    # Counts per case as np.bincount over each visit's row in j (j is sorted by case_id):
    # the same integers as a groupby per count, without aligning and filling each one.
    at = j.index.get_indexer(visits["case_id"])
    n = len(j)

    def count(mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(at if mask is None else at[mask], minlength=n).astype("int64")

    activity = visits["activity"]
    j["visits"] = count()
    j["referrals"] = count(activity.isin(("require", "refer")).to_numpy())
    again = visits.duplicated(["case_id", "office"]).to_numpy()  # back at an office
    j["loops"] = count(again)
    office_attr = {o.name: o for o in scenario.offices}
    # Levels and sectors looked up once per office (category), not once per row, and kept
    # as integer codes: only which rows share a level or a sector matters below.
    offices_here = visits["office"].cat.categories
    codes = visits["office"].cat.codes.to_numpy()
    known = [office_attr.get(o) for o in offices_here]  # "" (no office) is never a visit
    first_seen = ~again
    j["offices_seen"] = count(first_seen)
    gov = first_seen & np.array([bool(o and o.government) for o in known], dtype=bool)[codes]
    j["government_offices_seen"] = count(gov)
    for column, attribute in (("levels_seen", "level"), ("sectors_seen", "sector")):
        # Distinct (case, level) pairs among the government offices seen, counted per case.
        value = pd.factorize(np.array([o and getattr(o, attribute) for o in known],
                                      dtype=object))[0][codes] + 1
        pairs = np.unique(at[gov].astype(np.int64) * (int(value.max(initial=0)) + 1)
                          + value[gov])
        j[column] = np.bincount(pairs // (int(value.max(initial=0)) + 1),
                                minlength=n).astype("int64")
    j["out_of_pocket"] = by_case["fee"].sum()
    j["wage_lost"] = by_case["wage_lost"].sum()
    for c in ("out_of_pocket", "wage_lost"):
        j[c] = j[c].fillna(0.0)
    reason = visits["reason"]
    j["explicit_refusal"] = count(((activity == "refuse") & (reason == "hukou")).to_numpy()) > 0
    j["missed_deadline"] = count((reason == "deadline").to_numpy()) > 0
    cost = {name: s.city_cost for name, s in scenario.services.items()}
    j = j.reset_index()
    hh = households.set_index("household_id")
    rows = hh.index.get_indexer(j["household_id"])
    for c in GROUP_COLUMNS:
        # take() keeps pandas' own array (Arrow-backed strings): a round trip through a
        # NumPy object array and back cost more than the rest of the join.
        j[c] = hh[c].array.take(rows)
    services = j["service"].cat.categories
    service_cost = np.array([cost[s] for s in services], dtype=float)
    j["city_cost_saved"] = np.where(
        (j["hukou"] != "local") & (j["outcome"] != "served"),
        service_cost[j["service"].cat.codes.to_numpy()], 0.0)
    order = ["case_id", "household_id", "service", *GROUP_COLUMNS, "outcome", "start", "end",
             "days_to_outcome", "visits", "referrals", "loops", "offices_seen",
             "government_offices_seen", "levels_seen",
             "sectors_seen", "out_of_pocket", "wage_lost", "explicit_refusal",
             "missed_deadline", "last_office", "last_reason", "city_cost_saved"]
    return j[order]


def _shares(j: pd.DataFrame) -> dict[str, float]:
    n = len(j)
    counts = j["outcome"].value_counts()
    return {f"{o}_share": (float(counts.get(o, 0)) / n if n else 0.0) for o in OUTCOMES}


def _clean(x: Any) -> Any:
    """JSON-safe numbers: NaN becomes None, numpy scalars become Python ones."""
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else round(x, 10)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _block(j: pd.DataFrame) -> dict[str, Any]:
    # Only the columns used below are filtered (copying every column cost more than the rest).
    tried = j.loc[j["outcome"] != "deterred", ["visits", "offices_seen",
                                                "government_offices_seen", "levels_seen",
                                                "sectors_seen", "loops"]]
    km = kaplan_meier(*time_to_service(j))
    served = j.loc[j["outcome"] == "served", ["days_to_outcome"]]
    out: dict[str, Any] = {"requests": int(len(j)), **_shares(j)}
    out["median_days_to_service"] = median_time(km)
    out["median_days_to_service_among_served"] = (
        float(served["days_to_outcome"].median()) if len(served) else None)
    out["mean_visits"] = float(tried["visits"].mean()) if len(tried) else None
    out["mean_offices_seen"] = float(tried["offices_seen"].mean()) if len(tried) else None
    for c in ("government_offices_seen", "levels_seen", "sectors_seen"):
        out[f"mean_{c}"] = float(tried[c].mean()) if len(tried) else None
    out["mean_loops"] = float(tried["loops"].mean()) if len(tried) else None
    out["explicit_refusal_share"] = float(j["explicit_refusal"].mean()) if len(j) else 0.0
    out["missed_deadline_share"] = float(j["missed_deadline"].mean()) if len(j) else 0.0
    out["mean_out_of_pocket"] = float(j["out_of_pocket"].mean()) if len(j) else 0.0
    out["mean_wage_lost"] = float(j["wage_lost"].mean()) if len(j) else 0.0
    out["city_cost_saved"] = float(j["city_cost_saved"].sum())
    return {k: _clean(v) for k, v in out.items()}


def summary(events: pd.DataFrame, j: pd.DataFrame, households: pd.DataFrame,
            scenario: Scenario, seed: int) -> dict[str, Any]:
    """The run's headline measures, overall and by group and by service."""
    out: dict[str, Any] = {
        "scenario": scenario.city.name,
        "regime": scenario.city.regime,
        "seed": int(seed),
        "horizon_days": scenario.city.horizon,
        "households": int(len(households)),
        "events": int(len(events)),
    }
    out.update(_block(j))
    out["by_group"] = {str(g): _block(part) for g, part in j.groupby("group", sort=True)}
    out["by_service"] = {str(s): _block(part)
                         for s, part in j.groupby("service", sort=True, observed=True)}
    migrants = j[j["hukou"] != "local"]
    out["migrants"] = _block(migrants) if len(migrants) else None
    return out
