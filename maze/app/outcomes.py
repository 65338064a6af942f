"""The measures that sensitivity analysis and ablation report, and one run that takes them.

Named measures are about migrants (households without local hukou), the people the
deflection is aimed at; ``saving_ratio`` also runs the same city and seed under outright
denial. Any dotted path into a run's summary works too (``migrants.mean_visits``,
``by_group.graduate.served_share``, ``by_service.school.served_share``). A measures file
adds measures declared as data (:mod:`maze.metric`: a named measure or an expression over
the output tables, with filters)::

    [measures.school_served_migrants]
    measure = "served_share"
    filters = { service = "school", hukou = "migrant" }

    [measures.gave_up_after_loops]
    expression = 'share(outcome == "gave_up") / share(loops > 0)'
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maze.scenario import Scenario, ScenarioError

if TYPE_CHECKING:  # the CLI reads this module for its help; a run needs no batch machinery
    from maze.batch.points import PointTask


def _migrants(key: str) -> Callable[[Any, Any], float]:
    return lambda run, deny: run.summary["migrants"][key]


def _migrant_school_served(run: Any, deny: Any) -> float:
    j = run.journeys
    asked = j[(j["hukou"] != "local") & (j["service"].astype(str) == "school")]
    return float((asked["outcome"] == "served").mean()) if len(asked) else math.nan


def _saving_ratio(run: Any, deny: Any) -> float:
    saved = deny.summary["migrants"]["city_cost_saved"]
    return run.summary["migrants"]["city_cost_saved"] / saved if saved else math.nan


#: name -> (what it is, how it is read from a run (and its denial twin)).
NAMED: dict[str, tuple[str, Callable[[Any, Any], float]]] = {
    "migrant_served_share": ("share of migrants' requests served in the city",
                             _migrants("served_share")),
    "migrant_school_served_share": ("share of migrants' school requests served in the city",
                                    _migrant_school_served),
    "saving_ratio": ("city cost saved on migrants by deflection, as a share of what outright "
                     "denial saves (same city, same seed)", _saving_ratio),
    "migrant_median_days_to_service_among_served": (
        "median days from request to service over migrants' requests served (the plain "
        "median; the summary's median_days_to_service is Kaplan-Meier over all requests)",
                               _migrants("median_days_to_service_among_served")),
    "migrant_gave_up_share": ("share of migrants' requests given up", _migrants("gave_up_share")),
    "migrant_sent_away_share": ("share of migrants' requests sent away (hometown)",
                                _migrants("sent_away_share")),
    "migrant_alternative_share": ("share of migrants' requests served by an alternative",
                                  _migrants("alternative_share")),
    "migrant_deterred_share": ("share of migrants' requests never made (deterred)",
                               _migrants("deterred_share")),
    "migrant_mean_visits": ("visits per migrant request", _migrants("mean_visits")),
    "migrant_mean_offices_seen": ("offices seen per migrant request",
                                  _migrants("mean_offices_seen")),
    "migrant_city_cost_saved": ("city cost saved on migrants, RMB",
                                _migrants("city_cost_saved")),
}
#: What `maze sensitivity` and `maze ablate` report unless told otherwise.
DEFAULT = ("migrant_served_share", "migrant_school_served_share", "saving_ratio",
           "migrant_median_days_to_service_among_served")


def load_specs(path: str | Path, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The ``[measures.NAME]`` tables of a measures file, each checked against the city."""
    import tomllib

    from maze import metric

    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"cannot read a TOML file ({exc.__class__.__name__})",
                            source=source) from None
    table = data.get("measures")
    if not isinstance(table, dict) or not table or set(data) - {"measures"}:
        raise ScenarioError("a measures file holds [measures.NAME] tables and nothing else",
                            source=source)
    for name, raw in table.items():
        if name in NAMED:
            raise ScenarioError("this name is a named measure already", source=source,
                                key=f"measures.{name}")
        metric.spec(raw, scenario, source=source, key=f"measures.{name}")
    return table


def check(names: Sequence[str], scenario: Scenario, source: str = "--measures") -> None:
    """Refuse an unknown measure before anything runs (a dotted path must exist in a summary)."""
    for name in names:
        if name in NAMED:
            continue
        head = name.split(".")[0]
        if "." not in name or head not in ("migrants", "by_group", "by_service"):
            raise ScenarioError(f"unknown measure {name!r}; named: {', '.join(NAMED)}, or a "
                                "summary path such as migrants.mean_visits or "
                                "by_group.GROUP.served_share", key=source)
        parts = name.split(".")
        if head == "by_group" and (len(parts) != 3 or parts[1] not in
                                   {g.name for g in scenario.population.groups}):
            raise ScenarioError(f"{name!r}: no such group in {scenario.city.name}", key=source)
        if head == "by_service" and (len(parts) != 3 or parts[1] not in scenario.services):
            raise ScenarioError(f"{name!r}: no such service in {scenario.city.name}",
                                key=source)


def read(names: Sequence[str], run: Any, deny: Any = None,
         specs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, float]:
    """The measures of one run (``deny``: the same city and seed under denial, if needed);
    ``specs`` are measures declared as data (name -> a :mod:`maze.metric` table)."""
    out: dict[str, float] = {}
    for name, raw in (specs or {}).items():
        from maze import metric

        checked = metric.spec(raw, run.scenario, source="<measures>", key=name)
        out[name] = float(metric.evaluate(checked, metric.run_tables(run), run.scenario))
    for name in names:
        if name in out:
            continue
        if name in NAMED:
            value = NAMED[name][1](run, deny)
        else:
            node: Any = run.summary
            for part in name.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            value = node
        out[name] = math.nan if value is None else float(value)
    return out


def needs_denial(names: Sequence[str]) -> bool:
    return "saving_ratio" in names


@dataclass(frozen=True)
class Study:
    """What every run of a study shares: the base city and the measures to take."""

    scenario: Scenario
    measures: tuple[str, ...]
    #: Measures declared as data, as JSON text of {name: table} (checked again on workers).
    specs: str = "{}"
    #: Each run is of a copy of the city with every count times this (``maze.scale``),
    #: made after a point's values are set: they are in the full city's units.
    scale: float = 1.0

    def at(self, point: Mapping[str, Any]) -> Scenario:
        """The city a run at ``point`` simulates: the point's values set, then scaled."""
        from maze import uncertainty
        from maze.app import api

        scenario = uncertainty.apply(self.scenario, point) if point else self.scenario
        return scenario if self.scale == 1 else api.scaled(scenario, self.scale, check=False)

    def key(self) -> str:
        """Changes whenever a stored run's measures would: the city, the measures, the code."""
        from maze.app.experiment import code_fingerprint

        text = json.dumps({"scenario": self.scenario.model_dump(mode="json", by_alias=True),
                           "measures": list(self.measures), "specs": self.specs,
                           "scale": self.scale,
                           "code": code_fingerprint()},
                          separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def study_for(scenario: Scenario, measures: Sequence[str],
              specs: Mapping[str, Mapping[str, Any]] | None = None, scale: float = 1.0
              ) -> tuple[Study, tuple[str, ...]]:
    """The shared context of a study's runs, and every measure it reports (declared-as-data
    ones first); unknown measures and a ``scale`` that would not keep the city the same
    city are refused here, before anything runs."""
    check(measures, scenario)
    if scale != 1:
        from maze.app import api

        api.scaled(scenario, scale)  # refused now, naming --scale and the count
    specs = dict(specs or {})
    names = (*specs, *(m for m in measures if m not in specs))
    if not names:
        raise ScenarioError("no measures to take", key="--measures")
    return Study(scenario, tuple(measures),
                 json.dumps(specs, sort_keys=True, default=str), float(scale)), names


def simulate(task: PointTask) -> dict[str, float]:
    """One run at a point (the study's city with the point's values set): its measures."""
    from maze import uncertainty
    from maze.app import api

    study: Study = task.context
    scenario = study.at(task.point)
    run = api.run(scenario, task.seed)
    deny = None
    if needs_denial(study.measures):
        deny = api.run(uncertainty.apply(scenario, {"city.regime": "deny"}), task.seed)
    return read(study.measures, run, deny, json.loads(study.specs))
