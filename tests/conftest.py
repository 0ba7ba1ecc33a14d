"""Shared fixtures: a small, fast scenario for tests that run the whole model."""

from __future__ import annotations

import os
import tempfile

import pytest

from media_bench.server.store.engine import DATA_DIR_ENV
from sim import scenario
from sim.scenario import Scenario

#: small enough to run in seconds, long enough to cover every policy phase and ticketing
SMALL_OVERRIDES: dict[str, dict[str, object]] = {
    "users": {"end": "2022-03-31"},
    "hosting": {"panel_size": 1500, "beta_panel": 40, "room_day_stride": 14},
}


def small_scenario(name: str = "baseline", **extra: dict[str, object]) -> Scenario:
    overrides: dict[str, dict[str, object]] = {
        group: dict(values) for group, values in SMALL_OVERRIDES.items()
    }
    for group, values in extra.items():
        overrides.setdefault(group, {}).update(values)
    return scenario.load(name, overrides)


@pytest.fixture(scope="session")
def small() -> Scenario:
    return small_scenario()


# Servers started without --data-dir keep their database here, never in the home folder.
_DATA_DIR = tempfile.TemporaryDirectory(prefix="spaces-lab-test-data-")
os.environ.setdefault(DATA_DIR_ENV, _DATA_DIR.name)
