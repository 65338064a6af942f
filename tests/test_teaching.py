"""The lesson (docs/teaching.md) as a teacher gives it: each step set in the real dashboard,
in a browser, and the numbers read off the page equal the lesson's.

The lesson's tables are generated from ``maze.app.lesson`` (``docs/gen/teaching.py``;
``tests/test_docs.py`` checks the page against them); this test checks the other side:
that the running app, driven through its controls, shows those numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from maze.app import lesson
from tests.test_browser import _page, asked_after, browser, needs_chromium, serve_dash, settled

__all__ = ["browser"]  # the fixture, shared with test_browser.py

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lesson_dashboard() -> Iterator[str]:
    """`maze dash` exactly as the lesson starts it: no options."""
    yield from serve_dash(wait=180)


def _pick(page, menu: str, label: str) -> None:  # noqa: ANN001
    """Choose an entry of one of the dashboard's menus (a Dash dropdown) by its label."""
    page.click(f"#{menu}")
    page.get_by_role("option", name=label, exact=True).click()


def _menu_label(menu: str, value: str) -> str:
    who, services = lesson.dash_app.view_choices(lesson.base())
    return dict(who if menu == "view-who" else services)[value]


def _id(**parts: str) -> str:
    """The DOM id Dash gives a pattern-matching component."""
    return "[id='" + json.dumps(parts, sort_keys=True, separators=(",", ":")) + "']"


def _set(page, step: lesson.Step) -> int:  # noqa: ANN001
    """Put the controls in the step's state; the number of changes made."""
    base = lesson.base()
    changes = 0

    def change(action) -> None:  # noqa: ANN001
        nonlocal changes
        before = settled(page)
        action()
        asked_after(page, before)
        changes += 1

    if not page.get_by_label(step.regime).is_checked():
        change(lambda: page.get_by_label(step.regime).check())
    for menu, value in (("view-who", step.who), ("view-service", step.service)):
        label = _menu_label(menu, value)
        if label not in page.inner_text(f"#{menu}"):
            change(lambda m=menu, v=label: _pick(page, m, v))
    # Documents: those any step unticks are ticked unless this step unticks them.
    for service, doc in {w for s in lesson.STEPS for w in s.without}:
        box = page.locator(f'[data-service="{service}"]')
        if not box.evaluate("d => d.open"):
            box.locator("summary").first.click()
        tick = box.get_by_label(doc.replace("_", " "), exact=True)
        want = (service, doc) not in step.without
        if tick.is_checked() != want:
            change(lambda t=tick, w=want: t.set_checked(w))
    # Mechanisms any step switches: as in the city unless this step switches them.
    for mech in {m for s in lesson.STEPS for m, _ in s.switch}:
        want = dict(step.switch).get(mech, lesson.dash_app.is_on(base, mech))
        tick = page.locator(f'[data-mechanism="{mech}"] input[type=checkbox]').first
        if tick.is_checked() != want:
            change(lambda t=tick, w=want: t.set_checked(w))
    # Settings any step types: as the page opened unless this step types them.
    opened = {(i["mechanism"], i["field"]): v
              for i, v in lesson.dash_app.initial_form(base, lesson.SEED).params}
    for mech, name in {(m, n) for s in lesson.STEPS for m, n, _ in s.settings}:
        want = {(m, n): v for m, n, v in step.settings}.get((mech, name), opened[(mech, name)])
        details = page.locator(f'[data-mechanism="{mech}"] details')
        if not details.evaluate("d => d.open"):
            details.locator("summary").click()
        box = page.locator(_id(field=name, mechanism=mech, type="mech-param"))
        if box.input_value() != want:
            def typed(b=box, w=want) -> None:  # noqa: ANN001
                b.fill(w)
                b.press("Enter")
            change(typed)
    return changes


@pytest.mark.browser
@needs_chromium
def test_the_lesson_in_the_real_dashboard(browser, lesson_dashboard: str,
                                         tmp_path: Path) -> None:
    page = _page(browser, 1500, 1000)
    page.goto(lesson_dashboard)
    page.wait_for_selector("#fig-sankey path.sankey-link", timeout=120_000)
    assert "beijing (deflect), seed 0: 2,000 households" in page.inner_text("#status")
    # The story the lesson prints is the one the page tells for that household.
    told = lesson.story("informal_worker")
    hid = int(told[0].split()[1])
    page.click("#household")
    page.get_by_role("option", name=f"typical informal worker: #{hid} ", exact=False).click()
    page.wait_for_function("s => document.querySelector('#story').innerText.startsWith(s)",
                           arg=told[0], timeout=30_000)
    shown = [x.strip() for x in page.inner_text("#story").splitlines() if x.strip()]
    assert shown == [x for x in told if x]

    for step in lesson.STEPS:
        _set(page, step)
        settled(page)
        status = page.inner_text("#status")
        assert status.startswith(f"Ran beijing ({step.regime}), seed 0: 2,000 households"), \
            (step.key, status)
        assert status.endswith(f"Showing {step.view.label()}."), (step.key, status)
        read = {k: page.inner_text(f"#summary-view-{k}") for k in step.read}
        assert read == lesson.reading(step), step.key
        for key in step.read:  # the numbers the page shows are those in the lesson
            assert page.inner_text(f"#summary-view-{key}") in _lesson_text(), (step.key, key)
        page.screenshot(path=str(tmp_path / f"lesson-{step.key}.png"))
    assert page.errors == []


def _lesson_text() -> str:
    return (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")


def test_the_lesson_says_how_to_read_what_the_page_shows() -> None:
    """Every row and control the lesson names exists on the page, with those words."""
    text = _lesson_text()
    rows = dict(lesson.dash_app.SUMMARY_ROWS)
    for step in lesson.STEPS:
        for key in step.read:
            assert f"**{rows[key]}**" in text or rows[key] in text, rows[key]
    for words in ("Show the requests of", "migrants (no local hukou)", "Documents required",
                  "proof of employment", "extra documents", "class cap", "referral loop",
                  "`rounds`", "Follow one household", "group: informal worker"):
        assert words in text, words


def test_what_the_lesson_says_in_words_is_what_the_model_does() -> None:
    """The sentences around the generated tables, checked: if one fails, rewrite the lesson."""
    def served(key: str) -> float:
        return lesson.measures_of(lesson.BY_KEY[key])["served_share"]

    # "Untick class cap. Nothing changes": the cap never binds in Beijing.
    assert lesson.reading(lesson.BY_KEY["cap-on"]) == lesson.reading(lesson.BY_KEY["cap-off"])
    # Without the proof of employment, informal workers get health insurance ...
    assert served("insurance-no-employment") > served("insurance-as-is") + 0.2
    # ... but not a school place, until the extra document is dropped too.
    assert max(served("school-no-employment"), served("school-as-is")) < 0.02
    assert served("school-no-extra") > served("school-as-is") + 0.1
    # "One paper removed is not the maze removed": dropping one paper gains a tenth of
    # what dropping the extra document too gains, at most.
    assert (served("school-no-employment") - served("school-as-is")
            < (served("school-no-extra") - served("school-as-is")) / 10)
    # Each round of the referral loop serves fewer, later, and misses more deadlines.
    loop = [lesson.measures_of(lesson.BY_KEY[f"loop-{n}"]) for n in (0, 1, 4)]
    for key in ("missed_deadline_share", "median_days_to_service_among_served"):
        assert loop[0][key] < loop[1][key] < loop[2][key], key
    assert loop[0]["served_share"] > loop[1]["served_share"] > loop[2]["served_share"]
