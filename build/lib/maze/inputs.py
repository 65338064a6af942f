"""Reading the files a user hands maze (scenarios, experiments, rule cases) without surprises.

A file is read only if it is a regular file under :data:`MAX_INPUT_BYTES` (so ``/dev/zero``
or a FIFO is refused at once instead of eating memory or hanging), its nesting is bounded
before it is parsed (a parser's recursion never shows up as a traceback), JSON objects may
not repeat a key, and integers longer than Python will convert are refused by name. Every
refusal is a :class:`~maze.scenario.ScenarioError` naming the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from itertools import accumulate
from pathlib import Path
from typing import Any

from maze.scenario import ScenarioError

#: Largest input file read (bytes). A scenario is a few KB; an experiment or case file as well.
MAX_INPUT_BYTES = 10_000_000
#: Deepest nesting of tables and arrays accepted (a scenario needs about 6).
MAX_DEPTH = 64


def read_text(path: str | Path) -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_INPUT_BYTES`."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"a file path is a str or Path, not {type(path).__name__}")
    p = Path(path)
    source = str(p)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read file ({exc.strerror or exc.__class__.__name__})",
                            source=source) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError("is a folder, not a file", source=source)
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError("is not a regular file (a device, pipe or socket)",
                                source=source)
        if info.st_size > MAX_INPUT_BYTES:
            raise ScenarioError(f"file of {info.st_size:,} bytes; an input file may have at "
                                f"most {MAX_INPUT_BYTES:,}", source=source)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read file ({exc.strerror or exc.__class__.__name__})",
                            source=source) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise ScenarioError(f"an input file may have at most {MAX_INPUT_BYTES:,} bytes",
                            source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("cannot read file (not UTF-8 text)", source=source) from None


#: What a scan for nesting skips, left to right: strings and (TOML) comments, whose
#: brackets do not count. A backslash escapes the next character in double-quoted
#: strings; an unclosed string runs to the end of the text.
_BASIC = r'"(?:\\[\s\S]|[^"\\])*"?'
_TOML_SKIP = re.compile("|".join((
    r'"""(?:\\[\s\S]|(?!""")[^\\])*(?:""")?', r"'''(?:(?!''')[\s\S])*(?:''')?", _BASIC,
    r"'[^']*'?", r"#[^\n]*")))
_JSON_SKIP = re.compile(_BASIC)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str, toml: bool = True) -> int:
    """How deep the brackets of ``text`` nest, those inside strings and (TOML) comments
    not counted; a closing bracket with none open counts as nothing.

    The text is reduced to its brackets by regular expressions, so a routing matrix of
    100,000 tables is scanned in C rather than a character at a time in Python.
    """
    if "\\" not in text and not (toml and ("'" in text or "#" in text or '"""' in text)):
        # Plain double-quoted strings only: every other piece between quotes is outside.
        skipped = "".join(text.split('"')[::2])
    else:
        skipped = (_TOML_SKIP if toml else _JSON_SKIP).sub("", text)
    brackets = _NOT_BRACKET.sub("", skipped)
    if min(accumulate(map(_STEP.__getitem__, brackets), initial=0)) >= 0:
        return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))
    return max(accumulate(map(_STEP.__getitem__, brackets), lambda d, s: max(0, d + s),
                          initial=0))


def check_nesting(text: str, source: str, toml: bool = True) -> int:
    """Refuse text whose brackets nest deeper than :data:`MAX_DEPTH`, before parsing it;
    return how deep they nest. Brackets inside strings and (TOML) comments do not count.
    """
    depth = nesting_depth(text, toml)
    if depth > MAX_DEPTH:
        raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", source=source)
    return depth


def check_depth(data: Any, source: str) -> None:
    """Refuse parsed data nested deeper than :data:`MAX_DEPTH` (TOML dotted keys nest
    without brackets); walks iteratively, so it cannot itself run out of stack."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", source=source)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text as a dict, or one ScenarioError naming the file."""
    check_nesting(text, source, toml=True)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML ({exc})", source=source) from None
    except (RecursionError, ValueError) as exc:  # ValueError: an integer too long to convert
        raise ScenarioError(f"not valid TOML ({_short(exc)})", source=source) from None
    check_depth(data, source)
    return data


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML input file (scenario, experiment, targets, rule cases) as a dict."""
    return parse_toml(read_text(path), str(Path(path)))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def parse_json(text: str, source: str) -> Any:
    """JSON text (no repeated keys, no endless integers), or one ScenarioError."""
    depth = check_nesting(text, source, toml=False)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise ScenarioError("the key appears twice in one object", source=source,
                            key=exc.key) from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not valid JSON ({exc.msg}, line {exc.lineno})",
                            source=source) from None
    except (RecursionError, ValueError) as exc:
        raise ScenarioError(f"not valid JSON ({_short(exc)})", source=source) from None
    if depth >= MAX_DEPTH:  # JSON nests only by brackets: below that, no value is too deep
        check_depth(data, source)
    return data


def _short(exc: BaseException) -> str:
    text = str(exc).split(";")[0].splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:200]
