"""How `spaces-lab compare` judges each headline figure: which way is better, how wide its
noise band is, and whether it scales with the machine's speed.

Noise bands, by where they come from:

- **Simulation runs**: the runs' own replication spread. A figure changed when the medians
  differ by more than half the wider of the two runs' 5-95% replication bands. A projection has
  no better direction: any change beyond the band counts. With fewer than
  ``SIM_MIN_REPS`` replications the spread is poorly known (``compare`` says so).
- **Benchmark and swarm runs**: a stated band, relative to the reference run's value with an
  absolute floor (``max(relative x |reference|, floor)``), set from the run-to-run differences
  the README records for the same command on this machine: mixer listeners per core 1,010 vs
  798 on two days (about 10% once normalised by the yardstick), cascade edge / direct 0.97 vs
  0.96, join p95 46 vs 58 ms, mouth-to-arrival p99 40 vs 21 ms; two ``bench mixer --quick``
  runs back to back on a busy machine: the naive fit 43 vs 28 listeners per core (a fit of
  a few dozen listeners), memory per listener 0.18 vs 0.28 MB; swarm steady-state listeners
  per server core 596 vs 598 (one room) and 187 vs 379 (two rooms), join-storm p99
  mouth-to-arrival 48, 130 and 370 ms in three runs. Swarm latency tails are that noisy: only
  a p99 more than doubled (and 50 ms worse) is read as a regression.

CPU figures scale with the machine: a run's yardstick (CPU microseconds of one Opus encode,
measured at its start) normalises them to the reference run's machine before judging;
throughputs multiply by (run's yardstick / reference's), costs divide by it. Latency, loss and
ratios of two figures of the same run are judged as measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from loadtests.soak import LEAK_MB_PER_HOUR

Direction = Literal["higher", "lower", "either", "info"]
Scaling = Literal["throughput", "cost", "none"]

YARDSTICK = "opus_encode_c0_us"
"""The figure of a run's ``machine_yardstick`` read: Opus encode, mono 32 kbps, complexity 0."""
SIM_MIN_REPS = 4
"""Below this many replications a sim run's spread is too poorly known to be a noise band."""


@dataclass(frozen=True)
class FigureRule:
    """How one kind of figure is judged."""

    direction: Direction
    relative: float = 0.0
    floor: float = 0.0
    scaling: Scaling = "none"
    source: str = ""

    def band(self, reference: float) -> float:
        """Half-width of the noise band around ``reference``."""
        return max(self.relative * abs(reference), self.floor)


INFO = FigureRule("info", source="shown, not judged")

BENCH_RULES: tuple[tuple[str, FigureRule], ...] = (
    ("*fit_points", INFO),
    ("*fit_saturated_included", INFO),
    ("*relay_delay_observations", INFO),
    ("*latency_listeners", INFO),
    ("*loadgen_lag*", INFO),
    ("*loss_pct", FigureRule("lower", floor=0.5, source="0.5 percentage points: the loss target")),
    ("*loadgen_over_server", FigureRule("higher", relative=0.15, source="stated 15%")),
    ("*fanout_ratio", FigureRule("higher", relative=0.5, source="as the naive fit")),
    ("*edge_over_direct", FigureRule("lower", relative=0.10, source="cascade runs 0.97 vs 0.96")),
    ("naive_listeners_per_core*", FigureRule("higher", relative=0.5, scaling="throughput",
                                             source="quick runs back to back: 43 vs 28")),
    ("*listeners_per_core*", FigureRule("higher", relative=0.15, scaling="throughput",
                                        source="mixer runs on two days, yardstick-normalised")),
    ("*largest_unsaturated", FigureRule("higher", relative=0.5, scaling="throughput",
                                        source="a step of the listener ramp")),
    ("room_ratio", FigureRule("higher", relative=0.5, source="cascade runs 1.67 vs 1.0")),
    ("room_*", FigureRule("higher", relative=0.5, scaling="throughput",
                          source="cascade runs 500 vs 300, a step of the room ramp")),
    ("relay_listener_equivalents", FigureRule("lower", relative=0.25,
                                              source="relay runs 0.15-0.18")),
    ("relay_*_per_edge", FigureRule("lower", relative=0.20, scaling="cost",
                                    source="relay runs 7.6-8.2 us")),
    ("*us_per_listener*", FigureRule("lower", relative=0.15, scaling="cost",
                                     source="stated 15%, as listeners per core")),
    ("tick_*_wall_*", FigureRule("lower", relative=0.5, floor=0.5, scaling="cost",
                                 source="wall-clock tail includes preemption")),
    ("tick_*", FigureRule("lower", relative=0.20, floor=0.1, scaling="cost",
                          source="stated 20%, 0.1 ms")),
    ("join_*", FigureRule("lower", relative=0.30, floor=10.0, source="join p95 46 vs 58 ms")),
    ("relay_hop*", FigureRule("lower", relative=0.50, floor=5.0,
                              source="relay hop windows 4.7-19 ms")),
    ("relay_delay*", FigureRule("lower", relative=1.0, floor=5.0,
                                source="a histogram bucket: one bucket up is x2")),
    ("*_p50_ms", FigureRule("lower", relative=0.30, floor=10.0, source="ear p50 100 vs 103 ms")),
    ("*_p99_ms", FigureRule("lower", relative=0.50, floor=20.0,
                            source="arrival p99 40 vs 21 ms")),
    ("*mb_per_listener", FigureRule("lower", relative=0.5, floor=0.15,
                                    source="quick runs back to back: 0.18 vs 0.28 MB")),
)

SWARM_RULES: tuple[tuple[str, FigureRule], ...] = (
    ("peak_listeners", INFO),
    ("failure_pct", FigureRule("lower", floor=1.0, source="1 percentage point")),
    ("loss_pct", FigureRule("lower", floor=0.5, source="0.5 percentage points: the loss target")),
    ("*_mb_per_h", FigureRule("lower", floor=LEAK_MB_PER_HOUR,
                              source="the soak's leak threshold")),
    ("listeners_per_*_core", FigureRule("higher", relative=0.35, scaling="throughput",
                                        source="swarm runs 596 vs 598, 187 vs 379")),
    ("join_*", FigureRule("lower", relative=0.30, floor=20.0, source="stated 30%, 20 ms")),
    ("*_p50_ms", FigureRule("lower", relative=0.50, floor=20.0, source="stated 50%, 20 ms")),
    ("*_p99_ms", FigureRule("lower", relative=1.0, floor=50.0,
                            source="storm runs' p99 48, 130, 370 ms")),
    ("jitter_ms", FigureRule("lower", relative=0.50, floor=5.0, source="stated 50%, 5 ms")),
)

SIM_RULE = FigureRule("either", source="half the wider 5-95% replication band")

RULES: dict[str, tuple[tuple[str, FigureRule], ...]] = {
    "bench-mixer": BENCH_RULES,
    "bench-cascade": BENCH_RULES,
    "swarm": SWARM_RULES,
}
KINDS = (*RULES, "sim")
"""Run kinds ``compare`` reads."""


def rule_for(kind: str, figure: str) -> FigureRule:
    """The first rule of the kind whose pattern matches the figure; figures no rule names are
    shown, not judged. Sim figures all share the replication-spread rule."""
    if kind == "sim":
        return SIM_RULE
    for pattern, rule in RULES[kind]:
        if fnmatchcase(figure, pattern):
            return rule
    return INFO
