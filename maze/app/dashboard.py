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
import threading
import time
import types
import typing
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html
from pydantic.fields import FieldInfo

import offices
from maze import report, story
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
        needs = () if name in scenario.mechanisms else tuple(complex_required)
        out.append(MechanismControls(name, doc[0] if doc else "", tuple(controls), needs))
    return out


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


# -- layout -------------------------------------------------------------------------------------

PANEL = {"width": "340px", "flex": "0 0 340px", "padding": "12px", "borderRight": "1px solid #ddd",
         "height": "100vh", "overflowY": "auto", "boxSizing": "border-box",
         "fontSize": "14px", "background": "#fafafa"}
MAIN = {"flex": "1", "padding": "12px 20px", "height": "100vh", "overflowY": "auto",
        "boxSizing": "border-box"}
LABEL = {"fontWeight": "600", "marginTop": "12px", "display": "block"}
NOTE = {"color": "#666", "fontSize": "12px"}
#: While the model runs, the old figures stay visible, dimmed, under a spinner.
OVERLAY = {"visibility": "visible", "opacity": 0.45, "filter": "grayscale(0.6)"}
STORY = {"maxWidth": "900px", "lineHeight": "1.45", "maxHeight": "300px", "overflowY": "auto",
         "border": "1px solid #e3e3e3", "padding": "6px 12px", "marginTop": "6px",
         "background": "#fffdf7"}


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def _number(id_: Any, value: Any, step: Any = "any", low: float | None = None,
            high: float | None = None, placeholder: str = "") -> dcc.Input:
    return dcc.Input(id=id_, type="number", value=value, step=step, min=low, max=high,
                     debounce=True, placeholder=placeholder, style={"width": "120px"})


def _control_input(mech: str, c: Control, value: Any) -> Any:
    id_ = {"type": "mech-param", "mechanism": mech, "field": c.name}
    if c.kind == "bool":
        return dcc.Checklist(id=id_, options=[{"label": " yes", "value": "yes"}],
                             value=["yes"] if value else [], inline=True)
    if c.kind in ("int", "float"):
        return _number(id_, value, 1 if c.kind == "int" else "any", c.low, c.high,
                       "required" if c.required else "default")
    if c.kind == "choice":
        return dcc.Dropdown(id=id_, options=[{"label": _words(x), "value": x} for x in c.choices],
                            value=value, clearable=not c.required, style={"width": "200px"})
    if c.kind == "names":
        return dcc.Dropdown(id=id_, options=[{"label": _words(x), "value": x} for x in c.choices],
                            value=list(value or []), multi=True, style={"width": "220px"})
    return dcc.Input(id=id_, type="text", value=value, debounce=True, style={"width": "200px"})


def _mechanism_block(scenario: Scenario, m: MechanismControls) -> html.Div:
    on = is_on(scenario, m.name)
    rows = []
    for c in m.controls:
        rows.append(html.Div([
            html.Span(_words(c.name) + (" *" if c.required else ""),
                      style={"display": "inline-block", "width": "120px"}),
            _control_input(m.name, c, _initial(scenario, m.name, c))],
            style={"display": "flex", "alignItems": "center", "margin": "3px 0"}))
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
    services = []
    for name, svc in scenario.services.items():
        services.append(html.Details([
            html.Summary(_words(name), style={"fontStyle": "italic", "cursor": "pointer"}),
            dcc.Checklist(id={"type": "docs", "service": name},
                          options=[{"label": " " + _words(d), "value": d} for d in docs],
                          value=list(svc.documents), labelStyle={"display": "block"})],
            open=len(scenario.services) <= 2))
    return html.Div([
        html.H3("Levers of the city", style={"marginTop": 0}),
        html.Label("Regime", style=LABEL),
        dcc.RadioItems(id="regime", value=scenario.city.regime, inline=True,
                       options=[{"label": " " + r + "  ", "value": r}
                                for r in ("provide", "deny", "deflect")]),
        html.Label("Households", style=LABEL),
        _number("households", scenario.population.households, 1, 1, MAX_HOUSEHOLDS,
                "as in the scenario"),
        html.Label("Seed", style=LABEL),
        _number("seed", seed, 1, 0, None),
        html.Label("Patience: days a household keeps trying", style=LABEL),
        _number("patience-days", _patience(scenario, "patience_days"), "any", 0, None,
                "as in the scenario"),
        html.Label("Patience: visits before giving up", style=LABEL),
        _number("patience-visits", _patience(scenario, "patience_visits"), 1, 1, None,
                "as in the scenario"),
        html.Label("Documents required", style=LABEL),
        *services,
        html.Label("Deflection mechanisms", style=LABEL),
        html.Div("Switched on here, each applies under 'deflect' (and 'deny'); 'provide' "
                 "waives them.", style=NOTE),
        *[_mechanism_block(scenario, m) for m in mechanism_controls(scenario)],
    ], style=PANEL)


def create_app(scenario: Scenario, seed: int = 0) -> dash.Dash:
    """A Dash app for one base scenario; every control re-runs the model."""
    runs = Runs()
    base = scenario
    _, first = runs.get(base, seed)
    figs = {f.key: f for f in report.figures(first.events, first.journeys, first.raw.graph)}
    app = dash.Dash(__name__, title=f"maze: {base.city.name}")
    graphs = []
    for key in FIGURE_KEYS:
        f = figs[key]
        graphs.append(html.Section([
            html.H3(f.heading), html.P(f.blurb, style=NOTE),
            dcc.Graph(id=f"fig-{key}", figure=f.figure, config={"displaylogo": False})]))
    options, chosen = _household_options(first)
    app.layout = html.Div([
        controls_panel(base, seed),
        html.Div([
            html.H2(f"maze: {_words(base.city.name)}", style={"margin": "0"}),
            html.P(base.city.description, style=NOTE),
            html.Div(id="running", children="running the model…",
                     style={"display": "none", "color": "#b5651d", "fontWeight": "600"}),
            html.Div(id="status", children=_status(first, 0.0), style={"margin": "6px 0"}),
            dcc.Store(id="run-key", data=runs.key(base, seed)),
            dcc.Loading(type="circle", delay_show=150, overlay_style=OVERLAY,
                        children=html.Div(id="summary", children=_summary(first.summary))),
            html.Section([
                html.H3("Follow one household"),
                dcc.Dropdown(id="household", options=options, value=chosen,
                             clearable=False, style={"maxWidth": "640px"}),
                dcc.Loading(type="dot", delay_show=150, overlay_style=OVERLAY, children=html.Div(
                    id="story", children=_story(base, first, chosen), style=STORY))]),
            dcc.Loading(type="circle", delay_show=150, overlay_style=OVERLAY,
                        target_components={f"fig-{k}": "figure" for k in FIGURE_KEYS},
                        children=graphs),
        ], style=MAIN),
    ], style={"display": "flex", "fontFamily": "system-ui, sans-serif", "margin": "-8px"})

    @app.callback(
        [Output(f"fig-{k}", "figure") for k in FIGURE_KEYS]
        + [Output("summary", "children"), Output("status", "children"),
           Output("run-key", "data"), Output("household", "options"),
           Output("household", "value")],
        [Input("regime", "value"), Input("households", "value"), Input("seed", "value"),
         Input("patience-days", "value"), Input("patience-visits", "value"),
         Input({"type": "docs", "service": ALL}, "value"),
         Input({"type": "mech-on", "mechanism": ALL}, "value"),
         Input({"type": "mech-param", "mechanism": ALL, "field": ALL}, "value")],
        [State("household", "value"),
         State({"type": "docs", "service": ALL}, "id"),
         State({"type": "mech-on", "mechanism": ALL}, "id"),
         State({"type": "mech-param", "mechanism": ALL, "field": ALL}, "id")],
        prevent_initial_call=True,
        running=[(Output("running", "style"),
                  {"display": "block", "color": "#b5651d", "fontWeight": "600"},
                  {"display": "none"})])
    def _rerun(regime, households, seed_, pdays, pvisits, docs, ons, params,
               current, doc_ids, on_ids, param_ids):
        controls = {m.name: {c.name: c for c in m.controls} for m in mechanism_controls(base)}
        values: dict[str, dict[str, Any]] = {}
        for pid, value in zip(param_ids, params, strict=True):
            c = controls.get(pid["mechanism"], {}).get(pid["field"])
            if c is not None and c.kind == "bool":
                value = bool(value)
            values.setdefault(pid["mechanism"], {})[pid["field"]] = value
        levers = Levers(
            regime=regime or base.city.regime,
            households=None if households in (None, "") else int(households),
            seed=0 if seed_ in (None, "") else int(seed_),
            patience_days=None if pdays in (None, "") else float(pdays),
            patience_visits=None if pvisits in (None, "") else float(pvisits),
            documents={i["service"]: list(v or []) for i, v in zip(doc_ids, docs, strict=True)},
            mechanisms_on={i["mechanism"]: "on" in (v or []) for i, v in
                           zip(on_ids, ons, strict=True)},
            parameters=values)
        no = dash.no_update
        try:
            scenario_ = configure(base, levers)
        except ScenarioError as exc:
            return [no] * len(FIGURE_KEYS) + [no, html.Span(
                f"Not run: {exc}", style={"color": "#c1121f"}), no, no, no]
        t0 = time.perf_counter()
        key, run = runs.get(scenario_, levers.seed)
        sections = {f.key: f.figure for f in report.figures(run.events, run.journeys,
                                                            run.raw.graph)}
        options_, chosen_ = _household_options(run, keep=current)
        return ([sections[k] for k in FIGURE_KEYS]
                + [_summary(run.summary), _status(run, time.perf_counter() - t0), key,
                   options_, chosen_])

    @app.callback(Output("story", "children"), Input("household", "value"),
                  Input("run-key", "data"), prevent_initial_call=True)
    def _follow(household, key):
        found = runs.find(key)
        if found is None or household is None:
            return dash.no_update
        return _story(*found, int(household))

    return app


def _status(run: api.Run, seconds: float) -> str:
    s = run.summary
    took = f" in {seconds:.1f} s" if seconds else ""
    return (f"Ran {s['scenario']} ({s['regime']}), seed {s['seed']}: {s['households']:,} "
            f"households, {s['requests']:,} requests{took}.")


def _summary(s: dict[str, Any]) -> html.Table:
    def pct(k: str) -> str:
        v = s.get(k)
        return "—" if v is None else f"{v:.0%}"

    med = s.get("median_days_to_service")
    cells = [("served", pct("served_share")), ("private alternative", pct("alternative_share")),
             ("sent away", pct("sent_away_share")), ("gave up", pct("gave_up_share")),
             ("denied", pct("denied_share")), ("deterred", pct("deterred_share")),
             ("still waiting", pct("pending_share")),
             ("median days to service", "never" if med is None else f"{med:.0f}"),
             ("offices met", "—" if s.get("mean_offices_seen") is None
              else f"{s['mean_offices_seen']:.1f}"),
             ("refused for hukou", pct("explicit_refusal_share"))]
    return html.Table([html.Tr([html.Th(k, style={"padding": "2px 10px", "fontWeight": "normal",
                                                  "color": "#555"}) for k, _ in cells]),
                       html.Tr([html.Td(v, id=f"summary-{i}", style={
                           "padding": "2px 10px", "fontSize": "20px", "textAlign": "center"})
                                for i, (_, v) in enumerate(cells)])],
                      style={"borderCollapse": "collapse", "margin": "8px 0"})


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
    if keep is not None and int(keep) in outcomes.index:
        keep = int(keep)
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
