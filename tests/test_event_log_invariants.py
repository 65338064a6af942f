"""What every events.parquet must satisfy, whatever the city: each case has one request row
first and one outcome row last, rows are in order of time, and at one instant requests
come before counter rows and outcomes after them.

The request and outcome rows are written from the requests when the table is built, not
as the run goes, so these invariants are checked here on the written file, over every
preset under each regime, on the Beijing closure (holdouts forced out, movers, households
admitted after the notice), in lines where patience runs out, and on the edge cases: no
household at all, everybody deterred, requests still open at the horizon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from maze.app import api
from maze.eventlog import COLUMNS, OUTCOMES, VISIT_ACTIVITIES
from maze.scenario import Scenario, from_dict
from offices import presets
from tests.conftest import queue_city

SEEDS = (0, 1)
HOUSEHOLDS = 300
#: Beijing's Fengtai closure falls on day 485, after the preset's horizon: run past it.
CLOSURE = {"city.horizon": 700.0}
BEIJING_GROUPS = ("informal_worker", "factory_worker", "construction_worker", "graduate",
                  "local")


def _written(scenario: Scenario, seed: int, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = api.write(api.run(scenario, seed), out, report=False)
    return pd.read_parquet(folder / "events.parquet"), pd.read_parquet(folder / "journeys.parquet")


def check_event_log(ev: pd.DataFrame, j: pd.DataFrame, horizon: float) -> dict[str, Any]:
    """Assert the invariants of one run's tables; return a few counts for the caller."""
    assert set(COLUMNS) <= set(ev.columns)
    activity = ev["activity"].astype(str).to_numpy()
    case = ev["case_id"].to_numpy()
    time = ev["time"].to_numpy()
    n = len(ev)
    is_request = activity == "request"
    is_outcome = np.isin(activity, OUTCOMES)
    assert np.isin(activity[~is_request & ~is_outcome], VISIT_ACTIVITIES).all()
    # Rows in order of time; at one instant requests, then counter rows, then outcomes.
    kind = np.where(is_request, 0, np.where(is_outcome, 2, 1))
    assert (np.diff(time) >= 0).all()
    same = np.diff(time) == 0
    assert (np.diff(kind)[same] >= 0).all()
    # One request row and one outcome row per case, first and last of its rows.
    cases, first = np.unique(case, return_index=True)
    last = n - 1 - np.unique(case[::-1], return_index=True)[1]
    assert np.array_equal(np.bincount(np.searchsorted(cases, case[is_request]),
                                      minlength=len(cases)), np.ones(len(cases)))
    assert np.array_equal(np.bincount(np.searchsorted(cases, case[is_outcome]),
                                      minlength=len(cases)), np.ones(len(cases)))
    assert is_request[first].all() and is_outcome[last].all()
    # A case is one household asking for one service.
    per_case = ev.groupby("case_id", observed=True)
    assert (per_case["household_id"].nunique() == 1).all()
    assert (per_case["service"].nunique() == 1).all()
    # The outcome column speaks only on outcome rows, and says the activity there.
    outcome = ev["outcome"].astype(str).to_numpy()
    assert (outcome[is_outcome] == activity[is_outcome]).all()
    assert (outcome[~is_outcome] == "").all()
    # Counter rows: the household arrived, waited, and the row is written when it left.
    visit = ~is_request & ~is_outcome
    start, wait = ev["start"].to_numpy()[visit], ev["wait"].to_numpy()[visit]
    assert (wait >= 0).all()
    assert (start + wait <= time[visit] + 1e-9).all()
    assert (time[visit] < horizon).all()
    # Open requests end at the horizon; nothing else happens after it.
    pending = activity == "pending"
    assert (time[pending] == horizon).all()
    assert (time <= horizon).all()
    # The journeys table has one row per case, with the outcome row's outcome and times.
    j = j.set_index("case_id").loc[cases]
    assert len(j) == len(cases)
    assert (j["outcome"].astype(str).to_numpy() == activity[last]).all()
    assert np.array_equal(j["start"].to_numpy(), time[first])
    assert np.array_equal(j["end"].to_numpy(), time[last])
    return {"cases": len(cases), "rows": n, "pending": int(pending.sum()),
            "leave": int((activity == "leave").sum()),
            "deterred": int((activity == "deterred").sum())}


RUNS = [(name, {"city.regime": regime}) for name in presets.names()
        for regime in ("deflect", "deny", "provide")]
RUNS += [
    ("beijing", CLOSURE),
    ("beijing", {**CLOSURE, "mechanisms.withdrawal.move": 0.3,
                 "mechanisms.withdrawal.alternatives": ["hometown"],
                 "mechanisms.withdrawal.admits_after_notice": True}),
    # Patience of a few days: households leave lines, and shut offices, unseen.
    ("beijing", {**CLOSURE, **{f"population.groups.{g}.attributes.patience_days": 4.0
                               for g in BEIJING_GROUPS}}),
]


@pytest.mark.parametrize(("preset", "changes"), RUNS,
                         ids=[f"{p}-{'-'.join(f'{k}={v}' for k, v in c.items())[:60]}"
                              for p, c in RUNS])
def test_every_case_has_one_request_first_and_one_outcome_last(
        tmp_path: Path, preset: str, changes: dict[str, Any]) -> None:
    scenario = api.load(preset=preset,
                        overrides={"population.households": HOUSEHOLDS, **changes})
    for seed in SEEDS:
        ev, j = _written(scenario, seed, tmp_path / f"run-{seed}")
        counts = check_event_log(ev, j, scenario.city.horizon)
        assert counts["cases"] > HOUSEHOLDS / 2  # the city was asked for something


def test_the_closure_cases_start_at_the_closing_school(tmp_path: Path) -> None:
    """A case the Fengtai notice opens: its request row at the minban school, then the
    refusal on closure at the same instant, and its outcome no earlier."""
    scenario = api.load(preset="beijing",
                        overrides={"population.households": HOUSEHOLDS, **CLOSURE})
    ev, j = _written(scenario, 0, tmp_path / "run")
    check_event_log(ev, j, scenario.city.horizon)
    notice = scenario.mechanisms["withdrawal"]["notice"]
    requests = ev[ev["activity"] == "request"]
    opened = requests[requests["office"] == "minban_school"]
    assert len(opened) > 10 and (opened["time"] == notice).all()
    for _, rows in ev[ev["case_id"].isin(opened["case_id"])].groupby("case_id"):
        acts = rows["activity"].astype(str).tolist()
        assert acts[:2] == ["request", "refuse"]
        assert rows["reason"].astype(str).iloc[1] == "closure"
        assert rows["time"].iloc[1] == notice
    # Each displaced household had its earlier case placed at the school before the notice.
    placed = j[(j["outcome"] == "alternative") & (j["last_office"] == "minban_school")]
    assert set(opened["household_id"]) <= set(placed["household_id"])
    outcomes = j.set_index("case_id").loc[opened["case_id"], "outcome"].astype(str)
    assert {"sent_away", "gave_up"} <= set(outcomes)  # early leavers and forced-out holdouts


def test_a_run_with_no_request_writes_empty_tables(tmp_path: Path) -> None:
    data = queue_city(rate=1e-6, horizon=10.0)
    scenario = from_dict(data)
    ev, j = _written(scenario, 0, tmp_path / "run")
    assert len(ev) == 0 and len(j) == 0
    assert set(COLUMNS) <= set(ev.columns)
    check_event_log(ev, j, scenario.city.horizon)


def test_deterred_requests_are_a_request_and_an_outcome_at_one_instant(tmp_path: Path) -> None:
    data = queue_city(rate=2.0, horizon=30.0)
    data["population"]["groups"][0]["attributes"]["willingness"] = 0.0
    scenario = from_dict(data)
    ev, j = _written(scenario, 0, tmp_path / "run")
    counts = check_event_log(ev, j, scenario.city.horizon)
    assert counts["deterred"] == counts["cases"] > 20
    assert len(ev) == 2 * counts["cases"]
    assert (j["visits"] == 0).all() and (j["days_to_outcome"] == 0).all()


def test_requests_open_at_the_horizon_end_there_after_their_rows(tmp_path: Path) -> None:
    """An overloaded office: many are still in line, or at a counter, when the run stops."""
    data = queue_city(rate=3.0, mean_service=1.0, clerks=1, horizon=40.0)
    scenario = from_dict(data)
    ev, j = _written(scenario, 2, tmp_path / "run")
    counts = check_event_log(ev, j, scenario.city.horizon)
    assert counts["pending"] > 30
    # Some were served at the very instant another's request was made or ended: ties kept
    # in the order of kinds (checked above) with more than one case at one instant.
    assert ev["time"].duplicated().any()


def test_leaving_shut_and_crowded_offices_keeps_the_log_in_order(tmp_path: Path) -> None:
    """Patience ending in a line, at a shut office and while a clerk waits for the opening,
    with fallbacks tried after: the same invariants, and leave rows within patience."""
    data = queue_city(rate=2.5, mean_service=1.0, clerks=2, horizon=80.0)
    data["offices"][0]["calendar"] = {"weekdays": [0, 1, 2, 3, 4],
                                      "closures": [[20.0, 35.0]]}
    data["offices"].append({"name": "private", "role": "alternative", "clerks": 1,
                            "service_time": {"dist": "constant", "value": 0.1}})
    data["services"]["ask"]["fallback"] = ["private"]
    data["population"]["groups"][0]["attributes"]["patience_days"] = 3.0
    scenario = from_dict(data)
    for seed in SEEDS:
        ev, j = _written(scenario, seed, tmp_path / f"run-{seed}")
        counts = check_event_log(ev, j, scenario.city.horizon)
        assert counts["leave"] > 20
        asked = ev[ev["activity"] == "request"].set_index("case_id")["time"]
        left = ev[ev["activity"] == "leave"]
        assert (left["time"].to_numpy()
                <= asked.loc[left["case_id"]].to_numpy() + 3.0 + 1e-9).all()
        assert (j["outcome"] == "alternative").any()


_RUN_IN_A_PROCESS = """
import json, sys
from maze.app import api
changes = json.loads(sys.argv[2])
api.write(api.run(api.load(preset="beijing", overrides=changes), 4), sys.argv[1], report=False)
"""


def test_the_closure_and_leaving_lines_give_the_same_bytes_in_two_processes(
        tmp_path: Path) -> None:
    """Beijing past its closure, with patience short enough that households leave lines and
    shut offices: two processes (different string hashing) write identical tables."""
    changes = {"population.households": 600, **CLOSURE,
               **{f"population.groups.{g}.attributes.patience_days": 4.0
                  for g in BEIJING_GROUPS}}
    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", _RUN_IN_A_PROCESS, str(tmp_path / name),
                        json.dumps(changes)], check=True, capture_output=True, timeout=300,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
    ev = pd.read_parquet(tmp_path / "a" / "events.parquet")
    assert (ev["activity"] == "leave").sum() > 20 and (ev["reason"] == "closure").sum() > 20
    for name in ("events.parquet", "journeys.parquet", "households.parquet", "summary.json"):
        assert ((tmp_path / "a" / name).read_bytes()
                == (tmp_path / "b" / name).read_bytes()), name


@pytest.mark.parametrize("horizon", [838.027, 354.438])
def test_what_falls_on_the_horizon_is_outside_the_run(tmp_path: Path, horizon: float) -> None:
    """The run covers the days before its horizon, whatever the horizon's digits: the run
    goes in steps of horizon * i / 50, and 838.027 * 50 / 50 is a little above 838.027
    (354.438 * 50 / 50 a little below). A notice posted on the horizon itself opens no case."""
    scenario = api.load(preset="beijing", overrides={
        "population.households": HOUSEHOLDS, "city.horizon": horizon,
        "mechanisms.withdrawal.notice": horizon})
    ev, j = _written(scenario, 0, tmp_path / "run")
    check_event_log(ev, j, horizon)
    on_the_horizon = ev[ev["time"] == horizon]
    assert set(on_the_horizon["activity"].astype(str)) <= {"pending"}
