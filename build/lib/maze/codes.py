"""Texts kept as small integer codes: a column of a million rows that says one of a few
dozen things is a typed array of codes and one list of the texts."""

from __future__ import annotations

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
