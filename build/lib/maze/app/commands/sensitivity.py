"""``maze sensitivity CITY``: which declared assumptions move the results (Morris, then Sobol)."""

from __future__ import annotations

import argparse
from pathlib import Path

from maze.app.cli import at_least, positive
from maze.app.commands import batch_options
from maze.sensitivity import SOBOL_MIN_N


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "sensitivity", help="global sensitivity of a city's results to its declared ranges",
        description="Morris screening over a city's declared uncertainty ([uncertainty] table; "
                    "see maze assumptions), then Sobol indices for the leading assumptions. "
                    "Each run is stored as it finishes under OUT/; the same command again "
                    "resumes. Writes OUT/morris.parquet, OUT/sobol.parquet, OUT/runs.parquet "
                    "and OUT/sensitivity.html.")
    batch_options.add(p, "sensitivity")
    p.add_argument("--keys", help="comma-separated assumption keys to vary (default: all "
                                  "declared)")
    p.add_argument("--trajectories", type=_two_or_more, default=10,
                   help="Morris trajectories (default 10; runs = trajectories x (keys + 2))")
    p.add_argument("--levels", type=_two_or_more, default=4,
                   help="Morris grid levels (default 4)")
    p.add_argument("--replications", type=positive, default=1,
                   help="seeds per design point, averaged (default 1)")
    p.add_argument("--sobol", type=int, default=0, metavar="K",
                   help="Sobol indices for the K leading assumptions by mu* on the first "
                        "measure (default 0: none)")
    p.add_argument("--sobol-n", type=_power_of_two, default=512, metavar="N",
                   help="Saltelli base sample (a power of 2; runs = N x (K + 2); default 512; "
                        f"below {SOBOL_MIN_N} the indices are a smoke test only)")
    return {"sensitivity": cmd_sensitivity}


#: Morris needs two trajectories to compare and two levels to step between.
_two_or_more = at_least(2)


def _power_of_two(text: str) -> int:
    """Saltelli's base sample: Sobol' points keep their balance only at powers of 2."""
    n = positive(text)
    if n & (n - 1):
        raise argparse.ArgumentTypeError(f"must be a power of 2 (got {n})")
    return n


def cmd_sensitivity(args: argparse.Namespace) -> int:
    import functools

    from maze.app import sensitivity

    chosen = {"keys": batch_options.names(args.keys), "trajectories": args.trajectories,
              "sobol_top": args.sobol}
    study = functools.partial(sensitivity.study, levels=args.levels,
                              replications=args.replications, sobol_n=args.sobol_n, **chosen)
    return batch_options.run(args, "sensitivity", study, _summary,
                             ("morris", "sobol", "morris.parquet", "sobol.parquet", "runs.parquet",
                              "study.json", "sensitivity.html"),
                             check=functools.partial(sensitivity.check, **chosen))


def _summary(result, out: Path, seconds: float) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for measure, m in result.morris.groupby("measure", sort=False):
        t = Table(title=f"{measure}: leading assumptions (Morris)")
        for c in ("rank", "key", "mu*", "± 95%", "sigma", "clears noise"):
            t.add_column(c, justify="left" if c == "key" else "right", overflow="fold")
        for row in m.head(8).itertuples():
            t.add_row(str(row.rank), row.key, f"{row.mu_star:.4g}", f"{row.mu_star_conf:.2g}",
                      f"{row.sigma:.4g}", "yes" if row.above_noise else "no")
        console.print(t)
    for measure, s in result.sobol.groupby("measure", sort=False):
        t = Table(title=f"{measure}: Sobol indices (leading assumptions)")
        for c in ("rank", "key", "S1", "± 95%", "ST", "± 95% "):
            t.add_column(c, justify="left" if c == "key" else "right", overflow="fold")
        for row in s.itertuples():
            t.add_row(str(row.rank), row.key, f"{row.S1:.3g}", f"{row.S1_conf:.2g}",
                      f"{row.ST:.3g}", f"{row.ST_conf:.2g}")
        console.print(t)
    st = result.settings
    for note in st.get("warnings", []):
        console.print(f"[bold]warning:[/bold] {note}", style="yellow", markup=True)
    console.print(f"{st['morris_runs'] + st['sobol_runs']} runs in {seconds:.1f} s; results in "
                  f"{out}/ (morris.parquet, sobol.parquet, runs.parquet, study.json, "
                  "sensitivity.html)")
