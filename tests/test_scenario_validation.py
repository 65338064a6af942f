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
    assert msg.startswith("city.toml: offices.0.clerk: unknown key")


def test_negative_capacity() -> None:
    msg = refused(with_changes(paper_city(), offices__0__clerks=-1))
    assert "offices.0.clerks" in msg and "greater than or equal to 1" in msg


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
    assert "population" in msg and "sum to 1" in msg and "1.2" in msg


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
