"""The clerks' counter against simpy.Resource, SimPy's own first-come, first-served resource."""

from __future__ import annotations

import random

import pytest
import simpy

from maze.counter import Counter


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
