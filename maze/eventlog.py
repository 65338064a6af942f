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

import numpy as np
import pandas as pd

from maze.codes import Codes, move_rows
from maze.household import Request, RequestRows, Requests

#: Column order of the event log (the data contract; see docs/reference/outputs.md).
COLUMNS = ("case_id", "household_id", "service", "time", "office", "activity", "reason",
           "target", "document", "start", "wait", "fee", "wage_lost", "outcome")

#: Activities that mean the household stood at a counter (``leave``: it queued until its
#: patience ran out and left the line unseen).
VISIT_ACTIVITIES = ("serve", "issue", "require", "refer", "refuse", "retry", "leave")
#: Final activities: the outcome of a request.
OUTCOMES = ("served", "alternative", "sent_away", "gave_up", "deterred", "denied", "pending")

#: The text columns of the log, each kept as codes (a row's service is its case's).
_TEXTS = ("office", "activity", "reason", "target", "document")
#: The number columns of the log, each a typed array.
_NUMBERS = ("case_id", "time", "start", "wait", "fee", "wage")
#: Values a row: the numbers, then the texts.
_ROW = len(_NUMBERS) + len(_TEXTS)


class EventLog:
    """The logged rows in columns: numbers in typed arrays, each text as a 4-byte code
    (``codes`` maps a column's texts to them), so that a row costs about 68 bytes. A row's
    household and service are those of its case: they are taken from the case's request
    when the table is built, not kept per row."""

    __slots__ = ("case_id", "time", "start", "wait", "fee", "wage",
                 "office", "activity", "reason", "target", "document", "codes",
                 "requests", "held", "held_max")

    #: Rows held in the flat list before they are moved into the columns.
    BLOCK = 4096

    def __init__(self) -> None:
        self.case_id = array("q")
        self.time = array("d")
        self.start = array("d")
        self.wait = array("d")
        self.fee = array("d")
        self.wage = array("d")
        self.office = array("i")
        self.activity = array("i")
        self.reason = array("i")
        self.target = array("i")
        self.document = array("i")
        self.codes: dict[str, Codes] = {name: Codes() for name in _TEXTS}
        #: The requests' own rows, once taken (``add_requests``).
        self.requests: RequestRows | None = None
        #: Rows logged since the columns were last filled, one after the other in one flat
        #: list (``_ROW`` values a row, in the order ``add`` puts them): on the hot path,
        #: one ``extend`` costs a fraction of eleven appends, and a block at a time keeps
        #: the list small. A counter visit (``maze.journey``) extends it itself, saving a
        #: call per visit, and calls ``fill`` once it holds ``held_max`` values.
        self.held: list = []
        self.held_max = self.BLOCK * _ROW

    def add(self, case_id: int, time: float, office: str, activity: str, reason: str = "",
            target: str = "", document: str = "", start: float | None = None,
            wait: float = 0.0, fee: float = 0.0, wage: float = 0.0) -> None:
        """One step of case ``case_id``'s journey at ``time`` (a visit, or a mechanism's
        own row)."""
        held = self.held
        held.extend((case_id, time, time if start is None else start, wait, fee, wage,
                     office, activity, reason, target, document))
        if len(held) >= self.held_max:
            self.fill()

    def fill(self) -> None:
        """Move the rows held in the flat list into the columns."""
        if self.held:
            move_rows(self.held, [*((getattr(self, n), None) for n in _NUMBERS),
                                   *((getattr(self, n), self.codes[n]) for n in _TEXTS)])

    def __len__(self) -> int:
        return len(self.time) + len(self.held) // _ROW

    def add_requests(self, requests: Requests | Sequence[Request]) -> None:
        """Take the requests' own rows (the first row and the outcome row of each, in the
        order the requests were made), so that the table can be built once the requests
        themselves are gone. Every request must have its outcome by now (pending ones at
        the horizon)."""
        if not isinstance(requests, Requests):
            objects = requests
            requests = Requests({})
            for r in objects:
                requests.append(r)
            for r in objects:
                requests.finished(r)
        self.requests = requests.rows()

    def to_frame(self, requests: Sequence[Request] | None = None,
                 release: bool = False) -> pd.DataFrame:
        """The log as a DataFrame, with each request's first and outcome rows.

        Rows are in order of time; at the same instant, requests being made come first
        and outcomes last, each kind in the order it happened (requests and outcomes by
        case). The requests' rows are those ``add_requests`` took, or taken now from
        ``requests``. With ``release``, each logged column is emptied once it is in the
        frame (the log is not needed after), and the frame's columns are built one at a
        time, so that the log and the table are not both held whole.
        """
        if requests is not None:
            self.add_requests(requests)
        rows = self.requests
        if rows is None:
            self.add_requests(())
            rows = self.requests
            assert rows is not None
        if release:
            self.requests: RequestRows | None = None
        self.fill()
        n = len(rows.case)
        logged = len(self.time)
        sizes = (n, logged, n)

        def take(name: str) -> np.ndarray:
            column = getattr(self, name)
            values = np.frombuffer(column, dtype=np.int64 if column.typecode == "q"
                                   else np.int32 if column.typecode == "i" else np.float64)
            if release:  # the values live on in this view until the frame has them
                setattr(self, name, array(column.typecode))
            return values

        # Each logged row's request (its household and service are the request's).
        which = _request_of(rows.case, np.frombuffer(self.case_id, dtype=np.int64))
        time = np.concatenate((rows.start, take("time"), rows.end))
        kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), sizes)
        order = np.lexsort((kind, time))  # stable: ties keep the order they were logged in
        del kind
        time = time[order]

        def numbers(first: np.ndarray | None, middle: str | np.ndarray,
                    last: np.ndarray | None) -> np.ndarray:
            # None: zeros (a request's own rows have no wait, fee or wage); a name: the
            # logged column.
            parts = [np.zeros(n) if first is None else first,
                     take(middle) if isinstance(middle, str) else middle,
                     np.zeros(n) if last is None else last]
            return np.concatenate(parts)[order]

        def cat(first: np.ndarray | str, middle: str | np.ndarray | None,
                last: np.ndarray | str) -> pd.Categorical:
            # The first rows, the logged ones, the outcome rows: the first and last each
            # codes into the requests' texts or one string for all; the logged ones the
            # codes of a logged column (by name) into its own texts, or codes into the
            # requests' texts, or None for "" throughout. Categories are sorted; a part
            # with one string throughout (often: one service, no document) is one code
            # repeated.
            name = middle if isinstance(middle, str) else None
            logged_codes = self.codes[name] if name is not None else {}

            def used(part: np.ndarray | str) -> set[str]:
                if isinstance(part, str):
                    return {part}
                present = np.bincount(part, minlength=len(rows.texts)) > 0
                return {t for t, p in zip(rows.texts, present, strict=True) if p}

            categories = sorted(set().union(
                used(first), logged_codes, used(last),
                used(middle) if isinstance(middle, np.ndarray) else ()))
            index = {c: i for i, c in enumerate(categories)}
            renumber = np.array([index[t] for t in logged_codes], dtype=np.int32)
            from_texts = np.array([index.get(t, -1) for t in rows.texts], dtype=np.int32)

            def coded(part: np.ndarray | str, size: int) -> np.ndarray:
                if isinstance(part, str):
                    return np.full(size, index[part], dtype=np.int32)
                return from_texts[part]

            if name is not None:
                middle = renumber[take(name)]
            elif middle is None:
                middle = np.full(logged, index[""], dtype=np.int32)
            else:
                middle = from_texts[middle]
            codes = np.concatenate((coded(first, n), middle, coded(last, n)))
            return pd.Categorical.from_codes(codes[order], categories=categories)

        # One column at a time, each source released as it is converted, and no copy
        # when the frame is made (copy=False: one block per column, none consolidated).
        columns: dict[str, object] = {}
        columns["case_id"] = numbers(rows.case, "case_id", rows.case)
        columns["household_id"] = numbers(rows.household, rows.household[which],
                                          rows.household)
        columns["service"] = cat(rows.service, rows.service[which], rows.service)
        del which
        columns["time"] = time
        columns["office"] = cat(rows.entry, "office", rows.end_office)
        columns["activity"] = cat("request", "activity", rows.outcome)
        columns["reason"] = cat("", "reason", rows.reason)
        columns["target"] = cat("", "target", "")
        columns["document"] = cat("", "document", "")
        columns["start"] = numbers(rows.start, "start", rows.end)
        columns["wait"] = numbers(None, "wait", None)
        columns["fee"] = numbers(None, "fee", None)
        columns["wage_lost"] = numbers(None, "wage", None)
        columns["outcome"] = cat("", None, rows.outcome)
        return pd.DataFrame(columns, copy=False)



def _request_of(case: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """For each logged row's case id, the position of its request among ``case``."""
    n = len(case)
    if n and case[-1] - case[0] == n - 1 and (n < 2 or bool((case[1:] > case[:-1]).all())):
        # Consecutive ids (made in the order of their ids): a row's id gives its place.
        at = logged - case[0]
        if len(logged) and (at.min() < 0 or at.max() >= n):
            raise ValueError("the event log has a row for a case that is no request")
        return at.astype(np.intp, copy=False)
    by_case = np.argsort(case, kind="stable")
    ordered = case[by_case]
    at = np.searchsorted(ordered, logged)
    if len(logged) and (at.max() >= len(ordered) or not np.array_equal(ordered[at], logged)):
        raise ValueError("the event log has a row for a case that is no request")
    return by_case[at]
