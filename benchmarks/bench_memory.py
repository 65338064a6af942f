"""Calibration of the resource estimate: estimated against measured peak memory and output.

Each case runs in a fresh process (``maze.app.api.run`` then ``api.write`` into a
temporary folder) and reports its peak resident memory (``VmHWM``) and the bytes it
wrote, beside :func:`maze.resources.estimate`. The estimate should stay above the
measurement (ratio >= 1) without being far above it. Run from the project root::

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --cases illustrative:20000 beijing:8000:200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, tempfile
from pathlib import Path
from maze.app import api
from maze import resources
preset, households, links = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
over = {"population.households": households}
if links:
    over["mechanisms.word_of_mouth"] = {"services": ["school"], "links": links}
s = api.load(preset=preset, overrides=over)
est = resources.estimate(s)
r = api.run(s, 0, max_memory=10**15)
with tempfile.TemporaryDirectory() as d:
    out = api.write(r, Path(d) / "run")
    size = sum(p.stat().st_size for p in out.iterdir())
peak = resources.peak_memory()
print(json.dumps({"peak": peak, "output": size, "est_memory": est.memory,
                  "est_output": est.output, "requests": est.requests, "links": est.links,
                  "events": len(r.events)}))
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=[
        "illustrative:2000", "illustrative:20000", "beijing:2000", "beijing:20000",
        "shanghai:20000", "hangzhou:20000", "illustrative:5000:100", "illustrative:5000:400"],
        help="PRESET:HOUSEHOLDS[:WORD_OF_MOUTH_LINKS]")
    args = p.parse_args(argv)
    print(f"{'case':22s} {'requests':>9s} {'links':>9s} {'peak MB':>8s} {'est MB':>8s} "
          f"{'ratio':>6s} {'out MB':>7s} {'est MB':>7s} {'ratio':>6s}")
    for case in args.cases:
        preset, households, *rest = case.split(":")
        links = rest[0] if rest else "0"
        r = subprocess.run([sys.executable, "-c", CHILD, preset, households, links],
                           cwd=ROOT, capture_output=True, text=True, check=True)
        m = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{case:22s} {m['requests']:9,d} {m['links']:9,d} {m['peak'] / 1e6:8.0f} "
              f"{m['est_memory'] / 1e6:8.0f} {m['est_memory'] / m['peak']:6.2f} "
              f"{m['output'] / 1e6:7.1f} {m['est_output'] / 1e6:7.1f} "
              f"{m['est_output'] / m['output']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
