"""``spaces-lab bench mixer``: what one core of the mixing server can carry, measured honestly.

Four parts: the mixer's tick cost for 1..13 speakers and an origin's relay cost per edge (in
this process, no network: ``relay_cost``); then, per fan-out design, a server process ramped
through listener counts by the load generator (``loadgen``); then the derived figures against
the issue's targets (``report``). Every figure of the shared and direct designs is set against
the naive design measured in the same run. The summary ends with the newest ``bench cascade``
run's figures (``cascade_report``), named as such.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from media_bench.client.bench_config import BenchConfig
from media_bench.client.cascade_report import print_latest_cascade, relay_rows
from media_bench.client.janus_target import janus_server
from media_bench.client.loadgen import measure_design, our_design
from media_bench.client.marks import Signal
from media_bench.client.process_meter import machine_cpu_seconds, own_cpu_seconds
from media_bench.client.relay_cost import relay_tick_costs
from media_bench.client.report import (
    HEADLINE,
    TARGETS,
    fitted_listeners_per_core,
    per_listener,
    print_comparison,
    print_summary,
    summarise,
)
from media_bench.client.targets import OURS
from media_bench.client.yardstick import codec_reference
from media_bench.common.audio import FRAME_SAMPLES
from media_bench.common.codec import OpusEncoder
from media_bench.server.mixer import RoomMixer
from media_bench.server.settings import FANOUT_SUMMARIES, Settings
from media_bench.server.shared_fanout import SharedFanOut
from sim.rules.rooms import STAGE_CAPACITY
from spaces_core.runfolder import RunWriter, new_run_dir

RELAY_EDGES = [1, 9, 17, 33]
"""Edges of the relay micro-benchmark (``relay_cost``), as ``bench cascade`` runs it."""


def tick_costs(config: BenchConfig) -> pd.DataFrame:
    """Time ``RoomMixer.tick`` (mix, N-1 encodes, one listener encode, each published to a
    ``shared`` design without peers) for 1..13 speakers.

    Both wall time and the thread's CPU time are kept: on a shared machine the wall-time tail
    includes preemption by other processes, which ``other_cores`` reports.
    """
    rows = []
    warmup = 20
    for speakers in range(1, STAGE_CAPACITY + 1):
        mixer = RoomMixer(
            SharedFanOut(), config.bitrate, config.complexity, config.speaker_complexity
        )
        names = [f"s{i}" for i in range(speakers)]
        mixer.set_speakers(names, names)
        encoders = [OpusEncoder(config.bitrate, 0) for _ in names]
        signals = [Signal(amplitude=0.1 + 0.01 * i) for i in range(speakers)]
        durations = []
        cpu = []
        machine0, own0, started = machine_cpu_seconds(), own_cpu_seconds(), time.monotonic()
        for k in range(warmup + config.tick_ticks):
            for name, encoder, signal_ in zip(names, encoders, signals, strict=True):
                packet = encoder.encode(signal_.frame(k + 1000 * speakers), k * FRAME_SAMPLES)
                assert packet is not None
                mixer.input_for(name).feed(bytes(packet))
            began, began_cpu = time.perf_counter(), time.thread_time()
            mixer.tick(k)
            if k >= warmup:
                durations.append((time.perf_counter() - began) * 1000)
                cpu.append((time.thread_time() - began_cpu) * 1000)
        elapsed = time.monotonic() - started
        other = (machine_cpu_seconds() - machine0) - (own_cpu_seconds() - own0)
        values, cpu_values = np.array(durations), np.array(cpu)
        rows.append(
            {
                "speakers": speakers,
                "ticks": len(values),
                "mean_ms": float(values.mean()),
                "p50_ms": float(np.percentile(values, 50)),
                "p99_ms": float(np.percentile(values, 99)),
                "max_ms": float(values.max()),
                "cpu_mean_ms": float(cpu_values.mean()),
                "cpu_p99_ms": float(np.percentile(cpu_values, 99)),
                "other_cores": max(0.0, other / elapsed),
            }
        )
    return pd.DataFrame(rows)


def run_bench(config: BenchConfig, out: Path | None) -> Path:
    path = new_run_dir("bench", out)
    writer = RunWriter(path, kind="bench-mixer", parameters=asdict(config), seed=config.seed)
    reference = codec_reference()
    print(
        f"machine yardstick: Opus encode (mono, 32 kbps) {reference['opus_encode_c0_us']:.0f} us "
        f"per frame at complexity 0, {reference['opus_encode_c5_us']:.0f} us at 5",
        flush=True,
    )
    began = time.monotonic()
    print(f"mixer tick cost, 1..{STAGE_CAPACITY} speakers ...", flush=True)
    ticks = tick_costs(config)
    writer.timings["tick_cost"] = time.monotonic() - began
    began = time.monotonic()
    print(f"relay cost: an origin's tick with {RELAY_EDGES} edges ...", flush=True)
    settings = Settings(
        bitrate=config.bitrate,
        complexity=config.complexity,
        speaker_complexity=config.speaker_complexity,
    )
    relay = asyncio.run(relay_tick_costs(RELAY_EDGES, config.tick_ticks, settings))
    writer.timings["relay_cost"] = time.monotonic() - began

    async def fanout_runs() -> tuple[list[dict[str, Any]], list[float], list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        marks: list[dict[str, Any]] = []
        joins: list[float] = []
        for design in config.designs:
            counts = config.naive_listeners if design == "naive" else config.listeners
            burst = min(config.burst_joins, min(counts)) if design == HEADLINE else 0
            print(f"{design}: {FANOUT_SUMMARIES[design]} ...", flush=True)
            more_rows, more_joins, more_marks = await measure_design(
                our_design(design, config), design, counts, config, burst
            )
            rows += more_rows
            marks += more_marks
            joins += more_joins
        if config.target != OURS:
            janus = janus_server(config.target, path / "janus.log")
            counts = config.janus_counts()
            print(f"{config.target}: {janus.label} ...", flush=True)
            more_rows, _, more_marks = await measure_design(
                janus, config.target, counts, config, 0
            )
            rows += more_rows
            marks += more_marks
        return rows, joins, marks

    began = time.monotonic()
    rows, joins, marks = asyncio.run(fanout_runs())
    writer.timings["fanout"] = time.monotonic() - began
    fanout = per_listener(pd.DataFrame(rows))
    mark_table = pd.DataFrame(marks, columns=["design", "listeners", "kind", "latency_ms"])
    join_table = pd.DataFrame({"join_ms": [j * 1000 for j in joins]})
    summary = summarise(ticks, fanout, joins, mark_table)
    relay_summary = relay_rows(relay, fitted_listeners_per_core(fanout, "direct"))
    summary = pd.concat([summary, relay_summary], ignore_index=True)
    writer.write_table("tick_cost", ticks)
    writer.write_table("fanout", fanout)
    writer.write_table("joins", join_table)
    writer.write_table("latency", mark_table)
    writer.write_table("relay_cost", relay)
    writer.write_table("summary", summary)
    writer.extra["targets"] = TARGETS
    writer.extra["machine_yardstick"] = reference
    writer.finish()
    print_summary(ticks, fanout, summary)
    print_comparison(fanout)
    print_latest_cascade()
    print(f"\nrun folder: {path}")
    return path
