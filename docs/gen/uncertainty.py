"""Blocks of docs/explanation/uncertainty.md: what each preset declares."""

from __future__ import annotations

from blocks import block


@block("assumption-counts")
def assumption_counts() -> str:
    """How many assumptions each preset declares, numeric and choices (``maze assumptions``)."""
    from maze import uncertainty
    from maze.app import api
    from offices import presets

    lines = ["| preset | declared | numeric ranges | choices |", "| --- | --- | --- | --- |"]
    total = 0
    for name in presets.names():
        got = uncertainty.declared(api.load(preset=name))
        numeric = sum(a.numeric for a in got)
        total += len(got)
        lines.append(f"| {name} | {len(got)} | {numeric} | {len(got) - numeric} |")
    return "\n".join(lines) + f"\n\n{total} in all (`maze assumptions PRESET` lists them).\n"
