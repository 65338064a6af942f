"""Benchmark: a big city in one process: the default city of ``maze run`` (Beijing).

Two cases: the preset as written (one season: its 240-day horizon, June to January), and
the same season in a city whose offices grow with its people (clerks and seats multiplied
by households / the preset's households). The preset's offices are sized for 2,000
households, so with 100,000 most households are still queueing at the horizon and take
few steps; the scaled city makes every household walk the maze, which is the heavier
load (the target of a million households in 3 minutes and 2 GB is for that case).

Each case runs in a fresh Python process so that its peak memory (maximum resident set
size, from ``resource.getrusage``) is its own. Reported per case: wall time of the
simulation (world built and run to the horizon), of the measures (event table with group
attributes, journeys, summary) and, with ``--write``, of writing the run folder (Parquet
tables and the HTML report); their total in wall and in CPU time (CPU time is less
disturbed by other work on a shared machine); the number of events, events per second of
the whole run (wall), peak memory, and peak memory per household. With ``--phases`` (Linux),
also the resident memory after each phase of the run and the peak within it: the world
built, the simulation, the world let go, the event table, the measures.

Run from the project root::

    python benchmarks/bench_city.py                      # both cases, 100,000 households
    python benchmarks/bench_city.py --households 20000 --write
    python benchmarks/bench_city.py --households 1000000 --only scaled
    python benchmarks/bench_city.py --households 300000 --only scaled --phases
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: name -> scenario overrides (besides the number of households)
CASES = {
    "as written": {},
    "scaled": {"scale_offices": True},
}
#: The target for a million households in the scaled city, on one core.
TARGET_SECONDS = 180.0
TARGET_BYTES = 2 * 1024**3
TARGET_HOUSEHOLDS = 1_000_000


class _Phases:
    """Resident memory after each phase and the peak within it (MB), from /proc (Linux):
    the peak is reset after each phase (``clear_refs``)."""

    def __init__(self, on: bool):
        self.on = on
        self.rows: list[tuple[str, float, float]] = []  # phase, resident MB, peak MB
        self("imports and scenario")

    def __call__(self, phase: str) -> None:
        if not self.on:
            return
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").open())
        mb = {k: int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}
        self.rows.append((phase, mb["VmRSS"], mb["VmHWM"]))
        Path("/proc/self/clear_refs").write_text("5")


def one_case(name: str, households: int, seed: int, write: bool, preset: str,
             phases: bool = False) -> dict:
    """Run one case in this process and return its figures."""
    import offices
    from maze import heap, measures
    from maze.app import api
    from maze.world import World

    overrides = {"population.households": households, **CASES[name]}
    if overrides.pop("scale_offices", False):
        base = api.load(preset=preset)
        factor = households / base.population.households
        for o in base.offices:
            overrides[f"offices.{o.name}.clerks"] = max(1, round(o.clerks * factor))
            if o.seats is not None:
                overrides[f"offices.{o.name}.seats"] = max(1, round(o.seats * factor))
    scenario = api.load(preset=preset, overrides=overrides)
    mark = _Phases(phases)
    c0, t0 = time.process_time(), time.perf_counter()
    world = World(scenario, seed, offices.mechanisms(scenario))
    mark("world built")
    raw = world.run()
    mark("simulation")
    del world
    if len(raw.households) >= api.COLLECT_FROM:
        gc.collect()  # as api.run: the world's processes waiting at the horizon form cycles
        heap.give_back()
    mark("world let go")
    t1 = time.perf_counter()
    raw.events  # noqa: B018 - the event table is built when first asked for
    mark("event table")
    events = measures.attach_groups(raw.events, raw.households, raw.texts)
    j = measures.journeys(raw.events, raw.households, scenario)
    summary = measures.summary(raw.events, j, raw.households, scenario, seed)
    t2 = time.perf_counter()
    mark("measures")
    write_s = None
    cpu = time.process_time() - c0
    if write:
        with tempfile.TemporaryDirectory() as tmp:
            api.write(api.Run(raw, events, j, summary), Path(tmp) / "run")
        write_s = time.perf_counter() - t2
    cpu = time.process_time() - c0
    # ru_maxrss is in kilobytes on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # --phases resets the peak after each phase: the run's peak is the largest of them.
    peak = max([peak] + [int(p * 1024 * 1024) for _, _, p in mark.rows])
    return {
        "case": name, "households": len(raw.households), "requests": summary["requests"],
        "events": len(raw.events), "simulate_s": t1 - t0, "measures_s": t2 - t1,
        "write_s": write_s, "cpu_s": cpu, "peak_bytes": peak,
        "served_share": summary["served_share"],
        "pending_share": summary["pending_share"], "phases": mark.rows,
    }


def main(argv: list[str] | None = None) -> int:
    from offices import presets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=presets.DEFAULT,
                        help=f"the city (default: {presets.DEFAULT}, as `maze run`)")
    parser.add_argument("--only", choices=list(CASES), help="run one case")
    parser.add_argument("--write", action="store_true",
                        help="also time writing the run folder (tables and report)")
    parser.add_argument("--phases", action="store_true",
                        help="also print resident memory after each phase (Linux)")
    parser.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.case is not None:  # the child: one case, figures as JSON on stdout
        print(json.dumps(one_case(args.case, args.households, args.seed, args.write,
                                  args.preset, args.phases)))
        return 0

    print(f"{args.preset}, {args.households:,} households, seed {args.seed}, "
          f"one process per case; load average (1 min) {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    header = (f"{'case':<12} {'events':>10} {'simulate s':>10} {'measures s':>10} "
              f"{'write s':>8} {'total s':>8} {'CPU s':>8} {'events/s':>10} {'peak MB':>8} "
              f"{'KB/hh':>6}")
    print(header)
    for name in [args.only] if args.only else CASES:
        cmd = [sys.executable, __file__, "--case", name, "--households", str(args.households),
               "--seed", str(args.seed), "--preset", args.preset] + (
                   ["--write"] if args.write else []) + (["--phases"] if args.phases else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        total = r["simulate_s"] + r["measures_s"] + (r["write_s"] or 0.0)
        write_s = f"{r['write_s']:8.1f}" if r["write_s"] is not None else f"{'-':>8}"
        print(f"{name:<12} {r['events']:>10,} {r['simulate_s']:10.1f} {r['measures_s']:10.1f} "
              f"{write_s} {total:8.1f} {r['cpu_s']:8.1f} {r['events'] / total:10,.0f} "
              f"{r['peak_bytes'] / 1024**2:8.0f} {r['peak_bytes'] / 1024 / r['households']:6.2f}")
        print(f"{'':<12} requests {r['requests']:,}, served {r['served_share']:.3f}, "
              f"pending at the horizon {r['pending_share']:.3f}")
        for phase, rss, peak in r["phases"]:
            print(f"{'':<12} after {phase:<20} resident {rss:7.0f} MB, peak within {peak:7.0f} "
                  f"MB ({(peak - r['phases'][0][1]) * 1024 / r['households']:.2f} KB a "
                  f"household above the imports)")
        if name == "scaled" and args.households == TARGET_HOUSEHOLDS:
            ok = r["cpu_s"] <= TARGET_SECONDS and r["peak_bytes"] <= TARGET_BYTES
            print(f"target (a million households, <= {TARGET_SECONDS:.0f} s CPU and <= 2 GB): "
                  f"{'met' if ok else 'NOT met'}")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
