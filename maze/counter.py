"""The clerks at a counter: a first-come, first-served pool of servers on SimPy events.

``simpy.Resource`` is general (request and release are both events, with put and
get queues shared by its priority and preemptive kinds), and pays for it at every
visit: a household that finds a clerk free still waits for its request event to
be processed, and every release is one more event. An office's counter in maze is
always the same thing, ``c`` identical clerks and one line served in order of
arrival, so it takes a clerk at once when one is free, queues a SimPy event only
when none is, and hands a freed clerk straight to the first in line. Waiting
times are those of ``simpy.Resource`` (the queueing-theory and Ciw tests check
them); only the number of events the kernel processes differs.

Nothing in maze interrupts a household while it waits in line; a process that
did would have to leave the line itself, as its turn would otherwise pass to
nobody.
"""

from __future__ import annotations

from collections import deque

import simpy


class Counter:
    """``capacity`` clerks and the line in front of them."""

    __slots__ = ("env", "capacity", "free", "queue")

    def __init__(self, env: simpy.Environment, capacity: int):
        if capacity < 1:
            raise ValueError(f"a counter needs at least one clerk, not {capacity}")
        self.env = env
        self.capacity = capacity
        #: Clerks not serving anybody now.
        self.free = capacity
        #: Households waiting for a clerk, first in line first: the events that fire
        #: when their turn comes.
        self.queue: deque[simpy.Event] = deque()

    @property
    def count(self) -> int:
        """Clerks serving somebody now."""
        return self.capacity - self.free

    def seize(self) -> simpy.Event | None:
        """Take a clerk: None if one was free (taken now), else an event to wait for.

        A clerk is free only when nobody is in line (``release`` hands a clerk straight to
        the first in line), so taking a free one never jumps the queue.
        """
        if self.free:
            self.free -= 1
            return None
        turn = simpy.Event(self.env)
        self.queue.append(turn)
        return turn

    def release(self) -> None:
        """The clerk is done: the first in line takes over, or the clerk is free."""
        if self.queue:
            self.queue.popleft().succeed()
        else:
            self.free += 1
