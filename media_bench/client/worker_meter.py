"""The media workers of a server process, as a benchmark meters them.

The API process's ``/metrics`` names each worker's process id (``spaces_worker_pid``) and its
load as placement holds it (``spaces_worker_load``); each worker serves its own ``/metrics`` on
its control port, which this module finds from the worker's listening socket (psutil).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import psutil
from prometheus_client.parser import text_string_to_metric_families

from media_bench.server.worker_protocol import METRICS_PATH


@dataclass
class WorkerView:
    """One media worker at scrape time."""

    worker_id: str
    pid: int
    load: dict[str, float] = field(default_factory=dict)
    """Listeners, rooms (it is the origin of), edges (rooms it relays), relays (links it
    feeds)."""


def workers_of(front_metrics: str) -> dict[str, WorkerView]:
    """Each worker the API process's ``/metrics`` text names, by worker id."""
    found: dict[str, WorkerView] = {}
    for family in text_string_to_metric_families(front_metrics):
        for sample in family.samples:
            worker = sample.labels.get("worker")
            if worker is None:
                continue
            view = found.setdefault(worker, WorkerView(worker, 0))
            if sample.name == "spaces_worker_pid":
                view.pid = int(sample.value)
            elif sample.name == "spaces_worker_load":
                view.load[sample.labels["kind"]] = float(sample.value)
    return found


def metrics_url(pid: int) -> str:
    """The ``/metrics`` URL of the worker process ``pid`` (its one listening TCP socket)."""
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error as error:
        raise ProcessLookupError(f"process {pid}: {error}") from error
    listening = [s.laddr for s in sockets if s.status == psutil.CONN_LISTEN]
    if len(listening) != 1:
        raise LookupError(f"process {pid} listens on {len(listening)} TCP sockets, not one")
    host, port = listening[0]
    return f"http://{host}:{port}{METRICS_PATH}"


def histogram_buckets(text: str, name: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts by upper bound (``+Inf`` included)."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + float(sample.value)
    return buckets


def bucket_quantile(
    before: dict[float, float], after: dict[float, float], q: float
) -> tuple[float, float, float]:
    """The bucket holding the ``q`` quantile (0..1) of what a histogram observed between two
    scrapes: (its lower bound, its upper bound, observations). A histogram knows no more than
    that bucket: the upper bound is the quantile's safe value (``inf`` past the last finite
    bucket, NaN with no observations)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return math.nan, math.nan, 0.0
    rank = q * total
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            return lower, bound, total
        lower = bound
    return lower, math.inf, total
