"""Rule cases: the readable cases in tests/cases/*.toml, one test each (see README).

Each case runs its city with one household and compares the journey with what the texts
say. A case marked ``xfail`` is one where the model differs from the text: it must keep
failing (strict), so that a change to the model that closes the gap is noticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maze.app import rule_cases
from maze.scenario import ScenarioError

CASES = Path(__file__).parent / "cases"


def _params() -> list:
    out = []
    for loaded in rule_cases.load_dir(CASES):
        marks = ([pytest.mark.xfail(reason=loaded.case.xfail, strict=True)]
                 if loaded.case.xfail else [])
        out.append(pytest.param(loaded, id=loaded.id, marks=marks))
    return out


@pytest.mark.parametrize("loaded", _params())
def test_rule_case(loaded: rule_cases.LoadedCase) -> None:
    verdict = rule_cases.check(loaded)
    assert verdict.holds, verdict.report()


def test_case_files_are_many_and_titled_uniquely() -> None:
    ids = [p.id for p in rule_cases.load_dir(CASES)]
    assert len(ids) >= 15 and len(set(ids)) == len(ids)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
[[case]]
title = "a local is served"
description = "x"
city = "beijing"
service = "school"
[case.household]
hukou = "local"
[case.expect]
outcome = "served"
"""


@pytest.mark.parametrize(("change", "key", "words"), [
    (("hukou = \"local\"", "hukou = \"local\"\nleas_own = true"), "case.0.household.leas_own",
     "unknown key; a household takes group, hukou and these attributes"),
    (("outcome = \"served\"", "outcome = \"served\"\nofice = \"x\""), "case.0.expect.ofice",
     "unknown key; expect takes"),
    (("service = \"school\"", "service = \"school\"\nseed = 3"), "case.0.seed",
     "unknown key; a case takes"),
    (("outcome = \"served\"", "outcome = \"admitted\""), "case.0.expect.outcome", "served"),
    (("hukou = \"local\"", "hukou = \"local\"\nlease_own = 0.5"), "case.0.household.lease_own",
     "bool"),
    (("description = \"x\"\n", ""), "case.0.description", "missing required key"),
    (("hukou = \"local\"", "hukou = \"local\"\nyears_work = " + "9" * 401),
     "case.0.household.years_work", "a whole number of 401 digits is beyond the numbers maze "
     "reads; a number here is at most 1.8e+308 in size"),
])
def test_a_bad_key_is_named_with_its_file(tmp_path: Path, change: tuple[str, str], key: str,
                                          words: str) -> None:
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ScenarioError) as err:
        rule_cases.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message and "\n" not in message


def test_a_name_the_city_lacks_is_refused_before_running(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('outcome = "served"', 'ends_at = "stret_office"'))
    (loaded,) = rule_cases.load(path)
    with pytest.raises(ScenarioError, match=r"case 0 \('a local is served'\): expect.ends_at: "
                                            r"the city has no office 'stret_office'"):
        rule_cases.scenario(loaded)
    unknown_service = _write(tmp_path, GOOD.replace('service = "school"', 'service = "scool"'))
    with pytest.raises(ScenarioError, match="service: the city has no service 'scool'"):
        rule_cases.scenario(rule_cases.load(unknown_service)[0])


def test_a_case_that_does_not_hold_says_what_differed(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('hukou = "local"', 'lease_own = false').replace(
        'outcome = "served"',
        'outcome = "served"\nrefused = { office = "employer", reason = "eligibility" }'))
    verdict = rule_cases.check(rule_cases.load(path)[0])
    assert not verdict.holds
    report = verdict.report()
    assert "expected outcome served, got alternative (at minban_school)" in report
    assert ("expected refused for eligibility at employer, got refused for documents at "
            "street_office") in report
    assert "seeds 0, 1, 2:" in report  # the same on every seed, said once
    assert "street office" in report  # the journey, told in words


def test_maze_case_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maze.app.cli import main

    assert main(["case", str(CASES / "points.toml"), "--title", "blood", "--story"]) == 0
    out = capsys.readouterr().out
    assert "Guangzhou: blood given for points still falls far short: holds" in out
    assert "the public security bureau said they did not qualify" in out
    failing = _write(tmp_path, GOOD.replace('outcome = "served"', 'outcome = "gave_up"'))
    assert main(["case", str(failing)]) == 1
    assert "a local is served: DOES NOT HOLD" in capsys.readouterr().out
    known = _write(tmp_path, GOOD.replace('city = "beijing"', 'city = "beijing"\nxfail = "y"'))
    assert main(["case", str(known)]) == 1  # an xfail case that holds: strict, as in pytest
    assert "HOLDS NOW: remove its xfail" in capsys.readouterr().out
    unknown = _write(tmp_path, GOOD.replace("[case.household]", "[case.houshold]"))
    assert main(["case", str(unknown)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"maze: error: {unknown}: case.0.houshold: unknown key")
    assert err.endswith('; the 1st entry of case (title = "a local is served", description = '
                        '"x")\n')  # the case by its title
