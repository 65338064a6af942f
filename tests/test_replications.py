"""``api.run(scenario, seeds=[...])``: replications as tidy tables with a ``seed`` column."""

from __future__ import annotations

import pandas as pd
import pytest

from maze.app import api
from maze.scenario import ScenarioError


@pytest.fixture(scope="module")
def city():  # noqa: ANN201 - a Scenario
    return api.load(preset="illustrative", overrides={"population.households": 150})


def test_each_replication_is_the_single_run_of_its_seed(city) -> None:  # noqa: ANN001
    reps = api.run(city, seeds=[3, 5])
    assert reps.seeds == [3, 5] and len(reps.runs) == 2
    for seed in (3, 5):
        alone = api.run(city, seed)
        mine = reps.journeys[reps.journeys["seed"] == seed].drop(columns="seed")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True).astype(str),
                                      alone.journeys.astype(str))
        assert (reps.events["seed"] == seed).sum() == len(alone.events)
    assert list(reps.journeys.columns[:2]) == ["seed", "case_id"]


def test_summary_is_one_row_per_seed_and_block(city) -> None:  # noqa: ANN001
    reps = api.run(city, seeds=[0, 1])
    s = reps.summary
    groups = [g.name for g in city.population.groups]
    for seed in (0, 1):
        mine = s[s["seed"] == seed]
        assert set(mine["by"]) == {"all", "migrants", "group", "service"}
        assert sorted(mine.loc[mine["by"] == "group", "group"]) == sorted(groups)
        alone = api.run(city, seed).summary
        row = mine[mine["by"] == "all"].iloc[0]
        assert row["served_share"] == alone["served_share"]
        assert row["requests"] == alone["requests"]
    assert "scenario" not in s.columns and "served_share" in s.columns


def test_no_seeds_is_refused(city) -> None:  # noqa: ANN001
    with pytest.raises(ScenarioError, match="at least one seed"):
        api.run(city, seeds=[])
