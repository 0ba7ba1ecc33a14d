"""Shared fixtures: a small, fast scenario for tests that run the whole model."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from media_bench.server.store.engine import DATA_DIR_ENV, database_url
from sim import scenario
from sim.scenario import Scenario
from tests.postgres import Postgres, postgres_session

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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[tuple[Postgres | None, str]]:
    yield from postgres_session()


@dataclass(frozen=True)
class LedgerDatabase:
    """An empty database for the ledger tests: its URL and the server options naming it."""

    backend: str
    url: str
    options: list[str]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_database(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerDatabase:
    """A SQLite data folder, or a fresh database on the session's PostgreSQL (skipped, with
    the reason, when there is none)."""
    if request.param == "sqlite":
        folder = tmp_path / "data"
        return LedgerDatabase("sqlite", database_url(folder, None), ["--data-dir", str(folder)])
    cluster, reason = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        pytest.skip(f"no PostgreSQL for this test: {reason}")
    url = cluster.new_database()
    return LedgerDatabase("postgresql", url, ["--database", url])
