"""Results with their uncertainty: seed noise at the values as written, parameter uncertainty
over plausible points, reported apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from maze.app import api, outcomes, robustness

KEYS = ("population.groups.informal_worker.attributes.lease_own",
        "population.groups.factory_worker.attributes.contract",
        "mechanisms.referral_loop.repeat_probability")


@pytest.fixture(scope="module")
def assessed() -> robustness.Result:
    city = api.load(preset="beijing", overrides={"population.households": 200})
    return robustness.assess(city, measures=("migrant_served_share", "saving_ratio"),
                             draws=6, replications=2, seed=5, keys=KEYS, executor="serial")


def test_draw_zero_is_the_city_as_written_with_the_same_seeds(assessed) -> None:
    runs = assessed.runs
    assert sorted(runs["draw"].unique()) == list(range(7))
    written = runs[runs["draw"] == 0]
    city = api.load(preset="beijing", overrides={"population.households": 200})
    for seed, value in zip(written["seed"], written["migrant_served_share"], strict=True):
        got = outcomes.read(["migrant_served_share"], api.run(city, int(seed)))
        assert got["migrant_served_share"] == pytest.approx(value, abs=1e-12)
    # Every plausible point runs on the same seeds as the city as written.
    assert set(runs.groupby("draw")["seed"].apply(tuple)) == {tuple(written["seed"])}


def test_intervals_over_seeds_and_over_parameters_are_apart(assessed) -> None:
    i = assessed.interval("migrant_served_share")
    assert i["seeds"] == 2 and i["draws"] == 6
    assert i["seed_low"] <= i["as_written"] <= i["seed_high"]
    assert i["param_low"] <= i["param_median"] <= i["param_high"]
    per = assessed.per_draw("migrant_served_share")
    assert len(per) == 6 and np.isclose(per.median(), i["param_median"])
    # The drawn points differ, so the parameter range is not a point.
    assert i["param_high"] > i["param_low"]


def test_headline_share_counts_the_points_where_it_holds(assessed) -> None:
    per = assessed.per_draw("saving_ratio")
    cut = float(per.median())
    assert assessed.holds("saving_ratio", lambda v: v >= cut) == pytest.approx(
        float((per >= cut).mean()))
    assert assessed.holds("saving_ratio", lambda v: v > 10) == 0.0


def test_drivers_rank_declared_assumptions(assessed) -> None:
    d = assessed.drivers("migrant_served_share", top=3)
    assert set(d["key"]) <= set(KEYS) and len(d) >= 1
    assert (d["spearman"].abs().diff().dropna() <= 1e-12).all()  # ranked by |rho|


def _planted(draws: int, unrelated: int, effect: float, seed: int = 1):
    """A Result whose measure follows assumption "a" (plus noise) and none of the others."""
    from maze.app.robustness import Result
    from maze.uncertainty import Assumption

    rng = np.random.default_rng(seed)
    keys = ["a", *(f"u{i}" for i in range(unrelated))]
    points = [{k: float(rng.uniform()) for k in keys} for _ in range(draws)]
    runs = pd.DataFrame({"draw": range(1, draws + 1),
                         "m": [effect * p["a"] + rng.normal(0, 0.1) for p in points]})
    assumptions = [Assumption(k, 0.5, 0.0, 1.0, "uniform", "test") for k in keys]
    return Result(runs, points, assumptions)


def test_a_planted_driver_clears_chance_and_unrelated_assumptions_do_not() -> None:
    d = _planted(draws=20, unrelated=44, effect=1.0).drivers("m", top=45)
    assert d.iloc[0]["key"] == "a" and bool(d.iloc[0]["clears_chance"])
    # With 44 unrelated assumptions and 20 draws, the largest chance |rho| is large ...
    assert d["chance"].iloc[0] > 0.5
    # ... and the unrelated ones rarely clear it (5% of the time for the largest).
    assert d[d["key"] != "a"]["clears_chance"].sum() <= 1


def test_no_driver_when_there_is_none() -> None:
    # No effect at all: the unrelated assumptions' best |rho| does not clear chance in most
    # draws of the test city (by construction, in about 95% of them).
    cleared = [bool(_planted(draws=20, unrelated=44, effect=0.0, seed=s).drivers("m", top=1)
                    ["clears_chance"].iloc[0]) for s in range(40)]
    assert sum(cleared) <= 6  # binomial(40, 0.05): P(> 6) < 0.01
    constant = _planted(draws=20, unrelated=3, effect=0.0)
    constant.runs["m"] = 0.0
    assert constant.drivers("m").empty
