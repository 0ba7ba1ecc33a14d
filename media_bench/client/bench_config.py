"""What ``spaces-lab bench mixer`` measures: listener counts, windows, codec settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from media_bench.server.options import FANOUTS
from media_bench.server.settings import FanOut


@dataclass
class BenchConfig:
    listeners: list[int]
    naive_listeners: list[int]
    window: float
    settle: float
    burst_joins: int
    burst_rate: float = 20.0
    ramp_rate: float = 40.0
    tick_ticks: int = 300
    probes: int = 3
    bitrate: int = 32_000
    complexity: int = 5
    speaker_complexity: int = 0
    seed: int = 0
    quick_run: bool = False
    designs: list[FanOut] = field(default_factory=lambda: list(FANOUTS))

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls([25, 100], [10, 20], 3.0, 1.0, 20, tick_ticks=100, probes=2, quick_run=True)

    @classmethod
    def full(cls) -> BenchConfig:
        return cls([50, 100, 200, 300, 400], [10, 20, 40], 8.0, 2.0, 40)
