"""A run's requests: finished ones are kept as rows, and read back as they were.

``World.requests`` keeps a finished request as a row of typed arrays, not as the object
(the memory of a million households). Reading one back must give what the request held
when it finished, in the order the requests were made, whatever order they finished in.
"""

from __future__ import annotations

import numpy as np
import pytest

import offices
from maze.app import api
from maze.household import NO_DOCUMENTS, Household, Request, Requests
from maze.world import World

FIELDS = ("case_id", "service", "start", "entry", "visits", "last_office", "spent",
          "wage_lost", "last_reason", "explicit", "outcome", "end", "end_office",
          "missed_deadline", "row")


def _fields(req: Request) -> tuple:
    return (*(getattr(req, f) for f in FIELDS), req.household.id, req.household.group,
            req.household.local, req.household.documents)


def _request(case_id: int, hid: int) -> Request:
    cols = {"group": ["a", "b", "a"], "hukou": ["local", "migrant", "migrant"]}
    hh = Household(hid, cols["group"][hid], cols["hukou"][hid] == "local", cols)
    return Request(case_id, hh, "school", 1.5 * case_id, entry="office_a")


@pytest.fixture(params=[Requests.BLOCK, 1, 2], ids=["block", "block1", "block2"])
def block(request, monkeypatch) -> int:
    """Finished requests moved into the arrays in blocks of this many (the default, and
    blocks so small that reading back happens on both sides of a boundary)."""
    monkeypatch.setattr(Requests, "BLOCK", request.param)
    return request.param


def test_finished_requests_read_back_in_the_order_made(block: int) -> None:
    cols = {"group": ["a", "b", "a"], "hukou": ["local", "migrant", "migrant"]}
    requests = Requests(cols)
    made = [_request(10 + i, i % 3) for i in range(6)]
    for r in made:
        requests.append(r)
    made[4].household.documents = frozenset({"permit"})
    finish_order = [3, 0, 5, 1]
    for k, i in enumerate(finish_order):
        r = made[i]
        r.visits, r.spent, r.wage_lost = i + 1, 10.0 * i, 0.25 * i
        r.last_office, r.last_reason = "office_b", "hukou"
        r.explicit, r.missed_deadline = i % 2 == 0, i == 5
        r.outcome, r.end, r.end_office = ("served", "denied")[k % 2], 100.0 + i, "office_b"
        requests.finished(r)
        # Read back at once, whether it is still in the block or already in the arrays.
        assert _fields(requests[i]) == _fields(r)
        assert _fields(requests[finish_order[0]]) == _fields(made[finish_order[0]])
    assert len(requests) == 6
    assert requests.open() == [made[2], made[4]]
    assert requests[2] is made[2]  # still open: the request itself
    for i in finish_order:
        back = requests[i]
        assert back is not made[i]
        assert _fields(back) == _fields(made[i])
    assert _fields(requests[-1]) == _fields(made[5])
    assert [_fields(r) for r in requests[1:4]] == [_fields(r) for r in made[1:4]]
    with pytest.raises(ValueError, match="no outcome"):
        requests.rows()
    for i in (2, 4):
        made[i].outcome, made[i].end = "pending", 200.0
        requests.finished(made[i])
    rows = requests.rows()
    assert rows.case.tolist() == [r.case_id for r in made]
    assert rows.end.tolist() == [r.end for r in made]
    assert [rows.texts[c] for c in rows.outcome] == [r.outcome for r in made]
    # No reason on a served outcome row; the last reason otherwise.
    assert [rows.texts[c] for c in rows.reason] == [
        "" if r.outcome == "served" else r.last_reason for r in made]
    assert requests[4].household.documents == frozenset({"permit"})
    assert requests[1].household.documents is NO_DOCUMENTS


def test_a_run_reads_back_each_request_as_it_finished() -> None:
    scenario = api.load(preset="beijing", overrides={"population.households": 600})
    world = World(scenario, 3, offices.mechanisms(scenario))
    seen: dict[int, tuple] = {}
    keep = world.requests.finished

    def finished(req: Request) -> None:
        if req.row >= 0 and req.row not in seen:
            seen[req.row] = _fields(req)
        keep(req)

    world.requests.finished = finished  # type: ignore[method-assign]
    raw = world.run()
    assert len(seen) == len(world.requests) > 600
    assert [_fields(r) for r in world.requests] == [seen[i] for i in range(len(seen))]
    # The event table's request rows are those requests, in the order made.
    first = raw.events[raw.events["activity"] == "request"]
    assert np.array_equal(np.sort(first["case_id"].to_numpy()),
                          np.sort([r.case_id for r in world.requests]))


def test_tables_do_not_depend_on_the_blocks_rows_are_kept_in(monkeypatch) -> None:
    """The event log and the requests keep rows in a list and move them into typed arrays
    a block at a time: blocks of 1 and 3 rows give the tables of the default blocks."""
    from maze.eventlog import EventLog

    scenario = api.load(preset="beijing", overrides={"population.households": 600})
    default = api.run(scenario, 5)
    for size in (1, 3):
        monkeypatch.setattr(EventLog, "BLOCK", size)
        monkeypatch.setattr(Requests, "BLOCK", size)
        small = api.run(scenario, 5)
        assert small.events.equals(default.events)
        assert small.journeys.equals(default.journeys)


@pytest.mark.parametrize("rows", [
    [(1, 0.5, "a"), (1, -0.0, "a"), (1, 0.0, "a")],  # one text and int throughout
    [(1, 0.0, "a"), (1, -0.0, "a")],  # floats equal, but not bit for bit
    [(2, 0.0, "b"), (3, 0.0, "a"), (2, 0.0, "b")],  # texts that differ
    [(7, 1.0, None), (7, 1.0, None)],  # a column of None
    [(True, 2.0, frozenset()), (1, 2.0, frozenset())],  # equal values of two types
])
def test_moving_rows_stores_what_a_lookup_per_row_stores(rows: list[tuple]) -> None:
    """A column that says one thing throughout a block is stored as that value repeated:
    the same codes, in the same order of first appearance, and the same numbers (floats
    bit for bit) as looking up every row."""
    from array import array

    from maze.codes import Codes, move_rows

    def moved(block: int) -> tuple[list, list, list, list]:
        ints, floats, texts, codes = array("q"), array("d"), array("i"), Codes()
        for at in range(0, len(rows), block):
            flat = [v for row in rows[at:at + block] for v in row]
            move_rows(flat, [(ints, None), (floats, None), (texts, codes)])
            assert flat == []
        return list(ints), [f.hex() for f in floats], list(texts), codes.by_code

    want = ([int(r[0]) for r in rows], [float(r[1]).hex() for r in rows], None, None)
    for block in (1, 2, len(rows)):
        got = moved(block)
        assert got[:2] == want[:2]
        assert [got[3][c] for c in got[2]] == [r[2] for r in rows]
        assert got[3] == list(dict.fromkeys(r[2] for r in rows))


@pytest.mark.parametrize("case", [np.arange(5, 10), np.array([5, 9, 6, 8, 7]),
                                  np.array([2, 3, 7, 8, 9])],
                         ids=["consecutive", "shuffled", "with_gaps"])
def test_each_logged_row_finds_its_request_by_its_case_id(case: np.ndarray) -> None:
    """Consecutive case ids give a row's place by subtraction; any others are searched:
    the same places, and a row of a case that is no request is refused."""
    from maze.eventlog import _request_of

    logged = np.array([case[4], case[0], case[2], case[0]])
    assert list(_request_of(case, logged)) == [4, 0, 2, 0]
    for stranger in (case.max() + 1, case.min() - 1, 4):
        with pytest.raises(ValueError, match="no request"):
            _request_of(case, np.array([case[1], stranger]))
