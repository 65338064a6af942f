"""The ``maze`` command: run a city, validate a scenario, list presets.

User errors (a bad scenario, a missing file) print one message and exit with
code 2; they never show a Python traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with errors in one line (the usage is one ``--help`` away), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        sys.stderr.write(f"{self.prog}: error: {text} (see {self.prog} --help)\n")
        sys.exit(EXIT_USER_ERROR)


def _parser(plugins: bool = True) -> argparse.ArgumentParser:
    """The command line; without ``plugins``, only the commands defined here (what
    ``maze run`` needs: importing every other command's module costs more than parsing)."""
    p = _Parser(
        prog="maze",
        description="Simulate how a city turns migrants away from public services that exist "
                    "on paper: eligibility rules, paperwork, referral loops, waiting lists, "
                    "closures and price gaps.")
    p.add_argument("--version", action=_Version, nargs=0,
                   help="show the installed version of maze and exit")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a city and write its tables and report")
    add_city_arguments(r)
    r.add_argument("--out", help="output folder (default runs/<scenario>-<seed>/)")
    r.add_argument("--no-report", action="store_true", help="skip report.html")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary table")

    v = sub.add_parser("validate", help="check a scenario file without running it",
                       description="Check a scenario file without running it: every key, "
                                   "value, reference and declared range, with one line naming "
                                   "the file and key of the first problem (exit code 2).")
    v.add_argument("scenario")

    sub.add_parser("presets", help="list the built-in cities",
                   description="List the built-in cities (offices/presets/*.toml), each with "
                               "its one-line description; run one with "
                               "`maze run --preset NAME`.")
    if plugins:
        for register in _plugins():
            COMMANDS.update(register(sub))
    return p


#: The commands ``_parser`` defines itself.
BUILT_IN = ("run", "validate", "presets")


class _Version(argparse.Action):
    """``--version``, looked up only when asked for: reading the installed package's
    metadata costs more than building the whole parser."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"maze {_version()}")
        parser.exit()


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


#: --households of every command that runs a city: in a history (a [lives] table) it sets
#: the first year only, which a user who wants a cheaper history must know before a long run.
HOUSEHOLDS_HELP = ("override the number of households (of the first year, in a city over "
                   "years: later years bring lives.in_migration each). Offices, clerks and "
                   "seats stay as the scenario declares them, so fewer households is a "
                   "less crowded city, not a scaled-down copy")


def add_city_arguments(p: argparse.ArgumentParser, *, regime: bool = True) -> None:
    """The arguments that choose a city, shared by every command that runs one."""
    p.add_argument("scenario", nargs="?", help="scenario TOML file (default: the built-in city)")
    p.add_argument("--preset", help="a built-in city (see `maze presets`)")
    p.add_argument("--seed", type=seed_argument, default=0,
                   help="random seed, an integer from 0 to 2**63-1 (default 0)")
    p.add_argument("--households", type=positive,
                   help=HOUSEHOLDS_HELP + " (for a smaller copy of a history, use --scale)")
    p.add_argument("--scale", type=float, metavar="F",
                   help="run a copy of the city with households, yearly arrivals, seats, "
                        "clerks and the mechanisms' counts times F (e.g. 0.1 for a cheap "
                        "history); refused if F would round a count more than 10%% off")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="refuse a run estimated to need more memory than this (e.g. 8G; "
                        "default 80%% of the machine's RAM, or $MAZE_MAX_MEMORY)")
    if regime:
        p.add_argument("--regime", choices=["provide", "deny", "deflect"],
                       help="rebuild the same city as provide, deny or deflect")


def whole_number(low: int, high: int | None = None, *, what: str = "a whole number",
                 outside: str | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (no limit above if None),
    so that a bad count, seed or port is refused in one line before the command starts:
    ``not {what}: 'x'``, or ``outside`` (default: the range) for a number out of range."""
    if outside is None:
        outside = f"must be at least {low}" if high is None else f"must be from {low} to {high}"

    def number(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if n < low or (high is not None and n > high):
            raise argparse.ArgumentTypeError(outside)
        return n
    return number


def at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``least``."""
    return whole_number(least)


#: A count given on the command line (workers, households, particles): 1 or more.
positive = at_least(1)


def seed_below(power: int) -> Callable[[str], int]:
    """An argparse type: a seed, a whole number from 0 to 2**power - 1 (what the random
    generators behind the command take)."""
    return whole_number(0, 2**power - 1, outside=f"a seed is from 0 to 2**{power}-1")


#: ``--seed`` of a run: NumPy's SeedSequence takes any whole number from 0; 2**63 - 1 keeps
#: it a 64-bit integer in the tables.
seed_argument = seed_below(63)


def load_city(args: argparse.Namespace):  # noqa: ANN201 - a maze.scenario.Scenario
    """The validated scenario that ``add_city_arguments``' arguments name."""
    from maze.app import api

    scenario = api.load(args.scenario, args.preset, _overrides(args))
    if getattr(args, "scale", None) is not None:
        scenario = api.scaled(scenario, args.scale)
    return scenario


def _overrides(args: argparse.Namespace) -> dict:
    out = {}
    if getattr(args, "households", None) is not None:
        out["population.households"] = args.households
    if getattr(args, "regime", None):
        out["city.regime"] = args.regime
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from maze import resources
    from maze.app import api

    scenario = load_city(args)
    out = Path(args.out) if args.out else api.default_out(scenario, args.seed)
    # Everything that can be refused is refused before the simulation: the memory it
    # needs, and a destination that is not maze's, not writable or short of disk.
    resources.check(scenario, args.max_memory, source=args.scenario or scenario.city.name)
    api.check_out(scenario, out)
    if args.quiet:  # no progress to show: the console library is not even imported
        api.write(api.run(scenario, args.seed, max_memory=args.max_memory), out,
                  report=not args.no_report)
        return 0

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"simulating {scenario.city.name}", total=scenario.city.horizon)
        result = api.run(scenario, args.seed,
                         progress=lambda f: bar.update(task, completed=f * scenario.city.horizon),
                         max_memory=args.max_memory)
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        bar.add_task(f"writing {out}/ (tables" + ("" if args.no_report else " and report.html")
                     + ")", total=None)
        api.write(result, out, report=not args.no_report)
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
    console.print(f"results in {out}/ ({', '.join(written(out))})")


def written(out: Path) -> list[str]:
    """The files a run left in ``out``, report first: what the user can open (a history
    adds years, children and life events; --no-report writes no report)."""
    tables = sorted(p.name for p in Path(out).glob("*.parquet"))
    return [n for n in ("report.html",) if (Path(out) / n).exists()] + tables + [
        n for n in ("summary.json",) if (Path(out) / n).exists()]


def cmd_validate(args: argparse.Namespace) -> int:
    from maze.app import api

    s = api.load(args.scenario)
    print(f"{args.scenario}: valid ({len(s.offices)} offices, {len(s.services)} services, "
          f"{len(s.population.groups)} groups)")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from offices import presets

    names = presets.names()
    wide = max(map(len, names), default=0)
    for name in names:
        print(f"{name:{wide}s}  {presets.summary(name)}")
    return 0


COMMANDS: dict = {"run": cmd_run, "validate": cmd_validate, "presets": cmd_presets}


#: The exit status of a command whose reader went away (128 + SIGPIPE), as a shell reports it.
EXIT_CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors, failed writes and Ctrl-C end in one line on stderr.

    Exit codes: 0 done, 1 a command's own failure (a rule case that does not hold, sweep
    runs that failed), 2 refused input or output (bad scenario, destination maze will not
    touch, disk full), 130 interrupted, 141 the reader of the output went away.
    """
    try:
        _lighter_process()
        _import_models()
        from maze.scenario import ScenarioError

        words = sys.argv[1:] if argv is None else list(argv)
        args = _parser(plugins=not words or words[0] not in BUILT_IN).parse_args(argv)
        try:
            return COMMANDS[args.command](args)
        except BrokenPipeError:
            # `maze presets | head`: the reader has what it wanted. Point stdout at /dev/null
            # so that flushing it at exit does not fail again, and leave without a traceback.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_CLOSED_PIPE
        except ScenarioError as exc:
            print(f"maze: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        except OSError as exc:  # a write that failed outside maze's writers
            where = f" {exc.filename}" if exc.filename else ""
            print(f"maze: error: cannot write or read{where} "
                  f"({exc.strerror or exc.__class__.__name__})", file=sys.stderr)
            return EXIT_USER_ERROR
        except MemoryError:
            print("maze: error: out of memory; make the city smaller (see --max-memory)",
                  file=sys.stderr)
            return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _interrupted()
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not _interrupt_inside(exc):
            raise
        _interrupted()
        return EXIT_INTERRUPTED


def _lighter_process() -> None:
    """Make the command's process start and end cheaper, changing none of its results.

    Each setting is a default that the environment can override:

    * NumPy's BLAS starts a thread per core when NumPy is imported, each spinning for work
      a while: CPU time for nothing, as maze multiplies no large matrices (and a sweep's
      workers would share the cores with those threads). One thread
      (``OPENBLAS_NUM_THREADS``), unless NumPy is already loaded.
    * pydantic looks for plugins among the entry points of every installed package the
      first time it builds a model; maze uses none (``PYDANTIC_DISABLE_PLUGINS``).
    * At exit Python searches every object left for reference cycles, several times: with
      pandas and pyarrow loaded, about 0.1 s of CPU whatever the city. The objects are
      frozen out of those searches (``gc.freeze``) once the exit handlers start, since the
      process ends anyway.
    """
    global _EXIT_FROZEN
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if "pydantic" not in sys.modules:
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if not _EXIT_FROZEN:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _EXIT_FROZEN = True


_EXIT_FROZEN = False


def _import_models() -> None:
    """Import the scenario and mechanism models with Ctrl-C held back.

    pydantic builds a model's schema in compiled code, which turns a KeyboardInterrupt
    into a SchemaError; held back here, a Ctrl-C arrives right after, as itself.
    """
    import signal

    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        import maze.scenario  # noqa: F401
        import offices

        offices._load_all()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _interrupt_inside(exc: BaseException) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt that a library wrapped in another error."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _interrupted() -> None:
    """Say so in one line; a second Ctrl-C while saying it changes nothing.

    Python (``python -m``) ends a process by SIGINT, not by its exit status, when the
    last code it compiled from a string (``exec``/``eval`` of text: dataclasses,
    namedtuple, pydantic's annotations) ended in a KeyboardInterrupt, even one caught
    later, as here. Running one more string clears that mark, so the status is 130.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exec("")  # a constant: no text from outside is run
    try:
        print("maze: interrupted; nothing partial was left behind", file=sys.stderr)
    except (OSError, ValueError):
        pass


def run() -> None:
    """The ``maze`` command: :func:`main` on the command line, then exit with its status.

    Once the command has finished, a Ctrl-C while the interpreter shuts down is ignored:
    Python restores the default action of SIGINT as it finalizes, which would end a
    process whose work is done by the signal, with no message. (Not in :func:`main`, which
    tests and scripts call in their own process.)
    """
    status = main()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    run()
