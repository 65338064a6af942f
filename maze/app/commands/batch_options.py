"""Options and plumbing shared by the commands that run a city many times on the batch layer
(``maze sensitivity``, ``maze ablate``): city, measures, households, where to run, progress."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from maze.app.cli import HOUSEHOLDS_HELP, positive, seed_argument


def add(p: argparse.ArgumentParser, default_out: str) -> None:
    """The city, the measures and where to run (added to a command's own options)."""
    from maze.app import outcomes

    p.add_argument("city", help="a preset name or a scenario file (.toml)")
    p.add_argument("--measures", default=", ".join(outcomes.DEFAULT),
                   help="comma-separated measures: " + ", ".join(outcomes.NAMED) +
                        ", or a summary path such as migrants.mean_visits "
                        "(default: %(default)s)")
    p.add_argument("--measures-file", metavar="FILE.toml",
                   help="more measures, declared as data: [measures.NAME] tables with a named "
                        "measure or an expression over the output tables, and filters")
    p.add_argument("--seed", type=seed_argument, default=0,
                   help="base seed, an integer from 0 to 2**63-1 (default 0)")
    p.add_argument("--households", type=positive,
                   help=HOUSEHOLDS_HELP + "; a history stays nearly as costly (for a "
                        "smaller copy of a history, use --scale)")
    p.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="run a copy of the city with households, yearly arrivals, seats, "
                        "clerks and the mechanisms' counts times F (e.g. 0.1 for a history); "
                        "the values drawn stay in the full city's units (default 1)")
    p.add_argument("--out", help=f"output folder (default {default_out}/<city>/)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive, metavar="N",
                       help="local processes (default: every core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on an existing Dask cluster (its workers need maze installed)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary")


def names(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run(args: argparse.Namespace, default_out: str,
        study: Callable[..., Any], summary: Callable[[Any, Path, float], None],
        files: tuple[str, ...] = (), check: Callable[..., Any] | None = None) -> int:
    """Load the city, run ``study(scenario, out=, progress=, executor=, ...)`` with a
    progress line, print ``summary``; runs that failed exit 1 (they can be resumed).

    ``check(scenario, source=, measures=, specs=, scale=)`` refuses bad options first (and
    ``study`` is given ``scale=`` too), so refused input creates no folder. The output
    folder is then claimed (marked as maze's, of kind ``default_out``, listing ``files``)
    before any run, so a folder or file maze did not write is refused at once."""
    from rich.console import Console

    from maze import scenario as sc
    from maze.app.commands.assumptions import load_city
    from maze.batch.points import PointsError

    scenario = load_city(args.city)
    if args.households:
        scenario = sc.override(scenario, {"population.households": args.households},
                               source="--households")
    from maze.app import outcomes

    specs = outcomes.load_specs(args.measures_file, scenario) if args.measures_file else None
    if check is not None:
        check(scenario, source=args.city, measures=names(args.measures) or (), specs=specs,
              scale=args.scale)
    from maze import outputs

    out = (Path(args.out) if args.out
           else outputs.default_folder(default_out, scenario.city.name))
    outputs.claim_folder(out, default_out, files)
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    last = {"t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last["t"] > 2:
            last["t"] = now
            console.print(f"{stage}: {done}/{total} runs ({now - started:.0f} s)")

    try:
        result = study(scenario, source=args.city, measures=names(args.measures) or (),
                       specs=specs, scale=args.scale,
                       seed=args.seed, out=out, progress=progress,
                       executor="dask" if args.scheduler else "processes",
                       workers=args.workers, scheduler=args.scheduler)
    except PointsError as exc:
        print(f"maze: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        summary(result, out, time.perf_counter() - started)
    return 0
