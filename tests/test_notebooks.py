"""Every notebook runs top to bottom on small, seeded parameters; a failing cell fails here.

The notebooks share one working directory, in reading order, so the run folders one makes
(simulations, a quick mixer benchmark, a short swarm) are read by the next, as in `make run`.
"""

import pytest

from spaces_lab import notebooks

NOTEBOOKS = notebooks.notebooks()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebooks")


def test_there_are_the_four_notebooks():
    assert [p.name[0] for p in NOTEBOOKS] == ["1", "2", "3", "4"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, workdir):
    book = notebooks.execute(notebook, workdir=workdir, quick=True, timeout=600)
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
    assert (workdir / "runs").is_dir()  # it made or read run folders there
    html = notebooks.to_html(book, workdir / f"{notebook.stem}.html")
    assert html.stat().st_size > 10_000
