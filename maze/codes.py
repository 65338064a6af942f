"""Texts kept as small integer codes: a column of a million rows that says one of a few
dozen things is a typed array of codes and one list of the texts."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any


class Codes(dict):
    """Value -> code of one column: a new value gets the next code; ``by_code`` lists the
    values by code."""

    __slots__ = ("by_code",)

    def __init__(self) -> None:
        super().__init__()
        self.by_code: list[Any] = []

    def __missing__(self, value: Any) -> int:
        code = self[value] = len(self)
        self.by_code.append(value)
        return code


def move_rows(flat: list[Any], columns: Sequence[tuple[array, Codes | None]]) -> None:
    """Move the rows held one after the other in ``flat`` into typed arrays, and empty it.

    ``columns`` gives each value of a row, in order, its array and the ``Codes`` that turn
    it into a code (None: stored as it is). A row added as one ``extend`` of a flat list
    costs a fraction of an append per column, and strided slices move a block at once.
    """
    step = len(columns)
    for j, (target, codes) in enumerate(columns):
        values = flat[j::step]
        if values and (codes is not None or target.typecode in "bhilq"):
            # A column that says one thing throughout the block (often: one office, no
            # document, no reason) is that value repeated, without a lookup per row. Texts
            # and integers that compare equal are the same value (floats are not: 0.0 and
            # -0.0), so such a column is stored exactly as the lookups would store it.
            first = values[0]
            if values[-1] == first and values.count(first) == len(values):
                one = first if codes is None else codes[first]
                target.extend(array(target.typecode, (one,)) * len(values))
                continue
        target.fromlist(values if codes is None else list(map(codes.__getitem__, values)))
    flat.clear()
