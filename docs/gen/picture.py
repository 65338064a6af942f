"""README's picture: how Beijing's migrant requests end under the three regimes, as an SVG.

Drawn from real runs of the built-in Beijing preset (2,000 households, seed 0), with no
plotting dependency, so the file is byte-for-byte the same wherever it is made.
``tests/test_docs.py`` redraws it and fails if the checked-in file differs; the sentence
under the picture in README.md is the generated block ``readme-regimes`` (see blocks.py).

    python docs/gen/picture.py          # rewrites docs/assets/regimes.svg
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

from blocks import block

OUT = Path(__file__).resolve().parents[1] / "assets" / "regimes.svg"
REGIMES = ("provide", "deny", "deflect")
OUTCOMES = (("served", "#1b9e77"), ("alternative", "#7570b3"), ("sent_away", "#d95f02"),
            ("gave_up", "#e7298a"), ("denied", "#444444"), ("deterred", "#a6761d"),
            ("pending", "#bbbbbb"))
LABELS = {"served": "served", "alternative": "private school", "sent_away": "sent home",
          "gave_up": "gave up", "denied": "denied", "deterred": "deterred",
          "pending": "pending"}


def shares(seed: int = 0) -> dict[str, dict[str, float]]:
    """Outcome shares of migrants' requests and explicit hukou refusals, per regime."""
    from tutorials import beijing

    out = {}
    for regime in REGIMES:
        m = beijing(regime, seed)["migrants"]
        out[regime] = {o: m[f"{o}_share"] for o, _ in OUTCOMES}
        out[regime]["hukou"] = m["explicit_refusal_share"]
    return out


def svg(data: dict[str, dict[str, float]]) -> str:
    width, left, bar_w, bar_h, gap, top = 760, 90, 520, 34, 18, 56
    height = top + len(REGIMES) * (bar_h + gap) + 36
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             '<text x="10" y="24" font-size="16" font-weight="bold">How migrants\' requests '
             'end in Beijing under three regimes</text>',
             '<text x="10" y="44" fill="#555">maze run --preset beijing --regime REGIME '
             '(2,000 households, seed 0)</text>']
    for i, regime in enumerate(REGIMES):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{left - 10}" y="{y + bar_h / 2 + 5}" text-anchor="end" '
                     f'font-weight="bold">{regime}</text>')
        x = float(left)
        for outcome, colour in OUTCOMES:
            w = data[regime][outcome] * bar_w
            if w <= 0:
                continue
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{colour}"><title>{LABELS[outcome]}: '
                         f'{data[regime][outcome]:.0%}</title></rect>')
            if w > 34:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{y + bar_h / 2 + 5}" '
                             f'text-anchor="middle" fill="white">'
                             f'{data[regime][outcome]:.0%}</text>')
            x += w
        parts.append(f'<text x="{left + bar_w + 10}" y="{y + bar_h / 2 + 5}" fill="#333">'
                     f'{data[regime]["hukou"]:.0%} told "hukou"</text>')
    x, y = float(left), top + len(REGIMES) * (bar_h + gap) + 10
    for outcome, colour in OUTCOMES:
        label = html.escape(LABELS[outcome])
        parts.append(f'<rect x="{x:.0f}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="{y + 11}">{label}</text>')
        x += 22 + 7.5 * len(label)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


@block("readme-regimes")
def readme_regimes() -> str:
    """The sentence under README's picture."""
    d = shares()
    return textwrap.fill(
        f"Denial serves {d['deny']['served']:.0%} of migrants' requests and deflection "
        f"{d['deflect']['served']:.0%}, yet under denial {d['deny']['hukou']:.0%} of them "
        f"hear the word \"hukou\" and under deflection {d['deflect']['hukou']:.0%} "
        "(drawn by `python docs/gen/picture.py` from "
        "`maze run --preset beijing --regime REGIME`, seed 0; the run's own summary line "
        "counts locals' requests too).", 92)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(svg(shares()), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
