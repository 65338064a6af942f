"""The event log in the process-mining convention, for PM4Py, ProM, Disco and the like.

One case is one request (``case:concept:name``), one event one step of it. The
activity (``concept:name``) names the office and what it did, e.g.
``street_office: refuse``, and a request ends with its outcome (``served``,
``gave_up``, ...). Timestamps are real dates: day 0 is ``city.start_date`` at
midnight UTC. The counter's office is the resource (``org:resource``), every
event is a completion (``lifecycle:transition``) and ``start_timestamp`` is the
arrival at the counter, so interval-aware tools can show waiting time.

A *variant* is the sequence of activities of a case, in log order; maze counts
variants the same way the tools do, so the numbers can be checked against them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from maze.eventlog import OUTCOMES
from maze.measures import GROUP_COLUMNS

CASE = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
START = "start_timestamp"
RESOURCE = "org:resource"
LIFECYCLE = "lifecycle:transition"

#: Event attributes kept beside the standard ones (maze's own words).
EVENT_EXTRA = {"activity": "verdict", "reason": "reason", "target": "target",
               "document": "document", "wait": "wait_days", "fee": "fee",
               "wage_lost": "wage_lost"}
FORMATS = ("xes", "csv")


def activity_name(office: str, activity: str) -> str:
    """``office: verdict`` for a step at a counter, the bare outcome for the end of a case."""
    if activity in OUTCOMES:
        return activity
    return f"{office}: {activity}"


def process_log(events: pd.DataFrame, start_date: date) -> pd.DataFrame:
    """The event log with process-mining column names, in maze's log order.

    Case attributes (service, household, group attributes, outcome) are prefixed
    ``case:`` as PM4Py expects in a flat table.
    """
    office = events["office"].astype(str).to_numpy()
    act = events["activity"].astype(str).to_numpy()
    origin = pd.Timestamp(start_date).tz_localize("UTC")
    out = pd.DataFrame({
        CASE: events["case_id"].astype("int64").astype(str).to_numpy(),
        ACTIVITY: [activity_name(o, a) for o, a in zip(office, act, strict=True)],
        TIMESTAMP: origin + pd.to_timedelta(events["time"].to_numpy(), unit="D"),
        START: origin + pd.to_timedelta(events["start"].to_numpy(), unit="D"),
        LIFECYCLE: "complete",
        RESOURCE: office,
    })
    for col, name in EVENT_EXTRA.items():
        values = events[col]
        out[name] = values.astype(str).to_numpy() if values.dtype.name in (
            "category", "object", "str", "string") else values.to_numpy()
    ends = events[events["activity"].isin(OUTCOMES)].drop_duplicates("case_id", keep="last")
    outcome = pd.Series(ends["activity"].astype(str).to_numpy(),
                        index=ends["case_id"].to_numpy())
    out["case:outcome"] = outcome.reindex(events["case_id"].to_numpy()).fillna("").to_numpy()
    out["case:service"] = events["service"].astype(str).to_numpy()
    out["case:household_id"] = events["household_id"].astype("int64").to_numpy()
    for c in GROUP_COLUMNS:
        if c in events.columns:
            v = events[c]
            out[f"case:{c}"] = v.astype(bool).to_numpy() if v.dtype == bool else \
                v.astype(str).to_numpy()
    # Log order within a case (simulation order); ties in time keep it.
    order = np.lexsort((np.arange(len(out)), events["case_id"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def variants(log: pd.DataFrame) -> pd.Series:
    """How many cases follow each variant (the tuple of activities, in log order)."""
    seqs = log.groupby(CASE, sort=False)[ACTIVITY].agg(tuple)
    return seqs.value_counts()


def counts(log: pd.DataFrame) -> tuple[int, int]:
    """(cases, variants) of a process log."""
    return int(log[CASE].nunique()), int(len(variants(log)))


def write_csv(log: pd.DataFrame, path: str | Path) -> None:
    """A flat CSV; timestamps in ISO 8601 with microseconds and a UTC offset."""
    df = log.copy()
    for c in (TIMESTAMP, START):
        df[c] = df[c].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    df.to_csv(path, index=False)


# -- XES (IEEE 1849) ---------------------------------------------------------------------------

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _attr(value: str) -> str:
    """An XML attribute value: escaped, with characters XML 1.0 forbids replaced."""
    value = _INVALID_XML.sub("\ufffd", value)
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
            .replace("\t", "&#9;"))


def _column_xml(key: str, values: pd.Series) -> np.ndarray:
    """Each value of one column as an XES attribute element ('' where a string is empty)."""
    k = _attr(key)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
        text = values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3]
        return (f'<date key="{k}" value="' + text + '+00:00"/>').to_numpy(dtype=object)
    if values.dtype == bool:
        return np.where(values.to_numpy(), f'<boolean key="{k}" value="true"/>',
                        f'<boolean key="{k}" value="false"/>').astype(object)
    if values.dtype.kind in "iu":
        return np.array([f'<int key="{k}" value="{int(v)}"/>' for v in values], dtype=object)
    if values.dtype.kind == "f":
        return np.array([f'<float key="{k}" value="{float(v)!r}"/>' for v in values],
                        dtype=object)
    text = values.astype(str)
    cache = {v: (f'<string key="{k}" value="{_attr(v)}"/>' if v != "" else "")
             for v in text.unique()}
    return text.map(cache).to_numpy(dtype=object)


def _xes_lines(log: pd.DataFrame) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield ('<log xes.version="1.0" xes.features="nested-attributes" '
           'xmlns="http://www.xes-standard.org/">')
    for prefix, name, uri in (
            ("concept", "Concept", "http://www.xes-standard.org/concept.xesext"),
            ("time", "Time", "http://www.xes-standard.org/time.xesext"),
            ("lifecycle", "Lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
            ("org", "Organizational", "http://www.xes-standard.org/org.xesext")):
        yield f'  <extension name="{name}" prefix="{prefix}" uri="{uri}"/>'
    yield '  <global scope="trace"><string key="concept:name" value="__INVALID__"/></global>'
    yield ('  <global scope="event"><string key="concept:name" value="__INVALID__"/>'
           '<date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/></global>')
    yield '  <classifier name="Activity" keys="concept:name"/>'
    case_cols = [c for c in log.columns if c.startswith("case:") and c != CASE]
    event_cols = [c for c in log.columns if not c.startswith("case:")]
    events = np.full(len(log), "", dtype=object)
    for c in event_cols:
        events = events + _column_xml(c, log[c])
    cases = log[CASE].to_numpy()
    starts = np.flatnonzero(np.r_[True, cases[1:] != cases[:-1]]) if len(log) else []
    ends = list(starts[1:]) + [len(log)]
    case_xml = {c: _column_xml(c.removeprefix("case:"), log[c]) for c in case_cols}
    for a, b in zip(starts, ends, strict=True):
        yield "  <trace>"
        yield f'    <string key="concept:name" value="{_attr(str(cases[a]))}"/>'
        for c in case_cols:
            if case_xml[c][a]:
                yield "    " + case_xml[c][a]
        for k in range(a, b):
            yield f"    <event>{events[k]}</event>"
        yield "  </trace>"
    yield "</log>"


def write_xes(log: pd.DataFrame, path: str | Path | IO[str]) -> None:
    """An XES file, streamed line by line so that large logs need little memory."""
    if hasattr(path, "write"):
        for line in _xes_lines(log):
            path.write(line + "\n")  # type: ignore[union-attr]
        return
    with open(path, "w", encoding="utf-8") as fh:
        write_xes(log, fh)
