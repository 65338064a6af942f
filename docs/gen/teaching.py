"""The lesson's numbers (docs/teaching.md), from the dashboard's own functions.

Every step of the lesson is a state of the dashboard's controls, declared once in
``maze.app.lesson``; the tables here read the same summary cells the class reads on
the page, formatted as the page formats them. ``tests/test_teaching.py`` sets the same
controls in the running app, in a browser, and reads the same cells.

    python docs/gen/blocks.py       # rewrites these blocks (and every other)
"""

from __future__ import annotations

import textwrap

from blocks import block


def _lesson():  # noqa: ANN202 - the module, imported late so that loading the docs is quick
    from maze.app import lesson

    return lesson


def _table(keys: list[str], header: list[str], columns: list[str], lead: int = 1) -> str:
    """A Markdown table: one row per step, the step's title (after its service if
    ``lead`` is 2) then its readings."""
    lesson = _lesson()
    rows = ["| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] * lead + ["---:"] * len(columns)) + "|"]
    for key in keys:
        step = lesson.BY_KEY[key]
        read = lesson.reading(step)
        first = [step.service.replace("_", " ")][:lead - 1] + [step.title]
        rows.append("| " + " | ".join([*first, *(read[c] for c in columns)]) + " |")
    return "\n".join(rows)


@block("lesson-regimes")
def regimes() -> str:
    lesson = _lesson()
    keys = ["provide", "deny", "deflect"]
    cols = list(lesson.READ_REGIMES)
    table = _table(keys, ["regime", *(lesson.label(c) for c in cols)], cols)
    saved = {k: lesson.measures_of(lesson.BY_KEY[k])["city_cost_saved"] for k in keys}
    share = saved["deflect"] / saved["deny"]
    locals_ = {lesson.dash_app.fmt("served_share", lesson.measures_of(
        lesson.BY_KEY[k], lesson.dash_app.View("locals"))["served_share"]) for k in keys}
    served = (f"the locals' column reads {locals_.pop()} served under all three"
              if len(locals_) == 1 else "the locals' column changes too")
    return (f"{table}\n\nDeflecting saves the city {share:.0%} of what denying saves "
            f"({saved['deflect']:,.0f} of {saved['deny']:,.0f} RMB), and no office names "
            f"hukou; {served}.{_requests_row()}")


def _requests_row() -> str:
    """Why the summary's requests row changes with the regime, when it does: a student
    asks. The closure (the withdrawal mechanism, off under provide) opens new requests for
    the families it displaces; the sentence is written only when switching the closure off
    under deflect gives provide's count, so it cannot claim a cause the model does not show."""
    lesson = _lesson()
    requests = {k: lesson.measures_of(lesson.BY_KEY[k])["requests"]
                for k in ("provide", "deny", "deflect")}
    if len(set(requests.values())) == 1:
        return ""
    no_closure = lesson.measures_of(lesson.Step("no-closure", "closure off",
                                                switch=(("withdrawal", False),)))["requests"]
    if no_closure != requests["provide"] or requests["deny"] != requests["deflect"]:
        return (" The requests row changes with the regime too: "
                + ", ".join(f"{n:,} under {k}" for k, n in requests.items()) + ".")
    return (f" The **requests** row reads {requests['provide']:,} under provide and "
            f"{requests['deflect']:,} under deny and deflect: the closure of the private "
            "migrant school, a deflection mechanism that provide switches off, sends the "
            "families whose children it had placed to ask again, each a new request "
            f"(with the closure switched off, deflect counts {no_closure:,} too).")


@block("lesson-loop")
def loop() -> str:
    lesson = _lesson()
    cols = list(lesson.READ_LOOP)
    return _table(["loop-0", "loop-1", "loop-4"],
                  ["referral loop `rounds`", *(lesson.label(c) for c in cols)], cols)


@block("lesson-cap")
def cap() -> str:
    lesson = _lesson()
    cols = ["served_share", "alternative_share", "sent_away_share"]
    return _table(["cap-on", "cap-off"], ["class cap", *(lesson.label(c) for c in cols)], cols)


@block("lesson-documents")
def documents() -> str:
    lesson = _lesson()
    return _table(["insurance-as-is", "insurance-no-employment", "school-as-is",
                   "school-no-employment", "school-no-extra"],
                  ["service", "documents", lesson.label("served_share")], ["served_share"],
                  lead=2)


@block("lesson-papers")
def papers() -> str:
    lesson = _lesson()
    before, after = lesson.everyone_with_papers()
    return (f"Giving every household a lease in its own name and a labour contract lifts the "
            f"served share of migrants' requests in Beijing from {before:.1%} to {after:.1%} "
            f"(`python -m maze.app.lesson papers`).")


@block("lesson-story")
def told() -> str:
    lesson = _lesson()
    lines = lesson.story("informal_worker")
    text = "\n".join(textwrap.fill(x, 88, subsequent_indent="    ") if x else "" for x in lines)
    return f"```text\n{text}\n```"
