"""Opening calendars: the days an office works, on one day-numbered clock.

Day 0 is the scenario's start date. An office works on its weekdays and not
during its closures; a household that arrives when it is shut waits until it
opens again (the hours lost this way are real time in the maze).
"""

from __future__ import annotations

import math
from datetime import date

from maze.scenario import Calendar


class OpeningCalendar:
    """Answers "is it open now?" and "when does it next open?" for one office."""

    __slots__ = ("weekdays", "closures", "start_weekday")

    def __init__(self, calendar: Calendar, start_date: date):
        self.weekdays = frozenset(calendar.weekdays)
        self.closures = calendar.closures
        self.start_weekday = start_date.weekday()

    def is_open(self, t: float) -> bool:
        if (self.start_weekday + math.floor(t)) % 7 not in self.weekdays:
            return False
        return not any(start <= t < end for start, end in self.closures)

    def next_open(self, t: float) -> float:
        """The earliest time at or after ``t`` when the office works (``inf`` if never)."""
        for _ in range(10_000):
            moved = False
            for start, end in self.closures:
                if start <= t < end:
                    t = end
                    moved = True
            if (self.start_weekday + math.floor(t)) % 7 not in self.weekdays:
                t = math.floor(t) + 1.0
                moved = True
            if not moved:
                return t
        return math.inf
