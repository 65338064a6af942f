"""Kaplan–Meier estimates of time to service.

Households still in the maze at the horizon are censored: we know only that
service had not come yet. Households whose request ended without service
(gave up, went home, were refused) will never be served in the city; they
stay in the risk set for ever, so the curve levels off at the share ever
served rather than pretending they would have been served later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Survival table: ``time``, ``at_risk``, ``events``, ``survival`` (share not yet served)."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    n = len(durations)
    if n == 0:
        return pd.DataFrame({"time": [0.0], "at_risk": [0], "events": [0], "survival": [1.0]})
    # Distinct event times and how many services happened at each, in one sort.
    event_times, events = np.unique(durations[observed], return_counts=True)
    sorted_d = np.sort(durations)
    at_risk = n - np.searchsorted(sorted_d, event_times, side="left")
    survival = np.cumprod(1.0 - events / at_risk)
    return pd.DataFrame({
        "time": np.concatenate([[0.0], event_times]),
        "at_risk": np.concatenate([[n], at_risk]),
        "events": np.concatenate([[0], events]),
        "survival": np.concatenate([[1.0], survival]),
    })


def median_time(table: pd.DataFrame) -> float | None:
    """First time the survival curve reaches one half; None if it never does."""
    hit = table.loc[table["survival"] <= 0.5, "time"]
    return float(hit.iloc[0]) if len(hit) else None


def time_to_service(journeys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Durations and event flags for time to service in the city.

    Pending requests are censored at their time in the maze; requests that ended
    without service are censored at infinity (never served).
    """
    served = (journeys["outcome"] == "served").to_numpy()
    pending = (journeys["outcome"] == "pending").to_numpy()
    d = journeys["days_to_outcome"].to_numpy(dtype=float).copy()
    d[~served & ~pending] = np.inf
    return d, served
