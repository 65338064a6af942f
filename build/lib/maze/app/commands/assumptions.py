"""``maze assumptions PRESET``: the numbers a city assumes, with their plausible ranges and why."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from maze.scenario import Scenario


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "assumptions", help="list a city's assumed numbers with their plausible ranges",
        description="List the declared uncertainty of a preset or scenario file (its "
                    "[uncertainty] table): each assumed number's key, value, plausible range "
                    "and why. These are the ranges maze sensitivity and maze calibrate draw from.")
    p.add_argument("city", help="a preset name (see maze presets) or a scenario file (.toml)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (default), csv or json on standard output")
    return {"assumptions": cmd_assumptions}


def load_city(city: str) -> Scenario:
    """A preset by name, or a scenario file (a path, or a name ending in .toml)."""
    from maze.app import api

    if city.endswith((".toml", ".json")) or "/" in city or Path(city).is_file():
        return api.load(path=city)
    return api.load(preset=city)


def rows(scenario: Scenario, source: str) -> list[dict[str, Any]]:
    """One row per declared assumption: key, value, low, high, dist, integer, why, source."""
    from maze import uncertainty

    out = []
    for a in uncertainty.declared(scenario, source=source):
        out.append({"key": a.key, "value": a.value, "low": a.low, "high": a.high,
                    "values": list(a.values) if a.values is not None else None,
                    "dist": a.dist, "integer": a.integer, "range": a.describe_range(),
                    "why": a.why, "source": a.source})
    return out


def cmd_assumptions(args: argparse.Namespace) -> int:
    scenario = load_city(args.city)
    table = rows(scenario, args.city)
    if args.format == "json":
        json.dump(table, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if args.format == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=["key", "value", "low", "high", "dist",
                                                   "integer", "why", "source"],
                           extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in table:
            w.writerow({**r, "value": json.dumps(r["value"]) if isinstance(
                r["value"], list | bool) else r["value"],
                "low": "" if r["low"] is None else r["low"],
                "high": "" if r["high"] is None else r["high"], "source": r["source"] or ""})
        return 0
    from rich.console import Console
    from rich.table import Table

    from maze.uncertainty import show

    t = Table(title=f"{scenario.city.name}: {len(table)} declared assumptions")
    for col, kw in (("key", {"overflow": "fold"}), ("value", {"justify": "right"}),
                    ("plausible range", {}), ("why", {"overflow": "fold"})):
        t.add_column(col, **kw)
    for r in table:
        t.add_row(r["key"], show(r["value"]), r["range"], r["why"])
    Console().print(t)
    if not table:
        print(f"{args.city} declares no [uncertainty] table", file=sys.stderr)
    return 0
