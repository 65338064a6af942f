"""The notebooks in docs/notebooks run from top to bottom with the installed maze.

Executed with nbclient, as a reader would run them (small sizes: under a minute for both
on a 2-core machine). A notebook that raises fails here with the cell's error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"first-experiment.ipynb", "class-walkthrough.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Every figure cell drew a plotly figure.
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and "report." in c.source
                    and "import" not in c.source]
    assert len(figures) == len(figure_cells) > 0
