"""Scrape a server's /metrics at a fixed interval, in a background thread, into tidy rows.

Each scrape also records the CPU seconds used so far by the watched processes (the Locust
process tree and the server), as ``process_cpu_seconds`` rows labelled by process, so CPU per
listener can be read over any window of the run (e.g. after the ramp) and not only as an
average over the whole run; and each process of a watched tree on its own (label
``process=NAME,pid=PID``: Locust's master and workers, the server's media workers).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import pandas as pd
import psutil
from prometheus_client.parser import text_string_to_metric_families

from media_bench.client.process_meter import cpu_seconds


class MetricsSampler:
    """Rows of (t_s, metric, labels, value) for every sample of every scrape."""

    def __init__(self, url: str, every_s: float = 2.0) -> None:
        self.url = url.rstrip("/") + "/metrics"
        self.every_s = every_s
        self.rows: list[dict[str, Any]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
        self._started = 0.0
        self.watched: dict[str, int] = {}

    def watch(self, label: str, pid: int) -> None:
        """Record the CPU time of this process and its children under ``label``."""
        self.watched[label] = pid

    def _cpu_rows(self, at: float) -> None:
        for label, pid in list(self.watched.items()):
            try:
                seconds = cpu_seconds(pid, include_children=True)
                tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            except (ProcessLookupError, psutil.Error):
                continue
            self.rows.append({"t_s": at, "metric": "process_cpu_seconds",
                              "labels": f"process={label}", "value": seconds})
            for process in tree:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                self.rows.append({"t_s": at, "metric": "process_cpu_seconds",
                                  "labels": f"process={label},pid={process.pid}",
                                  "value": times.user + times.system})

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.scrape()  # the final state

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.scrape()

    def scrape(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            self.errors += 1
            return
        at = round(time.monotonic() - self._started, 3)
        self._cpu_rows(at)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                self.rows.append({"t_s": at, "metric": sample.name, "labels": labels,
                                  "value": float(sample.value)})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["t_s", "metric", "labels", "value"])
