"""Pass/fail of a swarm from its Locust stats and the user's thresholds."""

from __future__ import annotations

from typing import Any

from loadtests.names import AUDIO, LOSS, MOUTH_TO_ARRIVAL


def verdict(stats: Any, options: Any) -> list[str]:
    """What exceeded its threshold (empty: the run passes)."""
    problems = []
    total = stats.total
    if total.num_requests and total.num_failures / total.num_requests > options.max_fail_ratio:
        problems.append(f"failures {total.num_failures}/{total.num_requests} "
                        f"> {options.max_fail_ratio:.1%}")
    loss = stats.entries.get((LOSS, AUDIO))
    if loss is not None and loss.num_requests:
        loss_pct = loss.avg_response_time / 10  # reported per mille
        if loss_pct > options.max_loss_pct:
            problems.append(f"packet loss {loss_pct:.2f}% > {options.max_loss_pct}%")
    latency = stats.entries.get((MOUTH_TO_ARRIVAL, AUDIO))
    if latency is not None and latency.num_requests:
        p99 = latency.get_response_time_percentile(0.99)
        if p99 > options.max_latency_ms:
            problems.append(f"p99 mouth-to-arrival {p99:.0f} ms > {options.max_latency_ms} ms")
    return problems
