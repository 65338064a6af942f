"""Cities too big to simulate are refused before anything is drawn, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from maze.scenario import (
    MAX_CLERKS,
    MAX_HORIZON_DAYS,
    MAX_HOUSEHOLDS,
    MAX_SEATS,
    ScenarioError,
    from_dict,
    override,
)
from tests.conftest import paper_city, queue_city, with_changes

ROOT = Path(__file__).resolve().parents[1]


def refusal(data: dict) -> tuple[str, float, int]:
    """The message, the seconds it took, and the peak memory (bytes) of refusing ``data``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ScenarioError) as info:
            from_dict(data, source="big.toml")
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(info.value), seconds, peak


def assert_quick_and_small(seconds: float, peak: int) -> None:
    assert seconds < 2.0, f"refusal took {seconds:.1f} s"
    assert peak < 20_000_000, f"refusal allocated {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("households", [MAX_HOUSEHOLDS + 1, 10**9, 10**12])
def test_billions_of_households_are_refused(households: int) -> None:
    msg, seconds, peak = refusal(with_changes(paper_city(), population__households=households))
    assert msg.startswith("big.toml: population.households: ")
    assert f"{MAX_HOUSEHOLDS}" in msg and "sanity limit" in msg
    assert_quick_and_small(seconds, peak)


@pytest.mark.parametrize("horizon", [MAX_HORIZON_DAYS + 1, 1e9])
def test_a_horizon_of_a_billion_days_is_refused(horizon: float) -> None:
    msg, seconds, peak = refusal(with_changes(paper_city(), city__horizon=horizon))
    assert msg.startswith("big.toml: city.horizon: ") and "sanity limit" in msg
    assert_quick_and_small(seconds, peak)


def test_millions_of_clerks_are_refused() -> None:
    msg, seconds, peak = refusal(with_changes(paper_city(), offices__0__clerks=3_000_000))
    assert msg.startswith("big.toml: offices.school.clerks: ") and f"{MAX_CLERKS}" in msg
    assert_quick_and_small(seconds, peak)


@pytest.mark.parametrize(("rate", "horizon"), [(1e5, 36_000.0), (1e9, 10.0), (1e300, 1.0)])
def test_a_poisson_rate_that_means_billions_of_arrivals_is_refused(rate: float,
                                                                   horizon: float) -> None:
    msg, seconds, peak = refusal(queue_city(rate=rate, horizon=horizon))
    assert msg.startswith("big.toml: population.arrivals.rate: "), msg
    assert "households" in msg and f"{MAX_HOUSEHOLDS:,}" in msg
    expected = rate * horizon
    assert f"{expected:.3g}" in msg  # the estimate is stated
    assert_quick_and_small(seconds, peak)


def test_a_cap_on_households_does_not_excuse_a_huge_poisson_rate() -> None:
    # The arrival process is drawn in full before the cap applies, so the rate alone decides.
    data = queue_city(rate=1e8, horizon=100.0)
    data["population"]["households"] = 10
    msg, _, _ = refusal(data)
    assert "population.arrivals.rate" in msg


def test_the_limits_themselves_are_accepted() -> None:
    from_dict(with_changes(paper_city(), population__households=MAX_HOUSEHOLDS,
                           city__horizon=MAX_HORIZON_DAYS, offices__0__clerks=MAX_CLERKS))
    rate = MAX_HOUSEHOLDS / 1000.0
    from_dict(queue_city(rate=rate * 0.999, horizon=1000.0))
    with pytest.raises(ScenarioError):
        from_dict(queue_city(rate=rate * 1.001, horizon=1000.0))


def test_the_window_not_the_horizon_sets_the_poisson_estimate() -> None:
    data = queue_city(rate=MAX_HOUSEHOLDS / 10.0, horizon=1000.0)
    data["population"]["arrivals"].update(start=0.0, end=9.0)  # 0.9 x the limit
    from_dict(data)
    data["population"]["arrivals"].update(start=100.0, end=111.0)  # 1.1 x the limit
    assert "population.arrivals.rate" in refusal(data)[0]


@pytest.mark.parametrize(("arrivals", "key", "says"), [
    ({"start": 500.0}, "population.arrivals.start", "nobody would arrive"),
    ({"start": 50.0, "end": 10.0}, "population.arrivals.end", "before it starts"),
    ({"process": "poisson", "rate": 1.0, "start": 10.0, "end": 10.0},
     "population.arrivals.end", "must not be empty"),
])
def test_arrival_windows_that_bring_nobody_are_refused(arrivals: dict, key: str,
                                                       says: str) -> None:
    data = paper_city()
    data["population"]["arrivals"] = arrivals
    msg = refusal(data)[0]
    assert msg.startswith(f"big.toml: {key}: ") and says in msg, msg


def test_overrides_are_held_to_the_same_limits() -> None:
    scenario = from_dict(paper_city())
    with pytest.raises(ScenarioError) as info:
        override(scenario, {"population.households": 10**10}, source="--households")
    assert str(info.value).startswith("--households: population.households: ")


def test_cli_refuses_a_billion_households_at_once(tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text(tomli_w.dumps(paper_city()), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", str(path), "--households",
                        str(10**9), "--out", str(tmp_path / "out"), "--quiet"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "population.households" in lines[0] and "sanity limit" in lines[0]
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seats", [MAX_SEATS + 1, 10**12, 10**401])
def test_a_school_with_more_seats_than_numbers_hold_is_refused(seats: int) -> None:
    # 10**401 seats ran to the end of a one-season city and crashed a waiting list's
    # arithmetic (int too large to convert to float).
    data = paper_city()
    data["offices"][0]["seats"] = seats
    msg, seconds, peak = refusal(data)
    assert msg.startswith("big.toml: offices.school.seats: ") and "sanity limit" in msg, msg
    assert f"{MAX_SEATS}" in msg
    assert_quick_and_small(seconds, peak)


@pytest.mark.parametrize(("mechanism", "table", "key"), [
    ("waiting_list", {"offices": ["school"], "places": 10**401}, "places"),
    ("waiting_list", {"offices": ["school"], "reserve": MAX_SEATS + 1}, "reserve"),
    ("points", {"services": ["school"], "quota": 10**20}, "quota"),
    ("class_cap", {"office": "school", "cap": 30, "classes": 10**401}, "classes"),
])
def test_counts_of_places_in_mechanisms_are_refused_beyond_the_limit(
        mechanism: str, table: dict, key: str) -> None:
    from offices import mechanisms

    data = paper_city()
    data["mechanisms"] = {mechanism: table}
    with pytest.raises(ScenarioError) as info:
        mechanisms(from_dict(data, source="big.toml"), source="big.toml")
    msg = str(info.value)
    assert msg.startswith(f"big.toml: mechanisms.{mechanism}.{key}: "), msg
    assert "sanity limit" in msg and f"{MAX_SEATS}" in msg


@pytest.mark.parametrize(("attribute", "value", "says"), [
    ("grades", 5.0, "from 0 to 1"),
    ("urgency", -3.0, "from 0 to 1"),
    ("home_ties", 7.0, "from 0 to 1"),
    ("willingness", {"dist": "normal", "mean": 5.0, "sd": 1.0}, "its mean 5"),
    ("patience_days", -10.0, "at least 0"),
    ("job_changes", 1e30, "from 0 to 365"),
    ("moves", {"dist": "uniform", "low": 0.0, "high": 1e6}, "its high 1e+06"),
    ("children", 1e9, "from 0 to 30"),
    ("children", {"dist": "exponential", "mean": 1e9}, "its mean 1e+09"),
])
def test_attributes_outside_their_declared_range_are_refused(attribute: str, value: Any,
                                                             says: str) -> None:
    # Accepted before: 1e30 job changes or 1e9 children a household crashed a run over
    # years (numpy: "lam value too large") or filled memory until the machine gave out.
    data = paper_city()
    data["population"]["groups"][0]["attributes"][attribute] = value
    msg, seconds, peak = refusal(data)
    assert msg.startswith(f"big.toml: population.groups.with_lease.attributes.{attribute}: ")
    assert says in msg, msg
    assert_quick_and_small(seconds, peak)


def test_attributes_at_the_edges_of_their_range_are_accepted() -> None:
    data = paper_city()
    data["population"]["groups"][0]["attributes"].update(
        grades=1.0, urgency=0.0, children=30.0, job_changes=365.0,
        moves={"dist": "uniform", "low": 0.0, "high": 365.0})
    data["offices"][0]["seats"] = MAX_SEATS
    from_dict(data)


def test_cli_refuses_a_billion_children_in_a_run_over_years(tmp_path: Path) -> None:
    data = paper_city()
    data["lives"] = {"school": "school"}
    data["population"]["groups"][0]["attributes"]["children"] = 1e9
    path = tmp_path / "city.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", str(path), "--households",
                        "200", "--out", str(tmp_path / "out"), "--quiet"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "children" in lines[0] and "city.toml" in lines[0], r.stderr
    assert not (tmp_path / "out").exists()


def test_a_category_weight_that_is_not_a_number_is_refused_in_one_line() -> None:
    """A text among a category attribute's weights (found by tests/test_fuzz_loader.py):
    refused naming the key, not a TypeError from comparing it with 0."""
    from maze.app import api
    from maze.scenario import ScenarioError

    key = "population.groups.graduate.attributes.education"
    with pytest.raises(ScenarioError, match="category weights must be numbers") as err:
        api.load(preset="beijing", overrides={key: {"primary": "address", "middle": 0.6}})
    assert key in str(err.value)
