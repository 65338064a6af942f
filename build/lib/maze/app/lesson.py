"""The class in docs/teaching.md, step by step, as the dashboard shows it.

Each step is a state of the dashboard's controls (regime, a mechanism switched or set,
documents required) and a view (whose requests, which service), with the figures the
class reads off the summary. The lesson's tables are generated from these steps
(``docs/gen/teaching.py``), and a browser test sets the same controls in the running
app and reads the same cells, so the lesson, the app and the code cannot drift apart.

The numbers go through the dashboard's own functions (:func:`dashboard.configure`,
:func:`dashboard.view_measures`, :func:`dashboard.fmt`): what the lesson prints is what
the page shows, character for character.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from maze.app import api
from maze.app import dashboard as dash_app
from maze.scenario import Scenario

#: The lesson's city and seed: what `maze dash` opens with.
PRESET = "beijing"
SEED = 0


@dataclass(frozen=True)
class Step:
    """One state of the controls, and the summary cells the class reads for it."""

    key: str
    title: str
    regime: str = "deflect"
    who: str = "migrants"
    service: str = "all"
    #: Mechanisms switched on (True) or off (False) from the city's defaults.
    switch: tuple[tuple[str, bool], ...] = ()
    #: (mechanism, setting, value typed in its box).
    settings: tuple[tuple[str, str, str], ...] = ()
    #: (service, document) unticked from the documents that service requires.
    without: tuple[tuple[str, str], ...] = ()
    read: tuple[str, ...] = ("served_share",)

    @property
    def view(self) -> dash_app.View:
        return dash_app.View(self.who, self.service)


READ_REGIMES = ("served_share", "explicit_refusal_share", "city_cost_saved")
READ_LOOP = ("served_share", "missed_deadline_share", "median_days_to_service_among_served")

STEPS: tuple[Step, ...] = (
    Step("provide", "provide", regime="provide", read=READ_REGIMES),
    Step("deny", "deny", regime="deny", read=READ_REGIMES),
    Step("deflect", "deflect", read=READ_REGIMES),
    *(Step(f"loop-{n}", str(n), service="school",
           settings=(("referral_loop", "rounds", str(n)),), read=READ_LOOP) for n in (0, 1, 4)),
    Step("cap-on", "on (as in the city)", service="school",
         read=("served_share", "alternative_share", "sent_away_share")),
    Step("cap-off", "off", service="school", switch=(("class_cap", False),),
         read=("served_share", "alternative_share", "sent_away_share")),
    Step("insurance-as-is", "as in the city", who="group:informal_worker",
         service="health_insurance"),
    Step("insurance-no-employment", "no proof of employment", who="group:informal_worker",
         service="health_insurance", without=(("health_insurance", "proof_of_employment"),)),
    Step("school-as-is", "as in the city", who="group:informal_worker", service="school"),
    Step("school-no-employment", "no proof of employment", who="group:informal_worker",
         service="school", without=(("school", "proof_of_employment"),)),
    Step("school-no-extra", "no proof of employment, extra documents off",
         who="group:informal_worker", service="school",
         without=(("school", "proof_of_employment"),),
         switch=(("extra_documents", False),)),
)
BY_KEY = {s.key: s for s in STEPS}


@functools.cache
def base() -> Scenario:
    return api.load(preset=PRESET)


def form(step: Step, scenario: Scenario | None = None) -> dash_app.Form:
    """What the page sends once the step's controls are set, starting from the page as it
    opens (so every other control keeps the value the page shows)."""
    scenario = scenario or base()
    f = dash_app.initial_form(scenario, SEED, step.view)
    f.regime = step.regime
    drop = {}
    for service, doc in step.without:
        drop.setdefault(service, set()).add(doc)
    f.docs = [(i, [d for d in v if d not in drop.get(i["service"], ())]) for i, v in f.docs]
    switch = dict(step.switch)
    switch.update({m: True for m, _, _ in step.settings})
    f.ons = [(i, (["on"] if switch[i["mechanism"]] else []) if i["mechanism"] in switch else v)
             for i, v in f.ons]
    typed = {(m, name): value for m, name, value in step.settings}
    f.params = [(i, typed.get((i["mechanism"], i["field"]), v)) for i, v in f.params]
    return f


_RUNS = dash_app.Runs(size=len(STEPS))


def measures_of(step: Step, view: dash_app.View | None = None) -> dict[str, Any]:
    """The measures of the step's view (or another column's), as numbers; runs are shared
    between steps with equal settings."""
    levers, shown, errors = dash_app.read_form(base(), form(step))
    if levers is None or shown is None:
        raise ValueError(f"lesson step {step.key}: {errors}")
    _, run = _RUNS.get(dash_app.configure(base(), levers), levers.seed)
    return dash_app.view_measures(run.journeys, view or shown)


def reading(step: Step) -> dict[str, str]:
    """What the summary's view column shows for each cell the step reads."""
    m = measures_of(step)
    return {key: dash_app.fmt(key, m[key]) for key in step.read}


def label(key: str) -> str:
    """The summary row's label for a measure."""
    return dict(dash_app.SUMMARY_ROWS)[key]


def everyone_with_papers() -> tuple[float, float]:
    """Migrants' served share as the city is, and when every household holds a lease in its
    own name and a labour contract (a change no dashboard control makes)."""
    scenario = base()
    changes = {}
    for i, _ in enumerate(scenario.population.groups):
        changes[f"population.groups.{i}.attributes.lease_own"] = 1.0
        changes[f"population.groups.{i}.attributes.contract"] = 1.0
    with_papers = api.load(preset=PRESET, overrides=changes)
    before = api.run(scenario, SEED).summary["migrants"]["served_share"]
    after = api.run(with_papers, SEED).summary["migrants"]["served_share"]
    return before, after


def story(group: str) -> list[str]:
    """What `maze story --group GROUP` tells for the lesson's city and seed."""
    from maze import story as told

    run = api.run(base(), SEED)
    return told.story_lines(run.events, told.typical_household(run.journeys, group), base())


def main(argv: list[str] | None = None) -> int:
    """``python -m maze.app.lesson [papers]``: print the lesson's readings."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args == ["papers"]:
        before, after = everyone_with_papers()
        print(f"migrants served: {before:.1%} as the city is, {after:.1%} with a lease and a "
              "contract for every household")
        return 0
    for step in STEPS:
        print(f"{step.key:24s} " + "; ".join(f"{label(k)}: {v}" for k, v in
                                              reading(step).items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
