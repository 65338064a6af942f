"""Process-mining export: PM4Py reads it and finds maze's cases and variants."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from maze import export
from maze.app import api
from maze.app.cli import main
from maze.scenario import from_dict
from tests.conftest import paper_city

pm4py = pytest.importorskip("pm4py")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "default"
    scenario = api.load(overrides={"population.households": 300})
    api.write(api.run(scenario, seed=4), out, report=False)
    return out


def _pm4py_counts(df: pd.DataFrame) -> tuple[int, dict[tuple[str, ...], int]]:
    found = pm4py.get_variants(df)
    return int(df["case:concept:name"].nunique()), {tuple(k): int(v) for k, v in found.items()}


def _read_xes(path: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "install r4pm to import faster"
        return pm4py.read_xes(str(path), show_progress_bar=False)


def test_pm4py_reads_the_xes_export_with_maze_cases_and_variants(run_dir: Path) -> None:
    assert main(["export", str(run_dir), "--format", "xes"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    log = export.process_log(pd.read_parquet(run_dir / "events.parquet"), date(2012, 6, 1))
    ours = export.variants(log)
    cases, found = _pm4py_counts(_read_xes(run_dir / "events.xes"))
    assert cases == summary["requests"] == export.counts(log)[0]
    assert len(found) == len(ours) == export.counts(log)[1]
    assert found == {k: int(v) for k, v in ours.items()}
    assert len(ours) > 5  # a maze has many paths; a trivial log would pass the rest


def test_pm4py_reads_the_csv_export_with_maze_cases_and_variants(run_dir: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    assert main(["export", str(run_dir), "--format", "csv", "--out", str(out)]) == 0
    df = pm4py.format_dataframe(pd.read_csv(out), case_id="case:concept:name",
                                activity_key="concept:name", timestamp_key="time:timestamp")
    log = export.process_log(pd.read_parquet(run_dir / "events.parquet"), date(2012, 6, 1))
    cases, found = _pm4py_counts(df)
    assert (cases, len(found)) == export.counts(log)
    assert found == {k: int(v) for k, v in export.variants(log).items()}


def test_timestamps_are_calendar_dates_from_the_start_date() -> None:
    data = paper_city(50)
    data["city"]["start_date"] = "2015-03-02"
    scenario = from_dict(data)
    run = api.run(scenario, seed=1)
    log = export.process_log(run.events, scenario.city.start_date)
    origin = pd.Timestamp("2015-03-02", tz="UTC")
    days = (log["time:timestamp"] - origin).dt.total_seconds() / 86400
    expected = run.events.sort_values("case_id", kind="stable")["time"].to_numpy()
    assert abs(days.to_numpy() - expected).max() < 1e-6
    assert (log["start_timestamp"] <= log["time:timestamp"]).all()
    assert set(log["lifecycle:transition"]) == {"complete"}
    # Within a case, events are in time order and the outcome comes last.
    for _, case in log.groupby("case:concept:name"):
        assert case["time:timestamp"].is_monotonic_increasing
        assert case["concept:name"].iloc[-1] in ("served", "alternative", "sent_away",
                                                 "gave_up", "denied", "deterred", "pending")


def test_hostile_names_give_well_formed_xes(tmp_path: Path) -> None:
    data = paper_city(40)
    data["offices"][1]["name"] = 'street "office" <&> \x01'
    data["documents"]["address"]["issuer"] = data["offices"][1]["name"]
    scenario = from_dict(data)
    run = api.run(scenario, seed=0)
    log = export.process_log(run.events, scenario.city.start_date)
    export.write_xes(log, tmp_path / "x.xes")
    root = ET.parse(tmp_path / "x.xes").getroot()
    ns = "{http://www.xes-standard.org/}"
    traces = root.findall(f"{ns}trace")
    assert len(traces) == run.journeys.shape[0]
    names = {e.get("value") for e in root.iter(f"{ns}string") if e.get("key") == "org:resource"}
    assert 'street "office" <&> \ufffd' in names


def test_export_refuses_what_is_not_a_finished_run(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing")]) == 2
    (tmp_path / "half").mkdir()
    assert main(["export", str(tmp_path / "half")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("maze: error: ") for line in err)
    assert "not a finished run folder" in err[1]
