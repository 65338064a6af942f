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


def _curve(durations: np.ndarray, observed: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct event times, how many were at risk and served at each, and the survival after."""
    # Distinct event times and how many services happened at each, in one sort.
    event_times, events = np.unique(durations[observed], return_counts=True)
    # At risk at t: all but those whose time came before t, that is the services before t
    # (a running sum) and the censored times before t (searched among those alone, not
    # among every duration).
    censored = np.sort(durations[~observed])
    before = np.cumsum(events) - events + np.searchsorted(censored, event_times, side="left")
    at_risk = len(durations) - before
    survival = np.cumprod(1.0 - events / at_risk)
    return event_times, at_risk, events, survival


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Survival table: ``time``, ``at_risk``, ``events``, ``survival`` (share not yet served)."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    n = len(durations)
    if n == 0:
        return pd.DataFrame({"time": [0.0], "at_risk": [0], "events": [0], "survival": [1.0]})
    event_times, at_risk, events, survival = _curve(durations, observed)
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


def median_survival(durations: np.ndarray, observed: np.ndarray) -> float | None:
    """``median_time(kaplan_meier(durations, observed))`` without building the table.

    The summary takes this median for every group; the table's frame cost more than
    the estimate itself.
    """
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if len(durations) == 0:
        return None
    served = np.sort(durations[observed])
    if not len(served) or not np.isnan(served[-1]):
        return median_from_sorted(served, durations[~observed], len(durations))
    event_times, _, _, survival = _curve(durations, observed)  # NaN among the events
    hit = np.flatnonzero(survival <= 0.5)
    return float(event_times[hit[0]]) if len(hit) else None


def median_from_sorted(observed: np.ndarray, others: np.ndarray, n: int) -> float | None:
    """The median of ``n`` durations: those observed, sorted and none NaN, and the others
    (censored). The same event times, counts and products as :func:`_curve`, for a
    caller that has sorted the observed durations already (the summary, which takes the
    median among those served from the same sort).

    A censored duration counts among those before an event time only if it is smaller;
    infinite ones (never served) and NaN never are, so only the finite ones are sorted.
    """
    if not len(observed):
        return None
    # Where each distinct time starts among the sorted durations, and where the last ends.
    edges = np.empty(len(observed) + 1, dtype=bool)
    edges[0] = edges[-1] = True
    np.not_equal(observed[1:], observed[:-1], out=edges[1:-1])
    edges = np.flatnonzero(edges)
    times = observed[edges[:-1]]
    events = edges[1:] - edges[:-1]
    censored = np.sort(others[others < np.inf])
    at_risk = n - (np.cumsum(events) - events + np.searchsorted(censored, times, side="left"))
    hit = np.flatnonzero(np.cumprod(1.0 - events / at_risk) <= 0.5)
    return float(times[hit[0]]) if len(hit) else None


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
