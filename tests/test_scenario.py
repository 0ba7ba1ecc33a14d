from pathlib import Path

import pytest

from sim import scenario
from sim.scenario import ScenarioError


def test_every_packaged_scenario_loads_and_describes_itself():
    rows = scenario.describe_all()
    names = {name for name, _, _ in rows}
    assert {"baseline", "analyst-day", "spaces-boost"} <= names
    for name, description, _ in rows:
        assert description, name
        assert scenario.load(name).name == name


def test_overrides_are_typed():
    loaded = scenario.load("baseline", scenario.parse_overrides(
        ["tickets.store_fee=0.15", "policy.threshold_date=2021-04-01", "users.covid_shock=false",
         "hosting.panel_size=900"]))
    assert loaded.tickets.store_fee == 0.15
    assert str(loaded.policy.threshold_date) == "2021-04-01"
    assert loaded.users.covid_shock is False
    assert loaded.hosting.panel_size == 900


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["rooms.nope=1"], "unknown key 'rooms.nope'"),
        (["nope.x=1"], "unknown key 'nope.x'"),
        (["tickets.store_fee=cheap"], "tickets.store_fee: expected float"),
        (["hosting.panel_size=1.5"], "hosting.panel_size: expected int"),
        (["tickets.store_fee=2"], "tickets.store_fee: must be in"),
        (["policy.open_date=yesterday"], "policy.open_date: expected date"),
        (["store_fee=0.1"], "expected table.field=value"),
    ],
)
def test_bad_overrides_name_the_key(pairs, message):
    with pytest.raises(ScenarioError, match=message):
        scenario.load("baseline", scenario.parse_overrides(pairs))


def test_a_copied_scenario_file_runs_by_path_and_by_name(tmp_path, monkeypatch):
    text = (scenario.available()["baseline"]).read_text()
    (tmp_path / "scenarios").mkdir()
    custom = tmp_path / "scenarios" / "mine.toml"
    custom.write_text(text.replace("store_fee = 0.30", "store_fee = 0.20"))
    monkeypatch.chdir(tmp_path)
    assert scenario.load("mine").tickets.store_fee == 0.20
    assert scenario.load(str(custom)).tickets.store_fee == 0.20


def test_bad_files_are_clear(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[users\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        scenario.load(str(broken))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[weather]\nrain = 1\n")
    with pytest.raises(ScenarioError, match="unknown key 'weather'"):
        scenario.load(str(unknown))
    with pytest.raises(ScenarioError, match="does not exist"):
        scenario.load(str(Path(tmp_path / "missing.toml")))
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        scenario.load("nope")
