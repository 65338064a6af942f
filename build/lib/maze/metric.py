"""Measures declared in data: a named measure or a safe expression, with filters.

A targets file, a sensitivity study or an experiment names the number it wants from a
run as data, not code::

    measure = "served_share"                      # a named measure (a summary.json key)
    filters = { service = "school", hukou = "migrant" }

    expression = 'share(outcome == "served") / share(outcome != "deterred")'
    filters = { group = ["informal_worker", "factory_worker"], year = 2016 }

Named measures are the keys of a summary block (``served_share``, ``gave_up_share``,
``median_days_to_service``, ``mean_visits``, ``explicit_refusal_share``,
``city_cost_saved`` ...), computed by :mod:`maze.measures` on the filtered journeys, so a
measure and the summary of the same rows agree to the last digit. An expression
aggregates columns of a table (``journeys`` by default, or ``households``) with
``share``, ``count``, ``mean``, ``sum``, ``median``, ``min`` and ``max``; it is parsed
with :mod:`ast` against a whitelist as in :mod:`maze.expressions` and never evaluated
as Python.

Every measure is checked against the scenario it will be read from before anything
runs: an unknown measure, an unknown column, a value a column never takes (a group or
service the scenario does not have), or filters that together can match no row (a
group that never asks for the service) are refused with one message naming the file
and the key.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from maze import measures
from maze.eventlog import OUTCOMES
from maze.expressions import _SYMBOL, _WHAT, ExpressionError, checked_tree
from maze.population import ATTRIBUTES
from maze.scenario import REASONS, Scenario, ScenarioError

TABLES = ("journeys", "households")

#: Named measures: every key of a summary block (maze.measures._block).
NAMED = ("requests", *(f"{o}_share" for o in OUTCOMES), "median_days_to_service",
         "median_days_to_service_among_served", "mean_visits", "mean_offices_seen",
         "mean_government_offices_seen", "mean_levels_seen", "mean_sectors_seen",
         "mean_loops", "explicit_refusal_share", "missed_deadline_share",
         "mean_out_of_pocket", "mean_wage_lost", "city_cost_saved")

#: Columns a filter may select on (each journey carries its household's attributes).
FILTERS = ("group", "hukou", "service", "outcome", "origin", "education", "occupation",
           "school_stage", "contract", "lease_own", "residence_permit", "year")

AGGREGATES = ("share", "count", "mean", "sum", "median", "min", "max")
ALLOWED = ("aggregates (share, count, mean, sum, median, min, max) of table columns, "
           "numbers, strings, comparisons (< <= > >= == !=), and/or/not, + - * / "
           "and parentheses")

_JOURNEY_NUMBERS = ("start", "end", "days_to_outcome", "visits", "referrals", "loops",
                    "offices_seen", "government_offices_seen", "levels_seen", "sectors_seen",
                    "out_of_pocket", "wage_lost", "city_cost_saved", "household_id", "case_id")
_JOURNEY_BOOLS = ("contract", "lease_own", "residence_permit", "explicit_refusal",
                  "missed_deadline")


@dataclass(frozen=True)
class Column:
    """What a column holds: its kind (number, bool, category) and, for a category, its values."""

    kind: str
    values: tuple[str, ...] | None = None


def domains(scenario: Scenario, table: str = "journeys") -> dict[str, Column]:
    """The columns of ``table`` in runs of ``scenario``, with the values each can take."""
    groups = tuple(g.name for g in scenario.population.groups)
    hukou = tuple(sorted({g.hukou for g in scenario.population.groups}))
    cols: dict[str, Column] = {"group": Column("category", groups),
                               "hukou": Column("category", hukou)}
    for name, spec in ATTRIBUTES.items():
        if spec.kind == "category":
            cols[name] = Column("category", spec.categories)
        else:
            cols[name] = Column(spec.kind)
    if table == "households":
        cols["household_id"] = Column("number")
        return cols
    cols = {c: v for c, v in cols.items() if c in measures.GROUP_COLUMNS}
    cols["service"] = Column("category", tuple(scenario.services))
    cols["outcome"] = Column("category", OUTCOMES)
    cols["last_office"] = Column("category", tuple(o.name for o in scenario.offices) + ("",))
    cols["last_reason"] = Column("category", (*REASONS, ""))
    for c in _JOURNEY_NUMBERS:
        cols[c] = Column("number")
    for c in _JOURNEY_BOOLS:
        cols[c] = Column("bool")
    return cols


def run_years(scenario: Scenario) -> range:
    """Calendar years a run of ``scenario`` covers (a request starts in one of them)."""
    first = scenario.city.start_date
    # The run is [start, start + horizon): its last moment is just before the end.
    last = first + timedelta(days=max(float(scenario.city.horizon) - 1e-6, 0.0))
    return range(first.year, last.year + 1)


# --- expressions ------------------------------------------------------------------------

_Rows = Mapping[str, np.ndarray]
_Fn = Callable[[_Rows], Any]


def _refuse(node: ast.AST, what: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    at = f" at column {col + 1}" if col is not None else ""
    return ExpressionError(f"{what}{at} is not allowed in a measure; allowed: {ALLOWED}")


@dataclass(frozen=True)
class Expression:
    """A checked measure expression: its text, the columns it reads, and its evaluator."""

    text: str
    names: frozenset[str]
    _fn: _Fn
    columns: Mapping[str, Column]

    def __call__(self, rows: _Rows) -> float:
        value = self._fn(rows)
        return float(value)

    def __reduce__(self) -> tuple[Any, ...]:
        # The evaluator is a tree of closures, which do not pickle: a worker process or a
        # Dask worker rebuilds it from the text and the columns it was checked against.
        return (parse_expression, (self.text, dict(self.columns)))


def parse_expression(text: str, columns: Mapping[str, Column]) -> Expression:
    """Check a measure expression against ``columns`` and build its evaluator."""
    body = checked_tree(text, "measure expression")
    names: set[str] = set()
    fn, kind = _Builder(columns, names).build(body, aggregate=False)
    if kind != "scalar":
        raise ExpressionError("a measure must aggregate its rows into one number, e.g. "
                              "share(outcome == \"served\") or mean(visits)")
    return Expression(text, frozenset(names), fn, columns)


def _div(a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: _div}
_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
        ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}


def _nan_if_empty(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], float]:
    def agg(x: np.ndarray) -> float:
        x = x[~np.isnan(x)] if x.dtype.kind == "f" else x
        return float(fn(x)) if len(x) else math.nan
    return agg


_AGG: dict[str, Callable[[np.ndarray], float]] = {
    "share": _nan_if_empty(np.mean), "mean": _nan_if_empty(np.mean),
    "median": _nan_if_empty(np.median), "min": _nan_if_empty(np.min),
    "max": _nan_if_empty(np.max),
    "sum": lambda x: float(np.nansum(x)) if len(x) else 0.0,
}


class _Builder:
    """Turns a checked tree into closures over the filtered columns.

    Kinds: ``scalar`` (one number for the rows), ``number``/``bool``/``category`` (a value
    per row) and ``string`` (a constant compared with a category).
    """

    def __init__(self, columns: Mapping[str, Column], names: set[str]):
        self.columns = columns
        self.names = names

    def build(self, node: ast.AST, aggregate: bool) -> tuple[_Fn, str]:
        if isinstance(node, ast.Call):
            return self._call(node, aggregate)
        if isinstance(node, ast.Name):
            if not aggregate:
                raise ExpressionError(
                    f"column {node.id!r} at column {node.col_offset + 1} must sit inside an "
                    f"aggregate ({', '.join(AGGREGATES)})")
            return self._name(node)
        if isinstance(node, ast.Constant):
            return self._constant(node, aggregate)
        if isinstance(node, ast.BoolOp):
            parts = [self._need(v, aggregate, "bool", "and/or") for v in node.values]
            op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

            def boolop(rows: _Rows) -> np.ndarray:
                out = parts[0](rows)
                for p in parts[1:]:
                    out = op(out, p(rows))
                return out
            return boolop, "bool"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                inner = self._need(node.operand, aggregate, "bool", "not")
                return (lambda rows: np.logical_not(inner(rows))), "bool"
            if isinstance(node.op, ast.USub | ast.UAdd):
                fn, kind = self.build(node.operand, aggregate)
                if kind not in ("number", "scalar"):
                    raise ExpressionError(f"'-' at column {node.col_offset + 1} needs a number")
                if isinstance(node.op, ast.UAdd):
                    return fn, kind
                return (lambda rows: np.negative(fn(rows))), kind
            raise _refuse(node, f"the operator {_SYMBOL.get(type(node.op), '?')!r}")
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                raise _refuse(node, f"the operator {_SYMBOL.get(type(node.op), '?')!r}")
            left, lk = self.build(node.left, aggregate)
            right, rk = self.build(node.right, aggregate)
            kinds = {lk, rk}
            if not kinds <= {"number", "scalar", "bool"} or "bool" in kinds:
                raise ExpressionError(
                    f"arithmetic at column {node.col_offset + 1} needs numbers, "
                    f"got a {lk} and a {rk}")
            kind = "number" if "number" in kinds else "scalar"
            return (lambda rows: op(left(rows), right(rows))), kind
        if isinstance(node, ast.Compare):
            return self._compare(node, aggregate)
        raise _refuse(node, _WHAT.get(type(node), f"a {type(node).__name__} expression"))

    def _need(self, node: ast.AST, aggregate: bool, kind: str, op: str) -> _Fn:
        fn, k = self.build(node, aggregate)
        if k != kind:
            raise ExpressionError(f"{op!r} at column {node.col_offset + 1} needs a {kind} "
                                  f"value, got a {k}")
        return fn

    def _name(self, node: ast.Name) -> tuple[_Fn, str]:
        name = node.id
        column = self.columns.get(name)
        if column is None:
            raise ExpressionError(f"unknown column {name!r} at column {node.col_offset + 1}; "
                                  f"known: {', '.join(sorted(self.columns))}")
        self.names.add(name)
        return (lambda rows: rows[name]), column.kind

    def _constant(self, node: ast.Constant, aggregate: bool) -> tuple[_Fn, str]:
        value = node.value
        if isinstance(value, bool):
            return (lambda rows: value), "bool"
        if isinstance(value, int | float):
            number = float(value)
            if not math.isfinite(number):
                raise _refuse(node, "a number this large")
            return (lambda rows: number), ("number" if aggregate else "scalar")
        if isinstance(value, str):
            return (lambda rows: value), "string"
        raise _refuse(node, f"the constant {value!r}")

    def _call(self, node: ast.Call, aggregate: bool) -> tuple[_Fn, str]:
        if not isinstance(node.func, ast.Name) or node.func.id not in AGGREGATES:
            what = node.func.id if isinstance(node.func, ast.Name) else "?"
            raise _refuse(node, f"the function {what!r} (only {', '.join(AGGREGATES)})")
        if aggregate:
            raise ExpressionError(f"aggregate {node.func.id!r} at column {node.col_offset + 1} "
                                  "inside another aggregate")
        if node.keywords:
            raise _refuse(node, "a keyword argument")
        name = node.func.id
        if name == "count" and not node.args:
            return (lambda rows: float(len(rows["__n__"]))), "scalar"
        if len(node.args) != 1:
            raise ExpressionError(f"{name}() at column {node.col_offset + 1} takes one "
                                  "argument (a column or a condition on the rows)")
        arg, kind = self.build(node.args[0], aggregate=True)
        n = lambda rows: len(rows["__n__"])  # noqa: E731 - the row count for constants
        if name in ("share", "count"):
            if kind != "bool":
                raise ExpressionError(f"{name}() at column {node.col_offset + 1} needs a "
                                      f"condition (e.g. outcome == \"served\"), got a {kind}")

            def mask(rows: _Rows) -> np.ndarray:
                return np.broadcast_to(np.asarray(arg(rows), dtype=bool), (n(rows),))
            if name == "count":
                return (lambda rows: float(mask(rows).sum())), "scalar"
            return (lambda rows: _AGG["share"](mask(rows))), "scalar"
        if kind not in ("number", "bool"):
            raise ExpressionError(f"{name}() at column {node.col_offset + 1} needs numbers, "
                                  f"got a {kind}")
        agg = _AGG[name]

        def values(rows: _Rows) -> float:
            x = np.broadcast_to(np.asarray(arg(rows), dtype=float), (n(rows),))
            return agg(x)
        return values, "scalar"

    def _compare(self, node: ast.Compare, aggregate: bool) -> tuple[_Fn, str]:
        operands = [node.left, *node.comparators]
        built = [self.build(o, aggregate) for o in operands]
        steps = []
        for i, op in enumerate(node.ops):
            fn = _CMP.get(type(op))
            if fn is None:
                raise _refuse(node, f"the comparison {_SYMBOL.get(type(op), '?')!r}")
            (_, lk), (_, rk) = built[i], built[i + 1]
            numeric = {"number", "scalar"}
            if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
                if lk not in numeric or rk not in numeric:
                    raise ExpressionError(f"ordering at column {operands[i].col_offset + 1} "
                                          f"compares numbers only, not a {lk} with a {rk}")
            else:
                self._same_kind(operands[i], lk, operands[i + 1], rk)
            steps.append(fn)
        evals = [b[0] for b in built]

        def chained(rows: _Rows) -> Any:
            a = evals[0](rows)
            out: Any = True
            for fn, nxt in zip(steps, evals[1:], strict=True):
                b = nxt(rows)
                out = np.logical_and(out, fn(a, b))
                a = b
            return out
        return chained, "bool"

    def _same_kind(self, left: ast.AST, lk: str, right: ast.AST, rk: str) -> None:
        for a, ak, b, bk in ((left, lk, right, rk), (right, rk, left, lk)):
            if ak == "category" and bk == "string":
                values = self.columns[a.id].values or ()
                if b.value not in values:
                    raise ExpressionError(f"{a.id} is never {b.value!r} in this scenario; it "
                                          f"is one of {', '.join(map(repr, values))}")
                return
        kinds = {lk, rk}
        if lk != rk and not kinds <= {"number", "scalar"}:
            raise ExpressionError(f"comparison at column {left.col_offset + 1} compares a "
                                  f"{lk} with a {rk}, which is never equal")


# --- measure specs ----------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """A checked measure: a named measure or an expression, over filtered rows of a table."""

    label: str
    table: str = "journeys"
    named: str | None = None
    expression: Expression | None = None
    filters: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def spec(data: Mapping[str, Any], scenario: Scenario, *, source: str, key: str) -> Spec:
    """Check a measure declared as data against ``scenario``, or raise one ScenarioError.

    ``data`` holds ``measure`` (a named measure) or ``expression``, optional ``filters``
    and optional ``table`` (``journeys`` or ``households``; named measures read journeys).
    """
    def fail(what: str, sub: str | None = None) -> ScenarioError:
        return ScenarioError(what, source=source, key=f"{key}.{sub}" if sub else key)

    if not isinstance(data, Mapping):
        raise fail("a measure is a table with `measure` or `expression`")
    table = data.get("table", "journeys")
    if table not in TABLES:
        raise fail(f"unknown table {table!r}; tables: {', '.join(TABLES)}", "table")
    named, text = data.get("measure"), data.get("expression")
    if (named is None) == (text is None):
        raise fail("give either `measure` (a named measure) or `expression`, not both or "
                   "neither")
    columns = domains(scenario, table)
    expression = None
    if named is not None:
        if table != "journeys":
            raise fail("named measures read the journeys; use an expression for "
                       "households", "table")
        if named not in NAMED:
            raise fail(f"unknown measure {named!r}; known: {', '.join(NAMED)}", "measure")
    else:
        try:
            expression = parse_expression(text, columns)
        except ExpressionError as exc:
            raise fail(str(exc), "expression") from None
    filters = data.get("filters", {})
    if not isinstance(filters, Mapping):
        raise fail("filters are a table of column = value or [values]", "filters")
    checked: dict[str, tuple[Any, ...]] = {}
    for column, value in filters.items():
        where = f"filters.{column}"
        allowed = FILTERS if table == "journeys" else tuple(
            c for c in FILTERS if c in columns or c == "year")
        if column not in allowed:
            raise fail(f"cannot filter on {column!r}; filters: {', '.join(allowed)}", where)
        values = _as_tuple(value)
        if not values:
            raise fail("an empty list of values matches nothing", where)
        if column == "year":
            years = run_years(scenario)
            for v in values:
                if not isinstance(v, int) or isinstance(v, bool) or v not in years:
                    raise fail(f"year {v!r} matches nothing: this scenario runs from "
                               f"{years.start} to {years.stop - 1}", where)
        elif columns[column].kind == "bool":
            for v in values:
                if not isinstance(v, bool):
                    raise fail(f"{column} is true or false, not {v!r}", where)
        else:
            known = columns[column].values or ()
            for v in values:
                if v not in known:
                    raise fail(f"{column} {v!r} matches nothing: this scenario has "
                               f"{', '.join(map(repr, known))}", where)
        checked[column] = values
    _check_reachable(checked, scenario, fail)
    label = named or text
    return Spec(label=label, table=table, named=named, expression=expression, filters=checked)


def _check_reachable(filters: Mapping[str, tuple[Any, ...]], scenario: Scenario,
                     fail: Callable[..., ScenarioError]) -> None:
    """Refuse filters that no household of the scenario can meet together."""
    groups = [g for g in scenario.population.groups if g.share > 0
              and g.name in filters.get("group", (g.name,))
              and g.hukou in filters.get("hukou", (g.hukou,))]
    if not groups:
        raise fail("the filters on group and hukou together match no group of this "
                   "scenario (with a share above 0)", "filters")
    services = filters.get("service")
    # A group that lists no needs asks for every service (maze.journey).
    if services is not None and not any(g.needs.get(s, 0.0 if g.needs else 1.0) > 0
                                        for g in groups for s in services):
        raise fail(f"no selected group ever asks for {', '.join(services)} (its need is 0)",
                   "filters.service")


def evaluate(s: Spec, tables: Mapping[str, pd.DataFrame], scenario: Scenario) -> float:
    """The value of a checked measure on one run's tables (NaN when no row matches)."""
    frame = tables[s.table]
    mask = np.ones(len(frame), dtype=bool)
    for column, values in s.filters.items():
        if column == "year":
            start = pd.Timestamp(scenario.city.start_date)
            # a request in the year it starts; a household in the year it arrives
            day = frame["start" if s.table == "journeys" else "arrival"]
            when = start + pd.to_timedelta(day.to_numpy(dtype=float), unit="D")
            col = np.asarray(when.year)
        else:
            col = frame[column].to_numpy()
        mask &= np.isin(col, np.asarray(values, dtype=object)) if col.dtype == object else \
            np.isin(col, np.asarray(values))
    rows = np.flatnonzero(mask)
    if s.named is not None:
        value = measures._block(measures._columns(frame), rows)[s.named] if len(rows) else None
        if s.named == "requests":
            return float(len(rows))
        return math.nan if value is None else float(value)
    assert s.expression is not None
    data = {c: _array(frame[c], rows) for c in s.expression.names}
    data["__n__"] = rows
    return s.expression(data)


def _array(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    values = column.to_numpy()[rows]
    if values.dtype == object or isinstance(column.dtype, pd.CategoricalDtype) or \
            pd.api.types.is_string_dtype(column.dtype):
        return np.asarray(values, dtype=object)
    return values


def run_tables(run: Any) -> dict[str, pd.DataFrame]:
    """The tables a measure may read, from an ``api.Run``."""
    return {"journeys": run.journeys, "households": run.raw.households}


def evaluate_all(specs: Iterable[Spec], run: Any) -> list[float]:
    """Every measure of ``specs`` on one run (an ``api.Run``)."""
    tables = run_tables(run)
    return [evaluate(s, tables, run.scenario) for s in specs]
