"""Deterrence by word of mouth (mechanism 10): failure stories stop others from trying."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from offices import mechanisms
from tests.conftest import paper_city


def talking_city(households: int = 600) -> dict[str, Any]:
    """The paper city (half the migrants lack a lease and are sent home), plus locals."""
    data = paper_city(households=households)
    data["population"]["arrivals"] = {"start": 0.0, "end": 60.0}
    data["population"]["groups"] = [
        {"name": "with_lease", "share": 0.45, "attributes": {"lease_own": True}},
        {"name": "without_lease", "share": 0.45, "attributes": {"lease_own": False}},
        {"name": "local", "share": 0.1, "hukou": "local"},
    ]
    return data


def run(data: dict[str, Any], seed: int = 0, **talk: Any) -> api.Run:
    if talk:
        data = {**data, "mechanisms": {"word_of_mouth": talk}}
    return api.run(from_dict(data), seed=seed)


def deterred_share(j: pd.DataFrame) -> float:
    return float((j["outcome"] == "deterred").mean())


def test_stories_deter_later_arrivals_only() -> None:
    off = run(talking_city()).journeys
    result = run(talking_city(), links=6, deterrence=0.3)
    on, ev = result.journeys, result.events
    assert deterred_share(off) == 0.0
    assert deterred_share(on) > 0.05
    # Nobody is deterred before the first failure story exists.
    first_story = ev[ev["activity"].isin(["gave_up", "denied", "sent_away"])]["time"].min()
    assert on[on["outcome"] == "deterred"]["start"].min() >= first_story
    # Locals are not in the migrants' network.
    assert (on[on["hukou"] == "local"]["outcome"] == "served").all()
    # Those deterred never stood at a counter.
    assert (on[on["outcome"] == "deterred"]["visits"] == 0).all()


def test_more_links_deter_more() -> None:
    shares = [deterred_share(run(talking_city(), links=k, deterrence=0.3).journeys)
              for k in (2, 6, 12)]
    assert shares[0] < shares[1] < shares[2]


def test_stronger_deterrence_or_reach_deters_more_and_none_without_reach() -> None:
    weak = deterred_share(run(talking_city(), links=6, deterrence=0.1).journeys)
    strong = deterred_share(run(talking_city(), links=6, deterrence=0.6).journeys)
    assert weak < strong
    assert deterred_share(run(talking_city(), links=6, deterrence=0.6, reach=0.0).journeys) == 0
    late = deterred_share(run(talking_city(), links=6, deterrence=0.6,
                              delay_days=30.0).journeys)
    assert 0 < late < strong


def test_stories_heard_before_the_run_deter_from_the_start() -> None:
    result = run(talking_city(), links=0, heard_before=0.5, deterrence=1.0)
    j = result.journeys
    migrants = j[j["hukou"] == "migrant"]
    assert deterred_share(migrants) == pytest.approx(0.5, abs=0.07)
    # With no links, no story from the run itself spreads: the early and late are alike.
    early = migrants[migrants["start"] < 30.0]
    late = migrants[migrants["start"] >= 30.0]
    assert abs(deterred_share(early) - deterred_share(late)) < 0.12


def test_same_seed_same_tables_and_the_population_does_not_move() -> None:
    a = run(talking_city(households=200), seed=5, links=4, rewire=0.3)
    b = run(talking_city(households=200), seed=5, links=4, rewire=0.3)
    pd.testing.assert_frame_equal(a.events, b.events)
    off = run(talking_city(households=200), seed=5)
    pd.testing.assert_frame_equal(a.raw.households, off.raw.households)


def test_within_group_links_keep_stories_inside_the_group() -> None:
    # Only households without a lease fail; linked only to each other, the ones with a
    # lease hear nothing and all try.
    j = run(talking_city(), links=6, deterrence=0.5, within_group=True).journeys
    assert deterred_share(j[j["group"] == "with_lease"]) == 0.0
    assert deterred_share(j[j["group"] == "without_lease"]) > 0.1
    mixed = run(talking_city(), links=6, deterrence=0.5).journeys
    assert deterred_share(mixed[mixed["group"] == "with_lease"]) > 0.05


def test_stories_and_deterrence_can_be_limited_to_some_services() -> None:
    data = talking_city()
    data["offices"].append({"name": "clinic", "sector": "health"})
    data["services"]["care"] = {"entry": "clinic"}
    j = run(data, links=6, deterrence=0.5, services=["school"]).journeys
    assert deterred_share(j[j["service"] == "school"]) > 0.1
    assert deterred_share(j[j["service"] == "care"]) == 0.0


def test_bad_tables_are_refused() -> None:
    for table, key in (({"services": ["nothing"]}, "mechanisms.word_of_mouth.services.0"),
                       ({"graph": "lattice"}, "mechanisms.word_of_mouth.graph"),
                       ({"deterrence": 2.0}, "mechanisms.word_of_mouth.deterrence"),
                       ({"stories": ["served"]}, "mechanisms.word_of_mouth.stories"),
                       ({"friends": 3}, "mechanisms.word_of_mouth.friends")):
        with pytest.raises(ScenarioError, match=key):
            mechanisms(from_dict({**talking_city(), "mechanisms": {"word_of_mouth": table}}))
