"""``maze init``: write a commented scenario file to start a city of one's own from."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from maze.scenario import ScenarioError

HEADER = """\
# A scenario file written by `maze init` from the built-in city "{preset}".
# Edit it, check it with `maze validate {file}`, run it with `maze run {file}`.
# Every key, with its type, unit, default and range: the scenario reference
# (docs/reference/scenario.md). Numbers marked ASSUMPTION are not given by any source.
#
"""


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "init", help="write a commented scenario file to start your own city from",
        description="Write a copy of a built-in city, with its comments, to FILE. Refuses to "
                    "overwrite a file that exists.")
    p.add_argument("file", metavar="FILE", help="the scenario file to write (e.g. city.toml)")
    p.add_argument("--preset", help="the built-in city to start from (default: the default "
                                    "city; see `maze presets`)")
    return {"init": cmd_init}


def scenario_text(preset: str | None, file: str) -> str:
    """The preset's TOML with a header saying where it came from; checked to load."""
    from maze import outputs
    from maze.app import api
    from offices import presets

    name = preset or presets.DEFAULT
    api.load(preset=name)  # an unknown preset is refused here, with the known ones named
    # The new city is named after its file, so that its runs go to runs/<file>-<seed>/ and
    # never replace the built-in city's runs.
    city = outputs.slug(Path(file).stem, fallback="city")
    text, n = re.subn(r'^(\[city\][^\[]*?^name = )"[^"\n]*"', rf'\g<1>"{city}"',
                      presets.text(name), count=1, flags=re.MULTILINE | re.DOTALL)
    if n != 1:  # a preset without a [city] name line: keep its name
        text = presets.text(name)
    return HEADER.format(preset=name, file=file) + text


def write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole, or not at all, and never over an existing file."""
    if path.exists() or path.is_symlink():
        raise ScenarioError("already exists; choose another name or remove it first",
                            source=str(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError("no such folder", source=str(folder))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if the name was taken meanwhile: no overwrite, ever
    except FileExistsError:
        raise ScenarioError("already exists; choose another name or remove it first",
                            source=str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot write ({exc.strerror})", source=str(path)) from None
    finally:
        os.unlink(tmp)


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.file)
    write_new(path, scenario_text(args.preset, args.file))
    print(f"wrote {path}: edit it, then `maze validate {path}` and `maze run {path}`")
    return 0
