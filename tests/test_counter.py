"""The clerks' counter against simpy.Resource, SimPy's own first-come, first-served resource."""

from __future__ import annotations

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
