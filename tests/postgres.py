"""A throwaway PostgreSQL for the ledger tests: Debian's server, installed with apt when it is
missing and this runs as root (as ``tests/chromium.py`` does for Chromium), a cluster made
with ``initdb`` in a temporary folder, started on a free loopback port (as the ``postgres``
OS user when running as root: PostgreSQL refuses to run as root), one fresh database per
test, stopped at the end of the session. Skipped, with the reason, where none of that can run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from media_bench.client.server_process import free_port
from spaces_core.apt import apt_install

SUPERUSER = "postgres"


def _find_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass
class Postgres:
    """A running cluster; ``new_database()`` makes an empty database and returns its URL."""

    port: int
    folder: Path
    as_user: list[str]
    pg_ctl: str

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"ledger_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate",
             "stop"], capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> tuple[Postgres | None, str]:
    """A running cluster, or None and why not."""
    initdb, pg_ctl = _find_bin("initdb"), _find_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        reason = apt_install("postgresql")
        initdb, pg_ctl = _find_bin("initdb"), _find_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            return None, f"PostgreSQL is not installed and could not be: {reason}"
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="spaces-lab-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return None, "running as root without runuser: cannot start PostgreSQL as postgres"
        try:
            shutil.chown(folder, user="postgres")
        except (LookupError, PermissionError) as error:
            return None, f"no postgres OS user to run PostgreSQL as: {error}"
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    steps = (
        [*as_user, initdb, "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"],
        [*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
         "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on", "start"],
    )  # fmt: skip
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (folder / "log").read_text()[-500:] if (folder / "log").exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"{Path(command[len(as_user)]).name} failed: {done.stderr[-300:]}{log}"
    return Postgres(port, folder, as_user, pg_ctl), ""


def postgres_session() -> Iterator[tuple[Postgres | None, str]]:
    """The session's cluster (started on first use) and the reason when there is none."""
    server, reason = start_postgres()
    try:
        yield server, reason
    finally:
        if server is not None:
            server.stop()
