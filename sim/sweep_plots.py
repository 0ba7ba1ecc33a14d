"""PNG charts of a sweep: each headline output against each grid parameter, with bands."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sim.sweep import SweepRun
from sim.sweep_outcomes import OUTCOMES

COLORS = ("#7856ff", "#1d9bf0", "#f91880", "#00ba7c", "#ffad1f", "#657786")
LINE_STYLES = ("-", "--", "-.", ":")  # lines that coincide stay visible


def outcome_by_parameter(run: SweepRun, outcome: str, parameter: str) -> Figure:
    """Median and 10-90% band across replications of ``outcome`` as ``parameter`` varies; one
    line per combination of the grid's other parameters."""
    summary = run.summary[run.summary["outcome"] == outcome]
    others = [key for key in run.keys if key != parameter]
    lines: list[tuple[str, pd.DataFrame]] = (
        [(_label(others, combo), group) for combo, group in summary.groupby(others, sort=False)]
        if others else [("", summary)]
    )
    numeric = pd.api.types.is_numeric_dtype(summary[parameter])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for number, (label, group) in enumerate(lines):
        group = group.sort_values(parameter) if numeric else group
        x = group[parameter].to_numpy() if numeric else range(len(group))
        color = COLORS[number % len(COLORS)]
        ax.fill_between(x, group["p10"], group["p90"], color=color, alpha=0.2)
        ax.plot(x, group["p50"], color=color, marker="o", label=label or "median",
                linestyle=LINE_STYLES[number % len(LINE_STYLES)])
        if not numeric:
            ax.set_xticks(list(x), [str(v) for v in group[parameter]])
    ax.set(title=f"{OUTCOMES[outcome]}\nmedian and 10-90% band over {run.reps} replications",
           xlabel=parameter, ylabel=OUTCOMES[outcome])
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def write_all(run: SweepRun, out: Path) -> list[Path]:
    """Write every outcome x parameter chart as PNG into ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for outcome in OUTCOMES:
        for parameter in run.keys:
            fig = outcome_by_parameter(run, outcome, parameter)
            target = out / f"sweep_{outcome}_by_{parameter.replace('.', '_')}.png"
            fig.savefig(target, dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(target)
    return written


def _label(keys: list[str], combo: object) -> str:
    values = combo if isinstance(combo, tuple) else (combo,)
    return ", ".join(f"{key}={value}" for key, value in zip(keys, values, strict=True))
