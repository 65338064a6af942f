"""The engine's queues against queueing theory (Erlang C, Jackson networks).

Each check runs independent replications (seeds 0..R-1, fixed so the test is
reproducible) and asks whether the theoretical value lies inside the 99%
confidence interval of the replication means. Warm-up (the first tenth of the
horizon) is discarded, since the queue starts empty.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from maze.app import api
from maze.scenario import from_dict
from tests.conftest import queue_city
from tests.theory import jackson_node_waits, mmc_mean_wait

REPLICATIONS = 12


def _ci(values: list[float], level: float = 0.99) -> tuple[float, float]:
    a = np.asarray(values)
    half = stats.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))
    return a.mean() - half, a.mean() + half


@pytest.mark.parametrize(("rate", "clerks"), [(2.0, 3), (2.5, 3), (0.6, 1)])
def test_mmc_mean_wait_matches_erlang_c(rate: float, clerks: int) -> None:
    horizon = 3000.0
    scenario = from_dict(queue_city(rate=rate, clerks=clerks, horizon=horizon))
    means = []
    for seed in range(REPLICATIONS):
        ev = api.run(scenario, seed).events
        visits = ev[(ev["activity"] == "serve") & (ev["start"] > horizon / 10)]
        means.append(visits["wait"].mean())
    low, high = _ci(means)
    expected = mmc_mean_wait(rate, 1.0, clerks)
    assert low <= expected <= high, (expected, low, high)


def test_mmc_throughput_is_the_arrival_rate() -> None:
    scenario = from_dict(queue_city(rate=2.5, clerks=3, horizon=2000.0))
    served = [int((api.run(scenario, s).journeys["outcome"] == "served").sum()) / 2000.0
              for s in range(REPLICATIONS)]
    low, high = _ci(served)
    assert low <= 2.5 <= high


def jackson_city(horizon: float) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three offices, arrivals at the first, referrals with a feedback loop back to it."""
    names = ["a", "b", "c"]
    external = np.array([1.0, 0.0, 0.0])
    routing = np.array([[0.0, 0.5, 0.3],
                        [0.2, 0.0, 0.3],
                        [0.0, 0.0, 0.0]])
    mu = np.array([2.0, 1.0, 1.5])
    servers = np.array([2, 1, 1])
    data = queue_city(rate=1.0, horizon=horizon)
    data["offices"] = [{"name": n, "clerks": int(servers[i]),
                        "service_time": {"dist": "exponential", "mean": 1.0 / mu[i]}}
                       for i, n in enumerate(names)]
    data["services"] = {"ask": {"entry": "a"}}
    data["population"]["days_between_visits"] = {"dist": "constant", "value": 0.0}
    data["referrals"] = [{"from": names[i], "to": names[j], "probability": float(routing[i, j])}
                         for i in range(3) for j in range(3) if routing[i, j] > 0]
    return data, external, routing, mu, servers


def test_open_jackson_network_waits_and_throughput() -> None:
    horizon = 3000.0
    data, external, routing, mu, servers = jackson_city(horizon)
    lam, waits = jackson_node_waits(external, routing, mu, servers)
    scenario = from_dict(data)
    wait_reps: dict[str, list[float]] = {n: [] for n in "abc"}
    rate_reps: dict[str, list[float]] = {n: [] for n in "abc"}
    for seed in range(REPLICATIONS):
        ev = api.run(scenario, seed).events
        v = ev[ev["activity"].isin(["serve", "refer"]) & (ev["start"] > horizon / 10)]
        for n in "abc":
            at = v[v["office"] == n]
            wait_reps[n].append(at["wait"].mean())
            rate_reps[n].append(len(at) / (horizon * 0.9))
    for i, n in enumerate("abc"):
        low, high = _ci(wait_reps[n])
        assert low <= waits[i] <= high, (n, waits[i], low, high)
        low, high = _ci(rate_reps[n])
        assert low <= lam[i] <= high, (n, lam[i], low, high)
