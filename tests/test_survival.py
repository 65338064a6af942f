"""Kaplan–Meier time to service, against SciPy's estimator and a case worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from maze.survival import kaplan_meier, median_survival, time_to_service


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kaplan_meier_matches_scipy(seed: int) -> None:
    """Right-censored durations with ties, as SciPy's ``ecdf`` estimates them."""
    rng = np.random.default_rng(seed)
    n = 400
    durations = np.round(rng.exponential(5.0, n), 1)  # rounded: many ties
    observed = rng.random(n) < 0.7
    table = kaplan_meier(durations, observed)
    reference = stats.ecdf(stats.CensoredData(uncensored=durations[observed],
                                              right=durations[~observed]))
    # At every event time and between them (the curve is a step function).
    times = np.concatenate([table["time"].to_numpy()[1:], table["time"].to_numpy()[1:] + 0.05])
    at_steps = table.set_index("time")["survival"]
    ours = np.array([at_steps[at_steps.index <= t].iloc[-1] for t in times])
    np.testing.assert_allclose(ours, reference.sf.evaluate(times), rtol=1e-12, atol=1e-12)


def test_requests_that_ended_unserved_keep_the_curve_level() -> None:
    """Never served in the city: the curve levels off at one minus the share served."""
    durations = np.array([1.0, 2.0, 3.0, np.inf, np.inf, np.inf, np.inf, np.inf])
    observed = np.array([True, True, True, False, False, False, False, False])
    table = kaplan_meier(durations, observed)
    assert table["survival"].iloc[-1] == pytest.approx(1 - 3 / 8)
    assert median_survival(durations, observed) is None  # fewer than half ever served


def test_pending_requests_are_censored_where_they_stand() -> None:
    """Worked by hand: pending at day 2 leaves the risk set then; giving up never does."""
    journeys = pd.DataFrame({
        "outcome": ["served", "pending", "gave_up", "served"],
        "days_to_outcome": [1.0, 2.0, 0.5, 3.0],
    })
    table = kaplan_meier(*time_to_service(journeys))
    # Day 1: 4 at risk, 1 served -> 3/4. Day 3: 2 at risk (one served, one pending
    # censored at day 2; the one who gave up is still "at risk" for ever) -> 3/4 * 1/2.
    assert table["time"].tolist() == [0.0, 1.0, 3.0]
    assert table["at_risk"].tolist() == [4, 4, 2]
    assert table["survival"].tolist() == [1.0, 0.75, 0.375]
