"""The `spaces-lab` command: help, list, a small run end to end, and its error paths."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spaces_lab.cli import main

SMALL = ["--set", "users.end=2021-12-31", "--set", "hosting.panel_size=600",
         "--set", "hosting.beta_panel=20", "--set", "hosting.room_day_stride=30"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spaces_lab.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_help_lists_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "sim"):
        assert command in result.stdout


def test_sim_list(capsys):
    assert main(["sim", "list"]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "analyst-day" in out and "spaces-boost" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--set", "rooms.nope=1"], "unknown key 'rooms.nope'"),
        (["--set", "tickets.store_fee=lots"], "tickets.store_fee: expected float"),
        (["--set", "tickets.store_fee=3"], "tickets.store_fee: must be in [0, 1]"),
        (["--reps", "0"], "--reps: must be >= 1"),
        (["--seed", "-1"], "--seed: must be >= 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["sim", "run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert message in err
    assert not out.exists()


def test_existing_run_folder_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["sim", "run", "--reps", "1", *SMALL, "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_small_run_writes_a_self_describing_folder_and_plots(tmp_path):
    out = tmp_path / "run"
    result = run_cli("sim", "run", "--reps", "2", "--seed", "4", *SMALL, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "run folder" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sim" and manifest["seed"] == 4 and manifest["reps"] == 2
    assert manifest["parameters"]["hosting"]["panel_size"] == 600
    assert "simpy" in manifest["versions"] and "simulate" in manifest["timings_s"]
    for table in ("users", "eligibility", "rooms", "revenue", "reach"):
        assert (out / f"{table}.parquet").is_file()
    for chart in ("mdau_fan", "eligible_hosts", "concurrency", "revenue", "reach"):
        png = out / f"{chart}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    for png in out.glob("*.png"):
        png.unlink()
    replot = run_cli("sim", "plot", str(out))
    assert replot.returncode == 0, replot.stderr
    assert (out / "mdau_fan.png").is_file()


def test_plot_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["sim", "plot", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_analyst_day_reports_the_solved_growth(tmp_path):
    result = run_cli("sim", "run", "--scenario", "analyst-day", "--reps", "1",
                     "--set", "hosting.panel_size=300", "--set", "hosting.beta_panel=10",
                     "--set", "hosting.room_day_stride=60", "--no-plots",
                     "--out", str(tmp_path / "ad"))
    assert result.returncode == 0, result.stderr
    assert "solved users.extra_growth" in result.stdout
    manifest = json.loads((Path(tmp_path) / "ad" / "manifest.json").read_text())
    assert manifest["solved"]["users.extra_growth"] > 0
