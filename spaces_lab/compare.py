"""Runs set side by side: each figure of each run against the reference run (the first), its
ratio, the ratio on the reference's machine (yardstick-normalised), its noise band and a
verdict. The rules (direction, band, scaling) are in ``compare_rules``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from spaces_core.errors import CliError
from spaces_core.runfolder import DEFAULT_RUNS_DIR, MANIFEST, read_manifest
from spaces_lab.compare_figures import RunFigures
from spaces_lab.compare_rules import FigureRule, rule_for

REGRESSED, IMPROVED, WITHIN, CHANGED = "regressed", "improved", "within noise", "changed"
INFO, UNMEASURED = "info", "not in both"
FAILING = (REGRESSED, CHANGED)
"""Verdicts that make ``compare`` exit 1."""


def letter(index: int) -> str:
    """How the printed table names the run at ``index`` (A: the reference)."""
    return chr(ord("A") + index) if index < 26 else f"R{index}"


def check_same_kind(runs: Sequence[RunFigures]) -> None:
    kinds = {run.kind for run in runs}
    if len(kinds) > 1:
        named = ", ".join(f"{run.name} is {run.kind}" for run in runs)
        raise CliError(f"runs of different kinds cannot be compared: {named}")


def yardstick_factor(reference: RunFigures, run: RunFigures) -> float | None:
    """How much slower the run's machine was than the reference's (> 1: slower), or None."""
    if reference.yardstick_us and run.yardstick_us:
        return run.yardstick_us / reference.yardstick_us
    return None


def normalised(value: float, rule: FigureRule, factor: float | None) -> float:
    """The value as the reference's machine would have read it."""
    if factor is None or rule.scaling == "none":
        return value
    return value * factor if rule.scaling == "throughput" else value / factor


def band_of(rule: FigureRule, reference: pd.Series, row: pd.Series) -> float:
    """The stated band around the reference value; for projections, half the wider of the
    two runs' 5-95% replication spreads."""
    if rule.direction == "either":
        spreads = [float(r["p95"] - r["p05"]) / 2 for r in (reference, row)]
        return max([s for s in spreads if not math.isnan(s)], default=0.0)
    return rule.band(float(reference["value"]))


def verdict(rule: FigureRule, delta: float, band: float) -> str:
    if rule.direction == "info":
        return INFO
    if math.isnan(delta):
        return UNMEASURED
    if rule.direction == "either":
        return CHANGED if abs(delta) > band else WITHIN
    worse = -delta if rule.direction == "higher" else delta
    if worse > band:
        return REGRESSED
    return IMPROVED if -worse > band else WITHIN


def compare(runs: Sequence[RunFigures]) -> pd.DataFrame:
    """The tidy comparison: one row per figure of the reference and per other run."""
    check_same_kind(runs)
    reference = runs[0]
    ref = reference.figures.set_index("figure")
    rows = []
    for index, run in enumerate(runs[1:], start=1):
        factor = yardstick_factor(reference, run)
        other = run.figures.set_index("figure")
        for figure in dict.fromkeys([*ref.index, *other.index]):
            rule = rule_for(run.kind, str(figure))
            a = ref.loc[figure] if figure in ref.index else None
            b = other.loc[figure] if figure in other.index else None
            value_a = float(a["value"]) if a is not None else math.nan
            value_b = float(b["value"]) if b is not None else math.nan
            scaled = normalised(value_b, rule, factor)
            band = band_of(rule, a, b) if a is not None and b is not None else math.nan
            label = str(a["label"] if a is not None else b["label"])  # type: ignore[index]
            rows.append({
                "figure": figure,
                "label": label,
                "reference": reference.name,
                "run": run.name,
                "run_letter": letter(index),
                "reference_value": value_a,
                "value": value_b,
                "ratio": value_b / value_a if value_a else math.nan,
                "yardstick_factor": factor if rule.scaling != "none" else math.nan,
                "normalised_value": scaled,
                "normalised_ratio": scaled / value_a if value_a else math.nan,
                "band": band,
                "direction": rule.direction,
                "verdict": verdict(rule, scaled - value_a, band),
                "band_source": rule.source,
            })  # fmt: skip
    return pd.DataFrame(rows)


def failing(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that regressed (or, for projections, changed) beyond their band."""
    return table[table["verdict"].isin(FAILING)]


def side_by_side(table: pd.DataFrame, runs: Sequence[RunFigures]) -> pd.DataFrame:
    """The printed table: a figure per row, the reference's value, then each run's value,
    ratio (normalised where a yardstick applies) and verdict."""
    wide = table.drop_duplicates("figure")[["figure", "label", "reference_value"]].set_index(
        "figure").rename(columns={"reference_value": "A"})
    for index in range(1, len(runs)):
        name = letter(index)
        mine = table[table["run_letter"] == name].set_index("figure")
        wide[name] = mine["value"]
        wide[f"{name}/A"] = mine["ratio"]
        if mine["yardstick_factor"].notna().any():
            wide[f"{name}/A norm."] = mine["normalised_ratio"].where(
                mine["yardstick_factor"].notna())
        wide[f"±band {name}"] = mine["band"]
        wide[f"verdict {name}"] = mine["verdict"]
    return wide.reset_index()


def previous_run(run: Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path | None:
    """The newest run folder of the same kind (and, for sim runs, the same scenario) written
    before ``run``, or None."""
    manifest = read_manifest(run)
    kind, scenario = manifest.get("kind"), manifest.get("scenario")
    written = (run / MANIFEST).stat().st_mtime
    candidates = []
    for other in runs_dir.glob(f"*/{MANIFEST}"):
        folder = other.parent
        if folder.resolve() == run.resolve() or other.stat().st_mtime >= written:
            continue
        theirs = read_manifest(folder)
        if theirs.get("kind") == kind and theirs.get("scenario") == scenario:
            candidates.append((other.stat().st_mtime, folder))
    return max(candidates)[1] if candidates else None
