"""A migrant (or local) household in the running world, and its requests for services."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from maze.codes import Codes, move_rows

#: The papers of a household that holds none: one object shared by all of them.
NO_DOCUMENTS: frozenset[str] = frozenset()


class Household:
    """One household: attributes read from the population table, documents held now.

    ``documents`` is a frozenset, replaced (never changed in place) when papers are issued
    or lose their ground: households holding the same papers share one set, which at a
    million households is most of the memory sets would take.
    """

    __slots__ = ("id", "group", "local", "documents", "_cols")

    def __init__(self, hid: int, group: str, local: bool, cols: dict[str, list[Any]]):
        self.id = hid
        self.group = group
        self.local = local
        self.documents: frozenset[str] = NO_DOCUMENTS
        self._cols = cols

    def attr(self, name: str) -> Any:
        """The household's value of a declared attribute (see ``maze.population.ATTRIBUTES``)."""
        return self._cols[name][self.id]

    @property
    def over_years(self) -> bool:
        """True in a run over years (``[lives]``): streak attributes are kept up to date as
        time passes, job changes and moves included, rather than drawn once."""
        return getattr(self._cols, "over_years", False)

    def __repr__(self) -> str:
        return f"Household({self.id}, {self.group!r})"


class Request:
    """One household asking for one service: a case in the event log."""

    __slots__ = ("case_id", "household", "service", "start", "entry", "visits", "last_office",
                 "spent", "wage_lost", "last_reason", "explicit", "outcome", "end", "end_office",
                 "missed_deadline", "row")

    def __init__(self, case_id: int, household: Household, service: str, start: float,
                 entry: str = ""):
        self.case_id = case_id
        self.household = household
        self.service = service
        self.start = start
        #: The office where the request is made (its first row in the event log).
        self.entry = entry
        self.visits = 0
        #: The office of the latest visit ("" before the first).
        self.last_office = ""
        self.spent = 0.0
        self.wage_lost = 0.0
        self.last_reason = "none"
        self.explicit = False
        self.outcome: str | None = None
        self.end: float | None = None
        #: The office of the outcome row ("" when the outcome came from no counter).
        self.end_office = ""
        self.missed_deadline = False
        #: Its place among the requests of the run (set by ``Requests.append``).
        self.row = -1



#: Outcomes whose row in the event log gives no reason: nothing went wrong.
NO_REASON = frozenset(("served", "alternative"))


class RequestRows(NamedTuple):
    """What each request's own rows in the event log say (its first row and its outcome
    row), in the order the requests were made; texts as codes into ``texts``."""

    case: np.ndarray
    household: np.ndarray
    start: np.ndarray
    end: np.ndarray
    service: np.ndarray
    entry: np.ndarray
    end_office: np.ndarray
    outcome: np.ndarray
    reason: np.ndarray
    texts: list[str]


class Requests(Sequence[Request]):
    """Every request of a run, in the order made.

    A request still open is held as itself. A finished one is kept as a row of typed
    arrays (about 80 bytes, against about 300 for the object with its numbers), which is
    most of the difference at a million households: mechanisms that need a finished
    request keep their own reference to it. Reading a finished request back (``[i]``,
    iteration) makes a new ``Request`` from its row, with a new ``Household`` holding
    the papers the household held when the request ended.

    What a request says when it finishes is added to one flat list, and moved into the
    arrays a block at a time: one ``extend`` costs a fraction of sixteen appends, and a
    block at a time keeps the list small.
    """

    _NUMBERS = ("case", "household", "start", "end", "spent", "wage_lost")
    _TEXTS = ("service", "entry", "last_office", "end_office", "outcome", "last_reason")
    _CODES = (*_TEXTS, "papers", "visits", "flags")
    #: Values a finished request adds to the flat list: its row, its numbers, its codes.
    _ROW = 1 + len(_NUMBERS) + len(_CODES)
    #: Finished requests held in the flat list before they are moved into the arrays.
    BLOCK = 4096

    def __init__(self, columns: Mapping[str, Sequence[Any]]):
        self._columns = columns
        #: The open requests by row (None once finished).
        self._open: list[Request | None] = []
        #: Each finished request's row, in the order they finished.
        self._row = array("q")
        self._numbers = {name: array("q" if name in ("case", "household") else "d")
                         for name in self._NUMBERS}
        self._codes = {name: array("i") for name in self._CODES}
        self._text_code: Codes = Codes()
        self._paper_code: Codes = Codes()
        #: Finished requests not yet moved into the arrays, one after the other in one flat
        #: list (``_ROW`` values each).
        self._done: list[Any] = []
        self._full = self.BLOCK * self._ROW
        self._where: np.ndarray | None = None

    def append(self, req: Request) -> None:
        """A request made now."""
        req.row = len(self._open)
        self._open.append(req)

    def finished(self, req: Request) -> None:
        """The request has its outcome: from now on it is kept as a row."""
        row = req.row
        if row < 0 or self._open[row] is not req:
            return  # not one of these requests, or already a row
        self._open[row] = None
        hh = req.household
        done = self._done
        # The row, then _NUMBERS, then _CODES, one value after the other.
        done.extend((row, req.case_id, hh.id, req.start, req.end, req.spent, req.wage_lost,
                     req.service, req.entry, req.last_office, req.end_office, req.outcome,
                     req.last_reason, hh.documents, req.visits,
                     req.explicit + 2 * req.missed_deadline))
        if len(done) >= self._full:
            self._fill()

    def _fill(self) -> None:
        """Move the finished requests held in the flat list into the arrays."""
        if not self._done:
            return
        codes = self._codes
        move_rows(self._done, [(self._row, None),
                               *((self._numbers[n], None) for n in self._NUMBERS),
                               *((codes[n], self._text_code) for n in self._TEXTS),
                               (codes["papers"], self._paper_code), (codes["visits"], None),
                               (codes["flags"], None)])
        self._where = None  # rows were added

    def open(self) -> list[Request]:
        """The requests not finished yet, in the order made."""
        return [r for r in self._open if r is not None]

    def __len__(self) -> int:
        return len(self._open)

    def __getitem__(self, i: int | slice) -> Request | list[Request]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._open)))]
        req = self._open[i]
        if req is not None:
            return req
        self._fill()
        if self._where is None:
            self._where = np.empty(len(self._open), dtype=np.int64)
            self._where[np.frombuffer(self._row, dtype=np.int64)] = np.arange(len(self._row))
        return self._read(int(self._where[i if i >= 0 else i + len(self._open)]))

    def __iter__(self) -> Iterator[Request]:
        return (self[i] for i in range(len(self._open)))

    def _read(self, k: int) -> Request:
        n, c, cols = self._numbers, self._codes, self._columns
        texts, papers = self._text_code.by_code, self._paper_code.by_code
        hid = n["household"][k]
        hh = Household(hid, cols["group"][hid], cols["hukou"][hid] == "local", cols)
        hh.documents = papers[c["papers"][k]]
        req = Request(n["case"][k], hh, texts[c["service"][k]], n["start"][k],
                      texts[c["entry"][k]])
        req.visits = c["visits"][k]
        req.last_office = texts[c["last_office"][k]]
        req.spent, req.wage_lost = n["spent"][k], n["wage_lost"][k]
        req.last_reason = texts[c["last_reason"][k]]
        flags = c["flags"][k]
        req.explicit, req.missed_deadline = bool(flags & 1), bool(flags & 2)
        req.outcome, req.end = texts[c["outcome"][k]], n["end"][k]
        req.end_office = texts[c["end_office"][k]]
        req.row = self._row[k]
        return req

    def rows(self) -> RequestRows:
        """The rows of every request, in the order made (all must have finished)."""
        if any(r is not None for r in self._open):
            raise ValueError("a request has no outcome yet")
        self._fill()
        order = np.argsort(np.frombuffer(self._row, dtype=np.int64), kind="stable")

        def number(name: str) -> np.ndarray:
            column = self._numbers[name]
            dtype = np.int64 if column.typecode == "q" else np.float64
            return np.frombuffer(column, dtype=dtype)[order]

        def code(name: str) -> np.ndarray:
            return np.frombuffer(self._codes[name], dtype=np.int32)[order]

        outcome, last_reason = code("outcome"), code("last_reason")
        empty = self._text_code[""]
        # The outcome row gives a reason only when something went wrong.
        no_reason = np.array([t in NO_REASON for t in self._text_code.by_code],
                             dtype=bool)[outcome]
        reason = np.where(no_reason, empty, last_reason).astype(np.int32)
        texts = [t if t is not None else "" for t in self._text_code.by_code]
        return RequestRows(number("case"), number("household"), number("start"),
                           number("end"), code("service"), code("entry"), code("end_office"),
                           outcome, reason, texts)
