"""A sweep's grid: ``table.field`` keys, each with values, and the scenario at every point.

Every point is loaded like ``sim run --set`` would load it, so an unknown key or a bad value is
the same one-line :class:`~sim.scenario.ScenarioError` naming it, raised before anything runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim import scenario as scenarios
from sim.scenario import PARAM_GROUPS, Scenario, ScenarioError

GRID_EXAMPLE = "policy.threshold=300,600"


@dataclass(frozen=True)
class GridPoint:
    """One point of the grid: its values (as the model's types) and its scenario."""

    index: int
    values: dict[str, Any]
    scenario: Scenario


def parse_grid(pairs: Iterable[str]) -> dict[str, list[str]]:
    """``["policy.threshold=100,300", ...]`` -> ``{"policy.threshold": ["100", "300"], ...}``."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise ScenarioError(
                f"--grid {pair!r}: expected table.field=value,value,..., e.g. {GRID_EXAMPLE}"
            )
        values = [value.strip() for value in raw.split(",")]
        if any(not value for value in values):
            raise ScenarioError(f"--grid {key}: empty value in {raw.strip()!r}")
        if key in grid:
            raise ScenarioError(f"--grid {key}: given twice")
        grid[key] = values
    return grid


def split_key(key: str) -> tuple[str, str]:
    """``"policy.threshold"`` -> ``("policy", "threshold")``; the field is checked on load."""
    group, dot, name = key.partition(".")
    if not dot or not group or not name:
        raise ScenarioError(f"--grid {key!r}: expected table.field, e.g. {GRID_EXAMPLE}")
    if group not in PARAM_GROUPS:
        raise ScenarioError(f"unknown key '{key}' (tables: {', '.join(PARAM_GROUPS)})")
    return group, name


def grid_points(scenario: str, grid: Mapping[str, Sequence[Any]],
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[GridPoint]:
    """Every combination of the grid's values (the first key varies slowest), each loaded as a
    scenario; raises :class:`ScenarioError` naming the first bad key or value."""
    if not grid:
        raise ScenarioError(f"--grid: give at least one, e.g. --grid {GRID_EXAMPLE}")
    fields = {key: split_key(key) for key in grid}
    for key, (group, name) in fields.items():
        if name in (overrides or {}).get(group, {}):
            raise ScenarioError(f"--grid {key}: also given with --set; give it in one place")
        if not grid[key]:
            raise ScenarioError(f"--grid {key}: no values")
    points = []
    for index, combination in enumerate(itertools.product(*grid.values())):
        merged = {group: dict(values) for group, values in (overrides or {}).items()}
        for (group, name), value in zip(fields.values(), combination, strict=True):
            merged.setdefault(group, {})[name] = value
        loaded = scenarios.load(scenario, merged)
        values = {key: getattr(getattr(loaded, group), name)
                  for key, (group, name) in fields.items()}
        points.append(GridPoint(index=index, values=values, scenario=loaded))
    _refuse_repeats(grid, points)
    return points


def _refuse_repeats(grid: Mapping[str, Sequence[Any]], points: Sequence[GridPoint]) -> None:
    """Two spellings of one value (``100,100.0``) would make two points that are one."""
    for key in grid:
        seen = {point.values[key] for point in points}
        if len(seen) < len(grid[key]):
            raise ScenarioError(f"--grid {key}: a value is given twice in {list(grid[key])}")
