"""Pass/fail of a swarm from its Locust stats and the user's thresholds."""

from __future__ import annotations

from typing import Any

from loadtests.names import AUDIO, BY_ROOM, LOSS, MOUTH_TO_ARRIVAL


def verdict(stats: Any, options: Any) -> list[str]:
    """What exceeded its threshold (empty: the run passes)."""
    problems = []
    total = stats.total
    # the per-room copies of the audio figures are not more requests
    requests = total.num_requests - sum(entry.num_requests for (_, kind), entry
                                        in stats.entries.items() if kind == BY_ROOM)
    if requests and total.num_failures / requests > options.max_fail_ratio:
        problems.append(f"failures {total.num_failures}/{requests} "
                        f"> {options.max_fail_ratio:.1%}")
    loss = _measured(stats, LOSS)
    if loss is not None:
        loss_pct = loss.avg_response_time / 10  # reported per mille
        if loss_pct > options.max_loss_pct:
            problems.append(f"packet loss {loss_pct:.2f}% > {options.max_loss_pct}%")
    latency = _measured(stats, MOUTH_TO_ARRIVAL)
    if latency is not None:
        p99 = latency.get_response_time_percentile(0.99)
        if p99 > options.max_latency_ms:
            problems.append(f"p99 mouth-to-arrival {p99:.0f} ms > {options.max_latency_ms} ms")
    return problems


def unchecked(stats: Any, options: Any) -> list[str]:
    """Thresholds that nothing measured, so the verdict could not check them."""
    missing = []
    if options.probe_every and _measured(stats, MOUTH_TO_ARRIVAL) is None:
        missing.append(f"--max-latency-ms {options.max_latency_ms}: no probe listener timed a "
                       "mark (mouth-to-arrival not measured)")
    if _measured(stats, LOSS) is None:
        missing.append(f"--max-loss-pct {options.max_loss_pct}: no packet loss measured")
    return missing


def _measured(stats: Any, name: str) -> Any:
    """The AUDIO stats entry of ``name``, or None when nothing was reported under it."""
    entry = stats.entries.get((name, AUDIO))
    return entry if entry is not None and entry.num_requests else None
