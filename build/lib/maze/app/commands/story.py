"""``maze story``: one household's journey through the maze, told step by step with dates."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap

from maze.app.cli import add_city_arguments, load_city
from maze.scenario import ScenarioError


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "story", help="tell one household's journey in plain words, with dates",
        description="Run a city and tell one household's journey: each office visited, what "
                    "it said and when, and how it ended, with the number of offices and "
                    "levels of government met. Without --household, a typical household "
                    "(the most common outcome of its group, with the median number of visits).")
    add_city_arguments(p)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--household", type=int, metavar="ID", help="the household to follow")
    who.add_argument("--group", metavar="NAME", help="a typical household of this group")
    return {"story": cmd_story}


def cmd_story(args: argparse.Namespace) -> int:
    from maze import story
    from maze.app import api

    scenario = load_city(args)
    run = api.run(scenario, args.seed, max_memory=args.max_memory)
    n = len(run.raw.households)
    if args.household is not None:
        if not 0 <= args.household < n:
            raise ScenarioError(f"no household {args.household}; this run has households 0 to "
                                f"{n - 1}", source="--household")
        household = args.household
    else:
        groups = [g.name for g in scenario.population.groups]
        if args.group is not None and args.group not in groups:
            raise ScenarioError(f"no group {args.group!r}; groups: {', '.join(groups)}",
                                source="--group")
        try:
            household = story.typical_household(run.journeys, args.group)
        except KeyError:
            raise ScenarioError(f"no household of group {args.group!r} asked for anything in "
                                "this run", source="--group") from None
    width = min(100, shutil.get_terminal_size((88, 24)).columns)
    lines = [f"{scenario.city.name} ({scenario.city.regime}), seed {args.seed}; day 0 is "
             f"{scenario.city.start_date.day} {scenario.city.start_date:%B %Y}.", ""]
    if run.raw.life_events is not None:  # a run over years: the family's years
        from maze.life_story import life_story_lines

        told = life_story_lines(run.events, run.raw.life_events, household, scenario)
    else:
        told = story.story_lines(run.events, household, scenario)
    lines += [textwrap.fill(line, width=width, subsequent_indent="    ") if line else ""
              for line in told]
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `maze story | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
