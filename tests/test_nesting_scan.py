"""The nesting scan of input files gives the depth a plain left-to-right scan gives.

``maze.inputs.nesting_depth`` reduces a text to its brackets with one regular expression
(a routing matrix of 320 offices is a 7 MB file); the scan below reads the text a
character at a time. They must agree on every text: strings (basic, literal, multi-line,
escaped, unclosed), comments, and closing brackets with none open.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maze import inputs
from maze.scenario import ScenarioError


def _scan(text: str, toml: bool) -> int:
    """The deepest nesting of brackets outside strings and comments, a character at a time."""
    depth = deepest = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == '"' or (c == "'" and toml):
            quote = text[i:i + 3] if toml and text[i:i + 3] in ('"""', "'''") else c
            i += len(quote)
            while i < n and text[i:i + len(quote)] != quote:
                i += 2 if (text[i] == "\\" and c == '"') else 1
            i += len(quote)
            continue
        elif c == "#" and toml:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        i += 1
    return deepest


PIECES = st.sampled_from(['"', "'", '"""', "'''", "\\", "#", "\n", "[", "]", "{", "}", "a",
                          " = ", '\\"', "\\\\"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(PIECES, max_size=40), st.booleans())
def test_the_scan_by_expression_agrees_with_a_scan_by_character(pieces: list[str],
                                                                 toml: bool) -> None:
    text = "".join(pieces)
    assert inputs.nesting_depth(text, toml) == _scan(text, toml)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(['"', "[", "]", "{", "}", "a", " = ", "\n", '""']),
                max_size=40), st.booleans())
def test_texts_with_plain_strings_only_agree_too(pieces: list[str], toml: bool) -> None:
    text = "".join(pieces)  # no escapes, literal strings or comments: a shorter way in
    assert inputs.nesting_depth(text, toml) == _scan(text, toml)


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    text = 'a = "[[[[" # {{{{\nb = [[1]]\nc = \'\'\'[[[\'\'\'\nd = """\\"[["""\n'
    assert inputs.nesting_depth(text, toml=True) == _scan(text, True) == 2
    assert inputs.nesting_depth('{"a": "[[[", "b": [[1]]}', toml=False) == 3


def test_too_deep_is_refused_by_name() -> None:
    deep = "a = " + "[" * (inputs.MAX_DEPTH + 1) + "]" * (inputs.MAX_DEPTH + 1)
    with pytest.raises(ScenarioError, match="nested more than"):
        inputs.check_nesting(deep, "deep.toml")
    assert inputs.check_nesting("a = [[1]]", "ok.toml") == 2


def test_a_long_string_is_scanned_whole() -> None:
    text = '{"a": "' + "x[" * 2_000_000 + '"}'
    assert inputs.nesting_depth(text, toml=False) == 1
