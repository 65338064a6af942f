"""Paperwork added from a date: Beijing's proof of local social insurance.

[Chan & O'Brien 2019: Within the City]
"""

from __future__ import annotations

import pytest

from maze.app import api
from maze.scenario import ScenarioError, from_dict
from tests.school_city import run, school_city, served_share, with_mechanism

PROOF = {"service": "school", "documents": ["insurance_proof"]}


def _groups() -> list[dict]:
    return [
        # A contract and a lease: every declared document, and insurance through the employer.
        {"name": "insured", "share": 0.4, "attributes": {
            "lease_own": True, "contract": True, "years_insurance": 3.0}},
        # Formal workers hired as temporary: a contract, but not yet a year of insurance.
        {"name": "temporary", "share": 0.4, "attributes": {
            "lease_own": True, "contract": True, "years_insurance": 0.3}},
        {"name": "local", "share": 0.2, "hukou": "local"},
    ]


def test_an_added_document_costs_visits_and_shuts_out_those_who_cannot_get_it() -> None:
    city = school_city(groups=_groups())
    on = with_mechanism(city, "extra_documents", {"additions": [
        {**PROOF, "min_years": {"insurance": 0.5}}]})
    off_run, on_run = run(city), run(on)
    assert served_share(off_run, "temporary") > 0.95
    assert served_share(on_run, "temporary") == 0.0
    assert served_share(on_run, "insured") > 0.95
    assert served_share(on_run, "local") > 0.95
    j_on, j_off = on_run.journeys, off_run.journeys
    ins_on = j_on[j_on["group"] == "insured"]
    ins_off = j_off[j_off["group"] == "insured"]
    assert ins_on["visits"].mean() > ins_off["visits"].mean() + 1.5   # hr bureau and back
    assert ins_on["offices_seen"].mean() > ins_off["offices_seen"].mean()
    ev = on_run.events
    refused = ev[(ev["activity"] == "refuse") & (ev["group"] == "temporary")]
    assert set(refused["office"].astype(str)) == {"hr_bureau"}
    assert set(refused["reason"].astype(str)) == {"documents"}


def test_the_document_chain_applies_to_added_documents() -> None:
    # The added paper's own needs (a contract) are checked by the paperwork module.
    groups = [
        {"name": "contract", "share": 0.5, "attributes": {"lease_own": True,
                                                          "contract": True}},
        {"name": "no_contract", "share": 0.5, "attributes": {"lease_own": True,
                                                             "contract": False}},
    ]
    city = school_city(groups=groups)
    city["services"]["school"]["documents"] = ["booklet", "permit"]
    on = with_mechanism(city, "extra_documents", {"additions": [PROOF]})
    off_run, on_run = run(city), run(on)
    assert served_share(off_run, "no_contract") > 0.95
    assert served_share(on_run, "no_contract") == 0.0
    assert served_share(on_run, "contract") > 0.95


def test_only_from_its_date() -> None:
    city = school_city(groups=_groups())
    on = with_mechanism(city, "extra_documents", {"additions": [
        {**PROOF, "min_years": {"insurance": 0.5}, "from_day": 25.0}]})
    j = run(on).journeys
    temp = j[j["group"] == "temporary"]
    assert (temp[temp["end"] < 25.0]["outcome"] == "served").all()
    assert len(temp[temp["end"] < 25.0]) > 5
    assert (temp[temp["start"] > 25.0]["outcome"] == "served").sum() == 0


@pytest.mark.parametrize("addition, key", [
    ({"service": "clinic", "documents": ["insurance_proof"]},
     "mechanisms.extra_documents.additions.0.service"),
    ({"service": "school", "documents": ["hukou_booklet"]},
     "mechanisms.extra_documents.additions.0.documents"),
    ({"service": "school", "documents": []}, "mechanisms.extra_documents.additions.0.documents"),
])
def test_bad_additions_name_the_key(addition: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as err:
        api.run(from_dict(with_mechanism(school_city(), "extra_documents",
                                         {"additions": [addition]})))
    assert key in str(err.value)
