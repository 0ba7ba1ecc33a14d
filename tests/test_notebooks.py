"""Every notebook runs top to bottom on small, seeded parameters; a failing cell fails here."""

import pytest

from spaces_lab import notebooks

NOTEBOOKS = notebooks.notebooks()


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, tmp_path):
    book = notebooks.execute(notebook, workdir=tmp_path, quick=True, timeout=600)
    first = book.cells[0]
    assert first.cell_type == "markdown" and "Question" in first.source
    images = sum(
        1
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    assert images >= 2, "a notebook that answers with charts must show them"
    assert (tmp_path / "runs").is_dir()  # it made its own small run folders
    html = notebooks.to_html(book, tmp_path / f"{notebook.stem}.html")
    assert html.stat().st_size > 10_000
