"""Every audio figure a load process reported, kept raw.

Locust merges each worker's figures at the master as histograms (counts per rounded value), so
its percentiles are of all samples, not an average of the workers' percentiles. Each load
process also writes what it reported to a file of its own, so a run can check the master's
figures against the pooled samples and a reader can redo any statistic. Kept free of Locust
imports, like ``names``.
"""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path


class SampleLog:
    """(name, value) of every audio figure this process reported."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []

    def add(self, name: str, value: float) -> None:
        self.rows.append((name, value))

    def write(self, folder: Path) -> Path:
        """Write ``audio-HOST-PID.csv`` into ``folder``; returns its path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"audio-{socket.gethostname()}-{os.getpid()}.csv"
        partial = path.with_suffix(".partial")
        with partial.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["name", "value"])
            writer.writerows(self.rows)
        partial.replace(path)  # whole or absent: a reader may be waiting for it
        return path
