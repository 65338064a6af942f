"""What a mechanism remembers survives a change of its rules on a date.

Each test changes one setting of a mechanism on 1 March 2017, in the middle of a run over
three school years, and looks at the mechanism the day the new rules come into force: the
new one must hold what the old one held (a waiting list does not vanish when its places
change; stories heard are not forgotten when deterrence changes; pupils of a closing
school stay on its books when the closure is postponed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

import offices
from maze.app import api
from maze.mechanism import Mechanism
from maze.scenario import from_dict
from offices import points, price_gap, referral_loop, waiting_list, withdrawal, word_of_mouth
from tests.school_city import school_city

START, CHANGE = date(2016, 6, 1), date(2017, 3, 1)
DAY = float((CHANGE - START).days)


def _school_years(households: int = 400) -> dict[str, Any]:
    data = school_city(households)
    data["city"] = {"name": "years", "start_date": START.isoformat(), "end_date": "2019-05-31"}
    data["services"]["school"]["deadline"] = "09-01"
    data["population"]["arrivals"] = {"start": 0.0, "end": 1000.0}
    return data


def _dated(before: Any, after: Any) -> dict[str, Any]:
    return {START.isoformat(): before, CHANGE.isoformat(): after}


def _handover(monkeypatch: pytest.MonkeyPatch, cls: type[Mechanism],
              state: Callable[[Mechanism], Any], scenario: Any) -> tuple[Any, Any, Any]:
    """Run ``scenario``; return the old mechanism's state just before it handed over, the
    new one's just after, and the new one."""
    seen: dict[str, Any] = {}
    original = cls.take_over

    def spy(self: Mechanism, world: Any, previous: Mechanism) -> None:
        assert world.env.now == DAY
        seen["before"] = state(previous)
        original(self, world, previous)
        seen["after"], seen["new"] = state(self), self

    monkeypatch.setattr(cls, "take_over", spy)
    api.run(scenario, 0)
    assert "before" in seen, "the rules did not change"
    return seen["before"], seen["after"], seen["new"]


def test_a_waiting_list_keeps_its_households_and_numbers_when_its_places_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _school_years()
    # The list is called on day 300: on the change day (273) households wait to be called.
    data["mechanisms"] = {"waiting_list": {"offices": ["school"], "opens": 300.0,
                                           "places": _dated(20, 40)}}

    def state(m: Any) -> dict[int, float]:
        return {cid: key[-2] for cid, key in
                ((c, k) for c, (_, k) in m.lists["school"].items())} | {
            -1: float(m.admitted["school"])}

    before, after, _ = _handover(monkeypatch, waiting_list.WaitingList, state,
                                 from_dict(data))
    assert len(before) > 10  # households waiting
    assert after == before


def test_a_points_round_keeps_its_applications_when_the_quota_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _school_years()
    data["mechanisms"] = {"points": {"services": ["school"], "table": {"contract": 10.0},
                                     "quota": _dated(10, 30), "round_days": 120.0}}

    def state(m: Any) -> tuple[dict, dict, dict]:
        return ({k: dict(v) for k, v in m.rounds.items()},
                {k: set(v) for k, v in m.decided.items()}, dict(m.applied))

    before, after, _ = _handover(monkeypatch, points.PointsSystem, state, from_dict(data))
    assert before[0] and before[2]  # applications made, rounds open or decided
    assert after == before


def test_after_a_new_round_length_every_round_is_ranked_with_all_its_applications(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Rounds of 120 days, then of 400 days from the change (day 273). An application made
    # after the change belongs to a round of 400 days; it must never join a round that was
    # ranked before it arrived (which would turn it away unranked).
    data = _school_years()
    data["mechanisms"] = {"points": {"services": ["school"], "table": {"contract": 10.0},
                                     "quota": 30, "round_days": _dated(120.0, 400.0)}}
    _, _, m = _handover(monkeypatch, points.PointsSystem, lambda m: None, from_dict(data))
    for key, admitted in m.decided.items():
        assert len(admitted) == min(30, len(m.rounds[key])), key
        assert admitted <= set(m.rounds[key])
    assert len(m.decided) >= 4  # rounds of both lengths were ranked


def test_a_referral_loop_keeps_the_trips_of_households_on_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _school_years()
    data["mechanisms"] = {"referral_loop": {
        "service": "school", "offices": ["school", "street_office"], "rounds": 1,
        "repeat_probability": _dated(0.6, 0.1), "max_rounds": 6}}
    before, after, _ = _handover(monkeypatch, referral_loop.ReferralLoop,
                                 lambda m: {k: list(v) for k, v in m.cases.items()},
                                 from_dict(data))
    assert before and after == before


def test_word_of_mouth_keeps_the_ties_and_the_stories_heard(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _school_years()
    data["mechanisms"] = {"word_of_mouth": {"services": ["school"], "heard_before": 0.3,
                                            "deterrence": _dated(0.1, 0.4)}}

    def state(m: Any) -> tuple[list[int], list[tuple[int, ...]]]:
        return (list(m.heard), [tuple(m.network.neighbours(h)) for h in range(400)])

    before, after, _ = _handover(monkeypatch, word_of_mouth.WordOfMouth, state,
                                 from_dict(data))
    assert sum(before[0]) > 0 and any(before[1])
    assert after == before


def test_a_price_gap_keeps_what_patients_on_their_way_learnt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # chengdu_history's off-site settlement of July 2017 changes the price gap's table.
    s = api.load(preset="chengdu_history", overrides={"population.households": 2000,
                                                      "lives.in_migration": 2000})
    seen: dict[str, Any] = {}
    original = price_gap.PriceGap.take_over

    def spy(self: Any, world: Any, previous: Any) -> None:
        seen["before"] = dict(previous.insurance), dict(previous.choice)
        original(self, world, previous)
        seen["after"] = dict(self.insurance), dict(self.choice)

    monkeypatch.setattr(price_gap.PriceGap, "take_over", spy)
    api.run(s, 0)
    assert seen["before"][0]  # patients in the middle of a request on the day
    assert seen["after"] == seen["before"]


def test_a_postponed_closure_keeps_its_pupils_and_closes_on_the_new_day(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _school_years()
    data["offices"][0].update(seats=40, intake="09-01")  # the rest go to the minban school
    notice = 120.0
    data["mechanisms"] = {"withdrawal": {"offices": ["minban"], "notice": notice,
                                         "notice_days": _dated(200.0, 400.0)}}
    before, after, new = _handover(
        monkeypatch, withdrawal.Withdrawal,
        lambda m: (sorted(m.enrolled), sorted(m.reopened), m.noticed), from_dict(data))
    assert before[0] and before[2]  # pupils still there after the notice
    assert after == before
    # Closed on day 520 (the notice plus the new 400 days), not on day 320: the holdouts
    # are forced out that day.
    assert new.config.closure == notice + 400.0
    ev = api.run(from_dict(data), 0).events
    at_minban = ev[ev["office"] == "minban"]["time"]
    assert (at_minban == notice + 400.0).any() and not (at_minban == notice + 200.0).any()


#: Mechanisms that remember nothing of households between visits: their tables are built
#: from the scenario alone, so new rules may start them afresh.
STATELESS = {"eligibility", "extra_documents", "gaokao"}


def test_every_mechanism_with_memory_takes_over() -> None:
    """Every registered mechanism either carries what it remembers to rules from a date
    (its own take_over, or attributes named in ``carried``) or is declared stateless: a new
    mechanism has to say which."""
    offices._load_all()
    for name, (_, cls) in offices.REGISTRY.items():
        keeps = cls.take_over is not Mechanism.take_over or bool(cls.carried)
        assert keeps != (name in STATELESS), name


def test_the_default_take_over_keeps_the_carried_attributes() -> None:
    from offices import bring_child, try_again

    city = api.load(preset="beijing_history")
    old = try_again.TryAgain(city, try_again.TryAgainConfig())
    old.failed[(7, "school")] = 2
    new = try_again.TryAgain(city, try_again.TryAgainConfig(discouragement=0.1))
    new.take_over(None, old)  # type: ignore[arg-type]
    assert new.failed == {(7, "school"): 2}
    old = bring_child.BringChild(city, bring_child.BringChildConfig())
    old.failures[3], old.decided = 1, {3}
    new = bring_child.BringChild(city, bring_child.BringChildConfig())
    new.take_over(None, old)  # type: ignore[arg-type]
    assert (new.failures, new.decided) == ({3: 1}, {3})


def _wom(services: list[str], same: bool = True, delay: float = 0.0) -> Any:
    city = from_dict(_school_years())
    cfg = word_of_mouth.WordOfMouthConfig(services=services, same_service=same,
                                          delay_days=delay)
    m = word_of_mouth.WordOfMouth(city, cfg)
    m.heard = word_of_mouth.array("i", bytes(4 * 10 * len(m.topics)))
    return m


def test_word_of_mouth_counts_a_story_only_for_its_own_service() -> None:
    """Stories about one service never count for another: not when the rules keep one
    service of two, nor when the service asked about is not the one counted."""
    from types import SimpleNamespace

    two = _wom(["school", "health_insurance"])
    two.heard[two._at(1, "health_insurance")] = 5
    one = _wom(["school"])
    world = SimpleNamespace(column=lambda _: [""] * 10)
    one.take_over(world, two)  # type: ignore[arg-type]
    household = SimpleNamespace(id=1)
    assert one.stories_heard(household, "school", 0.0) == 0
    one.heard[one._at(1, "school")] = 3
    assert one.stories_heard(household, "health_insurance", 0.0) == 0
    pooled = _wom(["school"], same=False)
    pooled.take_over(world, two)  # type: ignore[arg-type]
    assert pooled.stories_heard(household, "school", 0.0) == 5  # one topic for all


def test_word_of_mouth_stories_arrive_on_their_day_after_a_shorter_delay() -> None:
    """A story told after the delay is cut arrives on its own day, not behind stories
    told earlier with the longer delay."""
    import heapq
    from types import SimpleNamespace

    m = _wom(["school"], delay=30.0)
    heapq.heappush(m.on_the_way, (40.0, m._at(2, "school")))  # told on day 10
    shorter = _wom(["school"], delay=1.0)
    shorter.take_over(SimpleNamespace(column=lambda _: [""] * 10), m)  # type: ignore[arg-type]
    heapq.heappush(shorter.on_the_way, (12.0, shorter._at(3, "school")))  # told on day 11
    assert shorter.stories_heard(SimpleNamespace(id=3), "school", 20.0) == 1
    assert shorter.stories_heard(SimpleNamespace(id=2), "school", 20.0) == 0
    assert shorter.stories_heard(SimpleNamespace(id=2), "school", 40.0) == 1


def test_a_closure_cuts_the_utilities_once_whatever_rules_follow() -> None:
    """Rules changed after the utilities were cut (a postponed closure) do not cut them
    again: the holdouts are not pushed a second time."""
    city = from_dict(_school_years())
    cfg = withdrawal.WithdrawalConfig(offices=["minban"], notice=10, notice_days=100,
                                      utilities_cut=30, utilities_push=0.5)
    old = withdrawal.Withdrawal(city, cfg)
    old.noticed = old.cut = True
    started: list[str] = []
    world = type("W", (), {"env": type("E", (), {
        "process": staticmethod(lambda g: started.append(g.__name__))})()})()
    new = withdrawal.Withdrawal(city, cfg.model_copy(update={"notice_days": 200}))
    new.take_over(world, old)  # type: ignore[arg-type]
    assert new.cut and "_utilities" not in started and "_notice" not in started
    assert started == ["_closure"]
