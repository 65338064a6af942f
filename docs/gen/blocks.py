"""Numbers in the docs come from the code: generated blocks, checked by a test.

A page (any ``.md`` under ``docs/``, or ``README.md``) holds a block between two markers::

    <!-- gen:regimes-sentence -->
    ... text written by the generator ...
    <!-- /gen -->

The text between the markers is what a generator function returns, checked in so that the
page reads as plain Markdown on GitHub too. ``tests/test_docs.py`` runs every generator
and fails when a page differs from what the code gives now; after changing the model,
run::

    python docs/gen/blocks.py            # rewrite every block in place
    python docs/gen/blocks.py --check    # exit 1 and list the blocks that differ

To add a block (for example for the lesson, ``docs/teaching.md``): write a function that
returns Markdown, decorate it with ``@block("NAME")`` in a module ``docs/gen/*.py`` (the
lesson's go in ``docs/gen/teaching.py``), put the two markers in the page, and run the
command above. Keep each block small and fast (the test runs all of them: a few seconds
each, at most a few thousand households), use fixed seeds, and state in the text the
command that gives the same numbers.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
BLOCK = re.compile(r"(<!-- gen:(?P<name>[a-z0-9_-]+) -->\n)(?P<body>.*?)(<!-- /gen -->)", re.S)

#: Block name -> function returning its Markdown.
GENERATORS: dict[str, Callable[[], str]] = {}


def block(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register a generator for ``<!-- gen:NAME -->`` blocks."""
    def wrap(fn: Callable[[], str]) -> Callable[[], str]:
        if name in GENERATORS and GENERATORS[name] is not fn:
            raise ValueError(f"two generators for block {name!r}")
        GENERATORS[name] = fn
        return fn
    return wrap


def load_generators() -> dict[str, Callable[[], str]]:
    """Import every module of ``docs/gen`` so that its ``@block`` functions register."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.append(here)
    sys.modules.setdefault("blocks", sys.modules[__name__])
    for path in sorted(Path(here).glob("*.py")):
        if path.stem not in ("blocks", "hooks", "__init__"):
            importlib.import_module(path.stem)
    return GENERATORS


def pages() -> list[Path]:
    """Every page that may hold blocks: README.md and the Markdown under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def render(text: str, cache: dict[str, str], source: str = "") -> str:
    """The page with every block regenerated (each generator runs once per process)."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in GENERATORS:
            raise KeyError(f"{source}: no generator for block {name!r}; "
                           f"known: {', '.join(sorted(GENERATORS))}")
        if name not in cache:
            cache[name] = GENERATORS[name]().rstrip("\n") + "\n"
        return m.group(1) + cache[name] + m.group(4)

    return BLOCK.sub(fill, text)


def differences() -> list[tuple[Path, str, str]]:
    """(page, as checked in, as the code gives it now) for every page that differs."""
    load_generators()
    cache: dict[str, str] = {}
    out = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        if "<!-- gen:" not in text:
            continue
        new = render(text, cache, str(page.relative_to(ROOT)))
        if new != text:
            out.append((page, text, new))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only report pages that differ")
    args = p.parse_args(argv)
    changed = differences()
    for page, _, new in changed:
        rel = page.relative_to(ROOT)
        if args.check:
            print(f"{rel}: generated blocks differ from the code; run python docs/gen/blocks.py")
        else:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {rel}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
