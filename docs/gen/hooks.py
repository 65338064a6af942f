"""mkdocs hook: replace ``<!-- reference:NAME -->`` markers with pages generated from code.

Listed under ``hooks:`` in ``mkdocs.yml``. The generators live in ``docs/gen/reference.py``;
the numbers of the tutorials (``<!-- gen:NAME -->`` blocks) are checked in instead, see
``docs/gen/blocks.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))

import reference  # noqa: E402

MARKER = re.compile(r"<!-- reference:([a-z_-]+) -->")


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - mkdocs API
    def expand(m: re.Match) -> str:
        name = m.group(1)
        if name not in reference.GENERATORS:
            raise KeyError(f"{page.file.src_path}: unknown reference block {name!r}; "
                           f"known: {', '.join(sorted(reference.GENERATORS))}")
        return reference.GENERATORS[name]()

    return MARKER.sub(expand, markdown)
