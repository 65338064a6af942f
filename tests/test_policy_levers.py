"""experiments/policy_levers.py: every reform is a real change of each preset, or says why not.

The levers are written as overrides of existing scenario keys, computed from each preset.
If a preset renames a key or an office, a lever must fail loudly (refused by validation)
or report itself as not expressible, never become a silent no-op; these tests check
that each override validates and changes the value it names. One directional check:
off-site settlement lowers what the city hospital costs an insured migrant and changes
nothing else, so migrants' medical care must be served more often.
"""

from __future__ import annotations

from typing import Any

import pytest

import offices
from maze import scenario as sc
from maze.app import api
from maze.app import sweep as sw
from offices import presets
from tests.conftest import experiment_script

pl = experiment_script("policy_levers")
NAMES = {lv.name: lv for lv in pl.LEVERS}
#: Which levers each preset can express. Written out, so that a preset edit that makes a
#: lever inexpressible (a renamed service, a dropped mechanism) is noticed here.
EXPRESSIBLE = {
    "beijing": {"long-residence route to hukou", "social-security portability",
                "private provision", "quota for non-hukou pupils"},
    "shanghai": {"long-residence route to hukou", "social-security portability",
                 "private provision", "quota for non-hukou pupils"},
    "guangzhou": {"long-residence route to hukou", "social-security portability",
                  "private provision"},
    "chengdu": {"off-site settlement", "private provision", "quota for non-hukou pupils"},
    "hangzhou": {"off-site settlement"},
    "illustrative": {"private provision"},
    # The hukou rules of the history are a dated table: the long-residence lever, which
    # edits the rule list in place, does not reach into it.
    "beijing_history": {"social-security portability", "private provision",
                        "quota for non-hukou pupils"},
    "chengdu_history": {"off-site settlement", "private provision",
                        "quota for non-hukou pupils"},
}


def _at(data: Any, dotted: str) -> Any:
    """The value at a dotted key of a dumped scenario (list entries by name or index)."""
    node = data
    for part in dotted.split("."):
        if isinstance(node, list):
            node = (node[int(part)] if part.isdigit()
                    else next(x for x in node if isinstance(x, dict) and x.get("name") == part))
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _dump(s: sc.Scenario) -> dict:
    return s.model_dump(by_alias=True, mode="json", exclude_none=True)


@pytest.mark.parametrize("preset", sorted(presets.names()))
def test_each_lever_validates_and_changes_what_it_names(preset: str) -> None:
    base = api.load(preset=preset)
    assert set(EXPRESSIBLE) == set(presets.names()), "a new preset: say what it can express"
    expressed = set()
    for lever in pl.LEVERS:
        for size in lever.sizes:
            try:
                overrides = lever.express(base, size.value)
            except pl.NotExpressible as exc:
                assert str(exc), f"{lever.name} gives no reason in {preset}"
                continue
            expressed.add(lever.name)
            assert overrides, f"{lever.name} ({size.label}) overrides nothing in {preset}"
            changed = sc.override(base, overrides, source=f"{preset}: {lever.name}")
            offices.configs(changed, preset)  # mechanism tables refused here if a key is wrong
            before, after = _dump(base), _dump(changed)
            assert after != before
            for key, value in overrides.items():
                assert _at(after, key) != _at(before, key), f"{key} unchanged in {preset}"
                assert _at(after, key) == value, f"{key} did not take in {preset}"
            assert lever.targets(base), f"{lever.name} targets no service in {preset}"
            assert set(lever.targets(base)) <= set(base.services)
    assert expressed == EXPRESSIBLE[preset]


def test_sizes_are_ordered_doses_and_the_plan_puts_the_baseline_first() -> None:
    base = api.load(preset="beijing")
    runs, left_out = pl.settings("beijing", base)
    assert runs[0]["tags"]["lever"] == pl.BASELINE and len(runs[0]) == 1  # no overrides
    assert set(left_out) == {"off-site settlement"}
    for lever in EXPRESSIBLE["beijing"]:
        doses = [r["tags"]["dose"] for r in runs if r["tags"]["lever"] == lever]
        assert doses == [1, 2, 3]
    rules = NAMES["long-residence route to hukou"].express(base, 5.0)[
        "mechanisms.eligibility.rules"]
    hukou = [r for r in rules if r["service"] == "hukou_transfer"]
    assert hukou == [{"service": "hukou_transfer", "requires": ["temporary_residence_permit"],
                      "condition": "(years_insurance >= 7 and (age < 45)) "
                                   "or years_residence >= 5"}]


def test_offsite_settlement_serves_more_migrants_medical_care() -> None:
    exp, plan = pl.experiment(["hangzhou"], replications=2, seed=5, households=400)
    result = sw.sweep(exp, executor="serial")
    runs = pl.per_run(result, plan)
    full = runs[(runs["lever"] == "off-site settlement") & (runs["dose"] == 3)]
    assert len(full) == 2
    # Every replication, against the baseline run on the same seed.
    assert (full["target_served_share"] > full["target_baseline_share"] + 0.2).all()
    assert (full["served_change"] > 0).all()
    table = pl.table(runs, plan)
    assert table.iloc[0]["lever"] == pl.BASELINE
    text = pl.markdown(table, plan)
    assert "hangzhou: private provision not expressible" in text
