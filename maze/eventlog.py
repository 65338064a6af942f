"""The event log: one row per step of every journey, kept in columns.

Rows are appended on the hot path of the simulation, so numbers go into
typed arrays and strings into plain lists (the same few string objects are
shared by every row); the table is built once, at the end. Household group
attributes are joined from the population table then, not copied per row.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

#: Column order of the event log (the data contract; see README.md).
COLUMNS = ("case_id", "household_id", "service", "time", "office", "activity", "reason",
           "target", "document", "start", "wait", "fee", "wage_lost", "outcome")

#: Activities that mean the household stood at a counter.
VISIT_ACTIVITIES = ("serve", "issue", "require", "refer", "refuse", "retry")
#: Final activities: the outcome of a request.
OUTCOMES = ("served", "alternative", "sent_away", "gave_up", "deterred", "denied", "pending")


class EventLog:
    __slots__ = ("case_id", "household_id", "time", "start", "wait", "fee", "wage",
                 "service", "office", "activity", "reason", "target", "document", "outcome")

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
        self.outcome: list[str] = []

    def add(self, case_id: int, household_id: int, service: str, time: float, office: str,
            activity: str, reason: str = "", target: str = "", document: str = "",
            start: float | None = None, wait: float = 0.0, fee: float = 0.0,
            wage: float = 0.0, outcome: str = "") -> None:
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
        self.outcome.append(outcome)

    def __len__(self) -> int:
        return len(self.time)

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame, rows ordered by time then by case (stable)."""
        def cat(values: list[str]) -> pd.Categorical:
            # Codes from a dict of the few distinct strings: several times faster than
            # letting pandas hash every row.
            categories = sorted(set(values))
            index = {c: i for i, c in enumerate(categories)}
            codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32,
                                count=len(values))
            return pd.Categorical.from_codes(codes, categories=categories)

        df = pd.DataFrame({
            "case_id": np.frombuffer(self.case_id, dtype=np.int64).copy(),
            "household_id": np.frombuffer(self.household_id, dtype=np.int64).copy(),
            "service": cat(self.service),
            "time": np.frombuffer(self.time, dtype=np.float64).copy(),
            "office": cat(self.office),
            "activity": cat(self.activity),
            "reason": cat(self.reason),
            "target": cat(self.target),
            "document": cat(self.document),
            "start": np.frombuffer(self.start, dtype=np.float64).copy(),
            "wait": np.frombuffer(self.wait, dtype=np.float64).copy(),
            "fee": np.frombuffer(self.fee, dtype=np.float64).copy(),
            "wage_lost": np.frombuffer(self.wage, dtype=np.float64).copy(),
            "outcome": cat(self.outcome),
        })
        return df
