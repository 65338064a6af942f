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

A household may say how long it will wait: when its patience runs out before its
turn comes, it leaves the line, and its turn fires with the value ``LEFT``. The
counter keeps one alarm for the earliest patience among those waiting, rather than
a timer per household, so patience costs a heap push per wait, not an event.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import simpy

#: The value a turn fires with when the household's patience ran out in the line.
LEFT = "left the line"


class Counter:
    """``capacity`` clerks and the line in front of them."""

    __slots__ = ("env", "capacity", "free", "queue", "_patience", "_alarm_at", "_joined",
                 "_leaving")

    def __init__(self, env: simpy.Environment, capacity: int):
        if capacity < 1:
            raise ValueError(f"a counter needs at least one clerk, not {capacity}")
        self.env = env
        self.capacity = capacity
        #: Clerks not serving anybody now.
        self.free = capacity
        #: Households waiting for a clerk, first in line first: the events that fire
        #: when their turn comes. Those who left stay (their turn has fired) until they
        #: reach the front, so leaving costs nothing however long the line.
        self.queue: deque[simpy.Event] = deque()
        #: (time patience runs out, order of joining, turn) of those who may leave; turns
        #: already given stay until they reach the top.
        self._patience: list[tuple[float, int, simpy.Event]] = []
        #: When the earliest alarm now set rings (inf: none).
        self._alarm_at = math.inf
        self._joined = 0
        #: Clerks to let go as soon as they finish (the office now has fewer).
        self._leaving = 0

    @property
    def count(self) -> int:
        """Clerks serving somebody now."""
        return self.capacity - self.free + self._leaving

    def resize(self, capacity: int) -> None:
        """From now on the office has ``capacity`` clerks (the rules in force changed).

        New clerks take the first in line at once; clerks let go leave when they are
        free, and those busy finish the household they are serving first.
        """
        if capacity < 1:
            raise ValueError(f"a counter needs at least one clerk, not {capacity}")
        change = capacity - self.capacity
        self.capacity = capacity
        if change < 0:
            idle = min(self.free, -change)
            self.free -= idle
            self._leaving += -change - idle
            return
        back = min(self._leaving, change)  # those about to leave stay after all
        self._leaving -= back
        for _ in range(change - back):
            self.free += 1
            if self.queue:
                self.free -= 1
                self.release()

    def seize(self, patience_ends: float = math.inf) -> simpy.Event | None:
        """Take a clerk: None if one was free (taken now), else the household's turn.

        The turn fires when a clerk is free for the household, or with ``LEFT`` at
        ``patience_ends`` if it is still waiting then. A clerk is free only when nobody
        is in line (``release`` hands a clerk straight to the first in line), so taking a
        free one never jumps the queue.
        """
        if self.free:
            self.free -= 1
            return None
        turn = simpy.Event(self.env)
        self.queue.append(turn)
        if patience_ends < math.inf:
            self._joined += 1
            heapq.heappush(self._patience, (patience_ends, self._joined, turn))
            if patience_ends < self._alarm_at:
                self._set_alarm(patience_ends)
        return turn

    def release(self) -> None:
        """The clerk is done: the first still in line takes over, or the clerk is free."""
        if self._leaving:
            self._leaving -= 1
            return
        queue = self.queue
        while queue:
            turn = queue.popleft()
            if not turn.triggered:  # not one who left
                turn.succeed()
                return
        self.free += 1

    @property
    def waiting(self) -> int:
        """Households in line now."""
        return sum(not turn.triggered for turn in self.queue)

    def _set_alarm(self, at: float) -> None:
        self._alarm_at = at
        # The alarm carries the time it was set for: SimPy rings it at now + (at - now),
        # which in floating point can be one unit in the last place below ``at``.
        alarm = self.env.timeout(max(at - self.env.now, 0.0), at)
        alarm.callbacks.append(self._ring)

    def _ring(self, alarm: simpy.Event) -> None:
        """Those whose patience has run out leave the line; the alarm is set again."""
        now = max(self.env.now, alarm.value)
        if now >= self._alarm_at:
            self._alarm_at = math.inf  # this was the earliest alarm; later ones may remain
        patience = self._patience
        while patience and (patience[0][2].triggered or patience[0][0] <= now):
            _, _, turn = heapq.heappop(patience)
            if not turn.triggered:  # still in line: it leaves
                turn.succeed(LEFT)
        if patience and patience[0][0] < self._alarm_at:
            self._set_alarm(patience[0][0])
