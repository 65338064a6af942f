"""experiments/rule_year.py, the script of docs/howto/rule-year.md: the year a dormant rule
is enforced, compared on the same seeds in a scaled history."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
IDENTITY = ('services.school.documents=["household_registration_booklet",'
            '"hometown_residence_proof"]')


@pytest.fixture(scope="module")
def rule_year():  # noqa: ANN201 - the script as a module
    path = ROOT / "experiments" / "rule_year.py"
    spec = importlib.util.spec_from_file_location("rule_year", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rule_year"] = module
    spec.loader.exec_module(module)
    return module


def test_a_cap_enforced_before_the_summer_binds_from_that_year_only(rule_year, tmp_path: Path
                                                                    ) -> None:
    """With identity papers only, the class cap enforced on 1 May 2012 lowers the share of
    migrants' school requests served in 2012; before it, the runs are the same seeds on the
    same rules, so the years 2010-2011 are identical to 'never' (no effect at all)."""
    out = tmp_path / "out"
    assert rule_year.main(["--years", "2012", "--on", "05-01", "--replications", "1",
                           "--set", IDENTITY, "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv")
    enforced = table[table["variant"].astype(str) == "2012"].set_index("year")
    assert (enforced.loc[[2010, 2011], "effect"] == 0).all()
    assert enforced.loc[2012, "effect"] < -0.2
    pooled = pd.read_csv(out / "pooled.csv")
    assert list(pooled["since"]) == [2012] and pooled["effect"].iloc[0] < 0
    years = pd.read_csv(out / "years.csv")
    assert set(years["variant"].astype(str)) == {"never", "2012"}


def test_a_bad_key_is_refused_with_its_name(rule_year, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert rule_year.main(["--set", "services.school.documentz=[]", "--replications", "1",
                           "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "services.school.documentz" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
