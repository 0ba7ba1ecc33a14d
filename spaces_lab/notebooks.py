"""Execute the notebooks top to bottom and export them to HTML reports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from spaces_core.settings import QUICK_ENV

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The project's notebooks in reading order."""
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


@contextmanager
def _environment(quick: bool) -> Iterator[None]:
    before = os.environ.get(QUICK_ENV)
    os.environ[QUICK_ENV] = "1" if quick else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(QUICK_ENV, None)
        else:
            os.environ[QUICK_ENV] = before


def execute(notebook: Path, workdir: Path, quick: bool = False, timeout: int = 1800
            ) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel whose working directory is ``workdir``; a failing
    cell raises ``nbclient.exceptions.CellExecutionError``."""
    book: nbformat.NotebookNode = nbformat.read(  # type: ignore[no-untyped-call]
        notebook, as_version=4
    )
    with _environment(quick):
        client = NotebookClient(book, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(workdir)}})
        client.execute()
    return book


def to_html(book: nbformat.NotebookNode, target: Path) -> Path:
    """Write an executed notebook as a standalone HTML page (charts embedded)."""
    exporter = HTMLExporter()  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(book)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    return target
