"""Refusal with no reason at all: "They just said no; he's not allowed."

[Chan & O'Brien 2019: Away from the City]
"""

from __future__ import annotations

import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from tests.school_city import run, school_city, served_share, with_mechanism


def test_a_rate_of_refusals_that_name_nothing() -> None:
    city = school_city(households=600)
    off_run = run(city)
    on_run = run(with_mechanism(city, "no_reason", {"rate": 0.3}))
    assert served_share(off_run, "migrant") > 0.95
    j = on_run.journeys
    mig = j[j["group"] == "migrant"]
    # About 30% of 420 migrant requests (binomial sd about 2.2 points).
    assert (mig["outcome"] == "served").mean() == pytest.approx(0.7, abs=0.07)
    ev = on_run.events
    refused = ev[ev["activity"] == "refuse"]
    assert set(refused["reason"].astype(str)) == {"none"}
    assert set(refused["office"].astype(str)) == {"school"}
    assert len(refused) == (mig["outcome"] != "served").sum()
    # Refused at the first counter: one visit to the city, then the fallbacks.
    assert not j["explicit_refusal"].any()
    assert served_share(on_run, "local") == 1.0


def test_per_visit_refuses_more_than_per_request() -> None:
    city = school_city(households=600)
    per_req = run(with_mechanism(city, "no_reason", {"rate": 0.2}))
    per_visit = run(with_mechanism(city, "no_reason", {"rate": 0.2, "per": "visit"}))
    # The school is visited twice by every migrant (ask, then bring the papers).
    assert served_share(per_visit, "migrant") < served_share(per_req, "migrant") - 0.1


def test_only_at_listed_offices() -> None:
    city = school_city(households=300)
    r = run(with_mechanism(city, "no_reason", {"rate": 1.0, "offices": ["police"]}))
    ev = r.events
    refused = ev[ev["activity"] == "refuse"]
    # Every migrant needs a permit from the police, and is refused there, for no reason.
    assert set(refused["office"].astype(str)) == {"police"}
    assert set(refused["reason"].astype(str)) == {"none"}
    assert served_share(r, "migrant") == 0.0
    assert served_share(r, "local") == 1.0


@pytest.mark.parametrize("table, key", [
    ({"rate": 1.5}, "mechanisms.no_reason.rate"),
    ({"rate": 0.1, "services": ["clinic"]}, "mechanisms.no_reason.services"),
    ({"rate": 0.1, "offices": ["nowhere"]}, "mechanisms.no_reason.offices"),
    ({"rate": 0.1, "reason": "hukou"}, "mechanisms.no_reason.reason"),
])
def test_bad_tables_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(with_mechanism(school_city(), "no_reason", table)))
    assert key in str(err.value)
