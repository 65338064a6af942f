"""Reference pages generated from the code at build time, so they cannot drift.

``mkdocs build`` calls these through ``docs/gen/hooks.py``: a page holds a marker such as
``<!-- reference:scenario -->`` and the hook puts the generated Markdown in its place.

- ``scenario``: every scenario key, walked from the pydantic models in ``maze.scenario``.
- ``mechanisms``: every ``[mechanisms.NAME]`` table, from the models the ``offices``
  modules register.
- ``attributes``: the household attributes of ``maze.population.ATTRIBUTES``.
- ``distributions``: the distributions and the parameters each takes.
- ``cli``: every ``maze`` command and option, from the argparse parser.

A key's unit comes from ``json_schema_extra={"unit": ...}`` on its ``Field`` when the
model declares one, else from the name rules in ``UNITS`` below. Its description comes
from the field's ``description``, else from the ``#:`` comment above the field.
"""

from __future__ import annotations

import argparse
import functools
import html
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: Units by the last part of a key (``*`` matches any text); the first match wins.
UNITS: tuple[tuple[str, str], ...] = (
    ("population.arrivals.rate", "households per day"),
    ("city.start_date", "date"),
    ("city.horizon", "days"),
    ("*_days", "days"),
    ("*_day", "day"),
    ("days_*", "days"),
    ("deadline", "day"),
    ("start", "day"),
    ("end", "day"),
    ("closures", "days [start, end)"),
    ("service_time", "days"),
    ("notice", "day"),
    ("price", "RMB"),
    ("*price*", "RMB"),
    ("fee", "RMB"),
    ("*fee*", "RMB"),
    ("city_cost", "RMB per request"),
    ("*cost*", "RMB"),
    ("share", "share (0-1)"),
    ("*share*", "share (0-1)"),
    ("probability", "probability (0-1)"),
    ("*probability*", "probability (0-1)"),
    ("rate", "probability (0-1)"),
    ("min_years.*", "years"),
    ("*years*", "years"),
    ("max_age", "years"),
    ("weekdays", "0 = Monday ... 6 = Sunday"),
    ("clerks", "clerks"),
    ("seats", "places"),
    ("households", "households"),
)


def unit(path: str, info: FieldInfo | None = None) -> str:
    """The unit of a dotted key (``offices[].price``), or '' when it has none."""
    extra = getattr(info, "json_schema_extra", None)
    if isinstance(extra, dict) and extra.get("unit"):
        return str(extra["unit"])
    plain = re.sub(r"\[\]|\.NAME", "", path)
    last = plain.rsplit(".", 1)[-1]
    for pattern, u in UNITS:
        target = plain if "." in pattern else last
        if _match(pattern, target):
            return u
    return ""


def _match(pattern: str, text: str) -> bool:
    rx = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(rx, text) is not None


# --- types and ranges -----------------------------------------------------------------

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return "one of " + ", ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`"
                                     for a in args)
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return "list of " + (_type_name(inner[0]) if inner else "values")
    if origin is dict:
        return f"table of {_type_name(args[1])}"
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        if tp.__name__ == "Distribution":
            return "[distribution](#distributions)"
        return "table"
    return {str: "text", int: "integer", float: "number", bool: "true/false",
            type(None): "none"}.get(tp, getattr(tp, "__name__", str(tp)))


def _bounds(metadata: list[Any]) -> list[str]:
    out = []
    for m in metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and isinstance(m, (annotated_types.BaseMetadata,
                                                annotated_types.Interval)):
                out.append(f"{sym} {v:,}" if isinstance(v, int) else f"{sym} {v:g}")
        if isinstance(m, annotated_types.MinLen) and m.min_length:
            out.append(f"at least {m.min_length}" + (" item" if m.min_length == 1 else " items"))
    return out


def _range(info: FieldInfo) -> str:
    found = _bounds(list(info.metadata))
    stack = [info.annotation]
    while stack:  # bounds inside Annotated[...] | None and tuple[Annotated[...], ...]
        tp = stack.pop()
        if typing.get_origin(tp) is typing.Annotated:
            found += _bounds(list(typing.get_args(tp)[1:]))
            stack.append(typing.get_args(tp)[0])
        else:
            stack.extend(a for a in typing.get_args(tp) if a is not Ellipsis)
    return ", ".join(dict.fromkeys(found))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:
            return ""
    else:
        value = info.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        if type(value).__name__ == "Distribution":
            return "`" + _toml(value.model_dump(exclude_none=True)) + "`"
        return ""
    if value in ((), {}, None, ""):
        return {(): "`[]`", None: "none", "": '`""`'}.get(value, "`{}`") \
            if not isinstance(value, dict) else "`{}`"
    return "`" + _toml(value) + "`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


# --- descriptions -----------------------------------------------------------------------

#: Meanings of keys whose model field carries no description or ``#:`` comment. A field's
#: own description wins; a key missing from both shows an empty meaning.
MEANINGS: dict[str, str] = {
    "city": "The city as a whole.",
    "city.name": "The city's name; runs are written to runs/<name>-<seed>/.",
    "city.start_date": "Day 0 of the simulation; stories and exported event logs date from it.",
    "city.horizon": "Days simulated; requests still open then end as pending.",
    "city.regime": "provide (serve everyone), deny (refuse non-locals, naming hukou) or "
                   "deflect (the city as written).",
    "city.description": "One line shown by maze presets.",
    "city.sources": "The published works the figures come from (see the bibliography).",
    "offices": "The counters households queue at.",
    "offices[].name": "Unique name, used by referrals, documents, services and mechanisms.",
    "offices[].kind": "What it is (bureau, school, hospital, employer, hometown...); for reports.",
    "offices[].sector": "Sector of government; blame spread counts distinct sectors.",
    "offices[].level": "Level of government (district, municipal, ...); blame spread counts "
                       "distinct levels.",
    "offices[].clerks": "Households served at once; the rest wait in line, first come first "
                        "served.",
    "offices[].seats": "Places it can give (a school's seats); none means no limit.",
    "offices[].service_time": "Time at the counter once a clerk is free.",
    "offices[].calendar": "When it is open.",
    "offices[].calendar.weekdays": "Days of the week it opens.",
    "offices[].calendar.closures": "Closed periods, each [start, end) in days.",
    "offices[].price": "What a household pays to be served here (a private school's fee).",
    "referrals": "Declared edges of the referral graph.",
    "referrals[].from": "The office that sends households on.",
    "referrals[].to": "The office they are sent to.",
    "referrals[].reason": "The reason the referral gives.",
    "referrals[].service": "Only for requests for this service (all if absent).",
    "documents": "Papers a household may have to hold, by name.",
    "documents.NAME.issuer": "The office that issues it (none: cannot be obtained in the city).",
    "documents.NAME.requires": "Documents the issuer asks for first.",
    "documents.NAME.held_by_locals": "Locals start with it.",
    "documents.NAME.fee": "What the issuer charges.",
    "services": "The public services households ask for, by name.",
    "services.NAME.entry": "The office where a request starts.",
    "services.NAME.documents": "Documents a migrant must hold to be served.",
    "services.NAME.min_years": "Minimum consecutive years in the city (migrants only).",
    "services.NAME.min_years.work": "Years of work.",
    "services.NAME.min_years.insurance": "Years of local social insurance.",
    "services.NAME.min_years.residence": "Years of residence.",
    "services.NAME.min_years.schooling": "The child's years of school in the city.",
    "services.NAME.max_age": "Oldest age served (migrants only).",
    "population": "Who lives in the city and asks for services.",
    "population.households": "Number of households (with poisson arrivals: an upper bound).",
    "population.arrivals": "When households make their requests.",
    "population.arrivals.process": "uniform: spread evenly over [start, end]; poisson: at "
                                   "rate a day.",
    "population.arrivals.start": "First day of arrivals.",
    "population.arrivals.end": "Last day of arrivals (default: the horizon).",
    "population.arrivals.rate": "Households a day, for a poisson process.",
    "population.groups": "Kinds of household; their shares sum to 1.",
    "population.groups[].name": "Unique name (informal_worker, graduate, local, ...).",
    "population.groups[].share": "Share of households in the group.",
    "population.groups[].hukou": "local or migrant.",
    "population.groups[].attributes": "Household attributes that differ from their defaults "
                                      "(see Household attributes below).",
    "mechanisms": "Switchable deflection mechanisms, by name (see Mechanisms below).",
    "city.end_date": "Last day simulated, instead of horizon (give one or the other).",
    "uncertainty.NAME.range": "Lowest and highest plausible value of the key NAME.",
    "uncertainty.NAME.dist": "How to draw within the range.",
    "uncertainty.NAME.mode": "Most plausible value within the range (triangular draws).",
    "uncertainty.NAME.why": "One line saying why this range: the source, or why it is an "
                            "assumption.",
}


@functools.cache
def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comments above each field of a model's class body."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        s = line.strip()
        if s.startswith("#:"):
            pending.append(s[2:].strip())
            continue
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*:", s)
        if m and pending:
            out[m.group(1)] = " ".join(pending)
        if s and not s.startswith("#"):
            pending = []
    return out


def _describe(model: type[BaseModel], name: str, info: FieldInfo, path: str = "") -> str:
    text = info.description or _comments(model).get(name, "") or MEANINGS.get(path, "")
    return " ".join(text.split())


# --- the walk -----------------------------------------------------------------------------

def _models_in(tp: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """Models nested in a field's type, with the path suffix that reaches them."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        yield from _models_in(args[0])
    elif origin in (typing.Union, types.UnionType):
        for a in args:
            yield from _models_in(a)
    elif origin in (tuple, list) and args:
        for suffix, m in _models_in(args[0]):
            yield "[]" + suffix, m
    elif origin is dict and len(args) == 2:
        for suffix, m in _models_in(args[1]):
            yield ".NAME" + suffix, m
    elif inspect.isclass(tp) and issubclass(tp, BaseModel) and tp.__name__ != "Distribution":
        yield "", tp


def rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, ...]]:
    """(key, type, unit, default, range, description) for every key, depth first."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        kind = _type_name(info.annotation)
        bounds = _range(info)
        if kind == "text":
            bounds = bounds.replace("at least 1 item", "not empty")
        yield (path, kind, "" if "table" in kind else unit(path, info), _default(info),
               bounds, _describe(model, name, info, path))
        for suffix, sub in _models_in(info.annotation):
            yield from rows(sub, f"{path}{suffix}.")


def _md(text: str) -> str:
    """Prose as Markdown: ``<name>`` shown as written, not read as an HTML tag (code spans
    between backticks are left as they are, where Markdown shows them literally)."""
    parts = text.split("`")
    return "`".join(html.escape(p, quote=False) if i % 2 == 0 else p
                    for i, p in enumerate(parts))


def _help(text: str | None, default: Any = None) -> str:
    """An argparse help string as its reader sees it: ``%(default)s`` filled in, ``%%``
    as ``%``, on one line."""
    text = (text or "").replace("%(default)s", str(default)).replace("%%", "%")
    return " ".join(text.split())


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in body:
        out.append("| " + " | ".join(_md(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def _key_table(model: type[BaseModel], prefix: str = "") -> str:
    body = [(f"`{k}`", t, u, d, rg, desc) for k, t, u, d, rg, desc in rows(model, prefix)]
    return _table(("key", "type", "unit", "default", "range", "meaning"), body)


def scenario() -> str:
    """Every key of a scenario file, one table per top-level section."""
    from maze.scenario import Scenario

    parts = []
    every = [(f"`{k}`", t, u, d, rg, desc) for k, t, u, d, rg, desc in rows(Scenario)]
    for name, info in Scenario.model_fields.items():
        if name == "mechanisms":
            continue
        models = list(_models_in(info.annotation))
        doc = " ".join((models[0][1].__dict__.get("__doc__") or "").split()) if models else ""
        parts.append(f"## `{name}`\n\n{doc}\n\n" if doc else f"## `{name}`\n\n")
        parts.append(_table(("key", "type", "unit", "default", "range", "meaning"),
                            [r for r in every
                             if r[0].strip("`").split(".")[0].split("[")[0] == name]))
        parts.append("\n")
    return "".join(parts)


def mechanisms() -> str:
    """Every switchable mechanism's table, from the models registered in ``offices``."""
    import offices

    offices._load_all()
    parts = []
    for name in sorted(offices.REGISTRY):
        model, cls = offices.REGISTRY[name]
        module = inspect.getmodule(cls)
        doc = (inspect.getdoc(module) or "").split("\n\n")[0]
        where = module.__name__.replace(".", "/") + ".py" if module else ""
        parts.append(f"### `[mechanisms.{name}]`\n\n{' '.join(doc.split())} (`{where}`)\n\n")
        parts.append(_key_table(model, f"mechanisms.{name}."))
        parts.append("\n")
    return "".join(parts)


def attributes() -> str:
    from maze.population import ATTRIBUTES

    body = []
    for name, spec in ATTRIBUTES.items():
        kind = {"bool": "yes/no", "number": "number"}.get(spec.kind, "category")
        values = ", ".join(f"`{c}`" for c in spec.categories)
        body.append((f"`{name}`", kind, f"`{_toml(spec.default)}`", values, spec.doc,
                     spec.range_text()))
    return _table(("attribute", "kind", "default", "categories", "meaning", "range"), body)


#: One plausible example of each distribution, in days.
EXAMPLES = {"constant": "value = 1.0", "exponential": "mean = 0.03",
            "uniform": "low = 1, high = 5", "normal": "mean = 3, sd = 1, low = 0",
            "lognormal": "mean = 2, sd = 1", "gamma": "mean = 2, sd = 1",
            "triangular": "low = 1, mode = 2, high = 6", "poisson": "mean = 3"}


def distributions() -> str:
    from maze.distributions import _NEEDS

    body = [(f"`{d}`", ", ".join(f"`{p}`" for p in params),
             f'`{{ dist = "{d}", {EXAMPLES.get(d, "")} }}`') for d, params in _NEEDS.items()]
    return _table(("dist", "parameters", "example"), body)


def cli() -> str:
    """Every command and option, from the parser ``maze`` itself uses."""
    from maze.app import cli as maze_cli

    parser = maze_cli._parser()
    parts = [f"```text\n{_usage(parser)}```\n\n{_md(_help(parser.description))}\n\n"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                parts.append(f"## `maze {name}`\n\n{_md(_help(helps.get(name)))}\n\n")
                if sub.description:
                    parts.append(f"{_md(_help(sub.description))}\n\n")
                parts.append(f"```text\n{_usage(sub)}```\n\n")
                parts.append(_options(sub))
    return "".join(parts)


def _usage(parser: argparse.ArgumentParser) -> str:
    fmt = argparse.HelpFormatter(parser.prog, width=88)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return fmt.format_help()


def _options(parser: argparse.ArgumentParser) -> str:
    body = []
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        names = ", ".join(f"`{o}`" for o in a.option_strings) or f"`{a.metavar or a.dest}`"
        if a.option_strings and a.nargs != 0:
            names += f" `{a.metavar or a.dest.upper()}`"
        choices = ", ".join(f"`{c}`" for c in a.choices) if a.choices else ""
        default = "" if a.default is None or a.default is False \
            or a.default == argparse.SUPPRESS else f"`{a.default}`"
        body.append((names, _help(a.help, a.default), choices, default))
    return _table(("argument", "meaning", "choices", "default"), body) + "\n" if body else ""


#: Marker name -> generator, for ``<!-- reference:NAME -->`` in a page.
GENERATORS: dict[str, Callable[[], str]] = {
    "scenario": scenario, "mechanisms": mechanisms, "attributes": attributes,
    "distributions": distributions, "cli": cli,
}
