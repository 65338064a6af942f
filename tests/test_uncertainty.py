"""Declared uncertainty: the [uncertainty] table is checked against the city it belongs to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from maze import scenario as sc
from maze import uncertainty as un
from maze.scenario import ScenarioError
from offices import presets


def _city(extra: str) -> str:
    """The illustrative preset with an [uncertainty] table appended (replacing any it has)."""
    text = presets.text("illustrative")
    if "\n[uncertainty]" in text:
        text = text[: text.index("\n[uncertainty]")]
    return text + "\n[uncertainty]\n" + extra


def _load(tmp_path: Path, extra: str) -> sc.Scenario:
    path = tmp_path / "city.toml"
    path.write_text(_city(extra), encoding="utf-8")
    return sc.load(path)


def test_a_declared_range_becomes_an_assumption(tmp_path: Path) -> None:
    s = _load(tmp_path, '"offices.street_office.clerks" = { range = [1, 4], why = "staffing" }\n'
                        '"population.visit_cost_days" = { range = [0.2, 1.0], dist = '
                        '"loguniform", why = "half a day" }\n')
    a, b = un.declared(s)
    assert (a.key, a.value, a.low, a.high, a.integer) == ("offices.street_office.clerks",
                                                          sc.get_dotted(s, a.key), 1, 4, True)
    assert b.dist == "loguniform" and not b.integer


@pytest.mark.parametrize(("extra", "words"), [
    ('"offices.nowhere.clerks" = { range = [1, 4], why = "x" }\n', "no entry named"),
    ('"offices.street_office.clerks" = { range = [5, 9], why = "x" }\n', "outside the range"),
    ('"offices.street_office.clerks" = { range = [1.5, 4], why = "x" }\n', "whole number"),
    ('"offices.street_office.name" = { range = [1, 4], why = "x" }\n', "not a number"),
    ('"offices.street_office.clerks" = { range = [4, 1], why = "x" }\n', "low < high"),
    ('"offices.street_office.clerks" = { range = [1, 4] }\n', "missing"),
    ('"population.visit_cost_days" = { range = [0, 1], dist = "loguniform", why = "x" }\n',
     "above 0"),
    ('"population.visit_cost_days" = { range = [0.1, 1], dist = "triangular", why = "x" }\n',
     "mode"),
    # A point drawn from these would be refused mid-sweep: the attribute's range is known.
    ('"population.groups.informal_worker.attributes.daily_wage.mean" = { range = [-50, 150], '
     'why = "x" }\n', "reaches outside the values the attribute takes: at least 0"),
])
def test_a_bad_declaration_is_refused_naming_file_and_key(tmp_path: Path, extra: str,
                                                           words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, extra)
    msg = str(err.value)
    assert str(tmp_path / "city.toml") in msg
    assert "uncertainty" in msg and words in msg


def test_a_range_inside_an_attributes_values_is_accepted(tmp_path: Path) -> None:
    s = _load(tmp_path, '"population.groups.informal_worker.attributes.daily_wage.mean" = '
                        '{ range = [50, 150], why = "x" }\n'
                        '"population.groups.informal_worker.attributes.daily_wage.low" = '
                        '{ range = [0, 40], why = "x" }\n')
    assert [a.key.rsplit(".", 1)[-1] for a in un.declared(s)] == ["mean", "low"]


def test_an_override_may_leave_the_declared_range(tmp_path: Path) -> None:
    """A sweep may go beyond what is plausible; only the file's own value is checked."""
    s = _load(tmp_path, '"offices.street_office.clerks" = { range = [1, 4], why = "x" }\n')
    moved = un.apply(s, {"offices.street_office.clerks": 9})
    assert sc.get_dotted(moved, "offices.street_office.clerks") == 9


def test_samples_stay_in_range_keep_integers_and_follow_the_distribution(tmp_path: Path) -> None:
    s = _load(tmp_path, '"offices.street_office.clerks" = { range = [1, 4], why = "x" }\n'
                        '"population.visit_cost_days" = { range = [0.1, 1.0], dist = '
                        '"triangular", mode = 0.5, why = "x" }\n'
                        '"population.days_between_visits.mean" = { range = [1.0, 100.0], '
                        'dist = "loguniform", why = "x" }\n')
    points = un.draw(un.declared(s), 2000, seed=3)
    clerks = np.array([p["offices.street_office.clerks"] for p in points])
    assert set(clerks.tolist()) == {1, 2, 3, 4}
    assert all(isinstance(c, int) for c in clerks.tolist())
    tri = np.array([p["population.visit_cost_days"] for p in points])
    assert 0.1 <= tri.min() and tri.max() <= 1.0
    assert abs(np.median(tri) - 0.5) < 0.03  # a symmetric triangle's median is its mode
    logu = np.array([p["population.days_between_visits.mean"] for p in points])
    assert abs(np.median(logu) - 10.0) < 1.0  # the geometric middle of 1..100
    assert un.draw(un.declared(s), 50, seed=3) == un.draw(un.declared(s), 50, seed=3)


def test_alternatives_are_drawn_among_the_listed_values(tmp_path: Path) -> None:
    s = _load(tmp_path, '"offices.minban_school.government" = { values = [false, true], '
                        'why = "x" }\n')
    (a,) = un.declared(s)
    assert not a.numeric and {a.at(0.1), a.at(0.9)} == {False, True}


def test_keys_can_be_chosen_and_an_undeclared_one_is_refused(tmp_path: Path) -> None:
    s = _load(tmp_path, '"offices.street_office.clerks" = { range = [1, 4], why = "x" }\n')
    assert [a.key for a in un.declared(s, keys=["offices.street_office.clerks"])] == [
        "offices.street_office.clerks"]
    with pytest.raises(ScenarioError, match="not a declared"):
        un.declared(s, keys=["population.households"])


def test_a_range_reaching_a_value_the_scenario_refuses_is_refused_before_any_run(
        tmp_path: Path, capsys) -> None:
    """An office of no clerks is no office: a range of clerks from 0 passes the declaration
    (the scenario's own value is inside it) but a study from it is refused at once, naming
    the uncertainty key, not part-way through its runs."""
    from maze.app import cli

    s = _load(tmp_path, '"offices.street_office.clerks" = { range = [0, 4], why = "x" }\n')
    (a,) = un.declared(s)
    with pytest.raises(ScenarioError) as err:
        un.check_ends(s, [a], str(tmp_path / "city.toml"))
    assert "uncertainty.offices.street_office.clerks" in str(err.value)
    assert "at 0 the scenario cannot run" in str(err.value)
    un.check_ends(s, [dataclasses.replace(a, low=1)], "x")  # from 1 clerk: every end runs
    out = tmp_path / "study"
    code = cli.main(["sensitivity", str(tmp_path / "city.toml"), "--trajectories", "2",
                     "--households", "50", "--out", str(out)])
    err_text = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "uncertainty.offices.street_office.clerks" in err_text and "Traceback" not in err_text
