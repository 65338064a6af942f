"""``maze ablate CITY``: what each deflection mechanism does, by switching it off."""

from __future__ import annotations

import argparse
from pathlib import Path

from maze.app.cli import positive
from maze.app.commands import batch_options


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "ablate", help="switch each mechanism of a city off and measure the difference",
        description="Run a city as written and with each deflection mechanism switched off "
                    "(its [mechanisms] tables, and the built-in documents, deadline and "
                    "referrals), with the same seeds, and report each effect with an interval "
                    "over seeds and, with --draws, over points drawn from the declared ranges. "
                    "A mechanism that changes no event is listed with the reason found. Runs "
                    "are stored under OUT/ and resumed. Writes OUT/ablation.parquet, "
                    "OUT/inert.parquet and OUT/runs.parquet.")
    batch_options.add(p, "ablation")
    p.add_argument("--mechanisms", help="comma-separated mechanisms (default: all the city has)")
    p.add_argument("--replications", type=positive, default=5,
                   help="seeds per variant (default 5)")
    p.add_argument("--draws", type=int, default=0, metavar="N",
                   help="also run every variant at N points drawn from the declared ranges "
                        "(default 0)")
    return {"ablate": cmd_ablate}


def cmd_ablate(args: argparse.Namespace) -> int:
    import functools

    from maze.app import ablation

    chosen = {"mechanisms": batch_options.names(args.mechanisms), "draws": args.draws}
    study = functools.partial(ablation.ablate, replications=args.replications, **chosen)
    return batch_options.run(args, "ablation", study, _summary,
                             ("runs-store", "ablation.parquet", "inert.parquet", "runs.parquet",
                              "ablation.json"),
                             check=functools.partial(ablation.check, **chosen))


def _summary(result, out: Path, seconds: float) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console()
    st = result.settings
    for measure, e in result.effects.groupby("measure", sort=False):
        t = Table(title=f"{measure}: switched off minus as written ({st['replications']} seeds"
                        + (f", {st['draws']} parameter draws" if st["draws"] else "") + ")")
        for c in ("mechanism", "as written", "off", "effect", "95% over seeds",
                  *(("5-95% over parameters",) if st["draws"] else ())):
            t.add_column(c, justify="left" if c == "mechanism" else "right")
        for r in e.itertuples():
            t.add_row(r.mechanism, f"{r.as_written:.4g}", f"{r.switched_off:.4g}",
                      f"{r.effect:+.4g}", f"{r.seed_low:+.3g} to {r.seed_high:+.3g}",
                      *((f"{r.param_low:+.3g} to {r.param_high:+.3g}",) if st["draws"]
                        else ()))
        console.print(t)
    for r in result.inert.itertuples():
        console.print(f"[bold]{r.mechanism}[/bold] changes nothing: {r.reason}")
    console.print(f"{len(result.runs)} runs in {seconds:.1f} s; results in {out}/ "
                  "(ablation.parquet, inert.parquet, runs.parquet)")
