"""Tables in the docs that only a long experiment can give, checked against a fresh run.

A page marks such a table between ``<!-- experiment:NAME -->`` and ``<!-- /experiment -->``;
the test runs ``experiments/NAME.py`` as the page says and compares the rows exactly. These
runs take minutes, so they are behind the ``slow`` marker (``pytest -m slow``); run them
after changing the model, with the tables the docs quote.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKED = re.compile(r"<!-- experiment:(?P<name>[a-z_]+) -->\n(?P<body>.*?)<!-- /experiment -->",
                    re.S)


def marked_tables() -> list[tuple[Path, str, str]]:
    """(page, experiment, table rows) for every marked table of the docs."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for m in MARKED.finditer(page.read_text(encoding="utf-8")):
            found.append((page, m.group("name"), m.group("body")))
    return found


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_the_marked_tables_are_found_and_name_an_experiment() -> None:
    tables = marked_tables()
    assert any(name == "policy_levers" for _, name, _ in tables)
    for page, name, body in tables:
        assert (ROOT / "experiments" / f"{name}.py").is_file(), (page, name)
        assert len(table_rows(body)) >= 3, (page, name)


@pytest.mark.slow
@pytest.mark.parametrize("page,name,body", marked_tables(),
                         ids=lambda x: x if isinstance(x, str) and "|" not in x else "")
def test_a_marked_table_is_what_its_experiment_gives_now(tmp_path: Path, page: Path,
                                                         name: str, body: str) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--draws",
                        "0", "--quiet", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=3600)
    assert r.returncode == 0, r.stderr
    fresh = table_rows((out / "table.md").read_text(encoding="utf-8"))
    assert table_rows(body) == fresh, f"{page.relative_to(ROOT)}: the {name} table is stale"
