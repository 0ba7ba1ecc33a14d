"""`spaces-lab compare RUN_A RUN_B [...]`: headline figures of runs of one kind side by side.

Prints each run's machine yardstick and the figures side by side with their ratios to RUN_A,
writes ``comparison.csv`` (tidy: one row per figure and compared run) and ``comparison.png``
into a run folder of its own, and exits 1 when a figure regressed beyond its noise band
(``compare_rules`` says where each band comes from).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from spaces_core.errors import CliError
from spaces_lab.compare import FAILING, compare, failing, letter, previous_run, side_by_side
from spaces_lab.compare_figures import RunFigures, read_run
from spaces_lab.compare_rules import KINDS, SIM_MIN_REPS

TABLE = "comparison"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "compare",
        help="set runs of one kind side by side; exit 1 when a figure regressed beyond noise",
        description="Compare the headline figures of run folders of one kind "
        f"({', '.join(KINDS)}) against the first: values, ratios (normalised by each run's "
        "machine yardstick where the figure scales with CPU speed), noise bands and verdicts. "
        "Writes comparison.csv and comparison.png. Exit status 1 when a figure regressed "
        "beyond its noise band (a sim projection: moved beyond its replication spread), "
        "2 on bad input.",
        epilog="example: spaces-lab compare runs/bench-A runs/bench-B runs/bench-C",
    )
    command.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                         help="run folders; the first is the reference (RUN_A)")
    command.add_argument("--out", type=Path, default=None,
                         help="folder for comparison.csv/.png (default: runs/compare-...)")
    command.set_defaults(handler=cmd_compare)


def load_runs(paths: Sequence[Path]) -> list[RunFigures]:
    if len(paths) < 2:
        raise CliError("RUN: give at least two run folders (the first is the reference)")
    return [read_run(path) for path in paths]


def describe(run: RunFigures, letter: str) -> str:
    yardstick = (f"yardstick Opus encode {run.yardstick_us:.0f} us"
                 if run.yardstick_us else "no yardstick recorded")
    reps = f", {run.reps} replications" if run.reps is not None else ""
    return f"{letter} = {run.path} ({run.kind}, {run.created}{reps}; {yardstick})"


def cmd_compare(args: argparse.Namespace) -> int:
    from spaces_core.runfolder import RunWriter, new_run_dir

    runs = load_runs(args.runs)
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out: {args.out} exists and is not empty; nothing was written")
    table = compare(runs)
    for index, run in enumerate(runs):
        print(describe(run, letter(index)))
    print_table(side_by_side(table, runs))
    warn_thin_sims(runs)
    out = new_run_dir("compare", args.out)
    writer = RunWriter(out, kind="compare", parameters={"runs": [str(p) for p in args.runs]})
    table.to_csv(out / f"{TABLE}.csv", index=False)
    writer.write_table(TABLE, table)
    chart_path = write_chart(table, runs[0].name, out)
    bad = failing(table)
    writer.extra["verdict"] = {"failing": bad["figure"].tolist(), "exit_code": int(len(bad) > 0)}
    writer.finish()
    print_verdict(bad)
    print(f"written: {out / f'{TABLE}.csv'}, {chart_path}")
    return 1 if len(bad) else 0


def write_chart(table: pd.DataFrame, reference: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    from spaces_lab.compare_chart import ratio_chart

    fig = ratio_chart(table, reference)
    target = out / f"{TABLE}.png"
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target


def print_table(wide: pd.DataFrame) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.max_colwidth", 48):
        print(wide.drop(columns="label").to_string(index=False, float_format=_number,
                                                   na_rep="-"))


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def warn_thin_sims(runs: Sequence[RunFigures]) -> None:
    thin = [run.name for run in runs if run.reps is not None and run.reps < SIM_MIN_REPS]
    if thin:
        print(f"note: {', '.join(thin)} ran fewer than {SIM_MIN_REPS} replications: their "
              "spread is a poor noise band")


def print_verdict(bad: pd.DataFrame) -> None:
    for row in bad.to_dict("records"):
        named = row["figure"] if row["label"] == row["figure"] else (
            f"{row['figure']} ({row['label']})")
        print(f"{row['verdict']}: {named} in {row['run']}: "
              f"{row['reference_value']:.4g} -> {row['normalised_value']:.4g} "
              f"(band ±{row['band']:.3g}, {row['band_source']})")
    print(f"verdict: {'FAIL' if len(bad) else 'PASS'} "
          f"({len(bad)} figure(s) {' or '.join(FAILING)} beyond the noise band)")


def summary_lines(run: Path, runs_dir: Path) -> list[str]:
    """The main job's lines comparing a run with the previous one of its kind: what moved
    beyond its noise band, and how many figures stayed within it."""
    before = previous_run(run, runs_dir)
    if before is None:
        return []
    table = compare([read_run(before), read_run(run)])
    bad = failing(table)
    within = int((table["verdict"] == "within noise").sum())
    lines = [f"  against the previous run {before.name}: {len(bad)} figure(s) beyond the "
             f"noise band, {within} within"]
    for row in bad.to_dict("records"):
        lines.append(f"    {row['verdict']}: {row['label']} {row['reference_value']:.4g} -> "
                     f"{row['normalised_value']:.4g} ({row['normalised_ratio']:.2f}x)")
    return lines
