"""The figures docs/explanation/time-and-rules.md quotes from one run of each city history
("What the time series shows", "Children and renewals over the decade"), checked against
a fresh run of the command the page gives.

Each history is a full run of 22,000 households (about 7 s of CPU), so these are behind the
``slow`` marker (``pytest -m slow``): run them after a change that alters any draw, and
re-measure the page when they fail (the failure names the figure).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from maze import measures
from maze.app import api

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "explanation" / "time-and-rules.md"


def _run(preset: str, seed: int = 0):  # noqa: ANN202 - a maze.app.api.Run
    return api.run(api.load(preset=preset), seed)


def _migrant_years(run, service: str) -> pd.DataFrame:  # noqa: ANN001
    """Migrants' requests for ``service`` by year: count and shares pooled over groups."""
    y = measures.years(run.journeys, run.scenario)
    y = y[(y["hukou"].astype(str) == "migrant") & (y["service"].astype(str) == service)]
    out = y.groupby("year")[["requests"]].sum()
    for col in ("served_share", "alternative_share", "deterred_share"):
        out[col] = (y[col] * y["requests"]).groupby(y["year"]).sum() / out["requests"]
    return out


def _quoted(*texts: str) -> None:
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    for text in texts:
        assert text in page, f"{PAGE.name} no longer quotes {text!r}: re-measure the page"


@pytest.mark.slow
def test_beijing_history_figures_are_those_of_a_fresh_run() -> None:
    run = _run("beijing_history")
    school = _migrant_years(run, "school")
    s = school.loc
    _quoted(f"took {s[2010, 'alternative_share']:.0%} of migrant school requests made in 2010, "
            f"{s[2011, 'alternative_share']:.0%} in 2011",
            f"({int(s[2011, 'requests']):,}, against {int(s[2010, 'requests']):,} in 2010",
            f"served {s[2012, 'served_share']:.1%} in 2012",
            f"({s[2011, 'served_share']:.1%} in 2011")
    c = run.raw.children
    migrant = c[c["hukou"].astype(str) == "migrant"]
    renewals = run.summary["renewals"]["health_insurance"]
    got = (f"{c['child_id'].nunique():,} children are followed for {len(c):,} child-years",
           f"{renewals['renewals']:,} renewals by covered families, {renewals['lost']:,} lost",
           f"{int((migrant['outcome'] == 'out_of_school').sum())} child-years")
    _quoted(*got)


@pytest.mark.slow
def test_chengdu_history_figures_are_those_of_a_fresh_run() -> None:
    run = _run("chengdu_history")
    c = run.raw.children
    migrant = c[c["hukou"].astype(str) == "migrant"]["outcome"].value_counts(normalize=True)
    churn = run.summary["renewals"]["health_insurance"]["churn"]
    _quoted(f"{migrant['city_public']:.1%} in a city public school",
            f"insurance churn {churn:.1%}")
