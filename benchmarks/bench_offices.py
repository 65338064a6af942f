"""Benchmark: does a run's cost stay flat as the number of offices grows?

The network: K always-open offices with 2 clerks each and exponential service (mean 0.05
days); households arrive at the first office (Poisson, 15 a day over 1,000 days, about
15,000 requests); after each visit a household leaves served with probability 0.25 or is
referred to one of the other K - 1 offices with random weights (a dense K x K routing
matrix, drawn once per K from ``--seed``). So a request makes 4 visits on average and every
K makes about 60,000 visits: only the number of offices and referrals changes.

Each K is run through:

* ``maze``: ``maze.app.api.run`` on the validated scenario (the world with the domain's
  mechanism chain, the event log, journeys and summary); building and checking the
  scenario (``maze.scenario.from_dict``) is timed apart, as ``check``;
* ``SimPy``: the textbook model, one ``simpy.Resource`` per office and one process per
  household, routing by a cumulative-probability table per office;
* ``Ciw``: the same network as a Ciw routing matrix (Ciw's time grows with K; it is run only
  up to ``--ciw-max-k`` offices).

CPU time (``time.process_time``) is reported, best of ``--repeat``; the implementations take
turns within each repeat so that other work on a shared machine falls on all of them alike.
maze and SimPy run in this process, after one untimed maze run of the smallest K (so that
the first K does not pay for first-use costs); Ciw runs in a process of its own
(``--one-process``: here too), because the memory its run makes and frees is left behind
for the runs after it: after a Ciw run at K = 80, maze at K = 320 took about 9% longer.
Each Ciw run is timed, as maze's, after Ciw is imported and has made one short untimed
run of the smallest K.
The targets: maze at the largest K within 1.2x its time at the smallest, the check under
0.2 s at the largest K, maze at least 10x faster than Ciw at K = 80.

Run from the project root::

    python benchmarks/bench_offices.py
    python benchmarks/bench_offices.py --ks 5 20 80 320 --repeat 3 --ciw-max-k 80
    python benchmarks/bench_offices.py --one-process   # Ciw in this process too
    python benchmarks/bench_offices.py --files    # the largest K read from a file
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RATE = 15.0
HORIZON = 1000.0
CLERKS = 2
MEAN_SERVICE = 0.05
EXIT = 0.25


def routing(k: int, seed: int) -> np.ndarray:
    """A K x K matrix: from each office, random weights to every other, summing to 1 - EXIT."""
    rng = np.random.default_rng([seed, k])
    w = rng.random((k, k))
    np.fill_diagonal(w, 0.0)
    if k == 1:
        return w
    return w / w.sum(axis=1, keepdims=True) * (1.0 - EXIT)


def scenario_dict(k: int, p: np.ndarray) -> dict[str, Any]:
    names = [f"o{i}" for i in range(k)]
    return {
        "city": {"name": f"anchor{k}", "horizon": HORIZON},
        "offices": [{"name": n, "clerks": CLERKS,
                     "service_time": {"dist": "exponential", "mean": MEAN_SERVICE}}
                    for n in names],
        "referrals": [{"from": names[i], "to": names[j], "probability": float(p[i, j])}
                      for i in range(k) for j in range(k) if p[i, j] > 0],
        "services": {"ask": {"entry": names[0]}},
        "population": {
            "arrivals": {"process": "poisson", "rate": RATE},
            "days_between_visits": {"dist": "constant", "value": 0.0},
            "groups": [{"name": "all", "share": 1.0,
                        "attributes": {"patience_days": 1e9, "patience_visits": 1e9}}],
        },
    }


def maze_check(data: dict[str, Any]) -> Any:
    from maze.scenario import from_dict

    return from_dict(data)


def maze_visits(scenario: Any, seed: int) -> int:
    """``api.run``: the world with the mechanism chain, event log, journeys and summary."""
    from maze.app import api
    from maze.eventlog import VISIT_ACTIVITIES

    events = api.run(scenario, seed).events
    return int(events["activity"].isin(VISIT_ACTIVITIES).sum())


def bare_simpy(p: np.ndarray, seed: int) -> int:
    """The textbook SimPy model of the same network."""
    import simpy

    k = len(p)
    rng = random.Random(seed)
    env = simpy.Environment()
    counters = [simpy.Resource(env, capacity=CLERKS) for _ in range(k)]
    cum = [np.cumsum(row).tolist() for row in p]
    visits = 0

    def household(env: simpy.Environment) -> Any:
        nonlocal visits
        office = 0
        while True:
            with counters[office].request() as turn:
                yield turn
                yield env.timeout(rng.expovariate(1.0 / MEAN_SERVICE))
            visits += 1
            row = cum[office]
            i = bisect.bisect_right(row, rng.random())
            if i >= k:
                return
            office = i

    def source(env: simpy.Environment) -> Any:
        while True:
            yield env.timeout(rng.expovariate(RATE))
            env.process(household(env))

    env.process(source(env))
    env.run(until=HORIZON)
    return visits


def with_ciw(p: np.ndarray, seed: int, horizon: float = HORIZON) -> int:
    import ciw

    k = len(p)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=RATE)] + [None] * (k - 1),
        service_distributions=[ciw.dists.Exponential(rate=1.0 / MEAN_SERVICE)] * k,
        number_of_servers=[CLERKS] * k,
        routing=p.tolist(),
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon)
    return sum(1 for r in sim.get_all_records() if r.record_type == "service")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    c0 = time.process_time()
    out = fn()
    return time.process_time() - c0, out


_WARM: set[int] = set()


def warm_up(k0: int, seed: int) -> None:
    """One untimed run per process, so that the first timed one does not pay for first-use
    costs."""
    import maze.app.api

    if not _WARM:
        maze.app.api.run(maze_check(scenario_dict(k0, routing(k0, seed))), seed)
        _WARM.add(k0)


def measure(name: str, k: int, seed: int, k0: int) -> dict[str, tuple[float, int]]:
    """CPU seconds and visits of one run of ``name`` at K offices (for maze, also the
    check, with its number of referrals)."""
    p = routing(k, seed)
    if name == "maze":
        warm_up(k0, seed)
        data = scenario_dict(k, p)
        t_check, scenario = timed(partial(maze_check, data))
        t, n = timed(partial(maze_visits, scenario, seed))
        return {"check": (t_check, len(data["referrals"])), "maze": (t, n)}
    if name == "Ciw":
        # As maze: imported, and one short untimed run, before the timed one.
        with_ciw(routing(k0, seed), seed, horizon=HORIZON / 20)
    fn = {"SimPy": bare_simpy, "Ciw": with_ciw}[name]
    t, n = timed(partial(fn, p, seed))
    return {name: (t, n)}


def in_a_process(name: str, k: int, seed: int, k0: int) -> dict[str, tuple[float, int]]:
    """``measure`` in a fresh Python process."""
    out = subprocess.run([sys.executable, __file__, "--measure", name, str(k), "--seed",
                          str(seed), "--ks", str(k0)], check=True, capture_output=True,
                         text=True).stdout
    return {key: (t, n) for key, (t, n) in json.loads(out).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 20, 80, 320])
    parser.add_argument("--repeat", type=int, default=2, help="runs per implementation (best of)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ciw-max-k", type=int, default=80,
                        help="run Ciw only up to this many offices (it takes minutes at 320)")
    parser.add_argument("--one-process", action="store_true",
                        help="run Ciw in this process too, rather than in a process of its own")
    parser.add_argument("--measure", nargs=2, metavar=("IMPLEMENTATION", "K"),
                        help=argparse.SUPPRESS)  # one measurement, printed as JSON
    parser.add_argument("--files", action="store_true",
                        help="only time reading and checking the largest K's scenario from a "
                             "TOML and a JSON file (maze.scenario.load)")
    args = parser.parse_args(argv)
    if args.files:
        return files(max(args.ks), args.seed, args.repeat)

    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.seed, args.ks[0])))
        return 0
    k0 = args.ks[0]
    warm_up(k0, args.seed)
    rows = {}
    load_before = os.getloadavg()[0]
    for k in args.ks:
        best: dict[str, float] = {}
        visits: dict[str, int] = {}
        for _ in range(args.repeat):
            names = ["maze", "SimPy"] + (["Ciw"] if k <= args.ciw_max_k else [])
            for name in names:
                apart = name == "Ciw" and not args.one_process
                for key, (t, n) in (in_a_process if apart else measure)(name, k, args.seed,
                                                                         k0).items():
                    best[key] = min(best.get(key, math.inf), t)
                    visits[key] = n
        rows[k] = (best, visits, visits["check"])  # the check's count is of referrals
        print(f"K={k}: " + ", ".join(f"{n} {t:.3f} s" for n, t in best.items()), flush=True)
    load_after = os.getloadavg()[0]

    print(f"\nanchor network: {RATE:g} arrivals/day over {HORIZON:,.0f} days, {CLERKS} clerks per "
          f"office, exit {EXIT}, seed {args.seed}; CPU seconds, best of {args.repeat}; load "
          f"average {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} cores")
    print(f"{'K':>5} {'referrals':>9} {'visits':>7} {'check s':>8} {'maze s':>7} {'SimPy s':>8} "
          f"{'Ciw s':>7} {'maze/SimPy':>10} {'Ciw/maze':>9} {'maze/maze(K0)':>13}")
    for k, (best, visits, refs) in rows.items():
        ciw_s = f"{best['Ciw']:7.2f}" if "Ciw" in best else f"{'-':>7}"
        ciw_r = f"{best['Ciw'] / best['maze']:9.1f}" if "Ciw" in best else f"{'-':>9}"
        print(f"{k:>5} {refs:>9,} {visits['maze']:>7,} {best['check']:8.3f} {best['maze']:7.3f} "
              f"{best['SimPy']:8.3f} {ciw_s} {best['maze'] / best['SimPy']:10.2f} {ciw_r} "
              f"{best['maze'] / rows[k0][0]['maze']:13.2f}")
    kmax = max(rows)
    flat = rows[kmax][0]["maze"] <= 1.2 * rows[k0][0]["maze"]
    check = rows[kmax][0]["check"] < 0.2
    print(f"target: maze at K={kmax} within 1.2x K={k0}: {'met' if flat else 'NOT met'}; "
          f"check under 0.2 s at K={kmax}: {'met' if check else 'NOT met'}")
    if 80 in rows and "Ciw" in rows[80][0]:
        fast = rows[80][0]["Ciw"] >= 10 * rows[80][0]["maze"]
        print(f"target: maze >= 10x faster than Ciw at K=80: {'met' if fast else 'NOT met'}")
    return 0


def files(k: int, seed: int, repeat: int) -> int:
    """``maze.scenario.load`` of the anchor network written as TOML and as JSON: parsing,
    the checks on the text (size, nesting) and the scenario check, CPU seconds."""
    import json
    import tempfile

    import tomli_w

    from maze.scenario import load

    data = scenario_dict(k, routing(k, seed))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"TOML": Path(tmp) / "anchor.toml", "JSON": Path(tmp) / "anchor.json"}
        paths["TOML"].write_text(tomli_w.dumps(data), encoding="utf-8")
        paths["JSON"].write_text(json.dumps(data), encoding="utf-8")
        print(f"anchor network, K={k} ({len(data['referrals']):,} referrals), read and checked "
              f"from a file; CPU seconds, best of {repeat}; load average "
              f"{os.getloadavg()[0]:.2f}")
        for kind, path in paths.items():
            best = min(timed(partial(load, path))[0] for _ in range(repeat))
            print(f"  {kind}: {path.stat().st_size / 1e6:.1f} MB, {best:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
