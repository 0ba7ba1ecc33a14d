"""What ``spaces-lab bench mixer`` measures: listener counts, windows, codec settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from media_bench.server.event_loop import EventLoop
from media_bench.server.options import FANOUTS
from media_bench.server.settings import FanOut, Settings


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
    event_loop: EventLoop = Settings().event_loop
    target: str = "ours"
    """``ours``, or a Janus design measured after ours in the same run (``targets``)."""

    def janus_counts(self) -> list[int]:
        """Listener counts of the Janus ramp: those of this server's shared designs, or the
        naive design's for the AudioBridge alone (an encode per participant, like naive)."""
        return self.naive_listeners if self.target == "janus-audiobridge" else self.listeners

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls([25, 100], [10, 20], 3.0, 1.0, 20, tick_ticks=100, probes=2, quick_run=True)

    @classmethod
    def full(cls) -> BenchConfig:
        return cls([50, 100, 200, 300, 400], [10, 20, 40], 8.0, 2.0, 40)


@dataclass
class CascadeConfig:
    """What ``spaces-lab bench cascade`` measures: the listener counts of the edge-against-
    ``direct`` ramp (``listeners``), the steps of the one-room ramps (``room_steps``), the
    worker capacity ``--workers 2`` runs with in those (``room_worker_listeners``; None: the
    ``direct`` listeners per core this run measured, the origin kept by its headroom to its
    share of the room the cores hold beside the load generator:
    ``cascade.origin_share_listeners``),
    and the relay micro-benchmark's edge counts and ticks. ``bench`` holds what
    ``bench mixer`` shares: windows, probes, codec settings, join rates."""

    bench: BenchConfig
    room_steps: list[int]
    room_worker_listeners: float | None
    relay_edges: list[int] = field(default_factory=lambda: [1, 9, 17, 33])
    relay_ticks: int = 400

    @classmethod
    def quick(cls) -> CascadeConfig:
        bench = BenchConfig([10, 30], [], 2.0, 1.0, 0, ramp_rate=20.0, probes=2, quick_run=True)
        return cls(bench, [20, 40], 240.0, [1, 9], relay_ticks=60)

    @classmethod
    def full(cls) -> CascadeConfig:
        bench = BenchConfig([50, 100, 200, 300], [], 5.0, 2.0, 0, ramp_rate=20.0)
        # steps of 100 all the way: the largest rooms (~800-1,500 here) and their ratio are
        # read to one step, and 200-listener steps past 800 made the ratio move by 0.25 a step
        steps = list(range(100, 2001, 100))
        return cls(bench, steps, None)
