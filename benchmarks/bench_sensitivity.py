"""Benchmark: a Morris screening of 30 declared assumptions x 10 trajectories at 2,000 households.

The study is what ``maze sensitivity`` runs: a preset at its own 2,000 households, the
first ``--keys`` numeric assumptions it declares, ``--trajectories`` Morris trajectories
(with the seed-noise column: ``trajectories x (keys + 2)`` design points) and the default
measures (the deflect/deny saving ratio runs the city twice a point), on local
processes (``--workers``, default every core) into a fresh folder. The target is 20
minutes on 2 cores.

It prints the wall time, the distinct runs, the simulator seconds each run took (timed
inside the workers' results: wall time x workers / runs), and what a Dask cluster of N
workers would take if the runs alone set the pace (``runs x seconds a run / N``, plus
the one-off start). The load average before and after says what the machine allowed.

Run from the project root::

    nice python benchmarks/bench_sensitivity.py
    python benchmarks/bench_sensitivity.py --keys 5 --trajectories 2     # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 20 * 60


def main(argv: list[str] | None = None) -> int:
    from maze import uncertainty as un
    from maze.app import api, sensitivity

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="beijing")
    p.add_argument("--keys", type=int, default=30, help="assumptions varied (default 30)")
    p.add_argument("--trajectories", type=int, default=10)
    p.add_argument("--workers", type=int, help="local processes (default every core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="keep the study here (default: a temporary "
                                            "folder; an existing study there is resumed, "
                                            "which is then not a timing)")
    args = p.parse_args(argv)

    city = api.load(preset=args.preset)
    numeric = [a.key for a in un.declared(city) if a.numeric]
    if len(numeric) < args.keys:
        print(f"{args.preset} declares {len(numeric)} numeric assumptions, fewer than "
              f"{args.keys}", file=sys.stderr)
        return 2
    keys = numeric[: args.keys]
    workers = args.workers or len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = sensitivity.study(city, source=f"preset {args.preset}", keys=keys,
                                   trajectories=args.trajectories, seed=args.seed,
                                   out=args.out or Path(tmp) / "study", workers=workers)
        wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    st = result.settings
    runs = st["morris_runs"]
    sims = runs * 2  # the saving ratio runs each point under deflection and under denial
    per_run = wall * workers / runs
    print(f"Morris: {args.preset}, {city.population.households} households, {len(keys)} "
          f"assumptions x {args.trajectories} trajectories = "
          f"{args.trajectories * (len(keys) + 2)} design points, {runs} distinct runs "
          f"({sims} simulations: deflect and deny), measures {', '.join(st['measures'])}")
    print(f"wall time {wall:.0f} s on {workers} local processes "
          f"({'within' if wall <= TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS // 60}-minute "
          f"target); {per_run:.2f} s of a worker per run ({per_run / 2:.2f} s a simulation)")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
          f"(1 minute; {len(os.sched_getaffinity(0))} cores)")
    for n in (4, 16, 64):
        print(f"a Dask cluster of {n} workers: about {runs * per_run / n / 60:.1f} min "
              "(runs alone; add the cluster's start and one run's latency)")
    for measure, m in result.morris.groupby("measure", sort=False):
        noise = float(m.loc[m["key"] == "(seed noise)", "mu_star"].iloc[0])
        print(f"{measure}: {int(m['above_noise'].sum())} of {len(keys)} assumptions clear "
              f"seed noise (mu* {noise:.4g}); leading:")
        for r in m.head(5).itertuples():
            print(f"  {r.rank}. {r.key}: mu* {r.mu_star:.4g} ± {r.mu_star_conf:.2g}"
                  f"{'' if r.above_noise else ' (not above seed noise)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
