"""A big run hands back to the system the C heap memory it freed (glibc, Linux)."""

from __future__ import annotations

import pytest

from maze import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc only")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_give_back_returns_freed_heap_memory() -> None:
    # 400 blocks of 100 KiB (below the mapping threshold: they come from the heap), the
    # last one kept so that the heap cannot simply shrink from its top.
    heap.map_big_blocks()
    blocks = [bytearray(100 * 1024) for _ in range(400)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    keep = blocks[-1]
    del blocks
    before = _rss_bytes()
    heap.give_back()
    freed = before - _rss_bytes()
    assert freed > 20 * 1024 * 1024, freed  # of about 39 MiB freed by Python
    assert keep[0] == ord("x")


def test_a_small_world_leaves_the_allocator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from maze.app import api

    calls = []
    monkeypatch.setattr(heap, "map_big_blocks", lambda: calls.append("map"))
    monkeypatch.setattr(heap, "give_back", lambda: calls.append("give"))
    api.run(api.load(preset="illustrative", overrides={"population.households": 300}), 0)
    assert calls == []
