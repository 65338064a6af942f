"""Benchmark: an ABC-SMC calibration of one preset (``maze calibrate``), end to end.

The target is 45 minutes on 2 cores for a calibration of a preset at its own size
(2,000 households). The script runs ``maze.app.calibrate.calibrate`` with local
processes on ``--workers`` cores and prints: wall time, simulations, the CPU seconds
of one simulation (measured alone before the run, fastest of three), and the ratio of
wall time to (simulations x one simulation / workers), which says how much of the
machine the calibration got (1.0: all of it, with no overhead). From the simulations
and the time of one, it prints what a Dask cluster of N workers would take at the same
settings (``--scheduler``): pyabc waits for each generation, so about
ceil(simulations of a generation / N) rounds of one simulation per generation.

Run from the project root::

    python benchmarks/bench_calibrate.py
    python benchmarks/bench_calibrate.py --preset beijing --households 2000 \\
        --population 50 --generations 5 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MINUTES = 45.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="beijing")
    p.add_argument("--households", type=int, default=2000)
    p.add_argument("--population", type=int, default=50)
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--predictive", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--method", choices=("measurement-error", "distance"),
                   default="measurement-error", help="as maze calibrate --method")
    args = p.parse_args()

    from maze import targets as tg
    from maze.app import api
    from maze.app import calibrate as cal

    scenario = api.load(preset=args.preset,
                        overrides={"population.households": args.households})
    tf = tg.load(ROOT / "offices" / "targets" / f"{args.preset}.toml", scenario)
    sim = cal.Simulator(scenario, tf.parameters, tf.targets, tf.path)
    mid = {f"p{i}": (q.low + q.high) / 2 for i, q in enumerate(tf.parameters)}
    one = []
    for seed in range(3):
        start = time.process_time()
        sim(mid, seed=seed)
        one.append(time.process_time() - start)
    one_sim = min(one)
    settings = cal.Settings(population=args.population, generations=args.generations,
                            predictive=args.predictive, workers=args.workers, seed=0,
                            method=args.method)
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as tmp:
        start = time.perf_counter()
        summary = cal.calibrate(tf, scenario, Path(tmp) / "out", settings)
        wall = time.perf_counter() - start
    n = summary["simulations"] + args.predictive
    ideal = n * one_sim / args.workers
    print(f"maze calibrate {args.preset}: {args.households} households, population "
          f"{args.population}, {summary['generations']} generations, {args.workers} workers")
    print(f"  simulations: {summary['simulations']} fitting + {args.predictive} predictive")
    print(f"  one simulation: {one_sim:.2f} s CPU (fastest of 3)")
    print(f"  wall time: {wall / 60:.1f} min (target {TARGET_MINUTES:.0f} min): "
          f"{'met' if wall / 60 <= TARGET_MINUTES else 'NOT met'}")
    print(f"  wall / ideal (simulations x one / workers = {ideal / 60:.1f} min): "
          f"{wall / ideal:.2f}")
    print(f"  time not spent simulating (sampler, database, predictive, page; and any "
          f"share of the cores other processes took): {max(wall - ideal, 0.0) / 60:.1f} min")
    per_generation = summary["simulations"] / max(summary["generations"] + 1, 1)
    for workers in (8, 32, 128):
        # pyabc waits for each generation: ceil(simulations of a generation / workers)
        # rounds of one simulation, for the calibration sample and every generation.
        rounds = -(-per_generation // workers) * (summary["generations"] + 1)
        print(f"  a Dask cluster of {workers} workers, same settings: about "
              f"{(rounds + -(-args.predictive // workers)) * one_sim / 60:.2f} min of "
              f"simulation, predictive runs included (an estimate from the measured "
              f"simulation; plus scheduling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
