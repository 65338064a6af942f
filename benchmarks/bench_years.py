"""Benchmark: a ten-year city history (``beijing_history``, 2010-2020) with 100,000 households.

Households persist from year to year (the preset's ``[lives]``): ``--households`` is the
total that arrives over the run, the same number each summer (the preset's 2,000 a summer
for eleven summers is 22,000). The preset's offices are sized for 2,000 a summer; with
more, its clerks and seats are multiplied by households / 22,000 so that every household
walks the maze as in the preset (``--as-written`` keeps them as written). The
run is made in a fresh Python process so that its peak memory (maximum resident set
size, from ``resource.getrusage``) is its own. Printed: wall time of the simulation
(world built and run to the horizon), of the measures (event table with group
attributes, journeys, summary with its years, children and renewals, years.parquet's
table) and, with
``--write``, of writing the run folder; their total in wall and CPU time (CPU time is
less disturbed by other work on a shared machine); events; peak memory. The target is
at most 3 minutes and 4 GB on one core.

Run from the project root::

    python benchmarks/bench_years.py                        # 100,000 households
    python benchmarks/bench_years.py --households 22000 --write
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESET = "beijing_history"
TARGET_SECONDS = 180.0
TARGET_BYTES = 4 * 1024**3


def one_run(households: int, seed: int, write: bool, as_written: bool) -> dict:
    """Run the history in this process and return its figures."""
    from maze import measures
    from maze.app import api
    from maze.calendar import yearly_windows

    base = api.load(preset=PRESET)
    a = base.population.arrivals
    summers = len(yearly_windows(a.start, a.end, base.city.start_date, base.city.horizon))
    per_summer = max(1, round(households / summers))
    overrides: dict = {"population.households": per_summer, "lives.in_migration": per_summer}
    if not as_written:
        factor = per_summer / base.population.households
        for o in base.offices:
            overrides[f"offices.{o.name}.clerks"] = max(1, round(o.clerks * factor))
            if o.seats is not None:
                overrides[f"offices.{o.name}.seats"] = max(1, round(o.seats * factor))
    scenario = api.load(preset=PRESET, overrides=overrides)
    cpu0, t0 = time.process_time(), time.perf_counter()
    import offices
    from maze.world import World

    raw = World(scenario, seed, offices.mechanisms).run()
    t1 = time.perf_counter()
    events = measures.attach_groups(raw.events, raw.households, raw.texts)
    j = measures.journeys(raw.events, raw.households, scenario)
    summary = measures.summary(raw.events, j, raw.households, scenario, seed)
    years = measures.years(j, scenario)
    if raw.children is not None:
        from maze import life_measures

        summary["children"] = life_measures.children_summary(raw.children)
        summary["renewals"] = life_measures.churn(j, scenario.lives.renew, scenario)
    t2 = time.perf_counter()
    if write:
        with tempfile.TemporaryDirectory() as tmp:
            api.write(api.Run(raw, events, j, summary), Path(tmp) / "run")
    t3 = time.perf_counter()
    return {"households": int(len(raw.households)), "events": int(len(raw.events)),
            "child_years": 0 if raw.children is None else int(len(raw.children)),
            "years": int(years["year"].nunique()), "rule_versions": len(scenario.versions),
            "simulate_s": t1 - t0, "measures_s": t2 - t1, "write_s": t3 - t2,
            "wall_s": t3 - t0, "cpu_s": time.process_time() - cpu0,
            "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--households", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", action="store_true", help="also write the run folder")
    p.add_argument("--as-written", action="store_true",
                   help="keep the preset's clerks and seats (sized for 2,000 a summer)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(one_run(args.households, args.seed, args.write, args.as_written)))
        return 0
    cmd = [sys.executable, __file__, "--child", "--households", str(args.households),
           "--seed", str(args.seed)] + (["--write"] if args.write else []) + (
        ["--as-written"] if args.as_written else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{PRESET}: {r['households']:,} households, {r['years']} years, "
          f"{r['rule_versions']} versions of the rules, {r['events']:,} events, "
          f"{r['child_years']:,} child-years")
    print(f"  simulate {r['simulate_s']:.1f} s, measures {r['measures_s']:.1f} s"
          + (f", write {r['write_s']:.1f} s" if args.write else ""))
    print(f"  total wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
          f"(target {TARGET_SECONDS:.0f} s); peak memory {r['peak_bytes'] / 1024**3:.2f} GB "
          f"(target {TARGET_BYTES / 1024**3:.0f} GB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
