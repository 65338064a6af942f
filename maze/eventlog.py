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

#: Column order of the event log (the data contract; see docs/reference/outputs.md).
COLUMNS = ("case_id", "household_id", "service", "time", "office", "activity", "reason",
           "target", "document", "start", "wait", "fee", "wage_lost", "outcome")

#: Activities that mean the household stood at a counter (``leave``: it queued until its
#: patience ran out and left the line unseen).
VISIT_ACTIVITIES = ("serve", "issue", "require", "refer", "refuse", "retry", "leave")
#: Final activities: the outcome of a request.
OUTCOMES = ("served", "alternative", "sent_away", "gave_up", "deterred", "denied", "pending")
#: Outcomes whose row gives no reason: nothing went wrong.
_NO_REASON = frozenset(("served", "alternative"))

class _Codes(dict):
    """Text -> code of one text column: a new text gets the next code."""

    def __missing__(self, text: str) -> int:
        code = self[text] = len(self)
        return code


#: The text columns of the log, each kept as codes.
_TEXTS = ("service", "office", "activity", "reason", "target", "document")


class EventLog:
    """The logged rows in columns: numbers in typed arrays, each text as a 4-byte code
    (``codes`` maps a column's texts to them), so that a row costs about 80 bytes."""

    __slots__ = ("case_id", "household_id", "time", "start", "wait", "fee", "wage",
                 "service", "office", "activity", "reason", "target", "document", "codes")

    def __init__(self) -> None:
        self.case_id = array("q")
        self.household_id = array("q")
        self.time = array("d")
        self.start = array("d")
        self.wait = array("d")
        self.fee = array("d")
        self.wage = array("d")
        self.service = array("i")
        self.office = array("i")
        self.activity = array("i")
        self.reason = array("i")
        self.target = array("i")
        self.document = array("i")
        self.codes: dict[str, _Codes] = {name: _Codes() for name in _TEXTS}

    def add(self, case_id: int, household_id: int, service: str, time: float, office: str,
            activity: str, reason: str = "", target: str = "", document: str = "",
            start: float | None = None, wait: float = 0.0, fee: float = 0.0,
            wage: float = 0.0) -> None:
        """One step of a journey at ``time`` (a visit, or a mechanism's own row)."""
        codes = self.codes
        self.case_id.append(case_id)
        self.household_id.append(household_id)
        self.service.append(codes["service"][service])
        self.time.append(time)
        self.office.append(codes["office"][office])
        self.activity.append(codes["activity"][activity])
        self.reason.append(codes["reason"][reason])
        self.target.append(codes["target"][target])
        self.document.append(codes["document"][document])
        self.start.append(time if start is None else start)
        self.wait.append(wait)
        self.fee.append(fee)
        self.wage.append(wage)

    def __len__(self) -> int:
        return len(self.time)

    def to_frame(self, requests: Sequence[Request] = (), release: bool = False) -> pd.DataFrame:
        """The log as a DataFrame, with each request's first and outcome rows.

        Rows are in order of time; at the same instant, requests being made come first
        and outcomes last, each kind in the order it happened (requests and outcomes by
        case). Every request must have its outcome by now (pending ones at the horizon).
        With ``release``, each logged column is emptied once it is in the frame (the
        log is not needed after), so that the log and the table are not both held whole.
        """
        n = len(requests)
        logged = len(self.time)
        case = np.fromiter(map(attrgetter("case_id"), requests), np.int64, n)
        household = np.fromiter(map(attrgetter("household.id"), requests), np.int64, n)
        start = np.fromiter(map(attrgetter("start"), requests), np.float64, n)
        end = np.fromiter(map(attrgetter("end"), requests), np.float64, n)
        service = list(map(attrgetter("service"), requests))
        outcome = list(map(attrgetter("outcome"), requests))
        zeros = np.zeros(n)
        sizes = (n, logged, n)

        def take(name: str) -> np.ndarray:
            column = getattr(self, name)
            values = np.frombuffer(column, dtype=np.int64 if column.typecode == "q"
                                   else np.int32 if column.typecode == "i" else np.float64)
            if release:  # the values live on in this view until the frame has them
                setattr(self, name, array(column.typecode))
            return values

        def numbers(first: np.ndarray, name: str, last: np.ndarray) -> np.ndarray:
            return np.concatenate((first, take(name), last))[order]

        time = np.concatenate((start, take("time"), end))
        kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), sizes)
        order = np.lexsort((kind, time))  # stable: ties keep the order they were logged in
        del kind
        time = time[order]

        def cat(first: list[str] | str, name: str | None, last: list[str] | str
                ) -> pd.Categorical:
            # The first rows, the logged ones, the outcome rows: the first and last each a
            # list of strings or one string for all, the logged ones codes. Categories are
            # sorted; a part with one string throughout (often: one service, no document)
            # is one code repeated.
            logged_codes = self.codes[name] if name is not None else {}
            seen = [{first} if isinstance(first, str) else set(first), set(logged_codes),
                    {last} if isinstance(last, str) else set(last)]
            categories = sorted(set().union(*seen))
            index = {c: i for i, c in enumerate(categories)}
            renumber = np.array([index[t] for t in logged_codes], dtype=np.int32)

            def coded(part: list[str] | str, size: int) -> np.ndarray:
                if isinstance(part, str):
                    return np.full(size, index[part], dtype=np.int32)
                return np.fromiter(map(index.__getitem__, part), dtype=np.int32, count=size)

            middle = renumber[take(name)] if name is not None else np.full(
                logged, index[""], dtype=np.int32)
            codes = np.concatenate((coded(first, n), middle, coded(last, n)))
            return pd.Categorical.from_codes(codes[order], categories=categories)

        return pd.DataFrame({
            "case_id": numbers(case, "case_id", case),
            "household_id": numbers(household, "household_id", household),
            "service": cat(service, "service", service),
            "time": time,
            "office": cat(list(map(attrgetter("entry"), requests)), "office",
                          list(map(attrgetter("end_office"), requests))),
            "activity": cat("request", "activity", outcome),
            "reason": cat("", "reason", [
                "" if r.outcome in _NO_REASON else r.last_reason for r in requests]),
            "target": cat("", "target", ""),
            "document": cat("", "document", ""),
            "start": numbers(start, "start", end),
            "wait": numbers(zeros, "wait", zeros),
            "fee": numbers(zeros, "fee", zeros),
            "wage_lost": numbers(zeros, "wage", zeros),
            "outcome": cat("", None, outcome),
        })
