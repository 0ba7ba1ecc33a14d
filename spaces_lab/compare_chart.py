"""The comparison as a picture: each judged figure's ratio to the reference run, its noise
band around 1 and the verdict's colour."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from spaces_lab.compare import CHANGED, IMPROVED, REGRESSED, WITHIN

TICKS = (0.1, 0.25, 0.5, 0.8, 1, 1.25, 2, 4, 10)
COLOURS = {REGRESSED: "crimson", CHANGED: "darkorange", IMPROVED: "seagreen", WITHIN: "#657786"}


def ratio_chart(table: pd.DataFrame, reference: str) -> Figure:
    """Horizontal bars of the (yardstick-normalised where one applies) ratio of every judged
    figure, one bar per compared run, on a log axis; grey spans are the noise bands."""
    ratios = table["normalised_ratio"]
    judged = table[table["verdict"].isin(COLOURS) & np.isfinite(ratios) & (ratios > 0)]
    figures = list(dict.fromkeys(judged["figure"]))
    runs = list(dict.fromkeys(judged["run_letter"]))
    names = dict(zip(judged["run_letter"], judged["run"], strict=True))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.38 * max(len(figures), 1) * max(len(runs), 1)))
    height = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        mine = judged[judged["run_letter"] == run].set_index("figure")
        for row, figure in enumerate(figures):
            if figure not in mine.index:
                continue
            r = mine.loc[figure]
            y = row + (index - (len(runs) - 1) / 2) * height
            reference_value = float(r["reference_value"])
            if reference_value and not math.isnan(float(r["band"])):
                band = float(r["band"]) / abs(reference_value)
                low = max(1 - band, 1e-3)
                ax.add_patch(Rectangle((low, y - height / 2), 1 + band - low, height,
                                       color="#d9d9d9", zorder=0))
            ratio = float(r["normalised_ratio"])
            ax.barh(y, ratio - 1, left=1, height=height * 0.8, color=COLOURS[str(r["verdict"])],
                    zorder=2)
            ax.text(ratio, y, f" {ratio:.2f}x {run if len(runs) > 1 else ''}", va="center",
                    fontsize=7)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ratios = judged["normalised_ratio"]
    span = float(max(2.0, ratios.max() * 1.3, 1 / ratios.min() * 1.3)) if len(ratios) else 2.0
    ax.set_xlim(1 / span, span)
    ax.set_xticks([t for t in TICKS if 1 / span <= t <= span])
    ax.set_yticks(range(len(figures)), figures, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=f"ratio to {reference} (normalised by the machine yardstick where it "
           "applies; grey: noise band)",
           title="compare: " + ", ".join(f"{r} = {names[r]}" for r in runs)
           + f" against A = {reference}")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    ax.legend(handles, list(COLOURS), fontsize=7, loc="best")
    fig.tight_layout()
    return fig
