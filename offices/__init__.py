"""The domain library: what offices say at the counter, and the built-in cities.

Each deflection mechanism of Chan & O'Brien (2019) lives in one module here and is
switched on from a scenario's ``[mechanisms.NAME]`` table. The declared rules
every scenario has (regime, deadlines, eligibility, paperwork) always apply.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from maze.mechanism import Mechanism
from maze.scenario import (
    Scenario,
    ScenarioError,
    dated_key,
    keys_taken,
    readable_key,
    sanity_note,
)

#: Switchable mechanisms: name -> (configuration model, factory(scenario, config)).
REGISTRY: dict[str, tuple[type[BaseModel], Any]] = {}


def register(name: str, config: type[BaseModel]):
    """Class decorator: make a mechanism switchable from ``[mechanisms.<name>]``."""
    def wrap(cls):
        REGISTRY[name] = (config, cls)
        cls.name = name
        return cls
    return wrap


def configs(scenario: Scenario, source: str = "<scenario>") -> dict[str, BaseModel]:
    """Validate each ``[mechanisms.NAME]`` table against its mechanism's model, in every
    version of the rules when values are dated (the error then names the date); an entry
    of a list is named as :func:`maze.scenario.readable_key` names it."""
    try:
        return _all_versions(scenario, source)
    except ScenarioError as exc:
        key, note = readable_key(exc.key or "", {"mechanisms": _as_written(scenario)})
        raise ScenarioError(exc.message + note, source=exc.source, key=key or None) from None


def _as_written(scenario: Scenario) -> dict[str, Any]:
    """The mechanism tables with their dated values as the file writes them (``{date:
    value}``), so that an error's key (``...rules.2015-12-10.3``) can be followed."""
    tables = copy.deepcopy(dict(scenario.mechanisms))
    for path, series in scenario.dated.items():
        if path[0] != "mechanisms" or len(path) < 2:
            continue
        node: Any = tables
        for part in path[1:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(node, dict | list):
                try:
                    node[path[-1]] = series.to_table()
                except (IndexError, TypeError):
                    pass
    return tables


def _all_versions(scenario: Scenario, source: str) -> dict[str, BaseModel]:
    versions = scenario.checked_versions
    if len(versions) > 1:
        for version in versions:
            try:
                _configs(version.scenario, source)
            except ScenarioError as exc:
                key = dated_key(scenario.dated, exc.key or "", version.since)
                raise ScenarioError(f"{exc.message} (in the rules in force on "
                                    f"{version.since.isoformat()})", source=source,
                                    key=key) from None
    return _configs(scenario, source)


def _configs(scenario: Scenario, source: str = "<scenario>") -> dict[str, BaseModel]:
    _load_all()
    out: dict[str, BaseModel] = {}
    for name, table in scenario.mechanisms.items():
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY)) or "none"
            raise ScenarioError(f"unknown mechanism; known: {known}", source=source,
                                key=f"mechanisms.{name}")
        model, _ = REGISTRY[name]
        try:
            # Strict, through JSON like the scenario itself: "3" is not a number, true not
            # a count.
            out[name] = model.model_validate_json(json.dumps(table, default=str), strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            taken = keys_taken(model, err["loc"]) if err["type"] == "extra_forbidden" else []
            msg = ("unknown key" + (f"; this table takes {', '.join(taken)}" if taken else "")
                   if err["type"] == "extra_forbidden" else err["msg"])
            msg = msg.removeprefix("Value error, ") + sanity_note(err)
            key = f"mechanisms.{name}" + (f".{loc}" if loc else "")
            raise ScenarioError(msg, source=source, key=key) from None
        # Cross-references (offices, services, documents named in the table) are checked
        # against the scenario by the mechanism's optional ``check`` -> (key, message) | None.
        check = getattr(REGISTRY[name][1], "check", None)
        problem = check(scenario, out[name]) if check is not None else None
        if problem:
            key, msg = problem
            raise ScenarioError(msg, source=source,
                                key=f"mechanisms.{name}" + (f".{key}" if key else ""))
    return out


def mechanisms(scenario: Scenario, source: str = "<scenario>") -> list[Mechanism]:
    """The mechanisms to run for a scenario, in the order offices consult them."""
    # Imported here, not at the top: these modules may register switchable layers, which
    # needs ``register`` to exist first.
    from offices.deadline import Deadline
    from offices.documents import Paperwork
    from offices.eligibility import Eligibility
    from offices.referral import DeclaredReferrals
    from offices.regime import Regime

    switched = _configs(scenario, source)
    regime = scenario.city.regime
    chain: list[Mechanism] = [Regime(regime)]
    active = [] if regime == "provide" else [
        REGISTRY[name][1](scenario, cfg) for name, cfg in switched.items()
        if getattr(cfg, "enabled", True)]
    active.sort(key=lambda m: getattr(m, "order", 50))
    chain += [m for m in active if getattr(m, "order", 50) < 50]
    chain += [Deadline(), Eligibility(), Paperwork(), DeclaredReferrals(scenario)]
    chain += [m for m in active if getattr(m, "order", 50) >= 50]
    return chain


def _load_all() -> None:
    """Import the switchable mechanism modules so that they register themselves."""
    import importlib
    import pkgutil

    import offices

    for info in pkgutil.iter_modules(offices.__path__):
        if not info.name.startswith("_") and info.name not in ("presets",):
            importlib.import_module(f"offices.{info.name}")


def describe(switched: Mapping[str, BaseModel]) -> dict[str, Any]:
    return {name: cfg.model_dump(mode="json") for name, cfg in switched.items()}
