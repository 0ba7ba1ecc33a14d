"""Self-describing run folders: a manifest plus tidy tables, shared by every job.

Layout of a run folder::

    runs/<kind>-<YYYYmmdd-HHMMSS>-<tag>/
        manifest.json      kind, parameters, seed, versions, timings, tables
        <table>.parquet    tidy tables (one observation per row)
        *.png, *.csv ...   anything else the job writes
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from spaces_core import __version__

MANIFEST = "manifest.json"
DEFAULT_RUNS_DIR = Path("runs")
_VERSIONED = ("simpy", "numpy", "pandas", "pyarrow", "dask", "distributed", "aiortc", "av",
              "aiohttp", "locust")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour a run depends on."""
    found: dict[str, str] = {"python": platform.python_version(), "spaces-lab": __version__}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def new_run_dir(kind: str, out: Path | None = None, tag: str = "") -> Path:
    """Create a fresh run folder; ``out`` names it exactly, else one is made under ``runs/``."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{kind}-{stamp}" + (f"-{tag}" if tag else "")
        out = DEFAULT_RUNS_DIR / name
        suffix = 1
        while out.exists():
            suffix += 1
            out = DEFAULT_RUNS_DIR / f"{name}-{suffix}"
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"run folder {out} already exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class RunWriter:
    """Collects tables and metadata for one run and writes its manifest last."""

    path: Path
    kind: str
    parameters: Mapping[str, Any]
    seed: int | None = None
    started: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.path / f"{name}.parquet"
        frame.to_parquet(target, index=False)
        self.tables[name] = target.name
        return target

    def finish(self) -> Path:
        manifest = {
            "kind": self.kind,
            "created_utc": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "command": sys.argv,
            "seed": self.seed,
            "parameters": dict(self.parameters),
            "versions": library_versions(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "wall_time_s": round(time.time() - self.started, 3),
            "tables": self.tables,
            **self.extra,
        }
        target = self.path / MANIFEST
        target.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return target


def read_manifest(run: Path) -> dict[str, Any]:
    """The manifest of a run folder; a clear error when the folder is not one."""
    target = Path(run) / MANIFEST
    if not target.is_file():
        raise FileNotFoundError(f"{run} is not a run folder (no {MANIFEST})")
    loaded: dict[str, Any] = json.loads(target.read_text())
    return loaded


def read_table(run: Path, name: str) -> pd.DataFrame:
    """One tidy table of a run folder by name."""
    manifest = read_manifest(run)
    if name not in manifest.get("tables", {}):
        known = ", ".join(sorted(manifest.get("tables", {}))) or "none"
        raise KeyError(f"run {run} has no table {name!r} (it has: {known})")
    return pd.read_parquet(Path(run) / manifest["tables"][name])


LEDGER_TABLE = "tickets.parquet"
"""A swarm run's tickets ledger, exported from its server (the revenue notebook reads it)."""


def latest_run(kind: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path | None:
    """The newest complete run folder of a kind, or None."""
    candidates = []
    for manifest in runs_dir.glob(f"{kind}-*/{MANIFEST}"):
        candidates.append((manifest.stat().st_mtime, manifest.parent))
    return max(candidates)[1] if candidates else None
