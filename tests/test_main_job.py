"""`spaces-lab run` (what `make run` calls) end to end, on small seeded parameters."""

import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(900)
def test_main_job_writes_reports_and_a_summary(tmp_path):
    env = {**os.environ, "SPACES_LAB_QUICK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "spaces_lab.cli", "run", "--swarm-users", "16",
         "--swarm-duration", "12"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in out
    assert "mDAU 2023Q4 baseline" in out and "solved spaces.mdau_lift" in out
    assert "listeners per core" in out and "servers" in out
    assert "swarm:" in out and "reports:" in out
    reports = sorted(p.name for p in (tmp_path / "reports").glob("*.html"))
    assert reports == ["1_growth_scenarios.html", "2_mixing_capacity.html",
                       "3_ticket_revenue.html", "4_capacity_plan.html", "index.html"]
    for page in (tmp_path / "reports").glob("[0-9]*.html"):
        assert "data:image/png;base64" in page.read_text()  # every report carries its charts
