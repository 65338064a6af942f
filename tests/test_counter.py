"""The clerks' counter against simpy.Resource, SimPy's own first-come, first-served resource."""

from __future__ import annotations

import math
import random

import pytest
import simpy

from maze.counter import LEFT, Counter


def _waits_with_resource(arrivals: list[float], services: list[float], clerks: int) -> list:
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=clerks)
    waits: list[tuple[int, float]] = []

    def customer(i: int):
        yield env.timeout(arrivals[i])
        with desk.request() as turn:
            yield turn
            waits.append((i, env.now - arrivals[i]))
            yield env.timeout(services[i])

    for i in range(len(arrivals)):
        env.process(customer(i))
    env.run()
    return sorted(waits)


def _waits_with_counter(arrivals: list[float], services: list[float], clerks: int) -> list:
    env = simpy.Environment()
    desk = Counter(env, clerks)
    waits: list[tuple[int, float]] = []
    busy: list[int] = []

    def customer(i: int):
        yield env.timeout(arrivals[i])
        turn = desk.seize()
        if turn is not None:
            yield turn
        busy.append(desk.count)
        waits.append((i, env.now - arrivals[i]))
        yield env.timeout(services[i])
        desk.release()

    for i in range(len(arrivals)):
        env.process(customer(i))
    env.run()
    assert max(busy) <= clerks
    assert desk.free == clerks and not desk.queue  # every clerk came back
    return sorted(waits)


@pytest.mark.parametrize("clerks", [1, 2, 5])
def test_counter_gives_the_waits_of_simpy_resource(clerks: int) -> None:
    rng = random.Random(clerks)
    t, arrivals, services = 0.0, [], []
    for _ in range(3000):
        t += rng.expovariate(0.9 * clerks)
        arrivals.append(t)
        services.append(rng.expovariate(1.0))
    expected = _waits_with_resource(arrivals, services, clerks)
    got = _waits_with_counter(arrivals, services, clerks)
    assert got == expected
    assert sum(w for _, w in got) > 0  # the line did form: the test compares queueing


def test_nobody_jumps_the_line_when_a_clerk_frees() -> None:
    """A clerk freed while people wait goes to the first in line, not to a newcomer."""
    env = simpy.Environment()
    desk = Counter(env, 1)
    order: list[str] = []

    def person(name: str, at: float, service: float):
        yield env.timeout(at)
        turn = desk.seize()
        if turn is not None:
            yield turn
        order.append(name)
        yield env.timeout(service)
        desk.release()

    env.process(person("first", 0.0, 2.0))
    env.process(person("waiting", 1.0, 1.0))
    env.process(person("newcomer", 2.0, 1.0))  # arrives the instant the clerk frees
    env.run()
    assert order == ["first", "waiting", "newcomer"]


def test_a_counter_needs_a_clerk() -> None:
    with pytest.raises(ValueError, match="at least one clerk"):
        Counter(simpy.Environment(), 0)


def test_who_leaves_the_line_gives_up_their_turn_to_the_next() -> None:
    env = simpy.Environment()
    desk = Counter(env, 1)
    seen: list[tuple[str, float]] = []

    def person(name: str, at: float, patience: float):
        yield env.timeout(at)
        turn = desk.seize(env.now + patience)
        if turn is not None and (yield turn) is LEFT:
            seen.append((name + " left", env.now))
            return
        seen.append((name, env.now))
        yield env.timeout(3.0)
        desk.release()

    env.process(person("first", 0.0, 10.0))
    env.process(person("impatient", 0.5, 1.0))  # leaves at 1.5, before the clerk frees
    env.process(person("patient", 1.0, 10.0))
    env.process(person("hasty", 1.2, 0.1))  # an earlier patience than the alarm set
    env.run()
    assert seen == [("first", 0.0), ("hasty left", 1.3), ("impatient left", 1.5),
                    ("patient", 3.0)]
    assert desk.free == 1 and desk.waiting == 0


def test_patience_runs_out_in_the_line(tmp_path) -> None:
    """In a city line longer than their patience, households leave unseen, for capacity."""
    from maze.app import api
    from maze.scenario import from_dict
    from tests.conftest import queue_city

    data = queue_city(rate=3.0, mean_service=1.0, clerks=1, horizon=200.0)
    data["population"]["groups"][0]["attributes"]["patience_days"] = 2.0
    run = api.run(from_dict(data), 1)
    ev, j = run.events, run.journeys
    left = ev[ev["activity"] == "leave"]
    assert len(left) > 0.3 * len(j)  # three arrive for every one served
    assert (left["reason"] == "capacity").all()
    assert left["wait"].to_numpy() == pytest.approx(2.0)  # exactly their patience
    served = ev[ev["activity"] == "serve"]
    assert (served["wait"] <= 2.0).all()
    ended = j.set_index("case_id").loc[left["case_id"]]
    assert set(ended["outcome"]) <= {"gave_up", "sent_away"}
    assert (ended["last_reason"] == "capacity").all() and (ended["visits"] == 1).all()


# -- patience edge cases -----------------------------------------------------------------

def _line(clerks: int, people: list[tuple[str, float, float, float]],
          until: float | None = None) -> tuple[Counter, list[tuple[str, str, float]]]:
    """People (name, arrival, patience end, service) at one counter: who was seen or left
    when. A negative service holds the clerk for ever."""
    env = simpy.Environment()
    desk = Counter(env, clerks)
    seen: list[tuple[str, str, float]] = []

    def person(name: str, at: float, ends: float, service: float):
        yield env.timeout(at)
        turn = desk.seize(ends)
        if turn is not None and (yield turn) is LEFT:
            seen.append(("left", name, env.now))
            return
        seen.append(("seen", name, env.now))
        if service < 0:
            return
        yield env.timeout(service)
        desk.release()

    for p in people:
        env.process(person(*p))
    env.run(until=until)
    return desk, seen


def _invariant(desk: Counter) -> None:
    """A clerk is free only when nobody is in line."""
    assert desk.free == 0 or desk.waiting == 0
    assert 0 <= desk.free <= desk.capacity


def test_an_alarm_that_rounds_below_its_time_still_rings() -> None:
    """``now + (at - now)`` can fall one unit in the last place below ``at``: the alarm then
    rings before the patience it was set for. The household must still leave, and the
    counter must still keep the patience of those who join after."""
    joins, ends = 391.39742013172264, 980.8545034374539
    assert joins + (ends - joins) < ends  # the rounding this test is about
    desk, seen = _line(1, [("holder", 0.0, math.inf, -1.0),
                           ("rounded", joins, ends, 1.0),
                           ("later", 1000.0, 1010.0, 1.0)], until=2000.0)
    assert [(what, who) for what, who, _ in seen] == [
        ("seen", "holder"), ("left", "rounded"), ("left", "later")]
    assert seen[1][2] == pytest.approx(ends, abs=1e-9)
    assert seen[2][2] == 1010.0
    _invariant(desk)


def test_equal_patience_leaves_together_in_the_order_of_the_line() -> None:
    desk, seen = _line(1, [("holder", 0.0, math.inf, 10.0),
                           ("a", 1.0, 5.0, 1.0), ("b", 2.0, 5.0, 1.0), ("c", 3.0, 5.0, 1.0),
                           ("d", 4.0, 20.0, 1.0)])
    assert seen == [("seen", "holder", 0.0), ("left", "a", 5.0), ("left", "b", 5.0),
                    ("left", "c", 5.0), ("seen", "d", 10.0)]
    assert desk.free == 1 and desk.waiting == 0 and not desk.queue


def test_patience_that_ends_now_or_already_ended_leaves_at_once() -> None:
    """Joining a line with no patience left: out the same instant (a free clerk would have
    seen the household, as it takes nobody's turn)."""
    desk, seen = _line(1, [("holder", 0.0, math.inf, 10.0),
                           ("now", 2.0, 2.0, 1.0), ("past", 3.0, 1.0, 1.0),
                           ("free clerk", 12.0, 11.0, 1.0)])
    assert seen == [("seen", "holder", 0.0), ("left", "now", 2.0), ("left", "past", 3.0),
                    ("seen", "free clerk", 12.0)]
    _invariant(desk)


def test_a_later_alarm_waits_for_the_earlier_and_an_earlier_one_goes_first() -> None:
    desk, seen = _line(1, [("holder", 0.0, math.inf, 100.0),
                           ("late", 1.0, 30.0, 1.0), ("early", 2.0, 10.0, 1.0),
                           ("middle", 3.0, 20.0, 1.0), ("earliest", 4.0, 5.0, 1.0)])
    assert seen == [("seen", "holder", 0.0), ("left", "earliest", 5.0), ("left", "early", 10.0),
                    ("left", "middle", 20.0), ("left", "late", 30.0)]
    assert not desk._patience  # every entry gone once its time came


def test_served_before_patience_ends_does_not_leave_later() -> None:
    """A household whose turn came is not sent away when its patience would have ended,
    and the one behind it still leaves on time."""
    desk, seen = _line(1, [("holder", 0.0, math.inf, 2.0), ("a", 1.0, 3.0, 5.0),
                           ("b", 1.5, 4.0, 1.0)])
    assert seen == [("seen", "holder", 0.0), ("seen", "a", 2.0), ("left", "b", 4.0)]
    _invariant(desk)


@pytest.mark.parametrize("release_first", [True, False])
def test_a_turn_due_at_the_instant_patience_ends_fires_once(release_first: bool) -> None:
    """The clerk frees at the very instant the waiter's patience ends: whichever comes first
    in SimPy's order decides, the turn fires once, and the clerk is not lost either way."""
    env = simpy.Environment()
    desk = Counter(env, 1)
    seen: dict[str, tuple[str, float]] = {}

    def holder():
        assert desk.seize() is None
        if release_first:
            yield env.timeout(5.0)  # the release is scheduled before the waiter's alarm
        else:
            yield env.timeout(2.0)
            yield env.timeout(3.0)  # scheduled at 2.0, after the alarm set at 1.0
        desk.release()

    def waiter():
        yield env.timeout(1.0)
        if (yield desk.seize(5.0)) is LEFT:
            seen["waiter"] = ("left", env.now)
            return
        seen["waiter"] = ("seen", env.now)
        yield env.timeout(1.0)
        desk.release()

    def newcomer():  # arrives at 5.0 too, before the alarm in SimPy's order
        yield env.timeout(5.0)
        turn = desk.seize()
        if turn is not None:
            yield turn
        seen["newcomer"] = ("seen", env.now)
        yield env.timeout(1.0)
        desk.release()

    for p in (holder, waiter, newcomer):
        env.process(p())
    env.run()
    if release_first:
        assert seen == {"waiter": ("seen", 5.0), "newcomer": ("seen", 6.0)}
    else:  # the waiter left; the newcomer, behind it in line, gets the clerk
        assert seen == {"waiter": ("left", 5.0), "newcomer": ("seen", 5.0)}
    assert desk.free == 1 and desk.waiting == 0 and not desk.queue


def test_a_long_line_keeps_no_stale_patience() -> None:
    """Those served before their patience ends leave entries in the alarm's heap until
    their time comes: the heap stays as large as the patience window, not the run."""
    rng = random.Random(7)
    env = simpy.Environment()
    desk = Counter(env, 2)
    largest = 0

    def person(at: float):
        nonlocal largest
        yield env.timeout(at)
        turn = desk.seize(env.now + 5.0)
        if turn is not None and (yield turn) is LEFT:
            return
        yield env.timeout(rng.expovariate(1.0))
        desk.release()
        largest = max(largest, len(desk._patience))

    t = 0.0
    for _ in range(20_000):
        t += rng.expovariate(2.2)  # overloaded: a line forms and some leave
        env.process(person(t))
    env.run()
    assert largest < 60  # about 5 days of arrivals at 2.2 a day, not 20,000
    assert not desk._patience and not desk.queue and desk.free == 2


def test_patience_runs_out_while_the_office_is_shut() -> None:
    """Waiting for a shut office to open is waiting in its line (the wait recorded includes
    the days it is shut): a household whose patience ends before the office opens leaves
    then, whether it came while the office was shut, stood in the line when it shut, or
    was handed a clerk who cannot see it until the office opens."""
    from maze.app import api
    from maze.scenario import from_dict
    from tests.conftest import queue_city

    patience = 5.0
    data = queue_city(rate=2.0, mean_service=1.0, clerks=3, horizon=60.0)
    data["offices"][0]["calendar"] = {"closures": [[10.0, 30.0]]}
    data["population"]["groups"][0]["attributes"]["patience_days"] = patience
    ev = api.run(from_dict(data), 3).events
    start = ev[ev["activity"] == "request"].set_index("case_id")["time"]
    visits = ev[ev["activity"].isin(("serve", "leave"))]
    asked = start.loc[visits["case_id"]].to_numpy()
    seen_at = (visits["start"] + visits["wait"]).to_numpy()
    left = (visits["activity"] == "leave").to_numpy()
    # Nobody stays past its patience: those who leave go when it ends...
    assert visits["time"].to_numpy()[left] == pytest.approx(asked[left] + patience)
    # ... and those seen were seen before it ended.
    assert (seen_at[~left] <= asked[~left] + patience + 1e-9).all()
    # Those who asked while it was shut, with no patience left by the opening, all left.
    shut = (asked >= 10.0) & (asked < 30.0 - patience)
    assert shut.sum() > 20 and left[shut].all()
    # So did those in line when it shut who had no clerk before their patience ended.
    assert not (~left & (asked < 10.0) & (seen_at > 10.0)).any()
