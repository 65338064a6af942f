"""Ablation: each deflection mechanism of a city switched off, the rest kept.

A variant is the city with one mechanism off: a ``[mechanisms.NAME]`` table removed, or
the built-in ones: ``documents`` (no service asks for papers), ``deadline`` (no service
has a closing day), ``referrals`` (no office refers anyone on). Every variant runs with
the same seeds as the city as written (common random numbers), so an effect is a paired
difference. With ``draws``, each variant also runs at that many points drawn from the
declared ranges (Latin hypercube), giving an interval over parameter uncertainty beside
the interval over seeds. A mechanism whose runs are event for event the same as the
city's is listed with the reason found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maze import scenario as sc
from maze import storage
from maze import uncertainty as un
from maze.app import outcomes
from maze.batch.points import PointTask, run_points
from maze.scenario import Scenario, ScenarioError

AS_WRITTEN = "(as written)"
#: Built-in mechanisms a city has whenever its scenario uses them.
BUILT_IN = ("documents", "deadline", "referrals")
#: The point key that names the variant (never a scenario key: it has no dot).
OFF = "off"
DIGEST = "_events_digest"


def variants(scenario: Scenario) -> list[str]:
    """The mechanisms this city has, in the order they are declared."""
    out = list(scenario.mechanisms)
    if any(s.documents for s in scenario.services.values()):
        out.append("documents")
    if any(s.deadline is not None for s in scenario.services.values()):
        out.append("deadline")
    if scenario.referrals:
        out.append("referrals")
    return out


def switch_off(scenario: Scenario, name: str) -> Scenario:
    """The city without one mechanism."""
    data = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)
    if name in data.get("mechanisms", {}):
        del data["mechanisms"][name]
    elif name == "documents":
        for s in data["services"].values():
            s["documents"] = []
    elif name == "deadline":
        for s in data["services"].values():
            s.pop("deadline", None)
    elif name == "referrals":
        data["referrals"] = []
    else:
        raise ScenarioError(f"{scenario.city.name} has no mechanism {name!r}; it has "
                            f"{', '.join(variants(scenario)) or 'none'}", key="--mechanisms")
    # documents no service asks for any more may still be named by a mechanism (extra
    # documents): keep the documents table, only the services' lists change.
    return sc.from_dict(data, source=f"{scenario.city.name} without {name}")


def simulate(task: PointTask) -> dict[str, float]:
    """One run of a variant at a point; its measures and a digest of its event log."""
    from maze.app import api

    study: outcomes.Study = task.context
    point = dict(task.point)
    off = point.pop(OFF)
    scenario = study.at(point)
    if off != AS_WRITTEN:
        scenario = switch_off(scenario, off)
    run = api.run(scenario, task.seed)
    deny = None
    if outcomes.needs_denial(study.measures):
        deny = api.run(un.apply(scenario, {"city.regime": "deny"}), task.seed)
    values = outcomes.read(study.measures, run, deny, json.loads(study.specs))
    events = run.events.drop(columns=[c for c in ("case_id",) if c in run.events])
    digest = hashlib.sha256(pd.util.hash_pandas_object(events, index=False).to_numpy()
                            .tobytes()).hexdigest()
    values[DIGEST] = float(int(digest[:12], 16))  # 48 bits: exact in a float
    return values


def check(scenario: Scenario, *, source: str = "<city>", mechanisms: Sequence[str] | None = None,
          measures: Sequence[str] = outcomes.DEFAULT,
          specs: Mapping[str, Any] | None = None, draws: int = 0, scale: float = 1.0
          ) -> tuple[outcomes.Study, tuple[str, ...], list[str], list[un.Assumption]]:
    """Refuse an ablation that cannot run (unknown measures or mechanisms, a bad range)
    before any run or output folder; return the runs' context, the measures, the mechanisms
    and the assumptions drawn from."""
    ctx, names_measured = outcomes.study_for(scenario, measures, specs, scale)
    names = list(mechanisms) if mechanisms else variants(scenario)
    for n in names:
        switch_off(scenario, n)
    if draws < 0:
        raise ScenarioError(f"at least 0 draws (got {draws})", key="--draws")
    assumptions = un.declared(scenario, source=source) if draws else []
    un.check_ends(scenario, assumptions, source)
    return ctx, names_measured, names, assumptions


@dataclass
class Result:
    effects: pd.DataFrame
    runs: pd.DataFrame
    inert: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def ablate(scenario: Scenario, *, source: str = "<city>", mechanisms: Sequence[str] | None = None,
           measures: Sequence[str] = outcomes.DEFAULT,
           specs: Mapping[str, Any] | None = None, replications: int = 5, draws: int = 0,
           scale: float = 1.0, seed: int = 0, out: str | Path | None = None,
           executor: Any = "processes",
           workers: int | None = None, scheduler: str | None = None,
           progress: Callable[[str, int, int], None] | None = None) -> Result:
    """Every mechanism off in turn, ``replications`` seeds each, at the city as written
    and at ``draws`` points of its declared ranges; with ``scale``, each run is of a copy
    of the city with its counts times it (the drawn values in the full city's units)."""
    ctx, measures, names, assumptions = check(scenario, source=source, mechanisms=mechanisms,
                                              measures=measures, specs=specs, draws=draws,
                                              scale=scale)
    at = [{}] + (un.draw(assumptions, draws, seed=seed) if draws else [])
    points = [{OFF: v, **p} for p in at for v in (AS_WRITTEN, *names)]
    table = run_points(points, simulate, ctx, "ablate:" + ctx.key(), replications=replications,
                       seed=seed, out=Path(out) / "runs-store" if out else None,
                       executor=executor, workers=workers, scheduler=scheduler,
                       preload=("maze.app.api", "maze.app.ablation"),
                       progress=(lambda d, n: progress("ablation", d, n)) if progress else None)
    table["variant"] = [points[i][OFF] for i in table["point"]]
    table["draw"] = [i // (len(names) + 1) for i in table["point"]]
    effects, inert = _effects(table, names, measures, scenario)
    settings = {"city": scenario.city.name, "source": source, "mechanisms": names,
                "measures": list(measures), "replications": replications, "draws": draws,
                "seed": seed, "households": scenario.population.households, "scale": scale,
                "assumptions": [a.key for a in assumptions]}
    result = Result(effects, table.drop(columns=[DIGEST]), inert, settings)
    if out is not None:
        o = Path(out)
        for name, df in (("ablation", effects), ("runs", result.runs), ("inert", inert)):
            storage.atomic_file(o / f"{name}.parquet",
                                lambda p, d=df: storage.write_parquet(d, p))
        storage.atomic_file(o / "ablation.json", lambda p: storage.write_json(settings, p))
    return result


def _effects(table: pd.DataFrame, names: Sequence[str], measures: Sequence[str],
             scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired effects (variant minus city as written), with a seed interval at the values as
    written and a parameter interval over the draws."""
    from scipy.special import stdtrit

    base = table[table["variant"] == AS_WRITTEN].set_index(["draw", "replication"])
    rows, inert = [], []
    for name in names:
        v = table[table["variant"] == name].set_index(["draw", "replication"])
        same_events = bool((v[DIGEST] == base[DIGEST].reindex(v.index)).all())
        for m in measures:
            diff = (v[m] - base[m].reindex(v.index)).rename("d").reset_index()
            written = diff[diff["draw"] == 0]["d"].dropna()
            n = len(written)
            mean = float(written.mean()) if n else np.nan
            half = (float(stdtrit(n - 1, 0.975) * written.std(ddof=1) / np.sqrt(n))
                    if n > 1 else np.nan)
            per_draw = diff[diff["draw"] > 0].groupby("draw")["d"].mean().dropna()
            rows.append({
                "mechanism": name, "measure": m,
                "as_written": float(base[m].xs(0, level="draw").mean()),
                "switched_off": float(v[m].xs(0, level="draw").mean()),
                "effect": mean, "seed_low": mean - half, "seed_high": mean + half,
                "draws": len(per_draw),
                "param_low": float(per_draw.quantile(0.05)) if len(per_draw) else np.nan,
                "param_median": float(per_draw.median()) if len(per_draw) else np.nan,
                "param_high": float(per_draw.quantile(0.95)) if len(per_draw) else np.nan,
                "param_same_sign": (float((np.sign(per_draw) == np.sign(mean)).mean())
                                    if len(per_draw) and mean == mean and mean != 0 else np.nan),
                "identical_events": same_events})
        if same_events:
            inert.append({"mechanism": name, "reason": _reason(scenario, name, table)})
    return pd.DataFrame(rows), pd.DataFrame(inert, columns=["mechanism", "reason"])


def _reason(scenario: Scenario, name: str, table: pd.DataFrame) -> str:
    """Why switching a mechanism off changed no event: what the tables show."""
    table_ = scenario.mechanisms.get(name, {})
    services = set()
    for k in ("service", "services"):
        v = table_.get(k)
        services |= {v} if isinstance(v, str) else set(v or ())
    for lst in table_.values():
        if isinstance(lst, list):
            services |= {x.get("service") for x in lst if isinstance(x, dict) and x.get("service")}
    asked = {s for g in scenario.population.groups for s, p in g.needs.items() if p > 0}
    unasked = sorted(s for s in services if s not in asked)
    if unasked and not (services - set(unasked)):
        return f"no household needs {', '.join(unasked)}, the service(s) it acts on"
    for key in ("from_day", "notice", "opens"):
        day = table_.get(key)
        if isinstance(day, int | float) and day >= scenario.city.horizon:
            return f"it starts on day {day:g}, at or after the horizon ({scenario.city.horizon:g})"
    return ("the event log is identical with and without it in every run: within this city "
            "and horizon it never changes a decision (another mechanism or the paperwork "
            "stops the same households first, or its moment comes after the horizon)")
