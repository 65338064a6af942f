"""A run's folder holds what it takes to run it again: ``scenario.json`` and the seed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maze.app import api
from maze.scenario import ScenarioError, load


@pytest.mark.parametrize("preset", ["beijing", "shanghai"])
def test_the_stored_scenario_runs_the_same_again(tmp_path: Path, preset: str) -> None:
    scenario = api.load(preset=preset, overrides={"population.households": 400})
    first = api.write(api.run(scenario, 5), tmp_path / "first", report=False)
    again = load(first / "scenario.json")
    assert list(again.services) == list(scenario.services)  # the declared order is kept
    api.write(api.run(again, 5), tmp_path / "again", report=False)
    for name in ("events.parquet", "journeys.parquet", "summary.json"):
        assert (first / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_maze_run_takes_a_stored_scenario(tmp_path: Path) -> None:
    first = tmp_path / "first"
    cmd = [sys.executable, "-m", "maze.app.cli", "run", "--preset", "shanghai",
           "--households", "300", "--seed", "2", "--quiet", "--out", str(first)]
    subprocess.run(cmd, check=True, capture_output=True)
    cmd = [sys.executable, "-m", "maze.app.cli", "run", str(first / "scenario.json"),
           "--seed", "2", "--quiet", "--out", str(tmp_path / "again")]
    subprocess.run(cmd, check=True, capture_output=True)
    assert ((first / "events.parquet").read_bytes()
            == (tmp_path / "again" / "events.parquet").read_bytes())


def test_a_broken_json_scenario_is_refused_with_its_file(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.json"
    bad.write_text('{"city": ', encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid JSON") as err:
        load(bad)
    assert str(bad) in str(err.value)
    bad.write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ScenarioError, match="JSON object"):
        load(bad)
