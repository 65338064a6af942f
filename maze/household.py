"""A migrant (or local) household in the running world, and its requests for services."""

from __future__ import annotations

from typing import Any

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
                 "missed_deadline")

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
