"""A service that asks for a paper and for its prerequisite: the prerequisite comes first.

The five documents list both the residence permit and the proof of address that the
permit needs [Chan & O'Brien 2019: Within the City]. A household asked for both must fetch the
address proof when the police ask for it, not go back to the police again and again.
"""

from __future__ import annotations

from tests.school_city import run, school_city


def test_a_listed_prerequisite_is_fetched_when_the_issuer_asks_for_it() -> None:
    city = school_city(households=200, deadline=None)
    # permit (police) needs address (street office); the school now asks for both.
    city["services"]["school"]["documents"] = ["booklet", "permit", "address", "employment"]
    r = run(city)
    j = r.journeys
    mig = j[j["hukou"] != "local"]
    assert (mig["outcome"] == "served").all()
    # school, police (asks for address), street office, police, employer, school.
    assert (mig["visits"] == 6).all()
    ev = r.events
    police = ev[(ev["office"] == "police") & (ev["activity"] == "require")]
    assert police.groupby("case_id").size().max() == 1
