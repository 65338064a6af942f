"""``maze case``: run rule cases (one household each) and say whether each holds, with its story."""

from __future__ import annotations

import argparse
import sys
import textwrap

from maze.scenario import ScenarioError


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "case", help="check rule cases: one household, one city, what the texts say happens",
        description="Run each case of the case files (see tests/cases/ and the rule-cases "
                    "reference, docs/reference/rule-cases.md) with its one household, and say "
                    "whether what happened is what the case expects. Exit code 1 if a case "
                    "does not hold, or if a case marked xfail (a known difference from the "
                    "texts) now holds.")
    p.add_argument("files", nargs="+", metavar="FILE", help="case file(s) (TOML)")
    p.add_argument("--title", help="only the cases whose title contains this text")
    p.add_argument("--story", action="store_true",
                   help="tell each household's journey in plain words (seed 0)")
    return {"case": cmd_case}


def cmd_case(args: argparse.Namespace) -> int:
    from maze.app import rule_cases

    cases = [c for f in args.files for c in rule_cases.load(f)]
    if args.title:
        cases = [c for c in cases if args.title.lower() in c.case.title.lower()]
        if not cases:
            raise ScenarioError(f"no case title contains {args.title!r}", source="--title")
    wrap = textwrap.TextWrapper(width=100, initial_indent="    ", subsequent_indent="      ")
    bad = 0
    for loaded in cases:
        verdict = rule_cases.check(loaded)
        known = loaded.case.xfail
        if verdict.holds and not known:
            status = "holds"
        elif not verdict.holds and known:
            status = "differs from the text, as known"
        elif verdict.holds:
            status = "HOLDS NOW: remove its xfail"
            bad += 1
        else:
            status = "DOES NOT HOLD"
            bad += 1
        print(f"{loaded.case.title}: {status}")
        for problem in verdict.problems:
            print(wrap.fill(problem))
        if known:
            print(wrap.fill(f"known difference: {known}"))
        if args.story:
            print()
            for line in verdict.story():
                print(wrap.fill(line) if line else "")
            print()
    print(f"{len(cases) - bad} of {len(cases)} cases as expected", file=sys.stderr)
    return 1 if bad else 0
