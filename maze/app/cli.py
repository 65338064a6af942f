"""The ``maze`` command: run a city, validate a scenario, list presets.

User errors (a bad scenario, a missing file) print one message and exit with
code 2; they never show a Python traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from maze.scenario import ScenarioError

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="maze",
        description="Simulate how a city turns migrants away from public services that exist "
                    "on paper: eligibility rules, paperwork, referral loops, waiting lists, "
                    "closures and price gaps.")
    p.add_argument("--version", action="version", version=f"maze {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a city and write its tables and report")
    add_city_arguments(r)
    r.add_argument("--out", help="output folder (default runs/<scenario>-<seed>/)")
    r.add_argument("--no-report", action="store_true", help="skip report.html")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary table")

    v = sub.add_parser("validate", help="check a scenario file without running it")
    v.add_argument("scenario")

    sub.add_parser("presets", help="list the built-in cities")
    for register in _plugins():
        COMMANDS.update(register(sub))
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("maze")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _plugins() -> list:
    """The ``register`` functions of every module in ``maze.app.commands``."""
    import importlib
    import pkgutil

    from maze.app import commands

    found = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"maze.app.commands.{info.name}")
        if hasattr(module, "register"):
            found.append(module.register)
    return found


def add_city_arguments(p: argparse.ArgumentParser, *, regime: bool = True) -> None:
    """The arguments that choose a city, shared by every command that runs one."""
    p.add_argument("scenario", nargs="?", help="scenario TOML file (default: the built-in city)")
    p.add_argument("--preset", help="a built-in city (see `maze presets`)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--households", type=int, help="override the number of households")
    if regime:
        p.add_argument("--regime", choices=["provide", "deny", "deflect"],
                       help="rebuild the same city as provide, deny or deflect")


def load_city(args: argparse.Namespace):  # noqa: ANN201 - a maze.scenario.Scenario
    """The validated scenario that ``add_city_arguments``' arguments name."""
    from maze.app import api

    return api.load(args.scenario, args.preset, _overrides(args))


def _overrides(args: argparse.Namespace) -> dict:
    out = {}
    if getattr(args, "households", None) is not None:
        out["population.households"] = args.households
    if getattr(args, "regime", None):
        out["city.regime"] = args.regime
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from maze.app import api

    console = Console(stderr=True, quiet=args.quiet)
    scenario = load_city(args)
    out = Path(args.out) if args.out else api.default_out(scenario, args.seed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as bar:
        task = bar.add_task(f"simulating {scenario.city.name}", total=scenario.city.horizon)
        result = api.run(scenario, args.seed,
                         progress=lambda f: bar.update(task, completed=f * scenario.city.horizon))
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as bar:
        bar.add_task(f"writing {out}/ (tables" + ("" if args.no_report else " and report.html")
                     + ")", total=None)
        api.write(result, out, report=not args.no_report)
    if not args.quiet:
        _print_summary(result.summary, out)
    return 0


def _print_summary(s: dict, out: Path) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from maze.measures import NOT_REACHED

    console = Console()
    cols = ("served", "private", "sent away", "gave up", "denied", "deterred", "pending",
            "median days", "offices")
    names = [g.replace("_", " ") for g in s["by_group"]]
    # One line per row if the terminal is wide enough, else every word on its own line
    # (headers, group names, "not reached"): a table then fits 80 columns, never cut.
    one_line = max(len(x) for x in ("group", *names)) + len(cols) + sum(
        max(len(c), len(NOT_REACHED) if c == "median days" else 4) for c in cols)
    stack = (lambda text: text) if console.width >= one_line else \
        (lambda text: text.replace(" ", "\n"))
    t = Table(title=f"{s['scenario']} ({s['regime']}), seed {s['seed']}: "
                    f"{s['households']:,} households, {s['requests']:,} requests",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))
    t.add_column("group")
    for col in cols:
        t.add_column(stack(col), justify="right")

    def row(name: str, b: dict) -> None:
        med = b["median_days_to_service"]
        t.add_row(stack(name.replace("_", " ")), *(f"{b[k]:.0%}" for k in (
            "served_share", "alternative_share", "sent_away_share", "gave_up_share",
            "denied_share", "deterred_share", "pending_share")),
            stack(NOT_REACHED) if med is None else f"{med:.0f}",
            "—" if b["mean_offices_seen"] is None else f"{b['mean_offices_seen']:.1f}")

    for g, b in s["by_group"].items():
        row(g, b)
    row("all", s)
    console.print(t)
    console.print(f"private: served privately instead; median days: to service in the city "
                  f"({NOT_REACHED}: fewer than half were served); offices: distinct offices "
                  "met, mean")
    console.print(f"explicit hukou refusals: {s['explicit_refusal_share']:.1%} of requests; "
                  f"city cost saved: {s['city_cost_saved']:,.0f} RMB")
    console.print(f"results in {out}/ (report.html, events.parquet, journeys.parquet)")


def cmd_validate(args: argparse.Namespace) -> int:
    from maze.app import api

    s = api.load(args.scenario)
    print(f"{args.scenario}: valid ({len(s.offices)} offices, {len(s.services)} services, "
          f"{len(s.population.groups)} groups)")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from offices import presets

    for name in presets.names():
        print(f"{name:12s} {presets.summary(name)}")
    return 0


COMMANDS: dict = {"run": cmd_run, "validate": cmd_validate, "presets": cmd_presets}


#: The exit status of a command whose reader went away (128 + SIGPIPE), as a shell reports it.
EXIT_CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # `maze presets | head`: the reader has what it wanted. Point stdout at /dev/null so
        # that flushing it at exit does not fail again, and leave without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    except ScenarioError as exc:
        print(f"maze: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("maze: interrupted; nothing partial was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
