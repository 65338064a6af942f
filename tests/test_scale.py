"""A smaller copy of a city: every count scales, a factor that would change the city is
refused, and the copy keeps its shares within seed noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maze import metric
from maze import scenario as sc
from maze.app import api
from maze.app.cli import main
from maze.scale import TOLERANCE

TARGETS = "offices/targets/beijing.toml"


def test_every_count_of_a_history_scales_and_nothing_else_moves():
    full = api.load(preset="beijing_history")
    small = api.scaled(full, 0.1)
    assert small.population.households == 200 and small.lives.in_migration == 200
    for a, b in zip(full.offices, small.offices, strict=True):
        assert b.clerks == max(1, round(a.clerks * 0.1))
        assert b.seats == (None if a.seats is None else round(a.seats * 0.1))
    cap, cap_small = full.mechanisms["class_cap"], small.mechanisms["class_cap"]
    assert (cap_small["held"], cap_small["cap"]) == (cap["held"] // 10, cap["cap"] // 10)
    # Everything that is not a count is the city as it was: shares, rules, dates.
    a = full.model_dump(mode="json", exclude_none=True)
    b = small.model_dump(mode="json", exclude_none=True)
    for d in (a, b):
        d["population"].pop("households")
        d["lives"].pop("in_migration")
        d["mechanisms"]["class_cap"].pop("held")
        d["mechanisms"]["class_cap"].pop("cap")
        for o in d["offices"]:
            o.pop("clerks")
            o.pop("seats", None)
        d["city"].pop("name", None)
    assert a == b


def test_a_dated_count_scales_on_every_date():
    full = sc.override(api.load(preset="beijing_history"),
                       {"offices.street_office.clerks": {"2010-01-01": 20, "2015-01-01": 40}})
    small = api.scaled(full, 0.1)
    dumped = small.model_dump(mode="json", exclude_none=True)
    office = next(o for o in dumped["offices"] if o["name"] == "street_office")
    assert office["clerks"] == {"2010-01-01": 2, "2015-01-01": 4}


@pytest.mark.parametrize("factor, words", [
    (0.05, "mechanisms.class_cap.cap: 30 x 0.05 = 1.5 rounds to 2"),
    (0.0, "0.0 is not a positive number"),
    (-1.0, "-1.0 is not a positive number"),
    (math.nan, "nan is not a positive number"),
])
def test_a_factor_that_would_change_the_city_is_refused(factor, words):
    with pytest.raises(sc.ScenarioError, match=words.replace(".", r"\.")):
        api.scaled(api.load(preset="beijing"), factor)
    assert TOLERANCE == 0.1


def test_calibrate_refuses_a_bad_scale_before_any_simulation(tmp_path, monkeypatch, capsys):
    def no_run(*args, **kwargs):
        raise AssertionError("a simulation ran")
    monkeypatch.setattr(api, "run", no_run)
    assert main(["calibrate", TARGETS, "--scale", "0.05", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("maze: error: --scale: mechanisms.class_cap.cap: 30 x 0.05 = 1.5 "
                          "rounds to 2, more than 10% away") and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_a_scaled_copy_keeps_its_shares_within_seed_noise():
    """Beijing at full size (2,000 households, 4 seeds) against its quarter (500, 16
    seeds): migrants' school served and sent-away shares and the public-school share agree
    within four combined standard errors."""
    full = api.load(preset="beijing")
    specs = [metric.spec({"measure": m, "filters": {"service": "school", "hukou": "migrant"}},
                         full, source="t", key=m)
             for m in ("served_share", "sent_away_share", "alternative_share")]

    def runs(scenario, seeds):
        return np.array([metric.evaluate_all(specs, api.run(scenario, s)) for s in seeds])
    big = runs(full, range(4))
    small = runs(api.scaled(full, 0.25), range(100, 116))
    se = np.sqrt(big.var(axis=0, ddof=1) / len(big) + small.var(axis=0, ddof=1) / len(small))
    diff = small.mean(axis=0) - big.mean(axis=0)
    assert (np.abs(diff) <= 4 * se).all(), (diff, se)
    assert (se < 0.05).all()  # the test can tell a shift of a few points


def test_maze_run_runs_a_scaled_copy_and_refuses_a_bad_factor(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["run", "--preset", "beijing", "--scale", "0.1", "--quiet", "--out",
                 str(out)]) == 0
    import json
    scenario = json.loads((out / "scenario.json").read_text())
    assert scenario["population"]["households"] == 200
    assert main(["run", "--preset", "beijing", "--scale", "0.05", "--quiet", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "--scale: mechanisms.class_cap.cap" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
