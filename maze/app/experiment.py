"""The experiment file: one city run many times, over a grid of levers and independent seeds.

An experiment names a base city (a preset or a scenario file), the levers to move
(dotted scenario keys, as in :func:`maze.scenario.override`), how many replications
of each setting to run and a base seed. Every setting is validated against the
scenario model when the file is read, so a bad key is refused before anything runs.
"""

from __future__ import annotations

import functools
import itertools
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import maze
import offices
from maze import measures
from maze import scenario as sc
from maze.batch import plan
from maze.batch.plan import Experiment, Point
from maze.scenario import Scenario, ScenarioError
from offices import presets

#: What a sweep can group its measures by: the service asked for, or a household
#: attribute; join two with "+" to cross them ("service+hukou", "contract+lease_own").
GROUPABLE = ("service", *measures.GROUP_COLUMNS)
#: Column names of the merged tables that a tag may not take.
RESERVED = ("run", "replication", "seed", "by", "group", "measure", "scenario", "regime")


# -- the experiment file ---------------------------------------------------------------------
class ExperimentFile(BaseModel):
    """What an experiment TOML file may say; anything else is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str = ""
    #: A preset name (see ``maze presets``) or a scenario file, relative to the experiment file.
    base: Annotated[str, Field(min_length=1)] = presets.DEFAULT
    replications: Annotated[int, Field(ge=1, le=100_000)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    households: Annotated[int, Field(ge=1, le=sc.MAX_HOUSEHOLDS)] | None = None
    #: Run a copy of each setting with every count of people and places times this
    #: (``maze.scale``; e.g. 0.1 for a history): applied after the overrides, which stay in
    #: the full city's units.
    scale: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    #: Overrides applied to every run (not columns of the table: they do not vary).
    set: dict[str, Any] = Field(default_factory=dict)
    #: Every combination of these values is run (a full factorial design).
    grid: dict[str, Any] = Field(default_factory=dict)
    #: Listed settings, each crossed with the grid; ``tags`` adds columns without overriding.
    runs: list[dict[str, Any]] = Field(default_factory=list)
    #: Group measures by these household attributes too ("contract+lease_own" crosses two).
    by: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["group", "hukou"])
    #: The column on the x axis of sweep.html (default: the first tag or swept key).
    lever: str | None = None
    #: Tables to keep beside each run's summary: "journeys" and/or "events" (Parquet).
    keep: list[Literal["journeys", "events"]] = Field(default_factory=list)



@functools.cache
def code_fingerprint() -> str:
    """A hash of the simulator's source (maze/ and offices/): stored runs are only reused
    by the code that made them, so an edit to a rule never mixes old and new results."""
    return plan.code_fingerprint(maze, offices)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file (every setting is checked now)."""
    p = Path(path)
    source = str(p)
    try:
        data = tomllib.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read file ({exc.__class__.__name__})",
                            source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML ({exc})", source=source) from None
    spec = _validate_file(data, source)
    base = spec.base
    base_is_file = base.endswith(".toml") or "/" in base or os.sep in base
    return build(base=(p.parent / base) if base_is_file else base,
                 grid=spec.grid, runs=spec.runs, replications=spec.replications,
                 seed=spec.seed, fixed=spec.set, households=spec.households,
                 scale=spec.scale, by=spec.by,
                 lever=spec.lever, keep=spec.keep, name=spec.name or p.stem,
                 description=spec.description, source=source, base_label=base)


def _validate_file(data: Mapping[str, Any], source: str) -> ExperimentFile:
    try:
        return ExperimentFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = ("unknown key; an experiment has name, description, base, replications, "
                   "seed, households, scale, set, grid, runs, by, lever, keep")
        elif err["type"] == "missing":
            msg = "missing required key"
        raise ScenarioError(msg, source=source, key=key or None) from None


def build(base: Scenario | str | Path = presets.DEFAULT, *, grid: Mapping[str, Any] | None = None,
          runs: Sequence[Mapping[str, Any]] | None = None, replications: int = 1,
          seed: int = 0, fixed: Mapping[str, Any] | None = None,
          households: int | None = None, scale: float | None = None,
          by: Sequence[str] = ("group", "hukou"),
          lever: str | None = None, keep: Sequence[str] = (), name: str | None = None,
          description: str = "", source: str = "<experiment>",
          base_label: str | None = None) -> Experiment:
    """An experiment from Python: a base (scenario, preset name or file) and its levers.

    ``grid`` maps dotted scenario keys to lists of values (every combination is run);
    ``runs`` lists settings (dicts of dotted keys, with an optional ``tags`` dict of extra
    columns), each crossed with the grid; ``fixed`` applies to every run (the file's
    ``set``). ``scale`` runs a copy of each setting with every count of people and places
    times it (after the overrides, so that they stay in the full city's units). Every
    setting is validated here, so a bad key is refused before anything runs.
    """
    if replications < 1:
        raise ScenarioError("at least one replication", source=source, key="replications")
    if seed < 0:
        raise ScenarioError("the seed must be >= 0", source=source, key="seed")
    scenario, label = _base(base, source)
    fixed = _flatten(fixed or {}, "set", source)
    if households is not None:
        fixed["population.households"] = households
    grid_flat = _flatten(grid or {}, "grid", source, stop_at_lists=True)
    for key, values in grid_flat.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError("a grid entry is a non-empty list of values", source=source,
                                key=f"grid.{key}")
    listed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for i, entry in enumerate(runs or [{}]):
        entry = dict(entry)
        tags = entry.pop("tags", {})
        if not isinstance(tags, Mapping) or any(
                isinstance(v, Mapping | list) for v in tags.values()):
            raise ScenarioError("tags is a table of plain values (numbers, text, true/false)",
                                source=source, key=f"runs.{i}.tags")
        for t in tags:
            if t in RESERVED or "." in t:
                raise ScenarioError("a tag may not contain a dot or be called "
                                    f"{', '.join(RESERVED)}", source=source,
                                    key=f"runs.{i}.tags.{t}")
        listed.append((f"runs.{i}" if runs else "", _flatten(entry, f"runs.{i}", source),
                       dict(tags)))
    for i, name in enumerate(keep):
        if name not in ("journeys", "events"):
            raise ScenarioError(f"cannot keep {name!r}; keep journeys and/or events",
                                source=source, key=f"keep.{i}")
    by = tuple(by)
    for i, b in enumerate(by):
        for col in b.split("+"):
            if col not in GROUPABLE:
                raise ScenarioError(f"cannot group by {col!r}; use one of "
                                    f"{', '.join(GROUPABLE)} (join two with '+')",
                                    source=source, key=f"by.{i}")
    where = {k: "households" if k == "population.households" and households is not None
             else f"set.{k}" for k in fixed}
    common = _apply_blaming(scenario, fixed, where, source, "set")
    parameters = list(dict.fromkeys([*grid_flat, *(k for _, e, _ in listed for k in e)]))
    tag_names = list(dict.fromkeys(k for _, _, t in listed for k in t))
    points = []
    keys = list(grid_flat)
    for section, entry, tags in listed:
        for combo in itertools.product(*(grid_flat[k] for k in keys)):
            varying = {**entry, **dict(zip(keys, combo, strict=True))}
            where = {**{k: f"{section}.{k}" for k in entry}, **{k: f"grid.{k}" for k in keys}}
            scen = _apply_blaming(common, varying, where, source, section or "grid")
            if scale is not None:
                scen = _scaled(scen, scale, source)
            points.append(Point(varying, tags, scen))
    if lever is not None and lever not in parameters and lever not in tag_names:
        swept = ", ".join(parameters + tag_names) or "nothing"
        raise ScenarioError(f"not a swept key or tag; swept: {swept}", source=source,
                            key="lever")
    return Experiment(name=name or scenario.city.name, source=source,
                      base=base_label or label, points=tuple(points),
                      replications=int(replications), seed=int(seed), by=by, lever=lever,
                      keep=tuple(keep), parameters=tuple(parameters),
                      tags=tuple(tag_names), description=description,
                      code=code_fingerprint())


def _scaled(scenario: Scenario, factor: float, source: str) -> Scenario:
    """A setting's scaled copy; a factor that would change the city is refused naming the
    experiment's ``scale`` and the count it would round too far."""
    from maze.app import api

    try:
        return api.scaled(scenario, factor)
    except ScenarioError as exc:
        where = f"{exc.key}: " if exc.key else ""
        raise ScenarioError(where + exc.message, source=source, key="scale") from None


def _base(base: Scenario | str | Path, source: str) -> tuple[Scenario, str]:
    from maze.app import api

    if isinstance(base, Scenario):
        offices.configs(base, source)
        return base, base.city.name
    if isinstance(base, Path) or str(base).endswith(".toml"):
        p = Path(base)
        if not p.is_file():
            raise ScenarioError(f"scenario file {str(p)!r} not found", source=source, key="base")
        return api.load(path=p), str(base)
    if str(base) not in presets.names():
        raise ScenarioError(f"unknown preset {base!r}; known: {', '.join(presets.names())} "
                            "(or give a scenario file ending in .toml)", source=source, key="base")
    return api.load(preset=str(base)), str(base)


def _flatten(table: Mapping[str, Any], section: str, source: str,
             stop_at_lists: bool = False) -> dict[str, Any]:
    """Dotted keys from a TOML table: nested tables become paths, a quoted dotted key is whole.

    ``[grid] offices.school.seats = [..]`` and ``"offices.school.seats" = [..]`` mean the
    same; a value given under a quoted dotted key is set as it is (a whole table).
    """
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if not isinstance(k, str) or not k:
                raise ScenarioError("empty key", source=source, key=section)
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, Mapping) and "." not in k and not (stop_at_lists and not v):
                if not v:
                    out[path] = {}
                else:
                    walk(v, path)
            else:
                out[path] = v

    walk(table, "")
    return out


def _apply(base: Scenario, changes: Mapping[str, Any], source: str, where: str) -> Scenario:
    """The base with the changes applied and its mechanisms checked, or one keyed error."""
    try:
        scenario = sc.override(base, changes, source=source)
        offices.configs(scenario, source)
    except ScenarioError as exc:
        inner = _bare(exc)
        key = f"{where}: {exc.key}" if exc.key else where
        raise ScenarioError(inner, source=source, key=key) from None
    return scenario


def _apply_blaming(base: Scenario, changes: Mapping[str, Any], where: Mapping[str, str],
                   source: str, section: str) -> Scenario:
    """Apply a setting; if it is refused, name the one key that is refused on its own."""
    try:
        return _apply(base, changes, source, section)
    except ScenarioError as whole:
        for key, value in changes.items():
            _apply(base, {key: value}, source, where[key])
        raise whole from None


def _bare(exc: ScenarioError) -> str:
    msg = str(exc)
    if exc.source:
        msg = msg.removeprefix(f"{exc.source}: ")
    if exc.key:
        msg = msg.removeprefix(f"{exc.key}: ")
    return msg
