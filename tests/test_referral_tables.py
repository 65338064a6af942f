"""Referral tables checked all at once give what checking them one by one gives.

A dense routing matrix declares a hundred thousand referrals, so ``maze.scenario`` checks
plain referral tables a column at a time (``_plain_referrals``) and only hands the others
to the table-by-table model, which names the bad key. The quick check must never accept
what the model refuses, nor read a table differently.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from maze.scenario import Referral, ScenarioError, _plain_referrals, _ReferralTable, from_dict

KEYS = ("from", "to", "reason", "service", "probability", "source", "target", "other")
VALUES = st.one_of(
    st.sampled_from(["a", "b", "hukou", "none", "price", "", "x" * 200, "x" * 201, "\ud800"]),
    st.none(), st.booleans(), st.integers(-2, 3), st.just(10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1),
    st.lists(st.just("a"), max_size=1), st.dictionaries(st.just("2014-01-01"), st.just(0.5)))
TABLE = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)
PLAIN = st.fixed_dictionaries(
    {"from": st.sampled_from(["a", "b"]), "to": st.sampled_from(["a", "b"])},
    optional={"reason": st.sampled_from(["none", "hukou"]),
              "service": st.sampled_from(["s", None]),
              "probability": st.one_of(st.floats(0, 0.5), st.sampled_from([0, 1]))})


def _one_by_one(tables: list) -> tuple[Referral, ...] | None:
    try:
        checked = [_ReferralTable.model_validate(t) for t in tables]
    except ValueError:
        return None
    return tuple(Referral(r.source, r.target, r.reason, r.service, r.probability)
                 for r in checked)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PLAIN, TABLE), max_size=5))
def test_the_quick_check_accepts_only_what_the_model_accepts_and_reads_it_alike(
        tables: list) -> None:
    quick = _plain_referrals(tables)
    if quick is None:
        return
    slow = _one_by_one(tables)
    assert slow is not None
    assert quick == slow
    assert [type(r.probability) for r in quick] == [float] * len(quick)
    assert all(not math.isnan(r.probability) for r in quick)


@settings(max_examples=100, deadline=None)
@given(st.lists(PLAIN, min_size=1, max_size=5))
def test_plain_tables_take_the_quick_check(tables: list) -> None:
    assert _plain_referrals(tables) == _one_by_one(tables)


def test_a_bad_table_among_many_is_named_by_its_key() -> None:
    tables = [{"from": "a", "to": "b", "probability": 0.001} for _ in range(500)]
    tables[321] = {"from": "a", "to": "b", "probability": "0.5"}
    data = {"offices": [{"name": "a"}, {"name": "b"}], "services": {"s": {"entry": "a"}},
            "population": {"households": 10, "groups": [{"name": "g", "share": 1.0}]},
            "referrals": tables}
    try:
        from_dict(data, source="city.toml")
    except ScenarioError as exc:
        assert exc.key == "referrals.321.probability"
        assert "without quotes" in exc.message
    else:
        raise AssertionError("a probability written as text was accepted")


def test_referral_records_given_in_python_are_checked_again() -> None:
    data = {"offices": [{"name": "a"}, {"name": "b"}], "services": {"s": {"entry": "a"}},
            "population": {"households": 10, "groups": [{"name": "g", "share": 1.0}]},
            "referrals": [{"from": "a", "to": "b", "probability": 0.5}]}
    scenario = from_dict(data)
    fields = {name: getattr(scenario, name) for name in type(scenario).model_fields}
    assert type(scenario)(**fields) == scenario
    bad = (Referral("a", "b", probability=2.0),)
    try:
        type(scenario)(**{**fields, "referrals": bad})
    except ValueError as exc:
        assert "referrals.0.probability" in str(exc)
    else:
        raise AssertionError("a probability of 2 was accepted")


def test_the_quick_check_knows_every_key_of_the_table_model() -> None:
    # A key added to the table model but not to the quick check would send every
    # referral list the slow way; one added to neither record nor check would be lost.
    from maze.scenario import _REFERRAL_KEYS

    fields = _ReferralTable.model_fields
    assert _REFERRAL_KEYS == {info.alias or name for name, info in fields.items()}
    assert Referral._fields == tuple(fields)
    assert Referral._field_defaults == {name: info.default for name, info in fields.items()
                                        if not info.is_required()}


def test_a_routing_matrix_takes_the_quick_check() -> None:
    names = [f"o{i}" for i in range(40)]
    tables = [{"from": a, "to": b, "probability": 0.02} for a in names for b in names
              if a != b]
    records = _plain_referrals(tables)
    assert records is not None and len(records) == 40 * 39
    assert records[0] == Referral("o0", "o1", "none", None, 0.02)
