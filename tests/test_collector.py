"""The cycle collector runs less often during a run, and as before once the run is over."""

from __future__ import annotations

import gc

import pytest

from maze import measures
from maze.app import api
from maze.collector import fewer_collections
from maze.scenario import from_dict
from tests.conftest import queue_city


def test_a_run_leaves_the_collectors_thresholds_as_they_were(monkeypatch) -> None:
    """After a run, and after a run that fails in its measures, the thresholds are the
    caller's own; during the run the youngest generation's is far higher."""
    scenario = from_dict(queue_city(rate=2.0, horizon=50.0))
    before = gc.get_threshold()
    seen = []
    real = measures.summary

    def summary(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(measures, "summary", summary)
    api.run(scenario, 1)
    assert gc.get_threshold() == before
    assert seen[0][0] >= 1_000_000 and seen[0][1:] == before[1:]

    def fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("measures failed")

    monkeypatch.setattr(measures, "summary", fails)
    with pytest.raises(RuntimeError):
        api.run(scenario, 1)
    assert gc.get_threshold() == before


def test_nested_bursts_restore_the_outer_threshold() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        outer = gc.get_threshold()
        with fewer_collections(gen0=5_000):
            assert gc.get_threshold() == outer  # never lowered inside
        assert gc.get_threshold() == outer
    assert gc.get_threshold() == before
