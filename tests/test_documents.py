"""Paperwork rules and the document chain, one at a time."""

from __future__ import annotations

from maze.app import api
from maze.scenario import from_dict
from offices.documents import obtainable
from tests.conftest import paper_city, with_changes


def test_without_a_lease_proof_of_address_is_never_issued() -> None:
    scenario = from_dict(paper_city(households=400))
    run = api.run(scenario, seed=3)
    ev, j = run.events, run.journeys
    no_lease = set(run.raw.households.loc[~run.raw.households["lease_own"], "household_id"])
    issued = ev[(ev["activity"] == "issue") & (ev["document"] == "address")]
    assert len(issued) > 0
    assert not set(issued["household_id"]) & no_lease
    # Every household without a lease is refused at the street office, on "documents",
    # and none of them is served at the school.
    refused = ev[(ev["activity"] == "refuse") & (ev["office"] == "street_office")]
    assert set(refused["household_id"]) == no_lease
    assert set(refused["reason"].astype(str)) == {"documents"}
    assert not (j[j["household_id"].isin(no_lease)]["outcome"] == "served").any()


def test_with_a_lease_the_chain_is_followed_in_order() -> None:
    scenario = from_dict(with_changes(paper_city(households=50),
                                      population__groups__1__attributes={"lease_own": True}))
    run = api.run(scenario, seed=1)
    ev = run.events
    one = ev[ev["case_id"] == 0]
    steps = list(zip(one["office"].astype(str), one["activity"].astype(str), strict=True))
    assert steps[:6] == [("school", "request"), ("school", "require"), ("police", "require"),
                         ("street_office", "issue"), ("police", "issue"), ("school", "serve")]
    assert (run.journeys["outcome"] == "served").all()
    assert (run.journeys["offices_seen"] == 3).all()
    assert (run.journeys["loops"] == 2).all()  # back at the police, back at the school


def test_a_permit_holder_skips_the_chain() -> None:
    data = paper_city(households=40)
    data["documents"]["permit"]["held"] = "residence_permit"
    data["population"]["groups"][1]["attributes"] = {"residence_permit": True}
    run = api.run(from_dict(data), seed=2)
    j = run.journeys
    assert (j[j["group"] == "without_lease"]["outcome"] == "served").all()
    assert (j[j["group"] == "without_lease"]["visits"] == 1).all()


def test_obtainable_follows_prerequisites() -> None:
    s = from_dict(paper_city())
    assert obtainable(s, {"lease_own": True}, "permit")
    assert not obtainable(s, {"lease_own": False}, "permit")
    assert not obtainable(s, {}, "address")


def test_locals_hold_every_document() -> None:
    data = paper_city(households=60)
    data["population"]["groups"][1]["hukou"] = "local"
    run = api.run(from_dict(data), seed=0)
    j = run.journeys
    assert (j[j["hukou"] == "local"]["outcome"] == "served").all()


def test_blame_spread_counts_institutions_and_the_levels_of_government_met() -> None:
    run = api.run(from_dict(paper_city(households=200)), seed=5)
    j = run.journeys
    home = j[(j["group"] == "without_lease") & (j["outcome"] == "sent_away")
             & (j["last_office"] == "home")]
    assert len(home) > 0
    # school, police, street office, then the hometown: four institutions met, three of
    # them the city's government, at two levels (district, municipal) and three sectors.
    assert (home["offices_seen"] == 4).all()
    assert (home["government_offices_seen"] == 3).all()
    assert (home["levels_seen"] == 2).all()
    assert (home["sectors_seen"] == 3).all()


def test_a_paper_in_hand_is_not_fetched_again_for_another_request() -> None:
    # Beijing's school place and insurance both ask for a proof of address. A household that
    # obtains it for one request does not queue for it again for the other: a paper issued
    # twice to one household was asked for at a counter reached before the first was issued.
    run = api.run(api.load(preset="beijing", overrides={"population.households": 600}), seed=2)
    ev = run.events
    issued = ev[ev["activity"] == "issue"].sort_values("time", kind="stable")
    first = issued.groupby(["household_id", "document"], observed=True)["time"].transform("min")
    again = issued[issued["time"] > first]
    assert issued.groupby("household_id")["case_id"].nunique().max() > 1  # shared papers
    assert (again["start"] < first.loc[again.index]).all(), \
        again[again["start"] >= first.loc[again.index]]
