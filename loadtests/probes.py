"""Which listeners of a swarm pay for measuring more than packet counts (free of Locust
imports, so tests can check it without Locust monkey-patching their process)."""

from __future__ import annotations

from media_bench.client.bots import ProbeMode


def probe_mode_of(index: int, probe_every: int, full_probe_every: int) -> ProbeMode:
    """What the ``index``-th listener of a process (from 0) measures: listeners 0, N, 2N...
    decode on arrival (N = ``probe_every``), listeners 1, M+1, 2M+1... run aiortc's whole
    receive path (M = ``full_probe_every``), the rest only count packets; 0 turns either off.
    So the first two listeners of even a small swarm time both latencies."""
    if full_probe_every and index % full_probe_every == 1 % full_probe_every:
        return "full"
    if probe_every and index % probe_every == 0:
        return "arrival"
    return "count"
