"""Storing a batch: one folder per finished run, written whole or not at all.

``OUT/runs/<id>/`` holds ``run.json`` (what was asked), ``groups.json``, any kept
tables, ``scenario.json`` and, written last, the summary that marks the run complete.
Running the same batch again skips what is stored, so an interrupted batch resumes
without recomputing or losing a finished run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from maze import storage
from maze.batch.plan import FORMAT, Experiment, Point, RunSpec


def store_run(out: Path, spec: RunSpec, point: Point, payload: Mapping[str, Any],
              code: str) -> None:
    """Write one finished run whole (summary.json last) or not at all."""
    folder = out / "runs" / spec.run_id
    with storage.atomic_folder(folder) as tmp:
        storage.write_json({"run": spec.run_id, "parameters": point.overrides,
                            "tags": point.tags, "replication": spec.replication,
                            "seed": spec.seed, "code": code, "format": FORMAT},
                           tmp / "run.json")
        storage.write_json(payload["groups"], tmp / "groups.json")
        for name, df in payload.get("tables", {}).items():
            storage.write_parquet(df, tmp / f"{name}.parquet")
        (tmp / "scenario.json").write_text(  # declared order: it must run the same again
            json.dumps(point.scenario.model_dump(mode="json", by_alias=True), indent=2)
            + "\n", encoding="utf-8")
        storage.write_json(payload["summary"], tmp / storage.MARKER)


def finished(folder: Path, by: Sequence[str], keep: Sequence[str]) -> bool:
    """A run counts as done when it was stored whole and holds what this batch asks."""
    if not storage.is_complete(folder):
        return False
    if any(not (folder / f"{name}.parquet").is_file() for name in keep):
        return False
    try:
        have = {row["by"] for row in json.loads((folder / "groups.json").read_text("utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return set(by) <= have


def write_experiment(out: Path, exp: Experiment) -> None:
    """``OUT/experiment.json``: the batch as planned (settings, seeds, grouping)."""
    data = {"name": exp.name, "source": exp.source, "base": exp.base,
            "replications": exp.replications, "seed": exp.seed, "seeds": exp.seeds,
            "by": list(exp.by), "lever": exp.x, "parameters": list(exp.parameters),
            "tags": list(exp.tags),
            "points": [{"overrides": p.overrides, "tags": p.tags} for p in exp.points]}
    storage.atomic_file(out / "experiment.json",
                        lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n",
                                               encoding="utf-8"))


def load_record(out: Path | None, records: Mapping[str, dict[str, Any]],
                run: str) -> dict[str, Any]:
    """A finished run's summary and group rows: from its folder, or from memory."""
    if out is None:
        return records[run]
    folder = out / "runs" / run
    return {"summary": json.loads((folder / storage.MARKER).read_text("utf-8")),
            "groups": json.loads((folder / "groups.json").read_text("utf-8"))}


def remember(records: dict[str, dict[str, Any]], run: str, payload: Mapping[str, Any]) -> None:
    """Keep a run in memory through the same JSON round trip as a stored run, so both
    give the same table."""
    records[run] = json.loads(json.dumps(
        {"summary": payload["summary"], "groups": payload["groups"]}, allow_nan=False))
