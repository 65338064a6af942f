"""Measures: journeys derived from the event log, and the summary of a run.

Journeys are never kept beside the events: they are computed from them, so the
two tables cannot disagree. The summary answers the texts' questions: who is
served, how long it takes, who gives up or is sent away, how many offices and
levels of government a household meets (blame spread), how often a refusal
names hukou (conspicuousness), and what the city saves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.scenario import Scenario, ScenarioError
from maze.survival import median_from_sorted, median_survival

#: How every output words a median that the data never reach (fewer than half served):
#: the dashboard, the CLI table, the report and the stories all use it.
NOT_REACHED = "not reached"
#: Household attributes carried into the event log and journeys (the "group attributes").
GROUP_COLUMNS = ("group", "hukou", "origin", "education", "occupation", "contract", "lease_own",
                 "residence_permit", "school_stage")


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` stands in ``keys``, as ``pd.Index(keys).get_indexer(wanted)``.

    Household ids are 0..n-1 in order, so each id is its own position: a bounds check
    instead of hashing every row.
    """
    n = len(keys)
    if (len(wanted) and _every_row_in_order(keys, n)
            and wanted.min() >= 0 and wanted.max() < n):
        return wanted.astype(np.intp, copy=False)
    return pd.Index(keys).get_indexer(wanted)


def _every_row_in_order(rows: np.ndarray, n: int) -> bool:
    """Whether ``rows`` are 0, 1, ..., n - 1: the table itself, with no take needed."""
    return len(rows) == n and bool((rows == np.arange(n)).all())


def attach_groups(events: pd.DataFrame, households: pd.DataFrame,
                  texts: Any = None) -> pd.DataFrame:
    """The event log with each household's group attributes joined on.

    ``texts``: the text columns as the population drew them (``RunResult.texts``, a
    ``maze.population.DrawnTexts``), if at hand. They make the categories without hashing
    every household's text again, and are used only if they describe ``households``
    itself (the same object): for any other table the texts are read from it.
    """
    idx = _positions(households["household_id"].to_numpy(), events["household_id"].to_numpy())
    # Which households have events: a category that none of them holds is dropped, as
    # remove_unused_categories() on the event rows would, but decided per household.
    drawn_texts = texts.columns if texts is not None and texts.households is households else {}
    present = np.zeros(len(households), dtype=bool)
    present[idx] = True
    columns = {}
    for c in GROUP_COLUMNS:
        column = households[c]
        if not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)):
            # Categorise the households once, then index the codes: the same categories as
            # categorising every event row, at a fraction of the cost. (From pandas' own
            # array: going through a NumPy object array first cost more than the rest.)
            drawn = drawn_texts.get(c)
            if drawn is not None and len(drawn.codes) == len(column):
                per_household = _categories(drawn.codes, drawn.labels, column.dtype)
            else:
                per_household = pd.Categorical(column.array)
            codes = per_household.codes
            used = np.zeros(len(per_household.categories) + 1, dtype=bool)
            used[codes[present]] = True  # a missing value (code -1) marks the extra last slot
            used = used[:-1]
            renumber = np.append(np.cumsum(used) - 1, -1).astype(codes.dtype)  # -1 stays -1
            dtype = pd.CategoricalDtype(per_household.categories[used], per_household.ordered)
            columns[c] = pd.Categorical.from_codes(renumber[codes][idx], dtype=dtype)
        else:
            columns[c] = column.to_numpy()[idx]
    if not events.columns.intersection(GROUP_COLUMNS).empty:
        out = events.copy()
        for c, values in columns.items():
            out[c] = values
        return out
    # One concat rather than one column assignment each: every assignment copied the frame.
    return pd.concat([events, pd.DataFrame(columns, index=events.index)], axis=1)


def _categories(codes: np.ndarray, labels: list[str], dtype: Any) -> pd.Categorical:
    """``labels[codes]`` as a Categorical whose categories are the labels, sorted (as
    ``pd.Categorical`` sorts the texts), of the text type ``dtype``."""
    order = sorted(range(len(labels)), key=labels.__getitem__)
    rank = np.empty(len(labels), dtype=np.intp)
    rank[order] = np.arange(len(labels))
    categories = pd.Index(pd.array([labels[i] for i in order], dtype=dtype))
    return pd.Categorical.from_codes(rank[codes], dtype=pd.CategoricalDtype(categories))


def _case_numbers(case_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct case ids, sorted, and each row's number among them.

    Case ids are small non-negative integers, so np.bincount finds them without a sort
    (when no id exceeds about twice the rows, so that its table stays small); any other
    ids go through np.unique.
    """
    if len(case_id) and case_id.min() >= 0 and case_id.max() < 2 * len(case_id) + 1024:
        seen = np.bincount(case_id) > 0
        return np.flatnonzero(seen), (np.cumsum(seen) - 1)[case_id]
    keys, number = np.unique(case_id, return_inverse=True)
    return keys, number.reshape(-1)


def _first_of(rows: np.ndarray, case: np.ndarray, n: int) -> np.ndarray:
    """For each case 0..n-1, the first of ``rows`` (in the order given) in it; -1 for none."""
    at = case[rows]
    counts = np.bincount(at, minlength=n)
    first = np.full(n, -1, dtype=np.intp)
    if counts.max(initial=0) <= 1:  # no case twice (one outcome each): no sort needed
        first[at] = rows
        return first
    order = np.argsort(at, kind="stable")  # stable: each case's rows keep the given order
    has = counts > 0
    first[has] = rows[order[(np.cumsum(counts) - counts)[has]]]
    return first


def _first_per_case(column: pd.Series, case: np.ndarray, n: int) -> Any:
    """Each case's first value that is not missing, as ``groupby(case).first()`` gives it
    (an array of the column's type, categories and all)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        first = _first_rows(np.flatnonzero(codes >= 0), case, n)
        return pd.Categorical.from_codes(np.where(first >= 0, codes[first], -1),
                                         dtype=column.dtype)
    if column.dtype.kind in "iu":  # never missing, and every case has a row
        return column.to_numpy()[_first_rows(np.arange(len(column)), case, n)]
    return column.groupby(pd.Categorical.from_codes(case, categories=pd.RangeIndex(n)),
                          observed=False).first().to_numpy()


def _first_rows(rows: np.ndarray, case: np.ndarray, n: int) -> np.ndarray:
    """For each case 0..n-1, the smallest of ``rows`` in it; -1 for none."""
    none = np.iinfo(np.intp).max
    first = np.full(n, none, dtype=np.intp)
    np.minimum.at(first, case[rows], rows.astype(np.intp, copy=False))
    first[first == none] = -1
    return first


def _min_per_case(time: np.ndarray, case: np.ndarray, n: int) -> np.ndarray:
    """Each case's smallest time, missing values skipped (NaN if it has none), as
    ``groupby(case).min()``."""
    out = np.full(n, np.nan)
    np.fmin.at(out, case, time)
    return out


def _is(column: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Whether each category of ``column`` is one of ``values``, indexed by code.

    Indexing this with the codes decides ``isin`` once per category instead of once
    per row; the extra last entry answers code -1 (missing) with False.
    """
    return np.append(column.cat.categories.isin(values), False)


def journeys(events: pd.DataFrame, households: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """One row per request, derived from the event log (its text columns categorical).

    Rows are numbered by case (``_case_numbers``); each case's first household and service
    and earliest time are taken with NumPy on those numbers, as groupby's first() and min()
    would give them (missing values skipped). Counts per case are np.bincount over each
    visit's case number.
    """
    ev = events
    keys, case = _case_numbers(ev["case_id"].to_numpy())
    n = len(keys)
    time = ev["time"].to_numpy()
    codes = {c: ev[c].cat.codes.to_numpy() for c in ("office", "activity", "reason", "outcome")}
    # Each case's last outcome row: the first one reading the log backwards.
    last = _first_of(np.flatnonzero(_is(ev["activity"], OUTCOMES)[codes["activity"]])[::-1],
                     case, n)
    ended = last >= 0

    def at_last(column: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.where(ended, codes[column][last], -1),
                                         dtype=ev[column].dtype)

    # One reduction per column (quicker than the same three through .agg).
    j: dict[str, Any] = {"case_id": keys,
                         "household_id": _first_per_case(ev["household_id"], case, n),
                         "service": _first_per_case(ev["service"], case, n),
                         "start": _min_per_case(time, case, n),
                         "end": np.where(ended, time[last], np.nan)}
    # The outcomes' categories, in the contract's order (straight from the log's categories).
    j["outcome"] = at_last("outcome").set_categories(list(OUTCOMES))
    j["last_office"] = at_last("office")
    j["last_reason"] = at_last("reason")
    j["days_to_outcome"] = j["end"] - j["start"]

    visit = np.flatnonzero(_is(ev["activity"], VISIT_ACTIVITIES)[codes["activity"]])
    at = case[visit]
    activity = codes["activity"][visit]
    reason = codes["reason"][visit]

    def count(mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(at if mask is None else at[mask], minlength=n).astype("int64")

    j["visits"] = count()
    j["referrals"] = count(_is(ev["activity"], ("require", "refer"))[activity])
    # Back at an office: a (case, office) pair seen before, as one integer per visit.
    office = codes["office"][visit].astype(np.int64)
    offices_here = ev["office"].cat.categories
    again = pd.Series(at * (len(offices_here) + 1) + office + 1).duplicated().to_numpy()
    j["loops"] = count(again)
    office_attr = {o.name: o for o in scenario.offices}
    # Levels and sectors looked up once per office (category), not once per row, and kept
    # as integer codes: only which rows share a level or a sector matters below.
    known = [office_attr.get(o) for o in offices_here]  # "" (no office) is never a visit
    first_seen = ~again
    j["offices_seen"] = count(first_seen)
    gov = first_seen & np.array([bool(o and o.government) for o in known], dtype=bool)[office]
    j["government_offices_seen"] = count(gov)
    for column, attribute in (("levels_seen", "level"), ("sectors_seen", "sector")):
        # Distinct (case, level) pairs among the government offices seen, counted per case:
        # each pair marks its place in a table of every (case, level), as few levels as
        # there are (hashing the pairs, or sorting them, cost several times more).
        value = pd.factorize(np.array([o and getattr(o, attribute) for o in known],
                                      dtype=object))[0][office] + 1
        base = int(value.max(initial=0)) + 1
        seen = np.zeros(n * base, dtype=bool)
        seen[at[gov] * base + value[gov]] = True
        j[column] = np.bincount(np.flatnonzero(seen) // base, minlength=n).astype("int64")
    # Sums stay with pandas' groupby: its compensated summation gives the same floats as before
    # (a column of zeros, such as the fees of a free service, sums to zeros without it).
    visit_cases = pd.Categorical.from_codes(at, categories=pd.RangeIndex(n))
    for column, name in (("out_of_pocket", "fee"), ("wage_lost", "wage_lost")):
        values = ev[name].to_numpy()[visit]
        j[column] = np.zeros(n) if not values.any() else pd.Series(values).groupby(
            visit_cases, observed=False).sum().to_numpy()
    refused = _is(ev["activity"], ("refuse",))[activity] & _is(ev["reason"], ("hukou",))[reason]
    j["explicit_refusal"] = count(refused) > 0
    j["missed_deadline"] = count(_is(ev["reason"], ("deadline",))[reason]) > 0
    rows = _positions(households["household_id"].to_numpy(), j["household_id"])
    # One request per household, in household order (a city of one service): the rows
    # are the households' own, and a copy of each column (no data copied for texts,
    # whose Arrow buffers never change) is what a take would make.
    whole = _every_row_in_order(rows, len(households))
    for c in GROUP_COLUMNS:
        # take() keeps pandas' own array (Arrow-backed strings): a round trip through a
        # NumPy object array and back cost more than the rest of the join.
        column = households[c].array
        j[c] = column.copy() if whole else column.take(rows)
    cost = {name: s.city_cost for name, s in scenario.services.items()}
    services = j["service"].categories
    service_cost = np.array([cost[s] for s in services], dtype=float)
    # What the city saves is a service it never gives a migrant household: counted once per
    # household and service, on its last request, and only if none of those requests was
    # served. A family asking again (displaced by a closure) is not a second saving.
    need = j["household_id"].astype(np.int64) * len(services) + j["service"].codes
    ask = pd.factorize(need)[0]
    served = j["outcome"].codes == OUTCOMES.index("served")  # categories in OUTCOMES' order
    never_served = np.bincount(ask[served], minlength=ask.max(initial=-1) + 1)[ask] == 0
    last = ~pd.Series(need).duplicated(keep="last").to_numpy()
    saved = (pd.Series(j["hukou"]) != "local").to_numpy() & never_served & last
    j["city_cost_saved"] = np.where(saved, service_cost[j["service"].codes], 0.0)
    order = ["case_id", "household_id", "service", *GROUP_COLUMNS, "outcome", "start", "end",
              "days_to_outcome", "visits", "referrals", "loops", "offices_seen",
              "government_offices_seen", "levels_seen",
              "sectors_seen", "out_of_pocket", "wage_lost", "explicit_refusal",
              "missed_deadline", "last_office", "last_reason", "city_cost_saved"]
    return pd.DataFrame({c: j[c] for c in order}, copy=False)  # all made here: no copy


def _clean(x: Any) -> Any:
    """JSON-safe numbers: NaN becomes None, numpy scalars become Python ones."""
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else round(x, 10)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _mean(x: np.ndarray) -> float:
    """``pd.Series(x).mean()`` on a NumPy array, to the last bit.

    pandas sums in float64 with NumPy (pairwise), integers and booleans exactly, and
    counts NaN out after filling it with 0 in place (so the summation order is kept).
    """
    if x.dtype.kind == "f":
        missing = np.isnan(x)
        count = len(x) - int(missing.sum())
        return float(_sum(x) / count) if count else math.nan
    return float(x.sum(dtype=np.float64) / len(x)) if len(x) else math.nan


def _middle(s: np.ndarray) -> float:
    """``np.median`` of sorted values none of which is NaN, to the last bit: the middle
    value, or the two middle ones' mean as NumPy takes it, ``(a + b) / 2``; without
    np.median's general machinery, which cost more than the rest of a small block's
    measures (and the sort is shared with Kaplan-Meier's median)."""
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else float((s[m - 1] + s[m]) / 2)


def _sum(x: np.ndarray) -> float:
    """``pd.Series(x).sum()`` of a float array: NaN filled with 0, then NumPy's sum."""
    missing = np.isnan(x)
    return float(np.where(missing, 0.0, x).sum() if missing.any() else x.sum())


#: Journey columns averaged over the requests that were tried (not deterred).
_TRIED_MEANS = ("visits", "offices_seen", "government_offices_seen", "levels_seen",
                "sectors_seen", "loops")


def _columns(j: pd.DataFrame) -> dict[str, np.ndarray]:
    """The journeys' columns that a block reads, as NumPy arrays taken once for all blocks."""
    out = {c: j[c].to_numpy() for c in (*_TRIED_MEANS, "explicit_refusal", "missed_deadline",
                                        "out_of_pocket", "wage_lost", "city_cost_saved")}
    out["days_to_outcome"] = j["days_to_outcome"].to_numpy(dtype=float)
    # Outcomes as codes in the contract's order (-1: none of them), as value_counts sees them.
    out["outcome"] = pd.Categorical(j["outcome"], categories=list(OUTCOMES)).codes
    return out


def _block(columns: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict[str, Any]:
    """The measures of some journeys: ``rows`` of ``columns`` (all of them if None)."""
    return _blocks(columns, [rows])[0]


#: Rows of the parts measured together at most (beyond the journeys' own number): each
#: is a copy of every column a block reads while the batch is measured.
_BATCH_ROWS = 1_000_000


def _blocks(columns: dict[str, np.ndarray],
            parts: Sequence[np.ndarray | None]) -> list[dict[str, Any]]:
    """The measures of several sets of journeys at once: ``parts`` are each a set's rows
    of ``columns`` (None: all of them), as :func:`_block` gives them one by one.

    The parts' rows are taken one after the other, so that each set is a contiguous run:
    counts come from one ``bincount`` and the sums of integer columns (exact in float64)
    from one ``reduceat`` for all sets, and what must keep NumPy's own summation order
    (sums of floats), or runs in sorted order (the medians), works on a run at a time.
    Equal to ``_block`` on each part to the last bit (tested).
    """
    k = len(parts)
    if not k:
        return []
    total = len(columns["outcome"])
    lengths = np.array([total if p is None else len(p) for p in parts], dtype=np.intp)
    limit = max(total, _BATCH_ROWS)
    if k > 1 and lengths.sum() > limit:
        # Parts of more rows than the journeys hold, taken a batch at a time: the rows
        # laid end to end are copies of every column, held while a batch is measured.
        out: list[dict[str, Any]] = []
        first = 0
        while first < k:
            last = first + max(1, int(np.searchsorted(np.cumsum(lengths[first:]), limit,
                                                      side="right")))
            out += _blocks(columns, parts[first:last])
            first = last
        return out
    if k == 1 and parts[0] is not None and _every_row_in_order(parts[0], total):
        parts = [None]  # no copy
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    order = None if k == 1 and parts[0] is None else np.concatenate(
        [np.arange(total) if p is None else p for p in parts])

    def col(name: str, rows: np.ndarray | None = order) -> np.ndarray:
        return columns[name] if rows is None else columns[name][rows]

    part = np.repeat(np.arange(k), lengths)
    outcome = col("outcome")
    valid = outcome >= 0
    counts = np.bincount(part[valid] * len(OUTCOMES) + outcome[valid],
                         minlength=k * len(OUTCOMES)).reshape(k, len(OUTCOMES))
    served = outcome == OUTCOMES.index("served")
    days = col("days_to_outcome")
    waited = np.where(served | (outcome == OUTCOMES.index("pending")), days, np.inf)
    tried = outcome != OUTCOMES.index("deterred")  # no outcome: tried
    tried_count = np.bincount(part[tried], minlength=k)

    tried_bounds = np.concatenate(([0], np.cumsum(tried_count)))

    def sums(name: str, values: np.ndarray, edges: np.ndarray) -> np.ndarray | None:
        # Each part's sum, exactly: integers (and booleans) whose sums stay below 2**53
        # add up to the same float in any order (bounded by the whole column's largest
        # value). None: not such a column.
        whole = columns[name]
        if whole.dtype.kind not in "biu" or (len(whole) and max(
                abs(int(whole.max())), abs(int(whole.min()))) * len(values) >= 2**53):
            return None
        out = np.zeros(len(edges) - 1, dtype=np.int64)
        filled = edges[1:] > edges[:-1]  # an empty part adds up to 0
        if filled.any():  # each run from its start to the next part's that has rows
            out[filled] = np.add.reduceat(values, edges[:-1][filled], dtype=np.int64)
        return out

    tried_at = np.flatnonzero(tried) if order is None else order[tried]
    tried_rows = {c: col(c, tried_at) for c in _TRIED_MEANS}
    tried_sums = {c: sums(c, tried_rows[c], tried_bounds) for c in _TRIED_MEANS}
    runs = {c: col(c) for c in ("explicit_refusal", "missed_deadline", "out_of_pocket",
                                "wage_lost", "city_cost_saved")}
    shares = {c: sums(c, runs[c], bounds) for c in ("explicit_refusal", "missed_deadline")}
    out = []
    for b in range(k):
        a, z = bounds[b], bounds[b + 1]
        n = int(lengths[b])
        block: dict[str, Any] = {"requests": n}
        for i, o in enumerate(OUTCOMES):
            block[f"{o}_share"] = float(counts[b, i]) / n if n else 0.0
        here = served[a:z]
        # The days of those served, sorted once for both medians.
        served_days = np.sort(days[a:z][here])
        if len(served_days) and np.isnan(served_days[-1]):  # served, but no days: rare
            block["median_days_to_service"] = median_survival(waited[a:z], here)
            served_days = days[a:z][here]
            served_days = np.sort(served_days[~np.isnan(served_days)])
        else:
            block["median_days_to_service"] = median_from_sorted(served_days,
                                                                 waited[a:z][~here], n)
        block["median_days_to_service_among_served"] = (
            _middle(served_days) if len(served_days) else None)
        m = int(tried_count[b])
        for c in _TRIED_MEANS:
            if not m:
                block[f"mean_{c}"] = None
            elif tried_sums[c] is not None:
                block[f"mean_{c}"] = float(tried_sums[c][b] / m)
            else:
                block[f"mean_{c}"] = _mean(tried_rows[c][tried_bounds[b]:tried_bounds[b + 1]])
        for c in ("explicit_refusal", "missed_deadline"):
            exact = shares[c]
            block[f"{c}_share"] = (0.0 if not n else float(exact[b] / n) if exact is not None
                                   else _mean(runs[c][a:z]))
        block["mean_out_of_pocket"] = _mean(runs["out_of_pocket"][a:z]) if n else 0.0
        block["mean_wage_lost"] = _mean(runs["wage_lost"][a:z]) if n else 0.0
        block["city_cost_saved"] = _sum(runs["city_cost_saved"][a:z])
        out.append(_checked(block))
    return out


def _checked(block: dict[str, Any]) -> dict[str, Any]:
    """A block's values made JSON-safe; an infinite one is an overflow, an error."""
    for k, v in block.items():  # NaN is "no value" (None); infinity is an overflow
        if isinstance(v, float | np.floating) and math.isinf(v):
            raise ScenarioError(f"the measure {k} overflows (a sum of money or days beyond "
                                "what a float holds); lower the prices, costs or wages")
    return {k: _clean(v) for k, v in block.items()}


def block(j: pd.DataFrame, rows: np.ndarray | None = None) -> dict[str, Any]:
    """The measures of some rows of the journeys table (all of them if None), as in summary."""
    return _block(_columns(j), rows)


def _partition(j: pd.DataFrame, column: str) -> list[tuple[Any, np.ndarray]]:
    """Each group's key and rows (ascending), in the order ``j.groupby(column, sort=True,
    observed=True)`` yields them: texts sorted, categories present in their own order,
    missing values in no group. (Categories no row holds are no group, on every pandas;
    pandas before 3 listed them by default, for a categorical ``group`` column.)

    Rows rather than sub-frames: one stable sort of the group numbers instead of a
    filtered copy of the journeys per group, and the numbers from the category codes or
    one factorisation (groupby took two).
    """
    values = j[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        present = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
        keys = values.cat.categories[present]
        number = np.where(codes >= 0, (np.cumsum(present) - 1)[codes], -1)
    else:
        number, keys = pd.factorize(values, sort=True)  # -1: no group (a missing key)
    order = np.argsort(number, kind="stable")
    bounds = np.searchsorted(number[order], np.arange(len(keys) + 1))
    return [(key, order[a:b]) for key, a, b in zip(keys, bounds[:-1], bounds[1:], strict=True)]


def summary(events: pd.DataFrame, j: pd.DataFrame, households: pd.DataFrame,
            scenario: Scenario, seed: int) -> dict[str, Any]:
    """The run's headline measures, overall and by group and by service."""
    out: dict[str, Any] = {
        "scenario": scenario.city.name,
        "regime": scenario.city.regime,
        "seed": int(seed),
        "horizon_days": scenario.city.horizon,
        "households": int(len(households)),
        "events": int(len(events)),
    }
    columns = _columns(j)
    overall = _block(columns)
    out.update(overall)
    groups, services = _partition(j, "group"), _partition(j, "service")
    migrants = np.flatnonzero((j["hukou"] != "local").to_numpy())
    blocks = _blocks_of(columns, [rows for _, rows in groups + services] + [migrants],
                        overall)
    out["by_group"] = {str(g): b for (g, _), b in zip(groups, blocks, strict=False)}
    out["by_service"] = {str(s): b for (s, _), b in zip(services, blocks[len(groups):],
                                                         strict=False)}
    out["migrants"] = blocks[-1] if len(migrants) else None
    out["by_year"] = by_year(j, scenario, columns)
    return out


def _blocks_of(columns: dict[str, np.ndarray], parts: list[np.ndarray],
               whole: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks of ``parts`` (each ascending), a copy of ``whole`` for a part of every
    row (a city of one group, one service, or of migrants only): the same rows in the
    same order give the same numbers, not computed twice."""
    n = len(columns["outcome"])
    own = _blocks(columns, [rows for rows in parts if len(rows) != n])
    at = np.cumsum([len(rows) != n for rows in parts]) - 1
    return [dict(whole) if len(rows) == n else own[i]
            for rows, i in zip(parts, at, strict=True)]


#: Columns of years.parquet, one row per calendar year x group x service (the data contract).
YEAR_MEASURES = ("requests", *(f"{o}_share" for o in OUTCOMES), "median_days_to_service",
                 "mean_visits", "explicit_refusal_share", "missed_deadline_share",
                 "city_cost_saved")


def request_years(j: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """The calendar year in which each request was made (its start day on the city's clock)."""
    start = np.datetime64(scenario.city.start_date, "D")
    days = np.floor(j["start"].to_numpy(dtype=float)).astype("timedelta64[D]")
    return (start + days).astype("datetime64[Y]").astype(np.int64) + 1970


def years(j: pd.DataFrame, scenario: Scenario,
          by_year: dict[str, Any] | None = None) -> pd.DataFrame:
    """years.parquet: the measures of the requests made in each calendar year, by group and
    service (rows with no request left out). Shares are of the year's requests; the median
    days to service is Kaplan-Meier's, those still waiting at the horizon censored.

    ``by_year``, the summary's of the same journeys, gives the block of a year whose
    requests are all of one group and service (the same rows give the same numbers).
    """
    year_of = request_years(j, scenario)
    hukou = {g.name: g.hukou for g in scenario.population.groups}
    in_year = dict(zip(*np.unique(year_of, return_counts=True), strict=True))
    cells = _year_cells(j, year_of)
    known = [by_year[str(int(year))] if by_year is not None and len(at) == in_year[year]
             and str(int(year)) in by_year else None for (year, _, _), at in cells]
    wanted = [at for (_, at), block in zip(cells, known, strict=True) if block is None]
    computed = _blocks(_columns(j), wanted) if wanted else []
    at = np.cumsum([block is None for block in known]) - 1  # where each computed one is
    rows = []
    for i, ((year, group, service), _) in enumerate(cells):
        block = known[i] if known[i] is not None else computed[at[i]]
        rows.append({"year": int(year), "group": group, "hukou": hukou.get(group, ""),
                     "service": service, **{k: block[k] for k in YEAR_MEASURES}})
    out = pd.DataFrame(rows, columns=["year", "group", "hukou", "service", *YEAR_MEASURES])
    return out.astype({"year": "int64", "requests": "int64"})


def _year_cells(j: pd.DataFrame, year_of: np.ndarray
                ) -> list[tuple[tuple[int, str, str], np.ndarray]]:
    """Each (year, group, service) with requests and its rows (ascending), in the order of
    ``groupby(["year", "group", "service"], sort=True)`` on the texts.

    Computed on codes ranked by their texts: turning the group and service columns into
    texts for a groupby cost more than the measures of the years.
    """
    keys = []
    for column in ("group", "service"):
        codes, uniques = pd.factorize(j[column])
        if (codes < 0).any():  # a missing value: the texts' way ("nan" is a text there)
            frame = pd.DataFrame({"year": year_of,
                                  "group": j["group"].astype(str).to_numpy(),
                                  "service": j["service"].astype(str).to_numpy()})
            return [(key, np.sort(at)) for key, at in
                    frame.groupby(["year", "group", "service"], sort=True).indices.items()]
        texts = np.array([str(u) for u in uniques], dtype=object)
        order = np.argsort(texts, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        keys.append((rank[codes], texts[order]))
    (group, groups), (service, services) = keys
    year = year_of.astype(np.int64)
    first = int(year.min()) if len(year) else 0  # years counted from the first keep keys small
    key = ((year - first) * len(groups) + group) * len(services) + service
    cells, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    rows = np.argsort(inverse, kind="stable")  # each cell's rows, ascending
    bounds = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for cell, a, b in zip(cells, bounds[:-1], bounds[1:], strict=True):
        rest, s = divmod(int(cell), len(services))
        y, g = divmod(rest, len(groups))
        out.append(((y + first, str(groups[g]), str(services[s])), rows[a:b]))
    return out


def by_year(j: pd.DataFrame, scenario: Scenario,
            columns: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """summary.json's ``by_year``: each calendar year's measures, for everyone and for
    migrants, with the dates the rules changed in that year (``columns``: the journeys'
    as :func:`_columns` takes them, if already taken)."""
    if columns is None:
        columns = _columns(j)
    year = request_years(j, scenario)
    migrant = (j["hukou"] != "local").to_numpy()
    changes: dict[int, list[str]] = {}
    for v in scenario.versions[1:]:
        changes.setdefault(v.since.year, []).append(v.since.isoformat())
    out: dict[str, Any] = {}
    # Each year's rows, ascending: one stable sort rather than a comparison per year.
    order = np.argsort(year, kind="stable")
    years_in, first = np.unique(year[order], return_index=True)
    parts = np.split(order, first[1:]) if len(order) else []
    mine = [rows[migrant[rows]] for rows in parts]
    # A year of migrants only: their block is the year's (same rows, same numbers).
    own = [0 < len(m) < len(rows) for m, rows in zip(mine, parts, strict=True)]
    blocks = _blocks(columns, [*parts, *(m for m, o in zip(mine, own, strict=True) if o)])
    theirs = len(parts) + np.cumsum(own) - 1  # where each year's migrants' block is
    for i, (y, m) in enumerate(zip(years_in, mine, strict=True)):
        block = blocks[i]
        out[str(int(y))] = {**block,
                            "migrants": None if not len(m) else blocks[theirs[i]] if own[i]
                            else dict(block),
                            "rule_changes": changes.get(int(y), [])}
    return out
