"""The run cache key: resolved parameters, reps, seed, version, model source, calibration data;
``api.ensure_run`` reuses a run folder only when none of them changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sim import api, cache_key, scenario
from sim.cache_key import run_key
from tests.conftest import small_scenario

#: tiny runs: one replication of two simulated years takes about a second
TINY: dict[str, dict[str, object]] = {
    "users": {"end": "2021-12-31"},
    "hosting": {"panel_size": 600, "beta_panel": 20, "room_day_stride": 30},
}


def test_key_is_stable_and_changes_with_every_input(monkeypatch, tmp_path):
    base = small_scenario()
    key = run_key(base, 2, 1).key
    assert run_key(small_scenario(), 2, 1).key == key
    assert run_key(small_scenario(policy={"threshold": 300}), 2, 1).key != key
    assert run_key(base, 3, 1).key != key
    assert run_key(base, 2, 2).key != key

    monkeypatch.setattr(cache_key, "__version__", "9.9.9")
    assert run_key(base, 2, 1).key != key
    monkeypatch.undo()

    monkeypatch.setattr(cache_key, "source_digest", lambda: "0" * 64)
    assert run_key(base, 2, 1).key != key
    monkeypatch.undo()
    assert run_key(base, 2, 1).key == key


def test_an_edited_calibration_file_changes_the_key(monkeypatch, tmp_path):
    copies = []
    for original in cache_key.calibration_files():
        copy = tmp_path / original.name
        shutil.copyfile(original, copy)
        copies.append(copy)
    monkeypatch.setattr(cache_key, "calibration_files", lambda: copies)
    before = run_key(small_scenario(), 2, 1)
    assert before.key == run_key(small_scenario(), 2, 1).key
    copies[0].write_text(copies[0].read_text().replace("\n", "\n ", 1))
    after = run_key(small_scenario(), 2, 1)
    assert after.key != before.key
    assert after.inputs["data_sha256"] != before.inputs["data_sha256"]


def test_the_data_the_sim_reads_is_hashed():
    names = {path.name for path in cache_key.calibration_files()}
    assert "mdau_2019q1_2021q1.csv" in names  # what sim.actuals reads
    assert set(cache_key.data_digests()) == names


def _copy_scenario(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}.toml"
    shutil.copyfile(scenario.resolve_path("baseline"), target)
    return target


def _refuse_to_simulate(*args: object, **kwargs: object) -> None:
    raise AssertionError("simulated although a run folder with this key exists")


def test_ensure_run_reuses_same_inputs_and_reruns_an_edited_scenario(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # ./scenarios/ is where edited scenarios live
    edited = _copy_scenario(tmp_path / "scenarios", "mine")
    runs = tmp_path / "runs"

    first = api.ensure_run("mine", TINY, reps=1, seed=3, runs_dir=runs)
    assert first.path is not None and first.key is not None
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert manifest["cache_key"]["key"] == first.key.key
    assert first.path.name.endswith(first.key.key)
    inputs = manifest["cache_key"]["inputs"]
    assert {"parameters_sha256", "version", "sim_source_sha256", "data_sha256"} <= set(inputs)
    assert inputs["reps"] == 1 and inputs["seed"] == 3

    with monkeypatch.context() as patched:
        patched.setattr(api, "run", _refuse_to_simulate)
        again = api.ensure_run("mine", TINY, reps=1, seed=3, runs_dir=runs)
    assert again.path == first.path
    assert again.users.equals(first.users)

    edited.write_text(edited.read_text().replace("threshold = 600", "threshold = 300"))
    fresh = api.ensure_run("mine", TINY, reps=1, seed=3, runs_dir=runs)
    assert fresh.path != first.path
    assert fresh.scenario is not None and fresh.scenario.policy.threshold == 300
    assert json.loads((first.path / "manifest.json").read_text()) == manifest  # left alone


def test_ensure_run_reruns_when_the_data_hash_changes(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    first = api.ensure_run("baseline", TINY, reps=1, seed=3, runs_dir=runs)
    assert first.path is not None
    changed = {name: "0" * 64 for name in cache_key.data_digests()}
    monkeypatch.setattr(cache_key, "data_digests", lambda: changed)
    fresh = api.ensure_run("baseline", TINY, reps=1, seed=3, runs_dir=runs)
    assert fresh.path is not None and fresh.path != first.path
    assert fresh.key is not None and first.key is not None
    assert set(fresh.key.inputs["data_sha256"].values()) == {"0" * 16}


def test_the_source_digest_covers_subpackages(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "model.py").write_text("A = 1\n")
    (tmp_path / "rules" / "tickets.py").write_text("PRICE_MAX_USD = 999.0\n")
    before = cache_key.sources_digest(tmp_path)
    (tmp_path / "rules" / "tickets.py").write_text("PRICE_MAX_USD = 1000.0\n")
    assert cache_key.sources_digest(tmp_path) != before
