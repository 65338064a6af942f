"""What would each reform the texts propose do to the phantom services?

Guo (n.d.) ends with reforms: recognise long residence for hukou conversion [Guo n.d.,
§2.5, §4], make social security portable [Guo n.d., §2.5, §4], bring private providers
into schooling and health care [Guo n.d., §2.5, §4], and raise quotas for non-hukou pupils
in public schools (and patients in hospitals) [Guo n.d., §4]; Chan & O'Brien (2019) add the 2017
circular on off-site settlement of medical bills [Chan & O'Brien 2019: Statistics]. No text gives a
size for any of them (docs/figures.md, section 11), so each is tried at three sizes, every one an
ASSUMPTION, and written as overrides of keys the presets already have: no new
mechanism. Where a city's preset has nothing the reform could act on (no hukou service,
no medical care, no private school with seats), the lever is reported as not
expressible there, with the reason.

For each city, lever and size (the city as written first, as the baseline), it runs
several replications on common seeds and reports, for migrants' requests: the shares
served in the city, by a private alternative, sent away and given up; the mean number
of the city government's offices met (blame spread); the city cost saved; and the
served share of the requests the lever is aimed at. Each with a 95% t interval over
replications, and the change in the served share against the baseline, paired by seed.

Run from the project root::

    python experiments/policy_levers.py                   # local processes, every core
    python experiments/policy_levers.py --replications 3  # a quick look
    python experiments/policy_levers.py --cities beijing shanghai

Writes ``experiments/out/policy_levers/`` (or ``--out``): ``sweep/`` (every run, the
merged ``runs.parquet``/``groups.parquet`` and ``sweep.html``), ``table.parquet``,
``table.csv``, ``table.md``, ``levers.json`` (the overrides of every setting, and why a
lever is left out of a city) and ``figure.html``. Interrupted, it resumes where it
stopped.

The intervals of that table are over seeds, at each city's values as written. With
``--draws K`` (default 10), each lever at its middle size and each city as written also
run at K points drawn from the city's declared ranges (``maze assumptions PRESET``),
with the same seeds, and ``uncertainty.md``/``uncertainty.csv`` report the change in
migrants' served share against the city as written at the same point: its 95% interval
over seeds at the values as written, its 5-95% range over plausible parameters, the share
of plausible points at which the lever raises the served share by at least one point,
and the assumptions that move that change (rank correlation over the draws, named only
when it is beyond what chance gives with that many draws and assumptions). A
lever that sets a key that is also drawn (the seats, for the quota) sets it after the
draw.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from maze.scenario import Scenario, ScenarioError

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "policy_levers"
#: What main writes in its folder (beside the sweep), listed in the folder's maze marker.
OUTPUT_FILES = ("table.parquet", "table.csv", "table.md", "levers.json", "figure.html")
#: Cities run by default: Beijing and Shanghai, whose hukou and school rules the texts
#: describe most fully, and the two presets with a price gap on medical care (the only
#: place off-site settlement can act).
CITIES = ("beijing", "shanghai", "chengdu", "hangzhou")
REPLICATIONS = 8
SEED = 2017  # the year of the off-site settlement circular [Chan & O'Brien 2019: Statistics]
#: Measures of migrants' requests, from the sweep's per-group table (group "migrant").
MEASURES = ("served_share", "alternative_share", "sent_away_share", "gave_up_share",
            "mean_government_offices_seen", "city_cost_saved")
#: Services through which a hukou (or a permanent residence permit) is applied for.
HUKOU_SERVICES = ("hukou_transfer", "permanent_residence")


class NotExpressible(Exception):
    """A lever that has nothing to act on in a city's preset (the message says why)."""


@dataclass(frozen=True)
class Size:
    label: str
    value: Any


@dataclass(frozen=True)
class Lever:
    """A reform: what the texts say, its sizes, and how it changes a scenario."""

    name: str
    cite: str
    sizes: tuple[Size, ...]
    #: (scenario, size value) -> dotted-key overrides; raises NotExpressible.
    express: Callable[[Scenario, Any], dict[str, Any]]
    #: The services the lever is aimed at in a scenario (for the "target served" column).
    targets: Callable[[Scenario], tuple[str, ...]]


# -- 1. a long-residence route to hukou ---------------------------------------------------
def hukou_services(s: Scenario) -> tuple[str, ...]:
    return tuple(n for n in HUKOU_SERVICES if n in s.services)


def residence_route(s: Scenario, years: float) -> dict[str, Any]:
    """Every rule on a hukou application gains an alternative: ``years`` of residence.

    "Expanding eligibility criteria for Hukou conversion to include ... long-term
    contributors to the local economy, including service and construction workers"
    [Guo n.d., §2.5]; "recognizing long-term residency and local contributions" [Guo n.d., §4]. The
    one size in the texts is the NRDC's five years for cities of 1-5 million [Chuang 2020].
    An eligibility rule's years and condition become ``(the old rule) or years_residence
    >= years``; what a rule ``requires`` (a residence permit already held, Beijing's 2015
    draft [Chan & O'Brien 2019: Why Deflect]) stays. Where points are scored, each year of residence
    earns threshold / ``years`` points up to ``years`` years, so the residence alone reaches
    the bar (and adds to other points, as a points table does). ASSUMPTION: the route is
    added to the rules, not put in their place; paperwork is left as it is.
    """
    services = hukou_services(s)
    if not services:
        raise NotExpressible("no hukou or permanent-residence service in this preset")
    out: dict[str, Any] = {}
    for name in services:
        svc = s.services[name]
        if any(getattr(svc.min_years, f) for f in ("work", "insurance", "residence",
                                                    "schooling")) or svc.max_age is not None \
                or svc.condition is not None:
            raise NotExpressible(f"services.{name} declares its own rule; only "
                                 "[mechanisms.eligibility] rules are relaxed")
    route = f"years_residence >= {years:g}"
    rules = s.mechanisms.get("eligibility", {}).get("rules")
    if rules:
        new_rules, changed = [], False
        for rule in rules:
            clause = _rule_clause(rule) if rule["service"] in services else ""
            if clause:
                rule = {k: v for k, v in rule.items() if k not in ("min_years", "max_age")}
                rule["condition"] = f"({clause}) or {route}"
                changed = True
            new_rules.append(rule)
        if changed:
            out["mechanisms.eligibility.rules"] = new_rules
    points = s.mechanisms.get("points")
    if points and set(points["services"]) & set(services):
        if points.get("threshold") is None:
            raise NotExpressible("the hukou points have a quota, not a threshold")
        table = dict(points.get("table", {}))
        per_year = dict(table.get("per_year", {}))
        max_years = dict(table.get("max_years", {}))
        per_year["years_residence"] = max(per_year.get("years_residence", 0.0),
                                          points["threshold"] / years)
        max_years["years_residence"] = max(max_years.get("years_residence", 0.0), years)
        table.update(per_year=per_year, max_years=max_years)
        out["mechanisms.points.table"] = table
    if not out:
        raise NotExpressible("no eligibility rule or points bar on a hukou service to relax")
    return out


def _rule_clause(rule: Mapping[str, Any]) -> str:
    """An eligibility rule's years, age and condition as one condition ('' if it has none)."""
    parts = [f"years_{field} >= {need:g}"
             for field, need in rule.get("min_years", {}).items() if need]
    if rule.get("max_age") is not None:
        parts.append(f"age <= {rule['max_age']}")
    if rule.get("condition"):
        parts.append(f"({rule['condition']})")
    return " and ".join(parts)


# -- 2. social-security portability -------------------------------------------------------
def reads_insurance(s: Scenario) -> tuple[str, ...]:
    """The services whose rules read consecutive years of local social insurance."""
    found: list[str] = []
    for name, svc in s.services.items():
        if svc.min_years.insurance or "years_insurance" in (svc.condition or ""):
            found.append(name)
    for rule in s.mechanisms.get("eligibility", {}).get("rules", ()):
        if rule.get("min_years", {}).get("insurance") or "years_insurance" in (
                rule.get("condition") or ""):
            found.append(rule["service"])
    for add in s.mechanisms.get("extra_documents", {}).get("additions", ()):
        if add.get("min_years", {}).get("insurance"):
            found.append(add["service"])
    points = s.mechanisms.get("points")
    if points and "years_insurance" in points.get("table", {}).get("per_year", {}):
        found += list(points["services"])
    return tuple(dict.fromkeys(found))


def portability(s: Scenario, counted: float) -> dict[str, Any]:
    """Insurance records follow the migrant: job changes stop resetting them, and a share
    ``counted`` of the years worked (paid into the hometown's scheme) count as insured.

    "Migrants who work in first-tier cities often continue to contribute to social security
    systems in their rural hometowns" [Guo n.d., §4]; "Enhancing social security portability"
    [Guo n.d., §2.5]; funds "impossible to transfer for older migrants" [Chuang 2020]. Here every
    migrant group's ``job_changes`` becomes 0 (the model has one key for the work and the
    insurance streak, so the work record is carried across employers too), and with
    ``counted`` > 0 its ``years_insurance`` is drawn as its ``years_work`` scaled by
    ``counted``, or as before where that was longer (each attribute is drawn on its own,
    as in the presets). ASSUMPTION: how many years migrants paid at home is not given.
    """
    if not reads_insurance(s):
        raise NotExpressible("no rule in this preset reads years of local social insurance")
    out: dict[str, Any] = {}
    for g in s.population.groups:
        if g.hukou == "local":
            continue
        attrs = g.attributes
        key = f"population.groups.{g.name}.attributes"
        if float(_constant(attrs.get("job_changes", 0.0), g.name, "job_changes")) > 0:
            out[f"{key}.job_changes"] = 0.0
        if counted > 0 and "years_work" in attrs:
            low_w, high_w = _span(attrs["years_work"], g.name, "years_work")
            low_i, high_i = _span(attrs.get("years_insurance", 0.0), g.name, "years_insurance")
            low, high = max(low_i, counted * low_w), max(high_i, counted * high_w)
            if (low, high) != (low_i, high_i):
                out[f"{key}.years_insurance"] = (
                    low if low == high else {"dist": "uniform", "low": low, "high": high})
    if not out:
        raise NotExpressible("no migrant group changes jobs or has years of work to count")
    return out


def _constant(value: Any, group: str, attr: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise NotExpressible(f"{group}.{attr} is a distribution; the lever expects a number")


def _span(value: Any, group: str, attr: str) -> tuple[float, float]:
    """(low, high) of a number or a uniform distribution."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), float(value)
    if getattr(value, "dist", None) == "uniform":
        return float(value.low), float(value.high)
    raise NotExpressible(f"{group}.{attr} is neither a number nor uniform")


# -- 3. off-site settlement of medical bills ----------------------------------------------
def priced_services(s: Scenario) -> tuple[str, ...]:
    return tuple(s.mechanisms.get("price_gap", {}).get("services", ()))


def offsite(s: Scenario, share: float) -> dict[str, Any]:
    """The rural insurer pays its home rate in the city hospital for a share of patients.

    The National Health and Family Planning Commission ordered provinces "to launch an
    off-site health insurance system by the end of June 2017 through which patients could
    settle their medical expenses without having to return" home [Chan & O'Brien 2019: Statistics];
    it was "still in their early days". ``mechanisms.price_gap.offsite_settlement`` is the
    probability it works for an insured migrant. ASSUMPTION: the shares tried.
    """
    if not priced_services(s):
        raise NotExpressible("no priced medical care in this preset (no [mechanisms.price_gap]:"
                             " the texts give this city no reimbursement rate)")
    return {"mechanisms.price_gap.offsite_settlement": share}


# -- 4. private provision -----------------------------------------------------------------
def private_offices(s: Scenario) -> tuple[str, ...]:
    return tuple(o.name for o in s.offices if o.role == "alternative" and o.seats is not None)


def private_services(s: Scenario) -> tuple[str, ...]:
    alt = set(private_offices(s))
    return tuple(n for n, svc in s.services.items() if alt & set(svc.fallback))


def private_seats(s: Scenario, factor: float) -> dict[str, Any]:
    """Private schools (and clinics) with seats get ``factor`` times as many, same fee.

    "By incentivizing private enterprises to invest in these sectors ... Private schools
    and healthcare institutions could offer more flexible options for migrant families"
    [Guo n.d., §4]. ASSUMPTION: the sizes; fees and closures stay as the preset has them.
    """
    names = private_offices(s)
    if not names:
        raise NotExpressible("no private school or clinic with a seat limit in this preset")
    return {f"offices.{n}.seats": int(round(s.office(n).seats * factor)) for n in names}


# -- 5. quota increases for non-hukou pupils ----------------------------------------------
def capped_services(s: Scenario) -> tuple[str, ...]:
    cap = s.mechanisms.get("class_cap")
    if not cap:
        return ()
    return tuple(n for n, svc in s.services.items() if svc.entry == cap["office"])


def pupil_quota(s: Scenario, factor: float) -> dict[str, Any]:
    """The capped public school opens ``factor`` times as many classes at the same cap.

    "gradual quota increases for non-Hukou residents in public schools and hospitals"
    [Guo n.d., §4]. Locals are placed first (the seats kept for them do not change), so every
    added seat is one more for non-hukou pupils. ASSUMPTION: the sizes. Hospitals: no
    preset limits a hospital's places, so the hospital half of the quota has nothing to
    act on.
    """
    cap = s.mechanisms.get("class_cap")
    if not cap:
        raise NotExpressible("no capped public school in this preset")
    classes = cap.get("classes")
    if classes is None:
        classes = max(1, s.office(cap["office"]).seats // cap["held"])
    return {"mechanisms.class_cap.classes": int(round(classes * factor))}


# -- the levers, with their sizes (every size an ASSUMPTION: no text gives one) -------------
LEVERS: tuple[Lever, ...] = (
    Lever("long-residence route to hukou", "Guo n.d., §2.5, §4; Chuang 2020",
          (Size("10 years' residence", 10.0),   # ASSUMPTION
           Size("5 years' residence", 5.0),  # the NRDC route, 1-5 million cities [Chuang 2020]
           Size("3 years' residence", 3.0)),    # ASSUMPTION
          residence_route, hukou_services),
    Lever("social-security portability", "Guo n.d., §2.5, §4; Chuang 2020",
          (Size("kept across jobs", 0.0),       # ASSUMPTION: job changes reset nothing
           Size("+ half the years worked", 0.5),  # ASSUMPTION: paid at home half the time
           Size("+ all the years worked", 1.0)),  # ASSUMPTION: paid at home every year
          portability, reads_insurance),
    Lever("off-site settlement", "Chan & O'Brien 2019: Statistics",
          (Size("works for 25%", 0.25),         # ASSUMPTION: "still in their early days"
           Size("works for 50%", 0.5),          # ASSUMPTION
           Size("works for all", 1.0)),         # ASSUMPTION
          offsite, priced_services),
    Lever("private provision", "Guo n.d., §2.5, §4",
          (Size("private seats x1.5", 1.5),      # ASSUMPTION
           Size("private seats x2", 2.0),        # ASSUMPTION
           Size("private seats x3", 3.0)),       # ASSUMPTION
          private_seats, private_services),
    Lever("quota for non-hukou pupils", "Guo n.d., §4",
          (Size("classes x1.25", 1.25),         # ASSUMPTION
           Size("classes x1.5", 1.5),           # ASSUMPTION
           Size("classes x2", 2.0)),            # ASSUMPTION
          pupil_quota, capped_services),
)
BASELINE = "baseline (as written)"


# -- the experiment -------------------------------------------------------------------------
def settings(city: str, base: Scenario) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The runs of one city (baseline first) and the levers left out, with the reason."""
    runs: list[dict[str, Any]] = [{"tags": _tags(city, BASELINE, "none", 0)}]
    left_out: dict[str, str] = {}
    for lever in LEVERS:
        try:
            for dose, size in enumerate(lever.sizes, start=1):
                runs.append({**lever.express(base, size.value),
                             "tags": _tags(city, lever.name, size.label, dose)})
        except NotExpressible as exc:
            runs = [r for r in runs if r["tags"]["lever"] != lever.name]
            left_out[lever.name] = str(exc)
    return runs, left_out


def _tags(city: str, lever: str, size: str, dose: int) -> dict[str, Any]:
    return {"city": city, "lever": lever, "size": size, "dose": dose}


def experiment(cities: Sequence[str], replications: int, seed: int,
               households: int | None = None):  # noqa: ANN201 - (Experiment, plan)
    """One sweep over every city's settings (a maze.app.sweep.Experiment), and the plan.

    The sweep machinery takes one base city per experiment; each city's settings are
    built (and validated) against its own preset, then their points are run together, so
    the runs share one pool of processes and one stored folder. ``households`` is for
    quick tests only: the presets' seats are sized for their own 2,000 households and are
    not scaled with it.
    """
    from maze.app import api
    from maze.app import sweep as sw

    parts, plan = [], {}
    for city in cities:
        base = api.load(preset=city)
        runs, left_out = settings(city, base)
        parts.append(sw.build(base=city, runs=runs, replications=replications, seed=seed,
                              households=households, by=("hukou", "service+hukou"), lever="dose",
                              name="policy_levers", source=f"policy_levers ({city})"))
        plan[city] = {"runs": [{"lever": r["tags"]["lever"], "size": r["tags"]["size"],
                                "overrides": {k: v for k, v in r.items() if k != "tags"}}
                               for r in runs],
                      "targets": {lv.name: list(lv.targets(base)) for lv in LEVERS
                                  if lv.name not in left_out},
                      "not_expressible": left_out}
    exp = dataclasses.replace(
        parts[0], points=tuple(p for e in parts for p in e.points), parameters=(),
        base=", ".join(cities), source="experiments/policy_levers.py",
        description="Reforms proposed in Guo n.d. (and the 2017 off-site settlement "
                    "circular), each at three assumed sizes, against each city as written.")
    return exp, plan


# -- the table ------------------------------------------------------------------------------
def per_run(result, plan: Mapping[str, Any]) -> pd.DataFrame:  # noqa: ANN001 - SweepResult
    """One row per run: migrants' measures; the served share of the lever's target services,
    in this run and in the baseline run of the same city and seed; the change in the
    served share against that baseline run."""
    g = result.groups
    keys = ["run", "city", "lever", "size", "dose", "replication"]
    mig = g[(g["by"] == "hukou") & (g["group"] == "migrant")][[*keys, "requests",
                                                                *MEASURES]]
    svc = g[(g["by"] == "service+hukou") & g["group"].str.endswith(" & hukou=migrant")]
    service = svc["group"].str.removeprefix("service=").str.removesuffix(" & hukou=migrant")
    asked = svc.pivot_table(index="run", columns=service, values="requests",
                            aggfunc="sum", fill_value=0)
    served = (svc["served_share"] * svc["requests"]).groupby(
        [svc["run"], service]).sum().unstack(fill_value=0.0)
    baseline = mig[mig["lever"] == BASELINE].set_index(["city", "replication"])

    def share(run: str, names: Sequence[str]) -> float:
        names = [n for n in names if n in asked.columns]
        n = asked.loc[run, names].sum() if names else 0
        return float(served.loc[run, names].sum() / n) if n else math.nan

    target, target_base = [], []
    for row in mig[["run", "city", "lever", "replication"]].itertuples(index=False):
        names = plan[row.city]["targets"].get(row.lever, ())
        target.append(share(row.run, names))
        target_base.append(share(baseline.loc[(row.city, row.replication), "run"], names))
    paired = baseline["served_share"].reindex(
        pd.MultiIndex.from_frame(mig[["city", "replication"]])).to_numpy()
    return mig.assign(target_served_share=target, target_baseline_share=target_base,
                      served_change=mig["served_share"].to_numpy() - paired)


TABLE_MEASURES = (*MEASURES, "target_served_share", "target_baseline_share", "served_change",
                  "requests")


def table(runs: pd.DataFrame, plan: Mapping[str, Any]) -> pd.DataFrame:
    """Means and 95% t intervals over replications, one row per city, lever and size."""
    from maze.app import sweep as sw

    long = sw.bands(runs, "dose", list(TABLE_MEASURES), by=["city", "lever", "size"])
    wide = long.set_index(["city", "lever", "size", "dose", "measure"])[
        ["mean", "low", "high"]].unstack("measure")
    out = pd.DataFrame(index=wide.index)
    for m in TABLE_MEASURES:
        for stat in ("mean", "low", "high"):
            out[f"{m}_{stat}"] = wide[(stat, m)]
    out["replications"] = long[long["measure"] == "served_share"].set_index(
        ["city", "lever", "size", "dose"])["n"]
    out = out.reset_index()
    city_order = {c: i for i, c in enumerate(plan)}
    lever_order = {n: i for i, n in enumerate((BASELINE, *(lv.name for lv in LEVERS)))}
    out = out.sort_values(["city", "lever", "dose"], key=lambda c: c.map(
        city_order if c.name == "city" else lever_order) if c.name != "dose" else c)
    out["targets"] = [", ".join(plan[c]["targets"].get(lv, ())) for c, lv
                      in zip(out["city"], out["lever"], strict=True)]
    return out.reset_index(drop=True)


def _pm(row: Mapping[str, Any], m: str, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± half-width' (half the 95% interval), or the mean alone with one replication."""
    mean, low, high = row[f"{m}_mean"], row[f"{m}_low"], row[f"{m}_high"]
    if mean != mean:
        return "—"
    text = f"{mean * scale:.{digits}f}"
    return text if low != low else f"{text} ± {(high - low) / 2 * scale:.{digits}f}"


def markdown(t: pd.DataFrame, plan: Mapping[str, Any]) -> str:
    """The table as Markdown: shares in %, offices as a mean, cost in million RMB."""
    head = ("| city | lever | size (ASSUMPTION) | served % | change in served, points "
            "(paired) | private % | sent away % | gave up % | government offices seen | "
            "city cost saved, M RMB | requests | target services: served % (as written) |")
    lines = [head, "|" + " --- |" * 12]
    for row in t.to_dict("records"):
        baseline = row["lever"] == BASELINE
        target = "—" if baseline else (
            f"{row['targets']}: {_pm(row, 'target_served_share')} "
            f"({row['target_baseline_share_mean'] * 100:.1f})")
        lines.append(
            f"| {row['city']} | {row['lever']} | {'—' if baseline else row['size']} | "
            f"{_pm(row, 'served_share')} | {'—' if baseline else _pm(row, 'served_change')} | "
            f"{_pm(row, 'alternative_share')} | {_pm(row, 'sent_away_share')} | "
            f"{_pm(row, 'gave_up_share')} | "
            f"{_pm(row, 'mean_government_offices_seen', 1.0, 2)} | "
            f"{_pm(row, 'city_cost_saved', 1e-6, 2)} | {row['requests_mean']:.0f} | "
            f"{target} |")
    notes = [f"- {city}: {lever} not expressible: {why}"
             for city, p in plan.items() for lever, why in p["not_expressible"].items()]
    reps = int(t["replications"].max()) if len(t) else 0
    spread = (f"means over {reps} replications ± half the 95% t interval" if reps > 1 else
              "one replication, so no interval (--replications 2 or more gives one)")
    return (f"Migrants' requests; {spread}. Sizes are ASSUMPTIONS (no text gives one).\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n")


# -- the figure -----------------------------------------------------------------------------
PANELS = (("served_share", "served in the city", ".0%"),
          ("served_change", "served: change (paired)", "+.1%"),
          ("alternative_share", "private alternative", ".0%"),
          ("sent_away_share", "sent away", ".0%"),
          ("gave_up_share", "gave up", ".0%"),
          ("mean_government_offices_seen", "government offices seen", ".2f"),
          ("city_cost_saved", "city cost saved (RMB)", ",.0f"))
COLOURS = ("#e76f51", "#2a9d8f", "#457b9d", "#e9c46a", "#9d4edd")
DASHES = ("solid", "dot", "dash", "longdash", "dashdot")


def figure(t: pd.DataFrame, path: Path, replications: int) -> None:
    """Dose-response: one panel per measure and city, one line per lever from the baseline."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cities = list(dict.fromkeys(t["city"]))
    shown: set[str] = set()
    fig = make_subplots(rows=len(PANELS), cols=len(cities), shared_xaxes=True,
                        column_titles=[html.escape(c) for c in cities],
                        row_titles=[html.escape(p[1]) for p in PANELS],
                        vertical_spacing=0.03, horizontal_spacing=0.04)
    for col, city in enumerate(cities, start=1):
        ct = t[t["city"] == city]
        base = ct[ct["lever"] == BASELINE]
        for i, lever in enumerate(LEVERS):
            part = pd.concat([base, ct[ct["lever"] == lever.name]])
            if len(part) == len(base):
                continue
            name = html.escape(lever.name)
            legend = name not in shown
            shown.add(name)
            labels = [html.escape(s) for s in ["as written", *part["size"].iloc[1:]]]
            for row, (m, _, fmt) in enumerate(PANELS, start=1):
                err = (part[f"{m}_high"] - part[f"{m}_mean"]).fillna(0.0)
                fig.add_trace(go.Scatter(
                    x=part["dose"], y=part[f"{m}_mean"], mode="lines+markers", name=name,
                    legendgroup=name, showlegend=legend and row == 1,
                    line={"color": COLOURS[i % len(COLOURS)], "dash": DASHES[i % len(DASHES)]},
                    text=labels,
                    error_y={"type": "data", "array": err, "visible": True},
                    hovertemplate=f"{name}: %{{text}}<br>%{{y:{fmt}}}<extra></extra>"),
                    row=row, col=col)
                fig.update_yaxes(tickformat=fmt, rangemode="normal" if m == "served_change"
                                 else "tozero", row=row, col=col)
        fig.update_xaxes(tickvals=[0, 1, 2, 3], ticktext=["as written", "small", "medium",
                                                          "large"], row=len(PANELS), col=col)
    fig.update_layout(
        title=("What each proposed reform does to migrants' requests (means of "
               f"{replications} replications, bars: 95% intervals; sizes are assumptions, "
               "hover for each)"),
        height=260 * len(PANELS), width=max(700, 380 * len(cities)))
    fig.write_html(path, include_plotlyjs=True, full_html=True)


# -- the command ----------------------------------------------------------------------------
def uncertainty(cities: Sequence[str], draws: int, replications: int, seed: int, out: Path,
                quiet: bool = False, households: int | None = None) -> pd.DataFrame:
    """Each lever at its middle size against the city as written, at the values as written
    and at ``draws`` plausible points (the same points and seeds for both)."""
    from maze.app import api, robustness

    rows = []
    measures = ("migrant_served_share", "migrant_school_served_share")
    for city in cities:
        base = api.load(preset=city, overrides={"population.households": households}
                        if households else None)
        settings_, _ = settings(city, base)
        middle = [r for r in settings_ if r["tags"]["dose"] == 2]

        def assess(fixed: Mapping[str, Any], label: str, city: str = city,
                   base: Scenario = base) -> robustness.Result:
            def tick(done: int, total: int) -> None:
                if not quiet:
                    print(f"\r{city}, {label}: {done}/{total} runs", end="", file=sys.stderr,
                          flush=True)

            res = robustness.assess(base, source=f"preset {city}", measures=measures,
                                    draws=draws, replications=replications, seed=seed,
                                    fixed=fixed, out=out / "uncertainty" / city, progress=tick)
            if not quiet:
                print(file=sys.stderr)
            return res

        written = assess({}, BASELINE)
        for r in middle:
            fixed = {k: v for k, v in r.items() if k != "tags"}
            lever = assess(fixed, r["tags"]["lever"])
            change = lever.runs.copy()
            change["migrant_served_share"] = (
                lever.runs["migrant_served_share"].to_numpy()
                - written.runs["migrant_served_share"].to_numpy())
            paired = robustness.Result(change, written.points, written.assumptions)
            interval = paired.interval("migrant_served_share")
            drivers = paired.drivers("migrant_served_share", top=3)
            rows.append({"city": city, "lever": r["tags"]["lever"], "size": r["tags"]["size"],
                         **{f"change_{k}": v for k, v in interval.items()},
                         "raises_by_1_point_share": paired.holds(
                             "migrant_served_share", lambda v: v >= 0.01),
                         "drivers": _drivers_text(drivers)})
    return pd.DataFrame(rows)


def _drivers_text(drivers: pd.DataFrame) -> str:
    """The assumptions that move a lever's effect, or why none is named."""
    if drivers.empty:
        return "none: the change is the same at every point"
    clear = drivers[drivers["clears_chance"]]
    if clear.empty:
        return (f"none clears chance (largest rho {drivers['spearman'].iloc[0]:+.2f}, "
                f"chance ±{drivers['chance'].iloc[0]:.2f})")
    return "; ".join(f"{d.key} ({d.spearman:+.2f})" for d in clear.itertuples())


def uncertainty_markdown(u: pd.DataFrame, draws: int, replications: int) -> str:
    """The lever effects with both intervals, as Markdown."""
    lines = ["| city | lever (middle size) | change in migrants' served share, points: as "
             "written (95% over seeds) | 5-95% over plausible parameters | raises it by "
             ">= 1 point at | moved by (Spearman rho beyond chance) |", "|" + " --- |" * 6]
    for r in u.to_dict("records"):
        seeds = ("one seed" if r["change_seed_low"] != r["change_seed_low"] else
                 f"{r['change_seed_low'] * 100:+.1f} to {r['change_seed_high'] * 100:+.1f}")
        lines.append(
            f"| {r['city']} | {r['lever']} ({r['size']}) | "
            f"{r['change_as_written'] * 100:+.1f} ({seeds}) | "
            f"{r['change_param_low'] * 100:+.1f} to "
            f"{r['change_param_high'] * 100:+.1f} | {r['raises_by_1_point_share']:.0%} of "
            f"{r['change_draws']} points | {r['drivers']} |")
    return (f"Each lever against the city as written at the same point and seeds; "
            f"{replications} seed{'s' if replications != 1 else ''} a point, {draws} plausible "
            "points drawn from the declared "
            "ranges.\n\n" + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    from maze import outputs, storage
    from maze.app import sweep as sw
    from maze.app.commands.sweep import run
    from offices import presets

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cities", "--preset", nargs="+", dest="cities", default=list(CITIES),
                   metavar="PRESET", help=f"presets to run (default: {' '.join(CITIES)})")
    p.add_argument("--households", type=int,
                   help="override the presets' households, for a quick look (their seats are "
                        "sized for their own 2,000, so the shares are not the presets')")
    p.add_argument("--replications", type=int, default=REPLICATIONS,
                   help=f"replications per setting (default {REPLICATIONS})")
    p.add_argument("--seed", type=int, default=SEED, help=f"base seed (default {SEED})")
    p.add_argument("--out", type=Path, default=OUT, help="output folder")
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of N processes")
    p.add_argument("--scheduler", help="run on the Dask cluster at this address")
    p.add_argument("--draws", type=int, default=10,
                   help="plausible parameter points for the middle size of each lever "
                        "(default 10; 0 for seed noise only)")
    p.add_argument("--draw-replications", type=int, default=2,
                   help="seeds at each plausible point (default 2)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    unknown = [c for c in args.cities if c not in presets.names()]
    if unknown or args.replications < 1 or args.seed < 0 or (args.households or 1) < 1:
        what = (f"--cities: unknown preset {unknown[0]!r}; known: {', '.join(presets.names())}"
                if unknown else "--replications and --households must be at least 1, --seed "
                "at least 0")
        print(f"policy_levers: error: {what}", file=sys.stderr)
        return 2
    try:
        exp, plan = experiment(args.cities, args.replications, args.seed, args.households)
        outputs.claim_folder(args.out, "experiment", ("sweep", *OUTPUT_FILES))
        result = run(exp, args.out / "sweep", workers=args.workers,
                     scheduler=args.scheduler, quiet=args.quiet)
    except ScenarioError as exc:
        print(f"policy_levers: error: {exc}", file=sys.stderr)
        return 2
    except sw.SweepError as exc:
        print(f"policy_levers: error: {exc}", file=sys.stderr)
        return 1
    runs = per_run(result, plan)
    t = table(runs, plan)
    out = args.out
    md = markdown(t, plan)
    storage.atomic_file(out / "table.parquet", lambda f: storage.write_parquet(t, f))
    storage.atomic_file(out / "table.csv",
                        lambda f: t.to_csv(f, index=False, float_format="%.6g"))
    storage.atomic_file(out / "table.md", lambda f: f.write_text(md, encoding="utf-8"))
    storage.atomic_file(out / "levers.json", lambda f: f.write_text(
        json.dumps(plan, indent=2, default=str) + "\n", encoding="utf-8"))
    storage.atomic_file(out / "figure.html",
                        lambda f: figure(t, f, result.experiment.replications))
    if not args.quiet:
        print(md)
        print(f"tables and figures in {out}/ (table.md, table.csv, table.parquet, "
              "levers.json, figure.html, sweep/sweep.html)")
    if args.draws > 0:
        u = uncertainty(args.cities, args.draws, args.draw_replications, args.seed, out,
                        quiet=args.quiet, households=args.households)
        umd = uncertainty_markdown(u, args.draws, args.draw_replications)
        storage.atomic_file(out / "uncertainty.csv",
                            lambda f: u.to_csv(f, index=False, float_format="%.6g"))
        storage.atomic_file(out / "uncertainty.md", lambda f: f.write_text(umd, "utf-8"))
        if not args.quiet:
            print(umd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
