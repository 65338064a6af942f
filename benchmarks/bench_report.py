"""Benchmark: writing ``report.html`` for a big run of Beijing (the city ``maze run`` runs).

Runs the preset as written with ``--households`` households, then times
``maze.report.write_report`` alone, in CPU and wall seconds, in this fresh process (so the
first plotly figure's loading of its schema, about 1.5 s, is included), and prints the
page's size. The budget: a report under 10 MB, written in under 10 s, at any size.

Run from the project root::

    python benchmarks/bench_report.py --households 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from maze import report
    from maze.app import api

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=100_000)
    p.add_argument("--preset", default=None, help="default: the default city (Beijing)")
    args = p.parse_args(argv)
    city = api.load(preset=args.preset, overrides={"population.households": args.households})
    c0, w0 = time.process_time(), time.perf_counter()
    run = api.run(city, seed=0)
    print(f"run: {len(run.events):,} events, {time.process_time() - c0:.1f} s CPU, "
          f"{time.perf_counter() - w0:.1f} s wall", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        c0, w0 = time.process_time(), time.perf_counter()
        report.write_report(run.events, run.journeys, run.raw.graph, run.summary, page)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        size = page.stat().st_size
    print(f"report: {cpu:.1f} s CPU, {wall:.1f} s wall, {size / 1e6:.1f} MB "
          f"(budget: 10 s, 10 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
