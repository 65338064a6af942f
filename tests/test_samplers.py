"""Service times: offices that declare the same distribution draw from one sampler, and
every office's service times still follow what it declares."""

from __future__ import annotations

import math

import offices
from maze.eventlog import VISIT_ACTIVITIES
from maze.scenario import from_dict
from maze.world import World
from tests.conftest import queue_city


def _city() -> dict:
    data = queue_city(rate=20.0, horizon=300.0)
    fast = {"dist": "exponential", "mean": 0.02}
    data["offices"] = [
        {"name": "a", "clerks": 2, "service_time": fast},
        {"name": "b", "clerks": 2, "service_time": dict(fast)},
        {"name": "c", "clerks": 2, "service_time": {"dist": "exponential", "mean": 0.06}},
    ]
    data["services"] = {"ask": {"entry": "a"}}
    data["referrals"] = [{"from": "a", "to": "b", "probability": 0.4},
                         {"from": "a", "to": "c", "probability": 0.4},
                         {"from": "b", "to": "c", "probability": 0.5}]
    return data


def test_offices_with_the_same_service_time_share_a_sampler():
    world = World(from_dict(_city()), 0, offices.mechanisms)
    a, b, c = (world.stations[n] for n in "abc")
    assert a.service_time is b.service_time
    assert c.service_time is not a.service_time
    assert len(world.service_times) == 2


def test_each_office_serves_with_its_own_declared_mean():
    """About 6,000 households: each office's mean service time is its declared mean within
    four standard errors (an exponential's sd is its mean)."""
    world = World(from_dict(_city()), 3, offices.mechanisms)
    events = world.run().events
    visits = events[events["activity"].isin(VISIT_ACTIVITIES)]["office"].value_counts()
    for name, mean in (("a", 0.02), ("b", 0.02), ("c", 0.06)):
        n = int(visits[name])
        assert n > 1000
        got = world.stations[name].busy_time / n
        assert abs(got - mean) < 4 * mean / math.sqrt(n), (name, got, mean, n)
