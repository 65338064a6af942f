"""``maze export``: a run's event log for process-mining tools (XES or CSV)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from maze.scenario import ScenarioError


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "export", help="write a run's event log as XES or CSV for process-mining tools",
        description="Write the event log of a finished run (a folder written by `maze run`) in "
                    "the process-mining convention: case:concept:name (one request), "
                    "concept:name ('office: verdict', or the outcome), time:timestamp (from the "
                    "city's start date), org:resource (the office), lifecycle:transition and "
                    "start_timestamp (arrival at the counter). Prints the number of cases and "
                    "variants (distinct sequences of activities).",
        epilog="Optional tools: PM4Py (pip install pm4py; part of maze's [dev] extras) reads "
               "both formats and mines variants, Petri nets and process trees with nothing "
               "else. Drawing a process map or a Petri net as a picture (pm4py.view_* and "
               "pm4py.save_vis_*) also needs the Graphviz program `dot`, which pip does not "
               "install: `apt install graphviz` (Debian, Ubuntu), `brew install graphviz` "
               "(macOS). Without it PM4Py still mines; only drawing fails.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `maze run`")
    p.add_argument("--format", choices=["xes", "csv"], default="xes", help="default: xes")
    p.add_argument("--out", metavar="FILE", help="default: RUN_DIR/events.xes or events.csv")
    return {"export": cmd_export}


def cmd_export(args: argparse.Namespace) -> int:
    import pandas as pd

    from maze import export, outputs, storage

    run = Path(args.run_dir)
    if not run.is_dir():
        raise ScenarioError("no such folder", source=str(run))
    if not storage.is_complete(run):
        raise ScenarioError("not a finished run folder (no summary.json); run `maze run` first",
                            source=str(run))
    try:
        scenario = json.loads((run / "scenario.json").read_text(encoding="utf-8"))
        start = date.fromisoformat(scenario["city"]["start_date"])
        events = pd.read_parquet(run / "events.parquet")
    except FileNotFoundError as exc:
        raise ScenarioError(f"missing {Path(exc.filename).name}", source=str(run)) from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ScenarioError(f"cannot read the run's scenario.json or events.parquet ({exc})",
                            source=str(run)) from None
    out = Path(args.out) if args.out else run / f"events.{args.format}"
    # Refused before the work: a file maze did not write, a folder, no room (~200 bytes of
    # XES per event, less for CSV).
    outputs.check_file(out, estimate_bytes=len(events) * 200)
    log = export.process_log(events, start)
    writer = export.write_xes if args.format == "xes" else export.write_csv
    storage.atomic_file(out, lambda tmp: writer(log, tmp), export=True)
    cases, variants = export.counts(log)
    print(f"{out}: {len(log):,} events, {cases:,} cases, {variants:,} variants")
    return 0
