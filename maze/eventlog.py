"""The event log: one row per step of every journey, kept in columns.

Rows are appended on the hot path of the simulation, so numbers go into
typed arrays and strings into plain lists (the same few string objects are
shared by every row); the table is built once, at the end. Each request's
first row (``request``) and last row (its outcome) are not appended as the
run goes: the request itself holds what they say, and they are written from
it when the table is built. Household group attributes are joined from the
population table then too, not copied per row.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from operator import attrgetter

import numpy as np
import pandas as pd

from maze.household import Request

#: Column order of the event log (the data contract; see README.md).
COLUMNS = ("case_id", "household_id", "service", "time", "office", "activity", "reason",
           "target", "document", "start", "wait", "fee", "wage_lost", "outcome")

#: Activities that mean the household stood at a counter (``leave``: it queued until its
#: patience ran out and left the line unseen).
VISIT_ACTIVITIES = ("serve", "issue", "require", "refer", "refuse", "retry", "leave")
#: Final activities: the outcome of a request.
OUTCOMES = ("served", "alternative", "sent_away", "gave_up", "deterred", "denied", "pending")
#: Outcomes whose row gives no reason: nothing went wrong.
_NO_REASON = frozenset(("served", "alternative"))

class EventLog:
    __slots__ = ("case_id", "household_id", "time", "start", "wait", "fee", "wage",
                 "service", "office", "activity", "reason", "target", "document")

    def __init__(self) -> None:
        self.case_id = array("q")
        self.household_id = array("q")
        self.time = array("d")
        self.start = array("d")
        self.wait = array("d")
        self.fee = array("d")
        self.wage = array("d")
        self.service: list[str] = []
        self.office: list[str] = []
        self.activity: list[str] = []
        self.reason: list[str] = []
        self.target: list[str] = []
        self.document: list[str] = []

    def add(self, case_id: int, household_id: int, service: str, time: float, office: str,
            activity: str, reason: str = "", target: str = "", document: str = "",
            start: float | None = None, wait: float = 0.0, fee: float = 0.0,
            wage: float = 0.0) -> None:
        """One step of a journey at ``time`` (a visit, or a mechanism's own row)."""
        self.case_id.append(case_id)
        self.household_id.append(household_id)
        self.service.append(service)
        self.time.append(time)
        self.office.append(office)
        self.activity.append(activity)
        self.reason.append(reason)
        self.target.append(target)
        self.document.append(document)
        self.start.append(time if start is None else start)
        self.wait.append(wait)
        self.fee.append(fee)
        self.wage.append(wage)

    def __len__(self) -> int:
        return len(self.time)

    def to_frame(self, requests: Sequence[Request] = ()) -> pd.DataFrame:
        """The log as a DataFrame, with each request's first and outcome rows.

        Rows are in order of time; at the same instant, requests being made come first
        and outcomes last, each kind in the order it happened (requests and outcomes by
        case). Every request must have its outcome by now (pending ones at the horizon).
        """
        n = len(requests)
        case = np.fromiter(map(attrgetter("case_id"), requests), np.int64, n)
        household = np.fromiter(map(attrgetter("household.id"), requests), np.int64, n)
        start = np.fromiter(map(attrgetter("start"), requests), np.float64, n)
        end = np.fromiter(map(attrgetter("end"), requests), np.float64, n)
        service = list(map(attrgetter("service"), requests))
        outcome = list(map(attrgetter("outcome"), requests))
        zeros = np.zeros(n)
        sizes = (n, len(self.time), n)

        def numbers(first: np.ndarray, logged: array, last: np.ndarray) -> np.ndarray:
            return np.concatenate((first, np.frombuffer(logged, dtype=first.dtype), last))

        time = numbers(start, self.time, end)
        kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), (n, len(self.time), n))
        order = np.lexsort((kind, time))  # stable: ties keep the order they were logged in

        def cat(*parts: list[str] | str) -> pd.Categorical:
            # The first rows, the logged ones, the outcome rows: each a list of strings or
            # one string for all. Codes come from a dict of the few distinct strings,
            # several times faster than letting pandas hash every row; a part with one
            # string throughout (often: one service, no document) is one code repeated.
            values = [{part} if isinstance(part, str) else set(part) for part in parts]
            categories = sorted(set().union(*values))
            index = {c: i for i, c in enumerate(categories)}
            codes = np.concatenate([
                np.full(size, index[next(iter(seen))], dtype=np.int32) if len(seen) == 1
                else np.fromiter(map(index.__getitem__, part), dtype=np.int32, count=size)
                for part, seen, size in zip(parts, values, sizes, strict=True)])
            return pd.Categorical.from_codes(codes[order], categories=categories)

        return pd.DataFrame({
            "case_id": numbers(case, self.case_id, case)[order],
            "household_id": numbers(household, self.household_id, household)[order],
            "service": cat(service, self.service, service),
            "time": time[order],
            "office": cat(list(map(attrgetter("entry"), requests)), self.office,
                          list(map(attrgetter("end_office"), requests))),
            "activity": cat("request", self.activity, outcome),
            "reason": cat("", self.reason, [
                "" if r.outcome in _NO_REASON else r.last_reason for r in requests]),
            "target": cat("", self.target, ""),
            "document": cat("", self.document, ""),
            "start": numbers(start, self.start, end)[order],
            "wait": numbers(zeros, self.wait, zeros)[order],
            "fee": numbers(zeros, self.fee, zeros)[order],
            "wage_lost": numbers(zeros, self.wage, zeros)[order],
            "outcome": cat("", "", outcome),
        })
