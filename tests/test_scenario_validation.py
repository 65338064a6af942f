"""Bad scenarios are refused before anything runs, with the key that is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from maze.scenario import ScenarioError, from_dict
from tests.conftest import paper_city, with_changes


def refused(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        from_dict(data, source="city.toml")
    return str(info.value)


def test_a_good_scenario_is_accepted() -> None:
    s = from_dict(paper_city())
    assert s.office("police").level == "municipal"


def test_unknown_key_is_named() -> None:
    msg = refused(with_changes(paper_city(), offices__0__clerk=3))
    assert msg.startswith("city.toml: offices.school.clerk: unknown key")


def test_negative_capacity() -> None:
    msg = refused(with_changes(paper_city(), offices__0__clerks=-1))
    assert "offices.school.clerks" in msg and "greater than or equal to 1" in msg


def test_referral_to_an_office_that_does_not_exist() -> None:
    data = paper_city()
    data["referrals"] = [{"from": "school", "to": "nowhere"}]
    msg = refused(data)
    assert "referrals.0.to" in msg and "'nowhere'" in msg


def test_document_that_needs_itself() -> None:
    msg = refused(with_changes(paper_city(), documents__address__requires=["address"]))
    assert "cycle" in msg and "address -> address" in msg


def test_document_cycle_through_two_papers() -> None:
    msg = refused(with_changes(paper_city(), documents__address__requires=["permit"]))
    assert "cycle" in msg


def test_shares_must_sum_to_one() -> None:
    msg = refused(with_changes(paper_city(), population__groups__0__share=0.7))
    assert "city.toml: population.groups: group shares must sum to 1, they sum to 1.2" in msg
    twice = paper_city()
    twice["population"]["groups"][1]["name"] = twice["population"]["groups"][0]["name"]
    assert (f"population.groups: group names must be unique "
            f"({twice['population']['groups'][0]['name']!r} is used twice)") in refused(twice)


def test_unknown_attribute_is_named() -> None:
    msg = refused(with_changes(paper_city(), population__groups__0__attributes={"leese": True}))
    assert "'leese'" in msg and "lease_own" in msg


def test_needs_must_be_a_yes_no_attribute() -> None:
    msg = refused(with_changes(paper_city(), documents__address__needs=["age"]))
    assert "documents.address.needs" in msg


def test_bad_distribution_parameters() -> None:
    data = with_changes(paper_city(), offices__0__service_time={"dist": "normal", "mean": 1})
    assert "needs sd" in refused(data)


def test_horizon_beyond_the_limit_is_refused() -> None:
    msg = refused(with_changes(paper_city(), city__horizon=1e9))
    assert "city.horizon" in msg


def test_too_many_households_is_refused() -> None:
    msg = refused(with_changes(paper_city(), population__households=10**10))
    assert "population.households" in msg


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maze.app.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_refuses_a_bad_file_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    data = paper_city()
    data["referrals"] = [{"from": "school", "to": "nowhere"}]
    bad.write_bytes(tomli_w.dumps(data).encode())
    for cmd in (["validate", str(bad)], ["run", str(bad), "--out", str(tmp_path / "o")]):
        r = _cli(*cmd, cwd=tmp_path)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1 and "bad.toml" in r.stderr and "referrals.0.to" in r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_refuses_unparseable_toml(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[city\nname=", encoding="utf-8")
    r = _cli("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "Traceback" not in r.stderr


def test_cli_refuses_a_missing_file(tmp_path: Path) -> None:
    r = _cli("run", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert r.returncode == 2 and "file not found" in r.stderr


def test_a_list_entry_is_named_by_its_name(tmp_path: Path) -> None:
    """An unknown key in the fourth office of a city file names that office, as overrides
    address it (offices.employer.foo), not by a number counted from 0 (offices.3.foo)."""
    import tomllib

    from offices import presets

    data = tomllib.loads(Path(presets.path("beijing")).read_text(encoding="utf-8"))
    assert data["offices"][3]["name"] == "employer"
    data["offices"][3]["foo"] = 1
    data["population"]["groups"][1]["bar"] = 1
    bad = tmp_path / "city.toml"
    bad.write_bytes(tomli_w.dumps(data).encode())
    r = _cli("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert f"{bad}: offices.employer.foo: unknown key" in r.stderr
    del data["offices"][3]["foo"]
    msg = refused(data)
    assert f"population.groups.{data['population']['groups'][1]['name']}.bar: unknown" in msg


def test_an_entry_without_a_name_keeps_its_number_and_says_which_it_is() -> None:
    data = paper_city()
    data["mechanisms"] = {"eligibility": {"rules": [
        {"service": "school", "requires": ["contract"]},
        {"service": "school", "requires": ["lease_own"], "typo": 1}]}}
    from maze.app import api

    with pytest.raises(ScenarioError) as info:
        api.load(path=None, overrides={"mechanisms": data["mechanisms"]})
    msg = str(info.value)
    assert "mechanisms.eligibility.rules.1.typo: unknown key" in msg
    assert msg.endswith('; the 2nd entry of mechanisms.eligibility.rules (service = "school", '
                        'typo = 1)')


def test_a_name_that_cannot_address_its_entry_keeps_the_number() -> None:
    twice = paper_city()
    twice["offices"].append({**twice["offices"][0], "clerk": 3})
    n = len(twice["offices"]) - 1
    msg = refused(twice)  # two offices of one name: the number tells them apart
    assert f"offices.{n}.clerk: unknown key" in msg
    assert f"the {n + 1}th entry of offices (name = \"school\"" in msg
    empty = with_changes(paper_city(), offices__0__name="")
    assert "offices.0.name: " in refused(empty)  # the bad key is the name itself


@pytest.mark.parametrize(("line", "key", "says"), [
    ("job_changes = 0.5", "population.groups.informal_worker.attributes.job_changes",
     "a number attribute takes a number from -1.8e+308 to 1.8e+308 or a distribution, "
     "not a whole number of 401 digits"),
    ("contract = 0.05", "population.groups.informal_worker.attributes.contract",
     "a yes/no attribute takes true, false or a probability between 0 and 1, not a whole "
     "number of 401 digits"),
    ("share = 0.35", "population.groups.informal_worker.share",
     "a whole number of 401 digits is beyond the numbers maze reads; the value must be "
     ">= 0 and <= 1"),
])
def test_an_integer_of_401_digits_is_refused_with_its_key_and_range(
        tmp_path: Path, line: str, key: str, says: str) -> None:
    """pydantic tries each form an attribute can take and reported the first ("a valid
    boolean", at ...job_changes.bool): the message names the key and what it takes."""
    from offices import presets

    text = Path(presets.path("beijing")).read_text(encoding="utf-8")
    assert line in text
    bad = tmp_path / "city.toml"
    bad.write_text(text.replace(line, line.split(" = ")[0] + " = " + "9" * 401, 1),
                   encoding="utf-8")
    r = _cli("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == f"maze: error: {bad}: {key}: {says}\n"


def test_a_value_no_member_of_a_union_takes_names_the_key_not_the_member() -> None:
    data = paper_city()
    data["population"]["groups"][0]["attributes"] = {"age": [35]}
    assert refused(data).endswith(".attributes.age: a number attribute takes a number or a "
                                  "distribution")
    data = paper_city()
    next(iter(data["services"].values()))["deadline"] = [1]
    assert refused(data).endswith(".deadline: Input should be a valid number")


@pytest.mark.parametrize("name", ["float", "int", "str", "bool", "constrained-float", "a[b"])
def test_an_unknown_key_named_like_a_union_member_is_named(name: str) -> None:
    """pydantic names a union's member after the union's key (``...deadline.constrained-float``),
    and that name is dropped from the key; an unknown key spelled the same is the key."""
    assert refused(with_changes(paper_city(), city__colour=1)).startswith(
        "city.toml: city.colour: unknown key")
    data = paper_city()
    data["city"][name] = 1
    assert refused(data).startswith(f"city.toml: city.{name}: unknown key (check the spelling; "
                                    "this table takes name, start_date,")
    data = paper_city()
    data["offices"][0][name] = 1
    assert refused(data).startswith(f"city.toml: offices.school.{name}: unknown key")


def test_an_unknown_key_named_float_is_refused_by_the_cli(tmp_path: Path) -> None:
    data = paper_city()
    data["city"]["float"] = 1
    bad = tmp_path / "c.toml"
    bad.write_bytes(tomli_w.dumps(data).encode())
    r = _cli("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"maze: error: {bad}: city.float: unknown key")


def test_an_unknown_key_says_which_keys_its_table_takes() -> None:
    from maze.app import api

    msg = refused(with_changes(paper_city(), city__horizn=3))
    assert ("city.horizn: unknown key (check the spelling; this table takes name, start_date, "
            "horizon, end_date, regime, description, sources;") in msg
    with pytest.raises(ScenarioError) as info:
        api.load(overrides={"mechanisms.class_cap.capp": 3})
    assert "mechanisms.class_cap.capp: unknown key; this table takes enabled, office, cap," \
        in str(info.value)


def test_an_entry_of_a_dated_mechanism_list_says_which_it_is(tmp_path: Path) -> None:
    from offices import presets

    text = Path(presets.path("beijing_history")).read_text(encoding="utf-8")
    entry = '{ service = "hukou_transfer", requires = ["temporary_residence_permit"], ' \
            'condition = "age < 45"'
    assert text.count(entry) == 1
    bad = tmp_path / "city.toml"
    bad.write_text(text.replace(entry, entry.replace("{ ", "{ typo = 1, ")), encoding="utf-8")
    r = _cli("validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"maze: error: {bad}: mechanisms.eligibility.rules.2015-12-10.3."
                               "typo: unknown key")
    assert r.stderr.endswith("; the 4th entry of mechanisms.eligibility.rules.2015-12-10 "
                             '(typo = 1, service = "hukou_transfer")\n')


@pytest.mark.parametrize(("where", "value", "says"), [
    ("deadline", "02-30", "'02-30' is not a day of the year (MM-DD)"),
    ("deadline", "9-1", "takes a number of days, a date (YYYY-MM-DD) or a month-day (MM-DD), "
                        "not '9-1'"),
    ("deadline", "soon", "a month-day (MM-DD), not 'soon'"),
    ("arrivals", "02-30", "'02-30' is not a day of the year (MM-DD)"),
    ("arrivals", "june", "takes a number of days or a month-day (MM-DD), not 'june'"),
])
def test_a_text_that_is_no_day_says_what_the_key_takes(where: str, value: str,
                                                       says: str) -> None:
    # pydantic names only the first member of the union ("Input should be a valid
    # number"), which hid that the key reads month-days and that 02-30 is not one.
    data = paper_city()
    if where == "deadline":
        next(iter(data["services"].values()))["deadline"] = value
        key = "services.school.deadline"
    else:
        data["population"]["arrivals"] = {"start": value, "end": "09-01"}
        key = "population.arrivals.start"
    msg = refused(data)
    assert msg.startswith(f"city.toml: {key}: ") and msg.endswith(says), msg
