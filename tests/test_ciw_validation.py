"""The engine's queueing core against Ciw, an independent and widely used queueing simulator.

The same open network is built in maze and in Ciw: four offices with several clerks
each, Poisson arrivals at the first, probabilistic routing after service (maze:
declared ``[[referrals]]`` with probabilities; Ciw: a transition matrix) with two
feedback loops (c back to a, d back to b). Each simulator runs independent
replications with fixed seeds; for every measure (mean wait at each office, visits
per day at each office, mean time in the system, departures per day) a Welch 99%
confidence interval for the difference of the two means must contain 0.

The first network has exponential service, so it is a Jackson network; the second
has gamma, lognormal, uniform and constant service times and baulking at the door,
which no product-form theory covers: there Ciw is the only reference. A third test
compares patience running out in the line with Ciw's reneging, on one overloaded office.
README.md, "Validation against Ciw", maps maze's concepts onto Ciw's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import ciw
import numpy as np
import pytest
from scipy import stats

from maze.app import api
from maze.scenario import from_dict
from tests.conftest import queue_city

NAMES = ("a", "b", "c", "d")
ARRIVAL_RATE = 1.5  # households a day, all arriving at office a
ROUTING = np.array([[0.0, 0.4, 0.3, 0.0],   # a -> b, c (leaves with 0.3)
                    [0.0, 0.0, 0.3, 0.2],   # b -> c, d (leaves with 0.5)
                    [0.2, 0.0, 0.0, 0.3],   # c -> a (feedback), d (leaves with 0.5)
                    [0.0, 0.25, 0.0, 0.0]])  # d -> b (feedback; leaves with 0.75)
CLERKS = (3, 2, 2, 2)
HORIZON = 2000.0
WARMUP = HORIZON / 10
REPLICATIONS = 16
LEVEL = 0.99

#: Service times with the same means in both: exponential (a Jackson network) ...
EXPONENTIAL = ({"dist": "exponential", "mean": 1.2}, {"dist": "exponential", "mean": 1.6},
               {"dist": "exponential", "mean": 1.6}, {"dist": "exponential", "mean": 2.5})
#: ... and general (gamma, lognormal, uniform, constant).
GENERAL = ({"dist": "gamma", "mean": 1.2, "sd": 0.5}, {"dist": "lognormal", "mean": 1.6, "sd": 2.0},
           {"dist": "uniform", "low": 0.4, "high": 2.8}, {"dist": "constant", "value": 2.5})


def maze_network(services: tuple[dict[str, Any], ...], willingness: float = 1.0) -> dict:
    """The network as a maze scenario: offices, declared referrals, one entry service."""
    data = queue_city(rate=ARRIVAL_RATE, horizon=HORIZON)
    data["offices"] = [{"name": n, "clerks": CLERKS[i], "service_time": services[i]}
                       for i, n in enumerate(NAMES)]
    data["services"] = {"ask": {"entry": "a"}}
    data["referrals"] = [{"from": NAMES[i], "to": NAMES[j], "probability": float(ROUTING[i, j])}
                         for i in range(4) for j in range(4) if ROUTING[i, j] > 0]
    # Go straight on to the next office; no budget, visit or day limit can end a journey.
    data["population"]["days_between_visits"] = {"dist": "constant", "value": 0.0}
    data["population"]["groups"][0]["attributes"].update(
        {"daily_wage": 0.0, "willingness": willingness})
    return data


def ciw_distribution(spec: dict[str, Any]) -> ciw.dists.Distribution:
    """A maze distribution table as the Ciw distribution with the same law."""
    d = spec["dist"]
    if d == "exponential":
        return ciw.dists.Exponential(rate=1.0 / spec["mean"])
    if d == "gamma":
        shape = (spec["mean"] / spec["sd"]) ** 2
        return ciw.dists.Gamma(shape=shape, scale=spec["mean"] / shape)
    if d == "lognormal":  # maze states the variable's mean and sd, Ciw the underlying normal's
        sigma2 = math.log1p(spec["sd"] ** 2 / spec["mean"] ** 2)
        return ciw.dists.Lognormal(mean=math.log(spec["mean"]) - sigma2 / 2, sd=math.sqrt(sigma2))
    if d == "uniform":
        return ciw.dists.Uniform(lower=spec["low"], upper=spec["high"])
    if d == "constant":
        return ciw.dists.Deterministic(value=spec["value"])
    raise ValueError(d)


def maze_measures(scenario: Any, seed: int) -> dict[str, float]:
    """Per-office waits and visit rates, time in the system and departures, after warm-up."""
    run = api.run(scenario, seed)
    ev, j = run.events, run.journeys
    visits = ev[ev["activity"].isin(["serve", "refer"])]
    out: dict[str, float] = {}
    for n in NAMES:
        at = visits[visits["office"] == n]
        out[f"wait_{n}"] = float(at.loc[at["start"] > WARMUP, "wait"].mean())
        out[f"visits_per_day_{n}"] = float((at["time"] > WARMUP).sum()) / (HORIZON - WARMUP)
    left = j[j["outcome"] == "served"]
    out["time_in_system"] = float(left.loc[left["start"] > WARMUP, "days_to_outcome"].mean())
    out["departures_per_day"] = float((left["end"] > WARMUP).sum()) / (HORIZON - WARMUP)
    out["baulked_share"] = float((j["outcome"] == "deterred").mean())
    return out


def ciw_measures(services: tuple[dict[str, Any], ...], seed: int,
                 willingness: float = 1.0) -> dict[str, float]:
    """The same measures from Ciw's service records."""
    baulk = None if willingness >= 1.0 else (lambda n, **_: 1.0 - willingness)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVAL_RATE), None, None, None],
        service_distributions=[ciw_distribution(s) for s in services],
        number_of_servers=list(CLERKS),
        routing=ROUTING.tolist(),
        baulking_functions=[baulk, None, None, None],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(HORIZON)
    records = [r for r in sim.get_all_records() if r.record_type == "service"]
    out: dict[str, float] = {}
    for i, n in enumerate(NAMES):
        at = [r for r in records if r.node == i + 1]
        out[f"wait_{n}"] = float(np.mean([r.waiting_time for r in at if r.arrival_date > WARMUP]))
        out[f"visits_per_day_{n}"] = sum(r.exit_date > WARMUP for r in at) / (HORIZON - WARMUP)
    first: dict[int, float] = {}
    left: dict[int, float] = defaultdict(float)
    for r in records:
        first[r.id_number] = min(first.get(r.id_number, math.inf), r.arrival_date)
        if r.destination == -1:
            left[r.id_number] = r.exit_date
    out["time_in_system"] = float(np.mean([left[i] - first[i] for i in left if first[i] > WARMUP]))
    out["departures_per_day"] = sum(t > WARMUP for t in left.values()) / (HORIZON - WARMUP)
    baulked = sum(r.record_type == "baulk" for r in sim.get_all_records())
    out["baulked_share"] = baulked / sim.nodes[0].number_of_individuals
    return out


def welch_interval(x: list[float], y: list[float], level: float = LEVEL) -> tuple[float, float]:
    """Welch confidence interval for mean(x) - mean(y)."""
    a, b = np.asarray(x), np.asarray(y)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return a.mean() - b.mean(), a.mean() - b.mean()
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return diff - half, diff + half


def _side_by_side(maze_reps: list[dict[str, float]], ciw_reps: list[dict[str, float]]) -> dict:
    """Per measure: maze's mean, Ciw's mean, the Welch interval of the difference."""
    results = {}
    for key in maze_reps[0]:
        m = [r[key] for r in maze_reps]
        c = [r[key] for r in ciw_reps]
        results[key] = (float(np.mean(m)), float(np.mean(c)), welch_interval(m, c))
    return results


def _compare(services: tuple[dict[str, Any], ...], willingness: float = 1.0) -> dict:
    scenario = from_dict(maze_network(services, willingness))
    return _side_by_side([maze_measures(scenario, seed) for seed in range(REPLICATIONS)],
                         [ciw_measures(services, seed, willingness)
                          for seed in range(REPLICATIONS)])


def _assert_agree(results: dict, skip: tuple[str, ...] = ()) -> None:
    disagree = {k: v for k, v in results.items()
                if k not in skip and not v[2][0] <= 0.0 <= v[2][1]}
    assert not disagree, "maze mean, Ciw mean, 99% CI of the difference: " + repr(disagree)


def test_jackson_network_agrees_with_ciw() -> None:
    results = _compare(EXPONENTIAL)
    _assert_agree(results, skip=("baulked_share",))
    # The check has teeth: the intervals are narrow next to the measures they compare.
    for key in ("time_in_system", "departures_per_day", "visits_per_day_a"):
        low, high = results[key][2]
        assert high - low < 0.15 * results[key][1], (key, results[key])


def test_general_service_and_baulking_agree_with_ciw() -> None:
    results = _compare(GENERAL, willingness=0.8)
    _assert_agree(results)
    assert results["baulked_share"][0] == pytest.approx(0.2, abs=0.02)


# -- reneging: patience running out in the line --------------------------------------------

#: An office that cannot keep up (2 clerks, 2.4 arrivals a day for 2.0 served), where
#: every household leaves the line once it has waited PATIENCE days unseen.
RENEGE_RATE, RENEGE_CLERKS, PATIENCE = 2.4, 2, 1.0


def _maze_reneging(seed: int) -> dict[str, float]:
    data = queue_city(rate=RENEGE_RATE, mean_service=1.0, clerks=RENEGE_CLERKS,
                      horizon=HORIZON)
    data["population"]["groups"][0]["attributes"]["patience_days"] = PATIENCE
    run = api.run(from_dict(data), seed)
    ev, j = run.events, run.journeys
    seen = ev[(ev["activity"] == "serve") & (ev["start"] > WARMUP)]
    late = j[j["start"] > WARMUP]
    left = ev[(ev["activity"] == "leave") & (ev["start"] > WARMUP)]
    return {"reneged_share": len(left) / len(late), "wait_served": float(seen["wait"].mean()),
            "served_per_day": len(seen) / (HORIZON - WARMUP),
            "wait_reneged": float(left["wait"].mean())}


def _ciw_reneging(seed: int) -> dict[str, float]:
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=RENEGE_RATE)],
        service_distributions=[ciw.dists.Exponential(rate=1.0)],
        number_of_servers=[RENEGE_CLERKS],
        reneging_time_distributions=[ciw.dists.Deterministic(value=PATIENCE)],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(HORIZON)
    records = [r for r in sim.get_all_records() if r.arrival_date > WARMUP]
    seen = [r for r in records if r.record_type == "service"]
    left = [r for r in records if r.record_type == "renege"]
    arrived = len(seen) + len(left) + sum(
        ind.arrival_date > WARMUP for node in sim.nodes[1:-1] for ind in node.all_individuals)
    return {"reneged_share": len(left) / arrived,
            "wait_served": float(np.mean([r.waiting_time for r in seen])),
            "served_per_day": len(seen) / (HORIZON - WARMUP),
            "wait_reneged": float(np.mean([r.exit_date - r.arrival_date for r in left]))}


def test_reneging_agrees_with_ciw() -> None:
    """maze's patience in the line is Ciw's deterministic reneging (an M/M/c+D queue)."""
    results = _side_by_side([_maze_reneging(seed) for seed in range(REPLICATIONS)],
                            [_ciw_reneging(seed) for seed in range(REPLICATIONS)])
    _assert_agree(results, skip=("wait_reneged",))
    # Those who leave waited exactly their patience, in both.
    assert results["wait_reneged"][0] == pytest.approx(PATIENCE)
    assert results["wait_reneged"][1] == pytest.approx(PATIENCE)
    # A real share leaves, and nobody served waited longer than the patience.
    assert 0.1 < results["reneged_share"][0] < 0.5
    assert results["wait_served"][0] < PATIENCE
