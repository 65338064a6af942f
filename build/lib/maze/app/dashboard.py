"""The live teaching dashboard: the levers of a city as controls, the maze redrawn on each change.

A teacher moves a lever (provide, deny or deflect; the papers a service asks for;
a class-size cap; how many times a household is bounced between two offices) and
the model runs again and every figure of the report is redrawn. A "follow one
household" panel tells one family's journey in words.

The mechanism controls are built from ``offices.REGISTRY`` and the scenario's
``[mechanisms.*]`` tables, field by field from each mechanism's pydantic model,
so a newly registered mechanism appears here without editing this file. Fields
that are not simple values (nested tables, distributions, dictionaries) keep
the values of the scenario file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import types
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, dcc, html
from pydantic.fields import FieldInfo

import offices
from maze import measures, report, story
from maze import scenario as sc
from maze.app import api
from maze.scenario import Scenario, ScenarioError

SOURCE = "dashboard"
MAX_HOUSEHOLDS = 50_000
CACHE_RUNS = 6
#: The report's figures, in the order the dashboard shows them.
FIGURE_KEYS = ("sankey", "survival", "outcomes", "spread", "graph", "timeline", "reasons")
#: Field names whose values are office or service names (shown as menus of the scenario's).
OFFICE_FIELDS = {"office", "offices", "alternatives", "issuer", "entry"}
SERVICE_FIELDS = {"service", "services"}


# -- mechanism controls, from the pydantic models ------------------------------------------------

@dataclass(frozen=True)
class Control:
    """One simple field of a mechanism's configuration, as a control."""

    name: str
    kind: str  # "bool", "int", "float", "choice", "text", "names"
    required: bool
    default: Any
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class MechanismControls:
    name: str
    doc: str
    controls: tuple[Control, ...]
    #: Required fields that are not simple values: the mechanism needs a scenario table.
    needs_table: tuple[str, ...] = field(default=())
    #: "deflection" (the city's rules) or "family" (decisions over years; needs [lives]).
    kind: str = "deflection"


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(base type, constraint metadata, optional) of an annotation."""
    meta: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for m in extra:
                meta.extend(getattr(m, "metadata", [m]))
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, meta, optional


def _bounds(meta: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for m in meta:
        for attr in ("ge", "gt"):
            if getattr(m, attr, None) is not None:
                low = float(getattr(m, attr))
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                high = float(getattr(m, attr))
    return low, high


def field_control(name: str, info: FieldInfo, scenario: Scenario) -> Control | None:
    """The control for one field, or None when it is not a simple value."""
    base, meta, _ = _unwrap(info.annotation)
    meta = meta + list(info.metadata)
    low, high = _bounds(meta)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    offices_ = tuple(o.name for o in scenario.offices)
    services = tuple(scenario.services)
    choices: tuple[str, ...] = ()
    if name in OFFICE_FIELDS:
        choices = offices_
    elif name in SERVICE_FIELDS:
        choices = services
    origin = typing.get_origin(base)
    if base is bool:
        return Control(name, "bool", required, default)
    if base is int:
        return Control(name, "int", required, default, low=low, high=high)
    if base is float:
        return Control(name, "float", required, default, low=low, high=high)
    if origin is typing.Literal:
        return Control(name, "choice", required, default,
                       choices=tuple(str(a) for a in typing.get_args(base)))
    if base is str:
        return Control(name, "choice" if choices else "text", required, default, choices)
    if origin is tuple and choices:
        args = typing.get_args(base)
        if args and _unwrap(args[0])[0] is str:
            return Control(name, "names", required, list(default or ()), choices)
    return None


def mechanism_controls(scenario: Scenario) -> list[MechanismControls]:
    """Controls for every registered mechanism, and for the scenario's own tables."""
    offices._load_all()
    out = []
    for name in sorted(offices.REGISTRY):
        model, cls = offices.REGISTRY[name]
        controls, complex_required = [], []
        for fname, info in model.model_fields.items():
            if fname == "enabled":
                continue
            c = field_control(fname, info, scenario)
            if c is not None:
                controls.append(c)
            elif info.is_required():
                complex_required.append(fname)
        doc = (cls.__doc__ or model.__doc__ or "").replace("``", "").strip().splitlines()
        first = re.sub(r"^\[mechanisms\.\w+\]:\s*", "", doc[0]) if doc else ""
        needs = () if name in scenario.mechanisms else tuple(complex_required)
        out.append(MechanismControls(name, first[:1].upper() + first[1:], tuple(controls),
                                     needs, getattr(cls, "kind", "deflection")))
    return out


def shown_mechanisms(scenario: Scenario) -> list[MechanismControls]:
    """The mechanisms the page offers: the city's deflections always, the family decisions
    only in a city run over years (they act on [lives])."""
    return [m for m in mechanism_controls(scenario)
            if m.kind != "family" or scenario.lives is not None]


def _initial(scenario: Scenario, mech: str, control: Control) -> Any:
    table = scenario.mechanisms.get(mech, {})
    if control.name in table:
        v = table[control.name]
        return list(v) if isinstance(v, list | tuple) else v
    return control.default


def is_on(scenario: Scenario, mech: str) -> bool:
    table = scenario.mechanisms.get(mech)
    return table is not None and table.get("enabled", True) is not False


# -- from controls to a scenario ----------------------------------------------------------------

@dataclass
class Levers:
    """Everything the controls say, in plain values."""

    regime: str
    households: int | None
    seed: int
    patience_days: float | None = None
    patience_visits: float | None = None
    documents: dict[str, list[str]] = field(default_factory=dict)
    mechanisms_on: dict[str, bool] = field(default_factory=dict)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


def _clean(control: Control | None, value: Any) -> Any:
    """A control's value for the table, or None to leave the field at its default."""
    if value is None or value == "" or value == []:
        return None
    if control is None:
        return value
    if control.kind == "bool":
        return bool(value)
    if control.kind == "int":
        return int(value)
    if control.kind == "float":
        return float(value)
    if control.kind == "names":
        return list(value)
    return value


def configure(base: Scenario, levers: Levers) -> Scenario:
    """The base scenario with the levers applied, validated (ScenarioError if not)."""
    data = base.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["city"]["regime"] = levers.regime
    if levers.households is not None:
        if not 1 <= levers.households <= MAX_HOUSEHOLDS:
            raise ScenarioError(f"between 1 and {MAX_HOUSEHOLDS:,} households, please",
                                source=SOURCE, key="population.households")
        data["population"]["households"] = int(levers.households)
    for attr, value in (("patience_days", levers.patience_days),
                        ("patience_visits", levers.patience_visits)):
        if value is not None:
            for g in data["population"]["groups"]:
                g.setdefault("attributes", {})[attr] = float(value)
    for service, docs in levers.documents.items():
        if service in data["services"]:
            data["services"][service]["documents"] = list(docs)
    known = {m.name: m for m in mechanism_controls(base)}
    mechs = data.setdefault("mechanisms", {})
    for name, on in levers.mechanisms_on.items():
        model = offices.REGISTRY[name][0] if name in offices.REGISTRY else None
        table = dict(mechs.get(name, {}))
        controls = {c.name: c for c in known[name].controls} if name in known else {}
        for fname, value in levers.parameters.get(name, {}).items():
            v = _clean(controls.get(fname), value)
            if v is None:
                table.pop(fname, None)
            else:
                table[fname] = v
        has_enabled = model is not None and "enabled" in model.model_fields
        if on:
            if has_enabled:
                table["enabled"] = True
            mechs[name] = table
        elif name in mechs:
            if has_enabled:
                table["enabled"] = False
                mechs[name] = table
            else:
                del mechs[name]
    scenario = sc.from_dict(data, source=SOURCE)
    offices.configs(scenario, SOURCE)
    return scenario


# -- runs, cached -------------------------------------------------------------------------------

class Runs:
    """The last few runs, keyed by scenario and seed, so the story panel can reuse them."""

    def __init__(self, size: int = CACHE_RUNS):
        self.size = size
        self._runs: OrderedDict[str, tuple[Scenario, api.Run]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(scenario: Scenario, seed: int) -> str:
        text = json.dumps(scenario.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(f"{seed}|{text}".encode()).hexdigest()[:16]

    def get(self, scenario: Scenario, seed: int) -> tuple[str, api.Run]:
        key = self.key(scenario, seed)
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return key, self._runs[key][1]
        run = api.run(scenario, seed)
        with self._lock:
            self._runs[key] = (scenario, run)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)
        return key, run

    def find(self, key: str | None) -> tuple[Scenario, api.Run] | None:
        with self._lock:
            return self._runs.get(key) if key else None


# -- reading the controls: every value checked on the server ------------------------------------

#: Bounds of the dashboard's own boxes (the scenario's validation applies on top).
SEED_MAX = 2**32 - 1
PATIENCE_DAYS_MAX = 3650.0
PATIENCE_VISITS_MAX = 1000
TEXT_MAX = 200
REGIMES = ("provide", "deny", "deflect")
_WHOLE = re.compile(r"[+-]?\d{1,3}(,\d{3})+|[+-]?\d+")
_REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Refused(ValueError):
    """A control's value that the dashboard will not run with; the message is for the page."""


def whole(value: Any, low: float | None, high: float | None, what: str = "a whole number"
          ) -> int | None:
    """A whole number typed in a box (or sent as one), within bounds; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise Refused(f"{what}, not {value!r}")
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        value = int(value.strip().replace(",", ""))
    if not isinstance(value, int):
        raise Refused(f"{what}, not {str(value)[:40]!r}")
    _within(value, low, high, what)
    return value


def real(value: Any, low: float | None, high: float | None, what: str = "a number"
         ) -> float | None:
    """A finite number typed in a box (or sent as one), within bounds; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise Refused(f"{what}, not {value!r}")
    if isinstance(value, str) and _REAL.fullmatch(value.strip()):
        value = float(value.strip())
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused(f"{what}, not {str(value)[:40]!r}")
    _within(value, low, high, what)
    return float(value)


def _within(value: float, low: float | None, high: float | None, what: str) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        span = (f"from {_num(low)} to {_num(high)}" if low is not None and high is not None
                else f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
        raise Refused(f"{what} {span}, not {_num(value)}")


def _num(x: float | None) -> str:
    return f"{x:,.0f}" if x is not None and float(x) == int(x) else f"{x:,}"


def _choice(value: Any, choices: tuple[str, ...] | list[str], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise Refused(f"{what}: one of {', '.join(map(str, choices))}")
    return value


def _names(value: Any, choices: tuple[str, ...] | list[str], what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{what}: a list of names")
    unknown = [v for v in value if v not in choices]
    if unknown:
        raise Refused(f"{what}: no {', '.join(map(repr, unknown[:3]))} here")
    return list(dict.fromkeys(value))


@dataclass(frozen=True)
class View:
    """Whose requests the summary and the figures show: a part of the households, one service."""

    who: str = "everyone"  # "everyone", "migrants", "locals" or "group:NAME"
    service: str = "all"

    def label(self) -> str:
        who = {"everyone": "", "migrants": "migrant", "locals": "local"}.get(
            self.who, _words(self.who.partition(":")[2]))
        service = "" if self.service == "all" else _words(self.service)
        return " ".join(x for x in (who, service, "requests") if x) if who or service \
            else "all requests"


def view_choices(scenario: Scenario) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(value, label) pairs of the two view menus: who, and which service."""
    who = [("everyone", "everyone"), ("migrants", "migrants (no local hukou)"),
           ("locals", "locals (local hukou)")]
    who += [(f"group:{g.name}", f"group: {_words(g.name)}") for g in scenario.population.groups]
    services = [("all", "every service")] + [(s, _words(s)) for s in scenario.services]
    return who, services


def in_view(journeys: pd.DataFrame, view: View) -> np.ndarray:
    """Which rows of the journeys table the view keeps."""
    keep = np.ones(len(journeys), dtype=bool)
    hukou = journeys["hukou"].astype(str).to_numpy() if "hukou" in journeys else None
    if view.who == "migrants":
        keep &= hukou != "local" if hukou is not None else False
    elif view.who == "locals":
        keep &= hukou == "local" if hukou is not None else False
    elif view.who.startswith("group:"):
        keep &= (journeys["group"].astype(str) == view.who[6:]).to_numpy()
    if view.service != "all":
        keep &= (journeys["service"].astype(str) == view.service).to_numpy()
    return keep


def view_measures(journeys: pd.DataFrame, view: View) -> dict[str, Any]:
    """The run's measures (as in summary.json) for the requests of one view."""
    rows = np.flatnonzero(in_view(journeys, view))
    return measures.block(journeys, rows)


@dataclass
class Form:
    """What the page sent: every control's value, with the ids of the pattern-matched ones."""

    regime: Any = None
    households: Any = None
    seed: Any = None
    patience_days: Any = None
    patience_visits: Any = None
    who: Any = "everyone"
    service: Any = "all"
    docs: list[tuple[Any, Any]] = field(default_factory=list)
    ons: list[tuple[Any, Any]] = field(default_factory=list)
    params: list[tuple[Any, Any]] = field(default_factory=list)


def read_form(base: Scenario, form: Form) -> tuple[Levers | None, View | None, dict[Any, str]]:
    """The levers and the view, or None and a message for each control that is wrong.

    Error keys: a control's id (``"households"``), ``("docs", service)``, ``("mech", name)``,
    ``("param", name, field)``, or ``"form"`` for what matches no control on the page.
    """
    errors: dict[Any, str] = {}

    def take(key: Any, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Refused as exc:
            errors[key] = str(exc)
            return None

    regime = take("regime", lambda: _choice(form.regime, REGIMES, "the regime"))
    households = take("households", lambda: whole(form.households, 1, MAX_HOUSEHOLDS,
                                                  "households: a whole number"))
    if households is None and "households" not in errors:
        errors["households"] = f"households: a whole number from 1 to {MAX_HOUSEHOLDS:,}"
    seed = take("seed", lambda: whole(form.seed, 0, SEED_MAX, "the seed: a whole number"))
    if seed is None and "seed" not in errors:
        errors["seed"] = f"the seed: a whole number from 0 to {SEED_MAX:,}"
    pdays = take("patience-days", lambda: real(form.patience_days, 0, PATIENCE_DAYS_MAX,
                                               "days: a number"))
    pvisits = take("patience-visits", lambda: whole(form.patience_visits, 1,
                                                    PATIENCE_VISITS_MAX,
                                                    "visits: a whole number"))
    who_choices, service_choices = view_choices(base)
    who = take("view-who", lambda: _choice(form.who, [v for v, _ in who_choices], "whose"))
    service = take("view-service", lambda: _choice(form.service,
                                                  [v for v, _ in service_choices], "service"))
    documents: dict[str, list[str]] = {}
    for id_, value in form.docs:
        service_ = id_.get("service") if isinstance(id_, dict) else None
        if service_ not in base.services:
            errors["form"] = f"no service {str(service_)[:40]!r} in this city"
            continue
        docs = take(("docs", service_), lambda v=value: _names(v, list(base.documents),
                                                                "documents"))
        if docs is not None:
            documents[service_] = docs
    known = {m.name: m for m in mechanism_controls(base)}
    on: dict[str, bool] = {}
    for id_, value in form.ons:
        name = id_.get("mechanism") if isinstance(id_, dict) else None
        if name not in known:
            errors["form"] = f"no mechanism {str(name)[:40]!r} here"
            continue
        flags = take(("mech", name), lambda v=value: _names(v, ["on"], "switch"))
        if flags is None:
            continue
        if flags and known[name].needs_table:
            errors[("mech", name)] = ("needs a [mechanisms." + name + "] table in the "
                                      "scenario file")
            continue
        on[name] = bool(flags)
    parameters: dict[str, dict[str, Any]] = {}
    for id_, value in form.params:
        name = id_.get("mechanism") if isinstance(id_, dict) else None
        fname = id_.get("field") if isinstance(id_, dict) else None
        control = next((c for c in known[name].controls if c.name == fname), None) \
            if name in known else None
        if control is None:
            errors["form"] = f"no setting {str(name)[:40]!r}.{str(fname)[:40]!r} here"
            continue
        v = take(("param", name, fname), lambda c=control, v=value: _param(c, v))
        if ("param", name, fname) not in errors:
            parameters.setdefault(name, {})[fname] = v
    if errors:
        return None, None, errors
    levers = Levers(regime=regime, households=households, seed=seed, patience_days=pdays,
                    patience_visits=None if pvisits is None else float(pvisits),
                    documents=documents, mechanisms_on=on, parameters=parameters)
    return levers, View(who, service), errors


def _param(c: Control, value: Any) -> Any:
    """One mechanism setting's value, checked against its field (None: the default)."""
    what = _words(c.name)
    if c.kind == "bool":
        return bool(_names(value, ["yes"], what))
    if c.kind == "int":
        return whole(value, c.low, c.high, f"{what}: a whole number")
    if c.kind == "float":
        return real(value, c.low, c.high, f"{what}: a number")
    if c.kind == "choice":  # unset: the default, or the scenario's check names the key
        return None if value is None else _choice(value, c.choices, what)
    if c.kind == "names":
        return _names(value, c.choices, what)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TEXT_MAX:
        raise Refused(f"{what}: a text of at most {TEXT_MAX} characters")
    return value


# -- who asked last: a newer request supersedes an older one -------------------------------------

class Latest:
    """The newest request number of each open page, so an older run is never drawn over it."""

    def __init__(self, size: int = 1000):
        self.size = size
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def ask(self, client: str, n: int) -> None:
        with self._lock:
            self._seen[client] = max(n, self._seen.get(client, 0))
            self._seen.move_to_end(client)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def superseded(self, client: str, n: int) -> bool:
        with self._lock:
            return n < self._seen.get(client, n)


# -- layout -------------------------------------------------------------------------------------

PANEL = {"width": "340px", "flex": "0 0 340px", "padding": "12px", "borderRight": "1px solid #ddd",
         "height": "100vh", "overflowY": "auto", "boxSizing": "border-box",
         "fontSize": "14px", "background": "#fafafa"}
MAIN = {"flex": "1", "padding": "12px 20px", "height": "100vh", "overflowY": "auto",
        "boxSizing": "border-box"}
LABEL = {"fontWeight": "600", "marginTop": "12px", "display": "block"}
NOTE = {"color": "#666", "fontSize": "12px"}
ERROR = {"color": "#c1121f", "fontSize": "12px", "fontWeight": "600"}
RUNNING = {"display": "block", "color": "#b5651d", "fontWeight": "600"}
#: While the model runs, the old results stay visible, dimmed.
DIMMED = {"opacity": 0.45, "filter": "grayscale(0.6)", "transition": "opacity 0.2s"}
CLEAR = {"opacity": 1, "transition": "opacity 0.2s"}
STORY = {"maxWidth": "900px", "lineHeight": "1.45", "maxHeight": "300px", "overflowY": "auto",
         "border": "1px solid #e3e3e3", "padding": "6px 12px", "marginTop": "6px",
         "background": "#fffdf7"}
#: The summary's rows: (key in the measures, label).
SUMMARY_ROWS = (("requests", "requests"), ("served_share", "served"),
                ("alternative_share", "private alternative"), ("sent_away_share", "sent away"),
                ("gave_up_share", "gave up"), ("denied_share", "denied"),
                ("deterred_share", "deterred"), ("pending_share", "still waiting"),
                ("explicit_refusal_share", "refused for hukou"),
                ("median_days_to_service", "median days to service"),
                ("median_days_to_service_among_served", "median days, among those served"),
                ("missed_deadline_share", "missed a deadline"),
                ("mean_offices_seen", "offices met (mean)"),
                ("city_cost_saved", "city cost saved (RMB)"))
#: The summary's columns: the chosen view, then migrants, locals and everyone.
SUMMARY_COLUMNS = (("view", None), ("migrants", View("migrants")), ("locals", View("locals")),
                   ("everyone", View()))


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def _box(id_: Any, value: Any, placeholder: str = "", width: str = "120px") -> dcc.Input:
    """A text box for a number: what is typed reaches the server as typed, to be checked there
    (a number box would turn -5 or 3,000,000 into 'empty' before the server sees it)."""
    return dcc.Input(id=id_, type="text", inputMode="decimal", value=_shown(value),
                     debounce=True, placeholder=placeholder, style={"width": width})


def _shown(value: Any) -> str | None:
    """A number as a box shows it ("120", not "120.0")."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return None if value is None else str(value)


def _error(id_: Any) -> html.Div:
    return html.Div(id=id_, className="control-error", style=ERROR)


def _page_value(c: Control, value: Any) -> Any:
    """A mechanism setting as its control holds it (a tick list, a box's text, a name)."""
    if c.kind == "bool":
        return ["yes"] if value else []
    if c.kind in ("int", "float"):
        return _shown(value)
    if c.kind == "names":
        return list(value or [])
    return value


def initial_form(scenario: Scenario, seed: int, view: View | None = None) -> Form:
    """What the page's controls hold when it opens, as the server would receive it."""
    view = view or View("migrants")
    docs = [({"type": "docs", "service": name}, list(svc.documents))
            for name, svc in scenario.services.items()]
    ons, params = [], []
    for m in shown_mechanisms(scenario):
        ons.append(({"type": "mech-on", "mechanism": m.name},
                    ["on"] if is_on(scenario, m.name) else []))
        params += [({"type": "mech-param", "mechanism": m.name, "field": c.name},
                    _page_value(c, _initial(scenario, m.name, c))) for c in m.controls]
    return Form(scenario.city.regime, _shown(scenario.population.households), _shown(seed),
                _shown(_patience(scenario, "patience_days")),
                _shown(_patience(scenario, "patience_visits")), view.who, view.service,
                docs, ons, params)


def _control_input(mech: str, c: Control, value: Any) -> Any:
    id_ = {"type": "mech-param", "mechanism": mech, "field": c.name}
    value = _page_value(c, value)
    if c.kind == "bool":
        return dcc.Checklist(id=id_, options=[{"label": " yes", "value": "yes"}],
                             value=value, inline=True)
    if c.kind in ("int", "float"):
        return _box(id_, value, "required" if c.required else "default")
    if c.kind == "choice":
        return dcc.Dropdown(id=id_, options=[{"label": _words(x), "value": x} for x in c.choices],
                            value=value, clearable=not c.required, style={"width": "200px"})
    if c.kind == "names":
        return dcc.Dropdown(id=id_, options=[{"label": _words(x), "value": x} for x in c.choices],
                            value=value, multi=True, style={"width": "220px"})
    return dcc.Input(id=id_, type="text", value=value, debounce=True, style={"width": "200px"})


def _mechanism_block(scenario: Scenario, m: MechanismControls) -> html.Div:
    on = is_on(scenario, m.name)
    rows = []
    for c in m.controls:
        rows.append(html.Div([
            html.Div([html.Span(_words(c.name) + (" *" if c.required else ""),
                                style={"display": "inline-block", "width": "120px"}),
                      _control_input(m.name, c, _initial(scenario, m.name, c))],
                     style={"display": "flex", "alignItems": "center"}),
            _error({"type": "param-error", "mechanism": m.name, "field": c.name})],
            style={"margin": "3px 0"}))
    note = []
    if m.needs_table:
        note = [html.Div("needs a [mechanisms." + m.name + "] table in the scenario file for: "
                         + ", ".join(m.needs_table), style=NOTE)]
    return html.Div([
        dcc.Checklist(id={"type": "mech-on", "mechanism": m.name},
                      options=[{"label": " " + _words(m.name), "value": "on",
                                "disabled": bool(m.needs_table)}],
                      value=["on"] if on else [], inputStyle={"marginRight": "4px"},
                      labelStyle={"fontWeight": "600"}),
        _error({"type": "mech-error", "mechanism": m.name}),
        html.Div(m.doc, style=NOTE), *note,
        html.Details([html.Summary("settings", style=NOTE), *rows]) if rows else None,
    ], className="mechanism", style={"margin": "8px 0", "padding": "6px",
                                     "border": "1px solid #e3e3e3", "borderRadius": "4px",
                                     "background": "white"}, **{"data-mechanism": m.name})


def _patience(scenario: Scenario, attr: str) -> float | None:
    values = {g.attributes.get(attr) for g in scenario.population.groups}
    if len(values) == 1:
        v = values.pop()
        if v is None:
            from maze.population import ATTRIBUTES

            return float(ATTRIBUTES[attr].default)  # type: ignore[arg-type]
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def controls_panel(scenario: Scenario, seed: int) -> html.Div:
    docs = list(scenario.documents)
    controls = shown_mechanisms(scenario)
    services = []
    for name, svc in scenario.services.items():
        services.append(html.Details([
            html.Summary(_words(name), style={"fontStyle": "italic", "cursor": "pointer"}),
            dcc.Checklist(id={"type": "docs", "service": name},
                          options=[{"label": " " + _words(d), "value": d} for d in docs],
                          value=list(svc.documents), labelStyle={"display": "block"}),
            _error({"type": "docs-error", "service": name})],
            open=len(scenario.services) <= 2, **{"data-service": name}))
    return html.Div([
        html.H3("Levers of the city", style={"marginTop": 0}),
        html.Label("Regime", style=LABEL),
        dcc.RadioItems(id="regime", value=scenario.city.regime, inline=True,
                       options=[{"label": " " + r + "  ", "value": r} for r in REGIMES]),
        _error("regime-error"),
        html.Label("Households", htmlFor="households", style=LABEL),
        _box("households", scenario.population.households),
        html.Div(f"1 to {MAX_HOUSEHOLDS:,}; press Enter to run", style=NOTE),
        _error("households-error"),
        html.Label("Seed", htmlFor="seed", style=LABEL),
        _box("seed", seed),
        _error("seed-error"),
        html.Label("Patience: days a household keeps trying", htmlFor="patience-days",
                   style=LABEL),
        _box("patience-days", _patience(scenario, "patience_days"), "as in the scenario"),
        _error("patience-days-error"),
        html.Label("Patience: visits before giving up", htmlFor="patience-visits", style=LABEL),
        _box("patience-visits", _patience(scenario, "patience_visits"), "as in the scenario"),
        _error("patience-visits-error"),
        html.Label("Documents required", style=LABEL),
        *services,
        html.Label("Deflection mechanisms", style=LABEL),
        html.Div("Switched on here, each applies under 'deflect' (and 'deny'); 'provide' "
                 "waives them.", style=NOTE),
        *[_mechanism_block(scenario, m) for m in controls if m.kind != "family"],
        *([html.Label("Family decisions over the years", style=LABEL),
           html.Div("What families decide from year to year in a city run over years "
                    "([lives]): bring a child, try again, the gaokao, going home.", style=NOTE),
           *[_mechanism_block(scenario, m) for m in controls if m.kind == "family"]]
          if any(m.kind == "family" for m in controls) else []),
    ], style=PANEL)


def view_panel(scenario: Scenario, first: View) -> html.Div:
    """The two menus that choose whose requests the summary and the figures show."""
    who, services = view_choices(scenario)
    return html.Div([
        html.Label("Show the requests of", htmlFor="view-who",
                   style={"fontWeight": "600", "marginRight": "6px"}),
        dcc.Dropdown(id="view-who", options=[{"label": label, "value": v} for v, label in who],
                     value=first.who, clearable=False, style={"width": "260px"}),
        html.Label("for", htmlFor="view-service", style={"margin": "0 6px"}),
        dcc.Dropdown(id="view-service", value="all", clearable=False, style={"width": "200px"},
                     options=[{"label": label, "value": v} for v, label in services]),
        _error("view-who-error"), _error("view-service-error"),
    ], style={"display": "flex", "alignItems": "center", "flexWrap": "wrap", "gap": "4px",
              "margin": "6px 0"})


def create_app(scenario: Scenario, seed: int = 0) -> dash.Dash:
    """A Dash app for one base scenario; every control re-runs the model."""
    runs = Runs()
    latest = Latest()
    base = scenario
    first_key, first = runs.get(base, seed)
    first_view = View("migrants")
    figs = _figures(first, first_view)
    if not figs:  # no migrant asked for anything: start with everyone
        first_view = View()
        figs = _figures(first, first_view)
    app = dash.Dash(__name__, title=f"maze: {base.city.name}")
    options, chosen = _household_options(first)

    def layout() -> html.Div:
        graphs = [html.Section([html.H3(figs[k].heading), html.P(figs[k].blurb, style=NOTE),
                                dcc.Graph(id=f"fig-{k}", figure=figs[k].figure,
                                          config={"displaylogo": False})])
                  for k in FIGURE_KEYS]
        return html.Div([
            controls_panel(base, seed),
            html.Div([
                html.H2(f"maze: {_words(base.city.name)}", style={"margin": "0"}),
                html.P(base.city.description, style=NOTE),
                dcc.Store(id="client", data=uuid.uuid4().hex),
                dcc.Store(id="asked", data=0), dcc.Store(id="drawn", data=0),
                dcc.Store(id="run-key", data=first_key),
                html.Div(id="running", children="running the model…", title="0/0",
                         style={"display": "none"}),
                html.Div(id="status", children=_status(first, 0.0, first_view),
                         style={"margin": "6px 0"}),
                html.Div(id="results", style=CLEAR, children=[
                    view_panel(base, first_view),
                    html.Div(id="summary", children=_summary(first.journeys, first_view)),
                    _year_section(first, first_view),
                    html.Section([
                        html.H3("Follow one household"),
                        dcc.Dropdown(id="household", options=options, value=chosen,
                                     clearable=False, style={"maxWidth": "640px"}),
                        html.Div(id="story", children=_story(base, first, chosen),
                                 style=STORY)]),
                    *graphs]),
            ], style=MAIN),
        ], style={"display": "flex", "fontFamily": "system-ui, sans-serif", "margin": "-8px"})

    app.layout = layout
    controls = [Input("regime", "value"), Input("households", "value"), Input("seed", "value"),
                Input("patience-days", "value"), Input("patience-visits", "value"),
                Input("view-who", "value"), Input("view-service", "value"),
                Input({"type": "docs", "service": ALL}, "value"),
                Input({"type": "mech-on", "mechanism": ALL}, "value"),
                Input({"type": "mech-param", "mechanism": ALL, "field": ALL}, "value")]
    # Each change of a control is a numbered request, counted in the browser.
    app.clientside_callback(
        "function() { const n = arguments[arguments.length - 1]; return (n || 0) + 1; }",
        Output("asked", "data"), *controls, State("asked", "data"), prevent_initial_call=True)
    # "running" shows, and the results are dimmed, as soon as a request is made, and until
    # the newest request is drawn. Two callbacks: one that waited on "drawn" (an output of
    # the model's callback) would be held back by Dash until the model had answered. The
    # title, "drawn/asked", lets a test see when the newest request has been drawn.
    app.clientside_callback(
        "function(asked, drawn) { return [" + json.dumps(RUNNING) + ", " + json.dumps(DIMMED)
        + ", (drawn || 0) + '/' + (asked || 0)]; }",
        Output("running", "style"), Output("results", "style"), Output("running", "title"),
        Input("asked", "data"), State("drawn", "data"), prevent_initial_call=True)
    app.clientside_callback(
        "function(drawn, asked) { const nu = window.dash_clientside.no_update;"
        " const done = (drawn || 0) >= (asked || 0);"
        " return [done ? {display: 'none'} : nu, done ? " + json.dumps(CLEAR) + " : nu,"
        " (drawn || 0) + '/' + (asked || 0)]; }",
        Output("running", "style", allow_duplicate=True),
        Output("results", "style", allow_duplicate=True),
        Output("running", "title", allow_duplicate=True),
        Input("drawn", "data"), State("asked", "data"), prevent_initial_call=True)

    single_errors = ("regime", "households", "seed", "patience-days", "patience-visits",
                     "view-who", "view-service")

    @app.callback(
        [Output(f"fig-{k}", "figure") for k in FIGURE_KEYS]
        + [Output("summary", "children"), Output("status", "children"),
           Output("run-key", "data"), Output("household", "options"),
           Output("household", "value"), Output("drawn", "data")]
        + [Output(f"{k}-error", "children") for k in single_errors]
        + [Output({"type": "docs-error", "service": ALL}, "children"),
           Output({"type": "mech-error", "mechanism": ALL}, "children"),
           Output({"type": "param-error", "mechanism": ALL, "field": ALL}, "children")],
        Input("asked", "data"),
        [State("client", "data"), State("household", "value"),
         *[State(c.component_id, c.component_property) for c in controls],
         State({"type": "docs", "service": ALL}, "id"),
         State({"type": "mech-on", "mechanism": ALL}, "id"),
         State({"type": "mech-param", "mechanism": ALL, "field": ALL}, "id")],
        prevent_initial_call=True)
    def _rerun(asked, client, current, regime, households, seed_, pdays, pvisits, who, service,
               docs, ons, params, doc_ids, on_ids, param_ids):
        no = dash.no_update
        targets = dash.ctx.outputs_list[-3:]
        n = asked if isinstance(asked, int) and not isinstance(asked, bool) else 0
        client = client if isinstance(client, str) else ""
        latest.ask(client, n)

        def answer(figures: Any, summary: Any, status: Any, key: Any, opts: Any, value: Any,
                   errors: dict[Any, str]) -> list[Any]:
            if latest.superseded(client, n):  # a newer request is on its way: draw nothing
                return [no] * (len(FIGURE_KEYS) + 6 + len(single_errors) + 3)
            return (list(figures) + [summary, status, key, opts, value, n]
                    + [errors.get(k) for k in single_errors]
                    + [[errors.get(("docs", t["id"].get("service"))) for t in targets[0]],
                       [errors.get(("mech", t["id"].get("mechanism"))) for t in targets[1]],
                       [errors.get(("param", t["id"].get("mechanism"), t["id"].get("field")))
                        for t in targets[2]]])

        nothing = [no] * len(FIGURE_KEYS)
        try:
            form = Form(regime, households, seed_, pdays, pvisits, who, service,
                        list(zip(doc_ids, docs, strict=True)), list(zip(on_ids, ons, strict=True)),
                        list(zip(param_ids, params, strict=True)))
        except (TypeError, ValueError):
            form = None
        if form is None:
            return answer(nothing, no, _not_run("the page sent controls that do not match; "
                                                "reload it"), no, no, no, {})
        levers, view, errors = read_form(base, form)
        if levers is None or view is None:
            message = errors.get("form") or "fix the value marked in red"
            return answer(nothing, no, _not_run(message), no, no, no, errors)
        if latest.superseded(client, n):
            return answer(nothing, no, no, no, no, no, {})
        try:
            scenario_ = configure(base, levers)
        except ScenarioError as exc:
            mech = _mechanism_of(exc)
            return answer(nothing, no, _not_run(str(exc)), no, no, no,
                          {("mech", mech): str(exc)} if mech else {})
        t0 = time.perf_counter()
        key, run = runs.get(scenario_, levers.seed)
        if latest.superseded(client, n):
            return answer(nothing, no, no, no, no, no, {})
        drawn = _figures(run, view)
        if not drawn:
            return answer(nothing, _summary(run.journeys, view),
                          _status(run, time.perf_counter() - t0, view, empty=True), key,
                          *_household_options(run, keep=current), {})
        options_, chosen_ = _household_options(run, keep=current)
        return answer([drawn[k].figure for k in FIGURE_KEYS], _summary(run.journeys, view),
                      _status(run, time.perf_counter() - t0, view), key, options_, chosen_, {})

    @app.callback(Output("year", "min"), Output("year", "max"), Output("year", "marks"),
                  Output("year", "value"), Output("years-section", "style"),
                  Input("run-key", "data"), State("year", "value"), prevent_initial_call=True)
    def _years(key, current):
        found = runs.find(key) if isinstance(key, str) else None
        if found is None:
            return [dash.no_update] * 5
        return years_axis(found[1], current)

    @app.callback(Output("fig-year-sankey", "figure"), Output("fig-year-outcomes", "figure"),
                  Output("year-line", "children"), Input("year", "value"),
                  Input("run-key", "data"), Input("view-who", "value"),
                  Input("view-service", "value"), prevent_initial_call=True)
    def _year(year, key, who, service):
        found = runs.find(key) if isinstance(key, str) else None
        whos, services = view_choices(base)
        if (found is None or not isinstance(year, int) or isinstance(year, bool)
                or who not in dict(whos) or service not in dict(services)):
            return [dash.no_update] * 3
        return year_view(found[1], View(who, service), year)

    @app.callback(Output("story", "children"), Input("household", "value"),
                  Input("run-key", "data"), prevent_initial_call=True)
    def _follow(household, key):
        found = runs.find(key) if isinstance(key, str) else None
        if found is None or not isinstance(household, int) or isinstance(household, bool):
            return dash.no_update
        return _story(*found, household)

    return app


def _figures(run: api.Run, view: View) -> dict[str, report.Figure]:
    """The report's figures for the requests of one view ({} when it has none)."""
    keep = in_view(run.journeys, view)
    if not keep.any():
        return {}
    j = run.journeys[keep]
    events = run.events[run.events["case_id"].isin(j["case_id"])]
    return {f.key: f for f in report.figures(events, j, run.raw.graph)}


# -- the year axis (runs over several calendar years) --------------------------------------------

def run_years(run: api.Run) -> list[int]:
    """The calendar years in which the run's requests were made, in order."""
    if not len(run.journeys):
        return []
    return sorted(int(y) for y in np.unique(measures.request_years(run.journeys, run.scenario)))


def years_axis(run: api.Run, current: Any = None) -> tuple[int, int, dict[int, str], int,
                                                             dict[str, str]]:
    """The year slider for a run: (first, last, marks, chosen year, section style). The
    section shows only when requests fall in two years or more; the chosen year stays if
    the run has it, else the last year."""
    years = run_years(run) or [0]
    chosen = current if isinstance(current, int) and current in years else years[-1]
    style = {} if len(years) > 1 else {"display": "none"}
    return years[0], years[-1], {y: str(y) for y in years}, chosen, style


def year_view(run: api.Run, view: View, year: int) -> tuple[Any, Any, str]:
    """The paths and the outcomes by group of the view's requests made in ``year``, and a
    line of what became of them."""
    keep = in_view(run.journeys, view)
    if len(run.journeys):
        keep &= measures.request_years(run.journeys, run.scenario) == year
    rows = np.flatnonzero(keep)
    if not len(rows):
        empty = go.Figure()
        return empty, empty, f"No {view.label()} made in {year}."
    j = run.journeys.iloc[rows]
    events = run.events[run.events["case_id"].isin(j["case_id"])]
    b = measures.block(run.journeys, rows)
    line = (f"{year}: {b['requests']:,} {view.label()} made that year; "
            f"{fmt('served_share', b.get('served_share'))} served in the city.")
    return report.sankey(events, "group"), report.outcome_bars(j, "group"), line


def _year_section(run: api.Run, view: View) -> html.Section:
    first, last, marks, chosen, style = years_axis(run)
    sankey, outcomes, line = year_view(run, view, chosen)
    return html.Section(id="years-section", style=style, children=[
        html.H3("Year by year"),
        html.P("The requests made in one calendar year: where they went and how they ended, "
               "by group. Move the slider to another year.", style=NOTE),
        dcc.Slider(id="year", min=first, max=last, step=None, marks=marks, value=chosen),
        html.Div(id="year-line", children=line, style={"margin": "6px 0"}),
        dcc.Graph(id="fig-year-sankey", figure=sankey, config={"displaylogo": False}),
        dcc.Graph(id="fig-year-outcomes", figure=outcomes, config={"displaylogo": False})])


def _mechanism_of(exc: ScenarioError) -> str | None:
    """The mechanism a scenario error names ('mechanisms.NAME.field'), if any."""
    m = re.search(r"mechanisms\.(\w+)", str(exc))
    return m.group(1) if m else None


def _not_run(message: str) -> html.Span:
    return html.Span(f"Not run: {message}. The results below are from the last run.",
                     style={"color": "#c1121f"})


def _status(run: api.Run, seconds: float, view: View | None = None, empty: bool = False) -> str:
    s = run.summary
    took = f" in {seconds:.1f} s" if seconds else ""
    shown = ""
    if view is not None:
        shown = (f" No {view.label()} in this run: the figures still show the last view."
                 if empty else f" Showing {view.label()}.")
    return (f"Ran {s['scenario']} ({s['regime']}), seed {s['seed']}: {s['households']:,} "
            f"households, {s['requests']:,} requests{took}.{shown}")


def fmt(key: str, value: Any) -> str:
    """A measure as the summary shows it (one wording for a median that is not reached)."""
    if key == "median_days_to_service":
        return measures.NOT_REACHED if value is None else f"{value:.0f}"
    if value is None:
        return "none served" if key == "median_days_to_service_among_served" else "—"
    if key.endswith("_share"):
        return f"{value:.1%}"
    if key == "city_cost_saved":
        return f"{value:,.0f}"
    if key == "requests":
        return f"{value:,}"
    if key.startswith("median"):
        return f"{value:.0f}"
    return f"{value:.1f}"


def _summary(journeys: pd.DataFrame, view: View) -> html.Table:
    """Measures (rows) for the chosen view, migrants, locals and everyone (columns)."""
    blocks = [(name, v or view, view_measures(journeys, v or view)) for name, v in SUMMARY_COLUMNS]
    head = html.Tr([html.Th("")] + [html.Th(
        v.label() if name == "view" else name, id=f"summary-head-{name}",
        style={"padding": "2px 10px", "textAlign": "right",
               "background": "#fff3d6" if name == "view" else "none"})
        for name, v, _ in blocks])
    rows = [head]
    for key, label in SUMMARY_ROWS:
        cells = [html.Th(label, style={"padding": "2px 10px", "fontWeight": "normal",
                                       "color": "#555", "textAlign": "left"})]
        for name, _, b in blocks:
            text = fmt(key, b.get(key)) if b["requests"] or key == "requests" else "—"
            cells.append(html.Td(text, id=f"summary-{name}-{key}", style={
                "padding": "2px 10px", "textAlign": "right",
                "fontSize": "17px" if name == "view" else "15px",
                "background": "#fff8e6" if name == "view" else "none"}))
        rows.append(html.Tr(cells))
    return html.Table(rows, style={"borderCollapse": "collapse", "margin": "8px 0"})


def _household_options(run: api.Run, limit: int = 400, keep: int | None = None
                       ) -> tuple[list[dict[str, Any]], int | None]:
    """Menu of households (typical ones first); keeps the one being followed if it asked."""
    j = run.journeys
    if not len(j):
        return [], None
    labels: dict[int, str] = {}
    typical: list[int] = []
    for g in sorted(j["group"].astype(str).unique()):
        try:
            typical.append(story.typical_household(j, g))
        except KeyError:
            continue
    outcomes = j.groupby("household_id")["outcome"].agg(
        lambda s: ", ".join(dict.fromkeys(_words(str(x)) for x in s)))
    groups = j.groupby("household_id")["group"].first().astype(str)
    for h in typical:
        labels[h] = f"typical {_words(groups[h])}: #{h} ({outcomes[h]})"
    for h in list(outcomes.index[:limit]):
        labels.setdefault(int(h), f"#{int(h)} {_words(groups[h])} ({outcomes[h]})")
    if isinstance(keep, int) and not isinstance(keep, bool) and keep in outcomes.index:
        labels.setdefault(keep, f"#{keep} {_words(groups[keep])} ({outcomes[keep]})")
        chosen = keep
    else:
        try:
            chosen = story.typical_household(j)
        except KeyError:
            chosen = int(outcomes.index[0])
    return [{"label": v, "value": k} for k, v in labels.items()], chosen


def _story(scenario: Scenario, run: api.Run, household: int | None) -> list[Any]:
    if household is None:
        return [html.P("No household made a request in this run.")]
    lines = story.story_lines(run.events, household, scenario)
    out: list[Any] = []
    for line in lines:
        if not line:
            continue
        if line.endswith(":") and not line[:4] == "Day ":
            out.append(html.H4(line, style={"margin": "10px 0 2px"}))
        else:
            out.append(html.P(line, style={"margin": "2px 0"}))
    return out
