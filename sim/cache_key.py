"""The key of a sim run: everything its numbers depend on, hashed.

A run is a function of its resolved parameters (the scenario file after overrides), its
replications and seed, the code that simulates it and the calibration data that code reads. The
key hashes all of them, so a cached run folder is reused only when none changed: editing a
scenario, upgrading the package, editing the model or the data each gives a new key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sim.scenario import Scenario
from spaces_core import __version__

#: the package data the model reads when it runs (fits, actuals); scenarios are hashed as
#: resolved parameters instead, so they are not listed here
CALIBRATION_DATA = "data"
CALIBRATION_SUFFIXES = (".csv",)
KEY_LENGTH = 16


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def calibration_files() -> list[Path]:
    """The calibration data files of the ``sim`` package, sorted by name."""
    folder = resources.files("sim") / CALIBRATION_DATA
    return sorted(
        (Path(str(entry)) for entry in folder.iterdir()
         if str(entry).endswith(CALIBRATION_SUFFIXES)),
        key=lambda path: path.name,
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return _sha256(path.read_bytes())


def data_digests() -> dict[str, str]:
    """Calibration file name -> SHA-256 of its contents."""
    return {path.name: file_digest(path) for path in calibration_files()}


@cache
def source_digest() -> str:
    """SHA-256 over the ``sim`` package's Python sources, subpackages (``sim.rules``) included:
    an edited model is a new model even when the package version stays the same (as it does in
    a source checkout)."""
    return sources_digest(Path(str(resources.files("sim"))))


def sources_digest(package: Path) -> str:
    """SHA-256 over the ``.py`` files under ``package``, by path relative to it."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_fingerprint() -> dict[str, Any]:
    """What a run depends on besides its parameters: package version, model source, data.
    A sweep compares its workers' fingerprints with its own before it trusts them."""
    return {"version": __version__, "sim_source": source_digest(), "data": data_digests()}


@dataclass(frozen=True)
class RunKey:
    """A run's cache key and what went into it (short digests, for a manifest)."""

    key: str
    inputs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "inputs": self.inputs}


def run_key(scenario: Scenario, reps: int, seed: int) -> RunKey:
    """The key of running ``scenario`` (loaded, overrides applied) ``reps`` times from ``seed``."""
    parameters = scenario.to_dict()
    full = {"parameters": parameters, "reps": reps, "seed": seed, **code_fingerprint()}
    key = _sha256(_canonical(full))[:KEY_LENGTH]
    summary = {
        "scenario": scenario.name,
        "parameters_sha256": _sha256(_canonical(parameters))[:KEY_LENGTH],
        "reps": reps,
        "seed": seed,
        "version": __version__,
        "sim_source_sha256": full["sim_source"][:KEY_LENGTH],
        "data_sha256": {name: value[:KEY_LENGTH] for name, value in full["data"].items()},
    }
    return RunKey(key=key, inputs=summary)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode()
