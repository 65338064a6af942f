"""``maze calibrate``: fit a preset's ranged parameters to the published figures of a
targets file (ABC-SMC with pyabc), and test the fit on the targets kept apart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maze.app.cli import HOUSEHOLDS_HELP, positive, seed_below


def _share(text: str) -> float:
    """An argparse type: a share strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "calibrate", help="fit parameters to published figures (ABC-SMC) and test the fit",
        description="Fit the [[parameters]] of a targets file (offices/targets/<city>.toml) "
                    "to its targets marked calibrate, by ABC-SMC (pyabc). By default each "
                    "figure is read as the model's measure plus a normal error with its "
                    "stated sd (ABC under measurement error, Wilkinson 2013): the "
                    "acceptance temperature falls to 1, where the particles are the exact "
                    "posterior; the run has converged when its last generation ran at "
                    "temperature 1 with an effective sample size of at least 50. Targets "
                    "marked validate are never used in fitting and are reported apart. "
                    "Writes OUT/"
                    "posterior.parquet, fit.parquet/fit.csv, diagnostics.parquet, "
                    "calibrated.toml, calibration.json and calibration.html. The pyabc "
                    "history is kept in OUT.abc.db; --resume continues from it. Each "
                    "generation runs the city at least --population times, often many "
                    "times more: a calibration of a full city takes tens of minutes or "
                    "more (docs/tutorials/calibration.md gives measured times); "
                    "--max-simulations caps it, --scale makes each run cheaper.")
    p.add_argument("targets", help="targets TOML file (see docs/reference/targets.md)")
    p.add_argument("--scenario", help="scenario file (default: the file's preset)")
    p.add_argument("--preset", help="a built-in city (default: the file's preset)")
    p.add_argument("--households", type=positive,
                   help=HOUSEHOLDS_HELP + " (for a smaller copy of a history, use --scale)")
    p.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="fit a copy of the city with households, yearly arrivals, seats, "
                        "clerks and the mechanisms' counts times F (e.g. 0.1 for a history); "
                        "parameters stay in the full city's units (default 1)")
    p.add_argument("--population", type=positive, default=50,
                   help="particles per generation (default 50)")
    p.add_argument("--method", choices=("measurement-error", "distance"),
                   default="measurement-error",
                   help="measurement-error (default): a temperature falling to 1, the "
                        "declared end point; distance: a falling epsilon on the distance in "
                        "sds of the figures, with no end point")
    p.add_argument("--normalise", choices=("maximum", "found"), default="maximum",
                   help="measurement error: divide each likelihood by its exact maximum "
                        "(default) or by the largest found so far (pyabc's rejection control; "
                        "the same posterior, more acceptances when a figure is out of the "
                        "model's reach)")
    p.add_argument("--generations", type=positive, default=5,
                   help="ABC-SMC generations at most (default 5); under measurement error "
                        "the temperature reaches 1 by the last of them at the latest")
    p.add_argument("--min-epsilon", type=float,
                   help="--method distance only: stop once the distance threshold falls to "
                        "this (default 0)")
    p.add_argument("--max-simulations", type=positive,
                   help="stop after about this many simulations in all: a generation that "
                        "would need more than the budget left when the session starts is "
                        "stopped, and the calibration reports its last finished generation")
    p.add_argument("--min-acceptance", type=_share, default=0.01, metavar="SHARE",
                   help="stop a generation once fewer than this share of its simulations "
                        "can be accepted (default 0.01): the calibration then ends at its "
                        "last finished generation, not converged")
    p.add_argument("--predictive", type=positive, default=40,
                   help="posterior predictive simulations for the fit table (default 40)")
    p.add_argument("--seed", type=seed_below(32), default=0,
                   help="random seed, an integer from 0 to 2**32-1 (pyabc seeds NumPy's "
                        "legacy generator with it; default 0)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive, metavar="N",
                       help="local worker processes (default: every core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run the simulations on a Dask cluster (pyabc's Dask sampler)")
    p.add_argument("--out", help="output folder (default calibrations/<city>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the calibration stored in OUT.abc.db")
    p.add_argument("--quiet", action="store_true", help="no summary")
    return {"calibrate": cmd_calibrate}


def cmd_calibrate(args: argparse.Namespace) -> int:
    from maze import targets as tg
    from maze.app import api
    from maze.app import calibrate as cal
    from maze.scenario import ScenarioError

    if args.min_epsilon is not None and args.method != "distance":
        raise ScenarioError("applies to --method distance only; --method measurement-error "
                            "stops at its end point, temperature 1", source="--min-epsilon")
    raw = tg.read(args.targets)
    preset = args.preset or (None if args.scenario else raw.get("preset"))
    if args.scenario is None and not isinstance(preset, str):
        raise ScenarioError("say which city to fit: a `preset` in the file, --preset or "
                            "--scenario", source=args.targets, key="preset")
    overrides = {"population.households": args.households} if args.households else None
    scenario = api.load(args.scenario, None if args.scenario else preset, overrides)
    tf = tg.check(raw, scenario, args.targets)  # every target checked before any simulation
    api.scaled(scenario, args.scale)  # a factor that would change the city: refused now
    from maze import outputs

    out = Path(args.out) if args.out else outputs.default_folder("calibrations", tf.city)
    settings = cal.Settings(population=args.population, generations=args.generations,
                            min_epsilon=args.min_epsilon, method=args.method,
                            normalise=args.normalise,
                            predictive=args.predictive,
                            seed=args.seed, workers=args.workers, scheduler=args.scheduler,
                            max_simulations=args.max_simulations, scale=args.scale,
                            min_acceptance=args.min_acceptance)
    if args.quiet:  # pyabc reports each generation on its "ABC" loggers, set at its import
        import logging

        import pyabc  # noqa: F401

        logging.getLogger("ABC").setLevel(logging.WARNING)
    _stop_on_sigterm()
    try:
        summary = cal.calibrate(tf, scenario, out, settings, resume=args.resume)
    except cal.NoGeneration as exc:
        print(f"maze calibrate: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        _print(summary, out)
    return 0


def _stop_on_sigterm() -> None:
    """A calibration stopped by SIGTERM (kill, a scheduler's time limit) unwinds like one
    stopped by Ctrl-C, so the time it ran is still added to the stored total."""
    import signal

    from maze.app import calibrate as cal

    def stop(signum: int, frame: object) -> None:
        cal.stop_requested(signum)  # the next simulation stops it, if this is lost
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


def _print(summary: dict, out: Path) -> None:
    from maze.app.calibrate import LOW_ESS

    took = f"{summary['seconds']:.0f} s"
    if summary["sessions"] > 1:
        took += (f" in {summary['sessions']} sessions ({summary['seconds_session']:.0f} s "
                 "in this one)")
    lines = [f"{summary['city']}: {summary['simulations']} simulations in "
             f"{summary['generations']} generations, {took}",
             f"  {'converged' if summary['converged'] else 'NOT converged'} (end point: "
             f"{summary['end_point']})",
             f"  last generation: {summary['schedule']} {summary[summary['schedule']]:.3g}, "
             f"acceptance rate {summary['acceptance_rate']:.1%}, effective sample size "
             f"{summary['effective_sample_size']:.1f} of {summary['population_size']}"]
    if summary["effective_sample_size"] < LOW_ESS:
        lines.append(f"  warning: an effective sample size under {LOW_ESS}: the posterior "
                     "intervals rest on a few particles; run a larger --population")
    for v in summary["calibrated"]:
        lines.append(f"  {v['key']} = {v['value']}  (90% {v['q05']:.3g} to {v['q95']:.3g})")
    lines.append(f"  calibrate targets covered: {summary['calibrate_targets_covered']}/"
                 f"{summary['calibrate_targets']}; validate targets covered: "
                 f"{summary['validate_targets_covered']}/{summary['validate_targets']}")
    lines.append(f"  written to {out}/ (fit.csv, calibration.html, calibrated.toml)")
    sys.stdout.write("\n".join(lines) + "\n")
