"""Generated blocks of the tutorials and explanation pages (see blocks.py).

Each function runs small, seeded simulations and returns the Markdown that stands between
the block's markers; ``python docs/gen/blocks.py`` rewrites the pages.
"""

from __future__ import annotations

import tomllib
from functools import cache

from blocks import ROOT, block

REGIMES = ("provide", "deny", "deflect")
OUTCOME_COLUMNS = (("served", "served"), ("alternative", "private"), ("sent_away", "sent away"),
                   ("gave_up", "gave up"), ("denied", "denied"), ("deterred", "deterred"),
                   ("pending", "pending"))


@cache
def beijing(regime: str = "deflect", seed: int = 0) -> dict:
    """The summary of the Beijing preset as written (2,000 households) under a regime."""
    from maze.app import api

    return api.run(api.load(preset="beijing", overrides={"city.regime": regime}), seed).summary


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _days(x: float | None) -> str:
    """As `maze run` prints it: whole days."""
    return "not reached" if x is None else f"{x:.0f}"


def _rmb(x: float) -> str:
    return f"{x / 1e6:.1f} M RMB" if abs(x) >= 1e6 else f"{x:,.0f} RMB"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


@block("first-run-table")
def first_run_table() -> str:
    """What `maze run` prints for Beijing, seed 0: outcome shares by group."""
    s = beijing()
    head = ["group", *(h for _, h in OUTCOME_COLUMNS), "median days", "offices"]
    lines = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
    for name, b in [*s["by_group"].items(), ("all", s)]:
        lines.append(_row([name, *(_pct(b[f"{o}_share"]) for o, _ in OUTCOME_COLUMNS),
                           _days(b["median_days_to_service"]),
                           f"{b['mean_offices_seen']:.1f}"]))
    return (f"`maze run` (Beijing, seed 0: {s['households']:,} households, "
            f"{s['requests']:,} requests):\n\n" + "\n".join(lines) + "\n\n"
            f"Explicit hukou refusals: {s['explicit_refusal_share']:.1%} of requests; city "
            f"cost saved: {s['city_cost_saved']:,.0f} RMB.")


@block("regimes-table")
def regimes_table() -> str:
    """Migrants' requests in Beijing under the three regimes, seed 0."""
    head = ["regime", "served", "median days to service (served)", "private school",
            "sent home", "gave up", "denied", "told \"hukou\"", "government offices seen",
            "out of pocket", "wages lost", "city cost saved"]
    lines = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
    saved = {}
    for regime in REGIMES:
        m = beijing(regime)["migrants"]
        saved[regime] = m["city_cost_saved"]
        lines.append(_row([regime, _pct(m["served_share"]),
                           "none served" if m["median_days_to_service_among_served"] is None
                           else f"{m['median_days_to_service_among_served']:.1f}",
                           _pct(m["alternative_share"]), _pct(m["sent_away_share"]),
                           _pct(m["gave_up_share"]), _pct(m["denied_share"]),
                           _pct(m["explicit_refusal_share"]),
                           f"{m['mean_government_offices_seen']:.1f}",
                           _rmb(m["mean_out_of_pocket"]), _rmb(m["mean_wage_lost"]),
                           _rmb(m["city_cost_saved"])]))
    share = saved["deflect"] / saved["deny"] if saved["deny"] else float("nan")
    return ("Beijing as written, 2,000 households, seed 0, migrants' requests "
            "(`maze run --preset beijing --regime REGIME`):\n\n" + "\n".join(lines) + "\n\n"
            f"Deflection saves the city {share:.0%} of what denial saves.")


@block("experiment-sweep")
def experiment_sweep() -> str:
    """A small sweep from Python: wages a visit costs against who gives up."""
    from maze.app import sweep

    exp = sweep.build("beijing", grid={"population.visit_cost_days": [0.5, 2.0]},
                      replications=3, seed=1, households=300)
    result = sweep.sweep(exp, executor="serial")  # no folder: nothing written
    b = sweep.bands(result.runs, "population.visit_cost_days",
                    ["served_share", "gave_up_share", "mean_wage_lost"])
    lines = [_row(["visit_cost_days", "measure", "runs", "mean", "95% interval"]),
             _row(["---:", "---", "---:", "---:", "---"])]
    for r in b.itertuples():
        fmt = (lambda v: f"{v:.1%}") if r.measure.endswith("share") else (lambda v: f"{v:,.0f}")
        lines.append(_row([f"{r._1:g}", f"`{r.measure}`", str(r.n), fmt(r.mean),
                           f"{fmt(r.low)} to {fmt(r.high)}"]))
    return "\n".join(lines)


@block("bibliography-targets")
def bibliography_targets() -> str:
    """The works behind the calibration targets, read from offices/targets/*.toml."""
    works: dict[tuple, dict[str, list[str]]] = {}
    for path in sorted((ROOT / "offices" / "targets").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for t in data.get("targets", []):
            c = t.get("citation")
            if not c:
                continue
            key = (c.get("author", ""), c.get("year", ""), c.get("title", ""),
                   c.get("publisher", ""), c.get("url", ""))
            cities = works.setdefault(key, {}).setdefault(t["name"], [])
            if path.stem not in cities:
                cities.append(path.stem)
    out = []
    for (author, year, title, publisher, url), used in sorted(works.items()):
        text = f"**{author} {year}** · {author}. {year}. *{title}*."
        if publisher:
            text += f" {publisher}."
        if url:
            text += f" <{url}>"
        targets = "; ".join(f"`{name}` ({', '.join(cities)})" for name, cities in used.items())
        out.append(text + f" Calibration targets: {targets}.")
    return "\n\n".join(out) if out else "No calibration target cites a work yet."


@cache
def _migrants_served(overrides: tuple) -> float:
    from maze.app import api

    scenario = api.load(preset="beijing", overrides=dict(overrides))
    return api.run(scenario, 0).summary["migrants"]["served_share"]


@block("regimes-drivers")
def regimes_drivers() -> str:
    """What moves migrants' served share in Beijing: papers, then the rules after them."""
    from maze.app import api

    city = api.load(preset="beijing")
    migrants = [i for i, g in enumerate(city.population.groups) if g.hukou != "local"]
    papers = tuple((f"population.groups.{i}.attributes.{a}", 1.0)
                   for i in migrants for a in ("lease_own", "contract"))
    switched = tuple((f"mechanisms.{m}.enabled", False) for m in city.mechanisms)
    no_rules = tuple((f"mechanisms.{m}.enabled", False) for m in ("eligibility",)
                     if m in city.mechanisms)
    base = beijing()["migrants"]["served_share"]
    return (f"In Beijing as written, {base:.0%} of migrants' requests are served (seed 0). "
            f"With a lease in their own name and a labour contract for every household, "
            f"{_migrants_served(papers):.0%}; with the switchable mechanisms "
            f"({', '.join(city.mechanisms)}) also off, {_migrants_served(papers + switched):.0%}. "
            f"With the papers as written but the eligibility rules off, "
            f"{_migrants_served(no_rules):.0%}. "
            "(`python docs/gen/blocks.py` computes these with `api.load(preset=\"beijing\", "
            "overrides=...)`.)")
