"""Results with their uncertainty: seed noise at the values as written, parameter uncertainty
over plausible points, reported apart."""

from __future__ import annotations

import numpy as np
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
