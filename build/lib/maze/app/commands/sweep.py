"""``maze sweep``: run an experiment file over local processes or a Dask cluster.

Finished runs are stored one by one as they arrive, so the same command run again
after an interruption picks up where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from maze.app.cli import positive

if TYPE_CHECKING:
    import pandas as pd

EXIT_USER_ERROR = 2
EXIT_RUNS_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "sweep", help="run an experiment: one city over a grid of levers and replications",
        description="Run every setting of an experiment file with independent seeds, store each "
                    "finished run at once under OUT/runs/, then write OUT/runs.parquet (one row "
                    "per run), OUT/groups.parquet (one row per run and group) and OUT/sweep.html. "
                    "Run the same command again to resume an interrupted sweep.")
    p.add_argument("experiment", help="experiment TOML file (see docs/reference/experiments.md)")
    p.add_argument("--out", help="output folder (default sweeps/<experiment name>/)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive, metavar="N",
                       help="start a local Dask cluster of N worker processes "
                            "(default: local processes on every core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on an existing Dask cluster (its workers need maze installed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="refuse a sweep whose runs side by side are estimated to need more "
                        "memory than this (e.g. 8G; default 80%% of the machine's RAM, or "
                        "$MAZE_MAX_MEMORY)")
    return {"sweep": cmd_sweep}


def cmd_sweep(args: argparse.Namespace) -> int:
    from maze.app import sweep as sw

    exp = sw.load_experiment(args.experiment)  # every setting validated before anything runs
    from maze import outputs

    out = Path(args.out) if args.out else outputs.default_folder("sweeps", exp.name)
    # a folder maze may not write is refused now, not after the runs; it is created only
    # once the sweep's other checks (memory) pass, so refused input leaves nothing behind
    outputs.check_folder(out, "sweep", replace=False)
    started = time.perf_counter()
    try:
        result = run(exp, out, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet,
                     max_memory=args.max_memory)
    except sw.SweepError as exc:
        print(f"maze: error: {exc}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    if not args.quiet:
        _print_summary(result, out, time.perf_counter() - started)
    return 0


def run(exp, out: Path, workers: int | None = None, scheduler: str | None = None,  # noqa: ANN001
        quiet: bool = False, max_memory: int | str | None = None):  # noqa: ANN201
    """A sweep with a progress bar, as the command runs it (experiment scripts use it too).

    Without ``workers`` or ``scheduler`` the runs go to local processes on every core;
    with either, to a Dask cluster (a new local one of ``workers`` processes, or the
    running one at ``scheduler``).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from maze.app import sweep as sw

    console = Console(stderr=True, quiet=quiet)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=quiet or not console.is_terminal) as bar:  # no stray blank line
        task = bar.add_task(f"sweeping {exp.name}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        dask = bool(scheduler or workers)
        return sw.sweep(exp, out, executor="dask" if dask else "processes", workers=workers,
                        scheduler=scheduler, progress=progress, max_memory=max_memory)


def run_script(experiment: Path, out: Path, description: str,
               argv: list[str] | None = None):  # noqa: ANN201 - (SweepResult, Namespace)
    """What an experiment script does before its own tables: options, the file, the sweep.

    The scripts in ``experiments/`` share their command line (``--workers``,
    ``--scheduler``, ``--replications``, ``--quiet``) and store their runs in ``out/sweep``.
    """
    import dataclasses

    from maze.app import sweep as sw

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of N processes")
    p.add_argument("--scheduler", help="run on the Dask cluster at this address")
    p.add_argument("--replications", type=int, help="replications per setting (default: "
                                                     "the experiment file's)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    exp = sw.load_experiment(experiment)
    if args.replications:
        exp = dataclasses.replace(exp, replications=args.replications)
    result = run(exp, out / "sweep", workers=args.workers, scheduler=args.scheduler,
                 quiet=args.quiet)
    return result, args


def write_script_tables(out: Path, table: pd.DataFrame,
                        figure: Callable[[pd.DataFrame, Path, int], None],
                        replications: int) -> None:
    """An experiment script's own table (``table.csv``) and figure (``figure.html``) beside
    its sweep, each written atomically; ``figure(table, path, replications)`` draws it."""
    from maze import storage

    storage.atomic_file(out / "table.csv",
                        lambda f: table.to_csv(f, index=False, float_format="%.4f"))
    storage.atomic_file(out / "figure.html", lambda f: figure(table, f, replications))


#: The summary's measures: column of runs.parquet, header, format.
SUMMARY = (("served_share", "served", "{:.1%}"), ("alternative_share", "alternative", "{:.1%}"),
           ("sent_away_share", "sent away", "{:.1%}"), ("gave_up_share", "gave up", "{:.1%}"),
           ("median_days_to_service_among_served", "median days (served)", "{:.1f}"),
           ("mean_visits", "visits", "{:.1f}"))
#: A setting's key longer than this is shown as a letter, spelled out under the table.
LONGEST_LABEL = 12


def _print_summary(result, out: Path, seconds: float) -> None:  # noqa: ANN001
    from rich.console import Console

    console = Console()
    for line in summary_lines(result, console.width):
        console.print(line)
    console.print(f"{len(result.runs)} runs ({result.computed} computed, {result.reused} already "
                  f"stored) in {seconds:.1f} s; results in {out}/ (runs.parquet, groups.parquet, "
                  "sweep.html)")


def summary_lines(result, width: int) -> list:  # noqa: ANN001
    """The summary table of a sweep, readable in ``width`` columns: one row per setting in
    the experiment's order, a long key is a letter spelled out below, no header word is cut,
    and measures that do not fit beside the settings go to a second table with the same
    rows. A key whose value the runs' tags (``[[runs]]`` labels) determine is left to
    runs.parquet: the tags stand for it. A result without runs is one line saying so."""
    from rich.table import Table

    exp = result.experiment
    runs = result.runs
    if runs.empty:
        return [f"{exp.name}: no runs, so no means to show"]
    varied = [c for c in (*exp.tags, *exp.parameters) if runs[c].nunique(dropna=False) > 1]
    if exp.lever in varied:
        varied.remove(exp.lever)
        varied.insert(0, exp.lever)
    tags = [c for c in varied if c in exp.tags]
    keys = varied or ([exp.x] if exp.x else [])
    # a key the tags determine (each tag value sets one value of it) is left out
    by_tag = runs.groupby(tags, dropna=False) if tags else None
    left = [k for k in keys if by_tag is not None and k not in tags
            and int(by_tag[k].nunique(dropna=False).max()) <= 1]
    keys = [k for k in keys if k not in left]
    cols = [c for c, _, _ in SUMMARY]
    means = (runs.groupby(keys, sort=False, dropna=False)[cols].mean().reset_index()
             if keys else runs[cols].mean().to_frame().T)
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    labels = {k: k if len(k) <= LONGEST_LABEL else next(letters, k) for k in keys}
    # a setting that leaves a key as the base city has it has no value there
    cells = {k: ["(base)" if v is None or v != v else str(v) for v in means[k]] for k in keys}
    for c, _, fmt in SUMMARY:
        cells[c] = ["—" if v != v else fmt.format(v) for v in means[c]]
    header = {**labels, **{c: h for c, h, _ in SUMMARY}}

    def inside(c: str) -> int:  # a column's text: its longest header word or cell
        wide = max([*(len(w) for w in header[c].split()), *(len(x) for x in cells[c])])
        return min(wide, max(width // 3 - 3, 4)) if c in labels else wide

    # each column takes its text, a space either side and a rule; the table one more rule
    beside = 1 + sum(inside(k) + 3 for k in keys)
    chunks: list[list[str]] = [[]]
    room = width - beside
    for c in cols:
        if chunks[-1] and inside(c) + 3 > room:
            chunks.append([])
            room = width - beside
        chunks[-1].append(c)
        room -= inside(c) + 3
    lines: list = []
    for i, chunk in enumerate(chunks):
        part = f" ({i + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        t = Table(title=f"{exp.name}: means over {exp.replications} replication(s){part}")
        for k in keys:
            t.add_column(labels[k], overflow="fold", width=inside(k))
        for c in chunk:
            t.add_column(header[c], justify="right", width=inside(c))
        for r in range(len(means)):
            t.add_row(*(cells[k][r] for k in keys), *(cells[c][r] for c in chunk))
        lines.append(t)
    lines += [f"{label} = {k}" for k, label in labels.items() if label != k]
    if left:
        lines.append(f"each {', '.join(tags)} sets {', '.join(left)} (runs.parquet)")
    lines.append("served, alternative, sent away, gave up: shares of all requests ending so; "
                 "median days (served): days to the service, among those served; visits: mean "
                 "visits of a request tried (runs.parquet: " + ", ".join(cols) + ")")
    return lines
