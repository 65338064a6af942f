"""The documentation says what the code does: generated numbers, generated reference,
every measure defined, and README's opening commands.

Numbers in the pages come from ``docs/gen`` generators (see ``docs/gen/blocks.py``);
when the model changes, ``python docs/gen/blocks.py`` rewrites them and this test passes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from maze.app import api
from maze.app.cli import main

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "docs" / "gen"
if str(GEN) not in sys.path:
    sys.path.append(str(GEN))

import blocks  # noqa: E402
import picture  # noqa: E402
import reference  # noqa: E402


def test_generated_blocks_match_the_code() -> None:
    stale = [str(p.relative_to(ROOT)) for p, _, _ in blocks.differences()]
    assert not stale, f"run `python docs/gen/blocks.py`: these pages differ from the code: {stale}"


def test_every_block_in_a_page_has_a_generator_and_every_generator_a_page() -> None:
    blocks.load_generators()
    used = {m.group("name") for p in blocks.pages()
            for m in blocks.BLOCK.finditer(p.read_text(encoding="utf-8"))}
    assert used <= set(blocks.GENERATORS)
    assert set(blocks.GENERATORS) <= used, "a generator whose block no page holds"


def test_readme_picture_is_drawn_from_the_code() -> None:
    assert picture.OUT.read_text(encoding="utf-8") == picture.svg(picture.shares()), \
        "run `python docs/gen/picture.py`"


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert first == 'pip install -e ".[dev]" && maze run\npytest\n'
    assert len(text.splitlines()) <= 150


def _defined_names() -> set[str]:
    text = (ROOT / "docs" / "reference" / "measures.md").read_text(encoding="utf-8")
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split(" | ")[0]))
    return names


def test_the_refusal_the_scenario_reference_quotes_is_what_maze_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The example of an unknown key in a list entry, done as the page says."""
    page = (ROOT / "docs" / "reference" / "scenario.md").read_text(encoding="utf-8")
    quoted = re.search(r"```text\n(maze: error: city\.toml: mechanisms\.eligibility[^\n]*)\n```",
                       page)
    assert quoted, "the scenario reference quotes no refusal of city.toml"
    monkeypatch.chdir(tmp_path)
    assert main(["init", "city.toml"]) == 0
    text = Path("city.toml").read_text(encoding="utf-8")
    rule = '[[mechanisms.eligibility.rules]]\nservice = "vocational_exam"\n'
    second = text.index(rule, text.index(rule) + 1) + len(rule)
    Path("city.toml").write_text(text[:second] + "typo = 1\n" + text[second:], encoding="utf-8")
    capsys.readouterr()
    assert main(["validate", "city.toml"]) == 2
    assert capsys.readouterr().err == quoted.group(1) + "\n"


def test_every_measure_the_code_produces_is_defined() -> None:
    run = api.run(api.load(overrides={"population.households": 150}), seed=0)
    defined = _defined_names()
    missing = [c for c in run.journeys.columns if c not in defined]
    missing += [k for k in run.summary["migrants"] if k not in defined]
    missing += [k for k, v in run.summary.items() if not isinstance(v, dict)
                and v is not None and k not in defined]
    assert not missing, f"define these in docs/reference/measures.md: {missing}"


def test_scenario_reference_lists_every_key() -> None:
    from maze.scenario import Scenario

    page = reference.scenario()
    for path, *_ in reference.rows(Scenario):
        if not path.startswith("mechanisms"):
            assert f"`{path}`" in page
    assert "`population.groups[].share`" in page and "`offices[].clerks`" in page


def test_mechanism_reference_lists_every_registered_mechanism() -> None:
    import offices

    page = reference.mechanisms()
    offices._load_all()
    assert offices.REGISTRY
    for name, (model, _) in offices.REGISTRY.items():
        assert f"[mechanisms.{name}]" in page
        for field in model.model_fields:
            assert f"`mechanisms.{name}.{field}`" in page


def test_cli_reference_lists_every_command() -> None:
    from maze.app import cli

    page = reference.cli()
    for name in cli.COMMANDS:
        assert f"## `maze {name}`" in page
    assert "`--seed` `SEED`" in page and "| `0` |" in page  # defaults shown, 0 included


def test_units_come_from_the_name_rules_or_the_field() -> None:
    assert reference.unit("city.horizon") == "days"
    assert reference.unit("offices[].price") == "RMB"
    assert reference.unit("population.groups[].share") == "share (0-1)"
    assert reference.unit("population.arrivals.rate") == "households per day"
    assert reference.unit("offices[].name") == ""


def test_init_writes_a_valid_commented_file_and_never_overwrites(tmp_path: Path,
                                                                capsys) -> None:  # noqa: ANN001
    target = tmp_path / "city.toml"
    assert main(["init", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# A scenario file written by `maze init`")
    assert "ASSUMPTION" in text
    assert api.load(target).city.name == "city"  # its runs never replace the preset's
    target.write_text("mine", encoding="utf-8")
    assert main(["init", str(target)]) == 2
    assert target.read_text(encoding="utf-8") == "mine"
    assert "already exists" in capsys.readouterr().err
    other = tmp_path / "other.toml"
    assert main(["init", "--preset", "shanghai", str(other)]) == 0
    assert api.load(other).city.name == "other"
    assert main(["init", "--preset", "atlantis", str(tmp_path / "x.toml")]) == 2
    assert not (tmp_path / "x.toml").exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


#: What must not appear in the repository: paths outside it, and line numbers into texts a
#: user does not have. Built from pieces so that this file does not match itself.
_OUTSIDE = re.compile("|".join([
    r"\.\./shared/", r"/work/" + "shared", r"\[00[0-9]:\d", r"\bseeds? 00[0-9]\b",
    r"\b00[0-9]_[0-9a-f]{16}\.txt", r"\bDOMAIN" + r"\.md\b", r"\bDESIGN" + r"\.md\b"]))


def test_nothing_points_outside_the_repository() -> None:
    """Cite the published works (docs/bibliography.md) by author, year and section."""
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix not in (".py", ".toml", ".md", ".ipynb", ".txt", ".yml", ".cfg") \
                or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not found, ("cite the published work (author year: section, see "
                       "docs/bibliography.md) instead of:\n" + "\n".join(found[:30]))


def test_every_scenario_key_has_a_meaning() -> None:
    """A new key needs a ``#:`` comment above its field (or a Field description)."""
    from maze.scenario import Scenario

    bare = [path for path, *_, meaning in reference.rows(Scenario) if not meaning]
    assert not bare, f"give these scenario keys a #: comment in maze/scenario.py: {bare}"


def test_every_public_figure_function_is_in_the_api_reference() -> None:
    """maze.report's figure functions are public API: each is listed in docs/reference/api.md."""
    import inspect

    from maze import report

    page = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+- (\w+)$", page, re.M))
    figures = [name for name, fn in inspect.getmembers(report, inspect.isfunction)
               if not name.startswith("_") and fn.__module__ == report.__name__
               and "Figure" in str(inspect.signature(fn).return_annotation)]
    assert figures
    missing = [name for name in figures if name not in listed]
    assert not missing, f"list these figure functions in docs/reference/api.md: {missing}"
