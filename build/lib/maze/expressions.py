"""Eligibility conditions written in scenario files, parsed safely.

A scenario may state a rule as text (``age < 45 and years_insurance >= 7 and not
criminal_record``), the way a policy document states it. The text is parsed by
Python's ``ast`` module and checked against a strict whitelist: declared household
attributes, numbers, strings, comparisons, ``and``/``or``/``not``, ``+ - * /`` and
parentheses. Anything else (calls, attribute access, subscripts, lambdas, dunder
names) is refused when the scenario is loaded. The checked tree is turned into a
small Python function built from closures; ``eval``/``exec`` never see user text.

Types are checked at load time as well, so a rule that could only fail while the
simulation runs (``age < "old"``, ``occupation == "farmer"``) is refused up front.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from maze.population import ATTRIBUTES

#: Longest condition accepted, in characters; a rule longer than this is not a rule.
MAX_LENGTH = 1000
#: Deepest nesting of the parsed expression (operators inside operators).
MAX_DEPTH = 40

ALLOWED = ("household attributes, numbers, strings, comparisons (< <= > >= == !=), "
           "and/or/not, + - * / and parentheses")

#: A function from an attribute name to the household's value of it.
Getter = Callable[[str], Any]
_Eval = Callable[[Getter], Any]


class ExpressionError(ValueError):
    """A condition that is refused; the message is meant for the scenario author as is."""


@dataclass(frozen=True)
class Condition:
    """A checked condition: its text, the attributes it reads, and how to evaluate it."""

    text: str
    names: frozenset[str]
    _fn: _Eval

    def __call__(self, get: Getter) -> bool:
        """Whether the condition holds for a household whose attributes ``get`` returns."""
        return bool(self._fn(get))


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _divide(a: float, b: float) -> float:
    """Division that never raises: x/0 is +-inf (or nan for 0/0), as in floating point."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _divide,
}

_SYMBOL = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
           ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
           ast.RShift: ">>", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not",
           ast.In: "in", ast.NotIn: "not in"}

_WHAT = {ast.Call: "a function call", ast.Attribute: "attribute access (the dot)",
         ast.Subscript: "a subscript ([...])", ast.Lambda: "a lambda",
         ast.IfExp: "an if/else expression", ast.NamedExpr: "an assignment (:=)",
         ast.JoinedStr: "an f-string", ast.List: "a list", ast.Tuple: "a tuple",
         ast.Set: "a set", ast.Dict: "a dict", ast.ListComp: "a comprehension",
         ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
         ast.GeneratorExp: "a comprehension", ast.Starred: "unpacking (*)",
         ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice"}


def _refuse(node: ast.AST, what: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    at = f" at column {col + 1}" if col is not None else ""
    return ExpressionError(f"{what}{at} is not allowed in a condition; allowed: {ALLOWED}")


def _depth(tree: ast.AST) -> int:
    """Nesting depth of a tree, computed without recursion (deep trees must not crash us)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def checked_tree(text: str, what: str = "condition") -> ast.expr:
    """The parsed body of ``text`` within the length and depth limits, or ExpressionError.

    Shared by conditions and by measure expressions (:mod:`maze.metric`); ``what`` names
    the kind of text in the messages.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"a {what} must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a {what} may be at most {MAX_LENGTH} characters long, "
                              f"this one has {len(text)}")
    if not text.strip():
        raise ExpressionError(f"a {what} must not be empty")
    if "\x00" in text:
        raise ExpressionError(f"a {what} must not contain a NUL character")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"not a valid {what}{col} ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"a {what} may nest at most {MAX_DEPTH} levels deep") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ExpressionError(f"a {what} may nest at most {MAX_DEPTH} levels deep")
    return tree.body


def parse(text: str) -> Condition:
    """Check a condition and build its evaluator, or raise ExpressionError saying why."""
    body = checked_tree(text)
    names: set[str] = set()
    fn, kind = _build(body, names)
    if kind != "bool":
        raise ExpressionError(
            f"a condition must be true or false, but this one gives a {kind} "
            "(compare it with something, e.g. `age < 45`)")
    return Condition(text, frozenset(names), fn)


@lru_cache(maxsize=1024)
def compiled(text: str) -> Condition:
    """``parse`` with a cache: offices evaluate the same few conditions at every visit."""
    return parse(text)


def holds(text: str, get: Getter) -> bool:
    """Whether condition ``text`` holds for a household whose attributes ``get`` returns."""
    return compiled(text)(get)


def _build(node: ast.AST, names: set[str]) -> tuple[_Eval, str]:
    """An evaluator for ``node`` and the kind of value it gives: bool, number or category."""
    if isinstance(node, ast.Name):
        return _name(node, names)
    if isinstance(node, ast.Constant):
        return _constant(node)
    if isinstance(node, ast.BoolOp):
        parts = [_boolean(v, names, "and" if isinstance(node.op, ast.And) else "or")
                 for v in node.values]
        if isinstance(node.op, ast.And):
            return (lambda get: all(p(get) for p in parts)), "bool"
        return (lambda get: any(p(get) for p in parts)), "bool"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            inner = _boolean(node.operand, names, "not")
            return (lambda get: not inner(get)), "bool"
        if isinstance(node.op, ast.USub | ast.UAdd):
            inner = _number(node.operand, names, "-" if isinstance(node.op, ast.USub) else "+")
            if isinstance(node.op, ast.USub):
                return (lambda get: -inner(get)), "number"
            return inner, "number"
        raise _refuse(node, f"the operator {_SYMBOL.get(type(node.op), '?')!r}")
    if isinstance(node, ast.BinOp):
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            raise _refuse(node, f"the operator {_SYMBOL.get(type(node.op), '?')!r}")
        left = _number(node.left, names, "arithmetic")
        right = _number(node.right, names, "arithmetic")
        return (lambda get: op(left(get), right(get))), "number"
    if isinstance(node, ast.Compare):
        return _compare(node, names)
    what = _WHAT.get(type(node), f"a {type(node).__name__} expression")
    raise _refuse(node, what)


def _name(node: ast.Name, names: set[str]) -> tuple[_Eval, str]:
    name = node.id
    if name.startswith("__") or name.endswith("__"):
        raise _refuse(node, f"the name {name!r}")
    spec = ATTRIBUTES.get(name)
    if spec is None:
        known = ", ".join(sorted(ATTRIBUTES))
        raise ExpressionError(f"unknown household attribute {name!r} at column "
                              f"{node.col_offset + 1}; known: {known}")
    names.add(name)
    kind = spec.kind
    if kind == "number":
        return (lambda get: float(get(name))), kind
    if kind == "bool":
        return (lambda get: bool(get(name))), kind
    return (lambda get: str(get(name))), kind


def _constant(node: ast.Constant) -> tuple[_Eval, str]:
    value = node.value
    if isinstance(value, bool):
        return (lambda get: value), "bool"
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise _refuse(node, "a number this large") from None
        if not math.isfinite(number):
            raise _refuse(node, "a number this large")
        return (lambda get: number), "number"
    if isinstance(value, str):
        return (lambda get: value), "string"
    raise _refuse(node, f"the constant {value!r}")


def _boolean(node: ast.AST, names: set[str], op: str) -> _Eval:
    fn, kind = _build(node, names)
    if kind != "bool":
        raise ExpressionError(
            f"{op!r} at column {node.col_offset + 1} needs a yes/no value, got a {kind}; "
            "compare numbers and categories explicitly (e.g. `children > 0`)")
    return fn


def _number(node: ast.AST, names: set[str], op: str) -> _Eval:
    fn, kind = _build(node, names)
    if kind != "number":
        raise ExpressionError(
            f"{op!r} at column {node.col_offset + 1} needs a number, got a {kind}")
    return fn


def _compare(node: ast.Compare, names: set[str]) -> tuple[_Eval, str]:
    operands = [node.left, *node.comparators]
    built = [_build(o, names) for o in operands]
    steps = []
    for i, op in enumerate(node.ops):
        fn = _COMPARE.get(type(op))
        if fn is None:
            raise _refuse(node, f"the comparison {_SYMBOL.get(type(op), '?')!r}")
        (_, lk), (_, rk) = built[i], built[i + 1]
        left, right = operands[i], operands[i + 1]
        if isinstance(op, _ORDERING):
            if lk != "number" or rk != "number":
                raise ExpressionError(
                    f"ordering at column {left.col_offset + 1} compares numbers only, "
                    f"not a {lk} with a {rk}")
        else:
            _same_kind(left, lk, right, rk)
        steps.append(fn)
    evals = [b[0] for b in built]

    def chained(get: Getter) -> bool:
        a = evals[0](get)
        for fn, nxt in zip(steps, evals[1:], strict=True):
            b = nxt(get)
            if not fn(a, b):
                return False
            a = b
        return True

    return chained, "bool"


def _same_kind(left: ast.AST, lk: str, right: ast.AST, rk: str) -> None:
    """``==``/``!=`` compare like with like; a category is compared with one of its values."""
    pairs = ((left, lk, right, rk), (right, rk, left, lk))
    for a, ak, b, bk in pairs:
        if ak == "category" and bk == "string":
            spec = ATTRIBUTES[a.id]  # a category kind only comes from an attribute name
            value = b.value
            if value not in spec.categories:
                raise ExpressionError(
                    f"{a.id} is never {value!r}; it is one of {', '.join(spec.categories)}")
            return
    if lk != rk and not {lk, rk} <= {"category", "string"}:
        raise ExpressionError(f"comparison at column {left.col_offset + 1} compares a {lk} "
                              f"with a {rk}, which is never equal")
