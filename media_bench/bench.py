"""``spaces-lab bench mixer``: what one core of the mixing server can carry, measured honestly.

The server runs in its own process (``python -m media_bench serve``); this process is the
load generator (speaker bots, cheap counting listeners, a few full-path probe listeners), so
its CPU is never counted as the server's. Server CPU comes from /proc; every figure of the
shared fan-out design is set against the naive design (aiortc encodes per listener) measured
in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from media_bench.audio import FRAME_SAMPLES, FRAME_SECONDS
from media_bench.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client import ApiClient
from media_bench.codec import OpusEncoder
from media_bench.marks import Signal
from media_bench.mixer import RoomMixer
from media_bench.procstat import cpu_seconds, machine_cpu, rss_bytes

PACKETS_PER_SECOND = 1 / FRAME_SECONDS
TARGETS = {
    "listeners_per_core": 500.0,
    "loss_pct": 0.5,
    "tick_13_ms": 2.0,
    "arrival_p99_ms": 60.0,
    "join_p95_ms": 150.0,
    "mb_per_listener": 0.5,
}


DESCRIPTIONS = {
    "shared": "one encode per tick, fanned out through aiortc senders",
    "direct": "one encode per tick, written straight to SRTP by the mixer",
    "naive": "aiortc encodes per listener",
}


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
    designs: list[str] = field(default_factory=lambda: ["shared", "direct", "naive"])

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls([25, 100], [10, 20], 3.0, 1.0, 20, tick_ticks=100, probes=2, quick_run=True)

    @classmethod
    def full(cls) -> BenchConfig:
        return cls([50, 100, 200, 400], [10, 20, 40], 8.0, 2.0, 40)


# -- mixer tick cost ---------------------------------------------------------------------------
def tick_costs(config: BenchConfig) -> pd.DataFrame:
    """Time ``RoomMixer.tick`` (mix, N-1 encodes, one listener encode) for 1..13 speakers."""
    rows = []
    warmup = 20
    for speakers in range(1, 14):
        mixer = RoomMixer(config.bitrate, config.complexity, config.speaker_complexity)
        names = [f"s{i}" for i in range(speakers)]
        mixer.set_speakers(names, names)
        encoders = [OpusEncoder(config.bitrate, 0) for _ in names]
        signals = [Signal(amplitude=0.1 + 0.01 * i) for i in range(speakers)]
        durations = []
        for k in range(warmup + config.tick_ticks):
            for name, encoder, signal_ in zip(names, encoders, signals, strict=True):
                packet = encoder.encode(signal_.frame(k + 1000 * speakers), k * FRAME_SAMPLES)
                assert packet is not None
                mixer.input_for(name).feed(bytes(packet))
            began = time.perf_counter()
            mixer.tick(k)
            if k >= warmup:
                durations.append((time.perf_counter() - began) * 1000)
        values = np.array(durations)
        rows.append(
            {
                "speakers": speakers,
                "ticks": len(values),
                "mean_ms": float(values.mean()),
                "p50_ms": float(np.percentile(values, 50)),
                "p99_ms": float(np.percentile(values, 99)),
                "max_ms": float(values.max()),
            }
        )
    return pd.DataFrame(rows)


# -- the server under test ---------------------------------------------------------------------
class ServerProcess:
    """``python -m media_bench serve`` on a free loopback port."""

    def __init__(self, fanout: str, config: BenchConfig) -> None:
        self.fanout = fanout
        self.config = config
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        command = [
            sys.executable, "-m", "media_bench", "serve", "--port", "0",
            "--fanout", self.fanout, "--bitrate", str(self.config.bitrate),
            "--complexity", str(self.config.complexity),
            "--speaker-complexity", str(self.config.speaker_complexity),
            "--seed", str(self.config.seed),
        ]  # fmt: skip
        self._process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        if b"listening on " not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line.decode().split("listening on ")[1].strip()

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


def scrape(text: str) -> dict[str, float]:
    """The few server metrics the benchmark reads."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "spaces_mixer_late_ticks_total",
                "spaces_mixer_tick_seconds_count",
                "spaces_mixer_tick_seconds_sum",
                "spaces_rtp_packets_sent_total",
            ):
                found[sample.name] = float(sample.value)
    return found


# -- load generation ---------------------------------------------------------------------------
@dataclass
class Swarm:
    api: ApiClient
    room_id: str
    users: list[str]
    listeners: list[Bot] = field(default_factory=list)
    probes: list[Bot] = field(default_factory=list)
    speakers: list[Bot] = field(default_factory=list)
    failures: int = 0

    async def add_listener(self, probe: str = "count") -> Bot:
        user = self.users.pop()
        token = await self.api.token(user)
        bot = ListenerBot(
            self.api, token, self.room_id, probe="full" if probe == "full" else "count"
        )
        (self.probes if probe == "full" else self.listeners).append(bot)
        await bot.join()
        await bot.wait_audio(15)
        return bot

    async def add_many(self, count: int, rate: float) -> list[float]:
        """Add ``count`` listeners, one started every 1/rate s; their join times (s)."""

        async def one(delay: float) -> float:
            await asyncio.sleep(delay)
            try:
                bot = await self.add_listener()
            except Exception:
                self.failures += 1
                return math.nan
            return bot.join_seconds or math.nan

        return list(await asyncio.gather(*(one(i / rate) for i in range(count))))

    async def close(self) -> None:
        bots = self.listeners + self.probes + self.speakers
        for start in range(0, len(bots), 50):
            chunk = bots[start : start + 50]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(b.close() for b in chunk), return_exceptions=True), 20
                )


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.05)
        samples.append(loop.time() - before - 0.05)


async def measure_window(
    server: ServerProcess, swarm: Swarm, seconds: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Everything measured over one window at the current listener count."""
    listeners = list(swarm.listeners)
    for bot in swarm.probes + swarm.speakers:
        bot.probe.arrival_marks.latencies.clear()
        bot.probe.played_marks.latencies.clear()
    before = [b.probe.counters() for b in listeners]
    metrics0 = scrape(await swarm.api.metrics_text())
    lags: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(loop_lag(lags, stop))
    cpu0, gen0, t0, all0 = server.cpu(), time.process_time(), time.monotonic(), machine_cpu()
    await asyncio.sleep(seconds)
    cpu1, gen1, t1, all1 = server.cpu(), time.process_time(), time.monotonic(), machine_cpu()
    stop.set()
    await watcher
    metrics1 = scrape(await swarm.api.metrics_text())
    elapsed = t1 - t0
    received = expected = 0
    for bot, (got0, exp0) in zip(listeners, before, strict=True):
        got1, exp1 = bot.probe.counters()
        got = got1 - got0
        received += got
        # A listener that stalled completely shows no sequence gap: count its packets as lost.
        expected += (exp1 - exp0) if got > 0 else round(elapsed * PACKETS_PER_SECOND)
    ticks = (
        metrics1["spaces_mixer_tick_seconds_count"] - metrics0["spaces_mixer_tick_seconds_count"]
    )
    tick_time = (
        metrics1["spaces_mixer_tick_seconds_sum"] - metrics0["spaces_mixer_tick_seconds_sum"]
    )
    row = {
        "listeners": len(listeners) + len(swarm.probes),
        "seconds": elapsed,
        "server_cores": (cpu1 - cpu0) / elapsed,
        "server_rss_mb": server.rss() / 1e6,
        "loadgen_cores": (gen1 - gen0) / elapsed,
        "other_cores": ((all1 - all0) - (cpu1 - cpu0) - (gen1 - gen0)) / elapsed,
        "loadgen_lag_p99_ms": float(np.percentile(lags, 99)) * 1000 if lags else math.nan,
        "loss_pct": 100.0 * (1 - received / expected) if expected else math.nan,
        "ticks": ticks,
        "late_ticks": metrics1["spaces_mixer_late_ticks_total"]
        - metrics0["spaces_mixer_late_ticks_total"],
        "tick_shortfall_pct": max(0.0, 100.0 * (1 - ticks * FRAME_SECONDS / elapsed)),
        "tick_mean_ms": 1000 * tick_time / ticks if ticks else math.nan,
        "packets_sent": metrics1["spaces_rtp_packets_sent_total"]
        - metrics0["spaces_rtp_packets_sent_total"],
    }
    marks: list[dict[str, Any]] = []
    for bot in swarm.probes:
        for kind, detector in (
            ("arrival", bot.probe.arrival_marks),
            ("ear", bot.probe.played_marks),
        ):
            marks += [{"kind": kind, "latency_ms": 1000 * v} for v in detector.latencies]
    for kind in ("arrival", "ear"):
        values = [float(m["latency_ms"]) for m in marks if m["kind"] == kind]
        row[f"{kind}_p50_ms"] = float(np.percentile(values, 50)) if values else math.nan
        row[f"{kind}_p99_ms"] = float(np.percentile(values, 99)) if values else math.nan
    return row, marks


async def measure_design(
    fanout: str, counts: list[int], config: BenchConfig, burst: int
) -> tuple[list[dict[str, Any]], list[float], list[dict[str, Any]]]:
    """Ramp one server design through ``counts`` listeners; rows, join times, mark latencies."""
    server = ServerProcess(fanout, config)
    await server.start()
    rows: list[dict[str, Any]] = []
    joins: list[float] = []
    marks: list[dict[str, Any]] = []
    async with ApiClient(server.url) as api:
        directory = (await api.call("GET", "/users?limit=10000"))["users"]
        host = next(u["id"] for u in directory if u["can_host"])
        users = [u["id"] for u in directory if u["id"] != host]
        host_token = await api.token(host)
        room = (await api.create_room(host_token, f"bench-{fanout}"))["id"]
        swarm = Swarm(api, room, users)
        try:
            speaker = SpeakerBot(api, host_token, room, probe="count")
            guest_id = users.pop()
            guest = SpeakerBot(api, await api.token(guest_id), room, Signal(amplitude=0.2), "count")
            swarm.speakers += [speaker, guest]
            for bot in swarm.speakers:
                await bot.join()
            await api.act(host_token, room, guest_id, "invite")
            await api.call("POST", f"/rooms/{room}/invitation/accept", guest.token)
            for _ in range(config.probes):
                await swarm.add_listener("full")
            await asyncio.sleep(config.settle)
            row, window_marks = await measure_window(server, swarm, config.window)
            rows.append({"design": fanout, **row})
            marks += [{"design": fanout, "listeners": row["listeners"], **m} for m in window_marks]
            if burst:
                joins = await swarm.add_many(burst, config.burst_rate)
            for count in counts:
                missing = count - len(swarm.listeners) - len(swarm.probes)
                if missing > 0:
                    await swarm.add_many(missing, config.ramp_rate)
                await asyncio.sleep(config.settle)
                row, window_marks = await measure_window(server, swarm, config.window)
                row["join_failures"] = swarm.failures
                rows.append({"design": fanout, **row})
                marks += [
                    {"design": fanout, "listeners": row["listeners"], **m} for m in window_marks
                ]
                print(
                    f"  {fanout:6} {row['listeners']:5d} listeners: server "
                    f"{row['server_cores']:.2f} cores, loss {row['loss_pct']:.2f}%, "
                    f"late ticks {row['late_ticks']:.0f}, load generator "
                    f"{row['loadgen_cores']:.2f} cores, other processes "
                    f"{row['other_cores']:.2f} cores",
                    flush=True,
                )
        finally:
            await server.stop()
            await swarm.close()
    return rows, joins, marks


# -- derived figures ---------------------------------------------------------------------------
def per_listener(rows: pd.DataFrame) -> pd.DataFrame:
    """Add per-listener CPU and memory relative to the design's baseline (probes only).

    CPU is divided by the packets the server actually handed to senders, not by the nominal
    rate, so a point where the server fell behind (skipped ticks) cannot look cheaper. Points
    where it fell behind are flagged ``saturated`` and left out of the headline figures.
    """
    out = []
    for _, group in rows.groupby("design", sort=False):
        group = group.sort_values("listeners").copy()
        base = group.iloc[0]
        added = group["listeners"] - base["listeners"]
        sent_rate = group["packets_sent"] / group["seconds"]
        extra_rate = sent_rate - sent_rate.iloc[0]
        extra_cores = group["server_cores"] - base["server_cores"]
        per_packet = np.where(extra_rate > 0, extra_cores / extra_rate.clip(lower=1e-9), np.nan)
        group["us_per_listener_packet"] = per_packet * 1e6
        group["listeners_per_core"] = 1 / (per_packet * PACKETS_PER_SECOND)
        group["mb_per_listener"] = np.where(
            added > 0,
            (group["server_rss_mb"] - base["server_rss_mb"]) / added.clip(lower=1),
            np.nan,
        )
        group["saturated"] = (
            (group["late_ticks"] > 0.01 * group["ticks"])
            | (group["tick_shortfall_pct"] > 1.0)
            | (group["loss_pct"] > TARGETS["loss_pct"])
        )
        out.append(group)
    return pd.concat(out, ignore_index=True)


def fitted_listeners_per_core(rows: pd.DataFrame, design: str) -> float:
    """1 / (slope of server cores against packets sent per second x 50), unsaturated points."""
    group = rows[(rows["design"] == design) & ~rows["saturated"].astype(bool)]
    if len(group) < 2:
        return math.nan
    rate = group["packets_sent"] / group["seconds"]
    slope = float(np.polyfit(rate, group["server_cores"], 1)[0])
    return 1 / (slope * PACKETS_PER_SECOND) if slope > 0 else math.inf


def summarise(
    ticks: pd.DataFrame, fanout: pd.DataFrame, joins: list[float], marks: pd.DataFrame
) -> pd.DataFrame:
    """One row per headline figure, with its target where the issue sets one."""
    healthy = fanout["listeners_per_core"].notna() & ~fanout["saturated"].astype(bool)
    join_ms = np.array([j * 1000 for j in joins if not math.isnan(j)])

    def pct(values: Any, q: float) -> float:
        return float(np.percentile(values, q)) if len(values) else math.nan

    def top(design: str) -> dict[str, Any] | None:
        """The largest listener count a design carried without falling behind."""
        rows = fanout[(fanout["design"] == design) & healthy]
        return None if rows.empty else dict(rows.iloc[-1])

    def latency(design: str, kind: str, q: float) -> float:
        best = top(design)
        count = best["listeners"] if best is not None else -1
        chosen = marks[
            (marks["design"] == design) & (marks["listeners"] == count) & (marks["kind"] == kind)
        ]
        return pct(chosen["latency_ms"], q)

    def at_top(design: str, column: str) -> float:
        best = top(design)
        return float(best[column]) if best is not None else math.nan

    naive_fit = fitted_listeners_per_core(fanout, "naive")
    tick13 = ticks[ticks["speakers"] == 13]
    figures: list[tuple[str, str, float, str]] = [
        ("tick_13_ms", "mixer tick p99, 13 speakers (ms)", float(tick13["p99_ms"].iloc[0]), "<="),
        ("tick_13_mean_ms", "mixer tick mean, 13 speakers (ms)",
         float(tick13["mean_ms"].iloc[0]), ""),
        ("join_p50_ms", "join time p50, shared (ms)", pct(join_ms, 50), ""),
        ("join_p95_ms", "join time p95, shared (ms)", pct(join_ms, 95), "<="),
        ("naive_listeners_per_core_fit", "listeners per core, naive (fit)", naive_fit, ""),
    ]  # fmt: skip
    for design in ("shared", "direct"):
        if design not in set(fanout["design"]):
            continue
        fit = fitted_listeners_per_core(fanout, design)
        prefix = "" if design == "shared" else "direct_"
        sense = ">=" if design == "shared" else ""
        le = "<=" if design == "shared" else ""
        figures += [
            (f"{prefix}largest_unsaturated", f"{design}: largest count carried without lag",
             at_top(design, "listeners"), ""),
            (f"{prefix}listeners_per_core", f"{design}: listeners per core at that count",
             at_top(design, "listeners_per_core"), sense),
            (f"{prefix}listeners_per_core_fit", f"{design}: listeners per core (fit)", fit, ""),
            (f"{prefix}fanout_ratio", f"{design}: listeners per core / naive (fits)",
             fit / naive_fit if naive_fit and not math.isnan(naive_fit) else math.nan, ""),
            (f"{prefix}loss_pct", f"{design}: loss at that count (%)",
             at_top(design, "loss_pct"), le),
            (f"{prefix}arrival_p50_ms", f"{design}: mouth-to-arrival p50 at that count (ms)",
             latency(design, "arrival", 50), ""),
            (f"{prefix}arrival_p99_ms", f"{design}: mouth-to-arrival p99 at that count (ms)",
             latency(design, "arrival", 99), le),
            (f"{prefix}ear_p50_ms", f"{design}: mouth-to-ear (aiortc jitter buffer) p50 (ms)",
             latency(design, "ear", 50), ""),
            (f"{prefix}ear_p99_ms", f"{design}: mouth-to-ear (aiortc jitter buffer) p99 (ms)",
             latency(design, "ear", 99), ""),
            (f"{prefix}mb_per_listener", f"{design}: server memory per listener (MB)",
             at_top(design, "mb_per_listener"), le),
        ]  # fmt: skip
    rows = []
    for key, label, value, sense in figures:
        target = TARGETS.get(key) if sense else None
        met = None
        if target is not None and not math.isnan(value):
            met = value <= target if sense == "<=" else value >= target
        rows.append({"figure": key, "label": label, "value": value, "target": target, "met": met})
    return pd.DataFrame(rows)


def print_summary(ticks: pd.DataFrame, fanout: pd.DataFrame, summary: pd.DataFrame) -> None:
    print("\nMixer tick cost (ms) by speakers, p50/p99:")
    cells = [
        f"{int(r['speakers'])}:{r['p50_ms']:.2f}/{r['p99_ms']:.2f}"
        for r in ticks.to_dict("records")
    ]
    print("  " + "  ".join(cells))
    columns = [
        "design", "listeners", "server_cores", "us_per_listener_packet", "listeners_per_core",
        "loss_pct", "late_ticks", "tick_shortfall_pct", "mb_per_listener", "arrival_p99_ms",
        "loadgen_cores", "other_cores", "saturated",
    ]  # fmt: skip
    print("\nFan-out (server process CPU; baseline row = speakers and probe listeners only):")
    print(fanout[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nHeadline figures:")
    for r in summary.to_dict("records"):
        target = "" if r["target"] is None or pd.isna(r["target"]) else f"target {r['target']:g}"
        met = r["met"]
        verdict = "" if met is None or pd.isna(met) else ("met" if met else "NOT met")
        print(f"  {r['label']:55} {r['value']:10.3f}  {target:14} {verdict}")


def run_bench(config: BenchConfig, out: Path | None) -> Path:
    from spaces_lab.runfolder import RunWriter, new_run_dir

    path = new_run_dir("bench", out)
    writer = RunWriter(path, kind="bench-mixer", parameters=asdict(config), seed=config.seed)
    began = time.monotonic()
    print("mixer tick cost, 1..13 speakers ...", flush=True)
    ticks = tick_costs(config)
    writer.timings["tick_cost"] = time.monotonic() - began

    async def fanout_runs() -> tuple[list[dict[str, Any]], list[float], list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        marks: list[dict[str, Any]] = []
        joins: list[float] = []
        for design in config.designs:
            counts = config.naive_listeners if design == "naive" else config.listeners
            burst = min(config.burst_joins, min(counts)) if design == "shared" else 0
            print(f"{design}: {DESCRIPTIONS[design]} ...", flush=True)
            more_rows, more_joins, more_marks = await measure_design(design, counts, config, burst)
            rows += more_rows
            marks += more_marks
            joins += more_joins
        return rows, joins, marks

    began = time.monotonic()
    rows, joins, marks = asyncio.run(fanout_runs())
    writer.timings["fanout"] = time.monotonic() - began
    fanout = per_listener(pd.DataFrame(rows))
    mark_table = pd.DataFrame(marks, columns=["design", "listeners", "kind", "latency_ms"])
    join_table = pd.DataFrame({"join_ms": [j * 1000 for j in joins]})
    summary = summarise(ticks, fanout, joins, mark_table)
    writer.write_table("tick_cost", ticks)
    writer.write_table("fanout", fanout)
    writer.write_table("joins", join_table)
    writer.write_table("latency", mark_table)
    writer.write_table("summary", summary)
    writer.extra["targets"] = TARGETS
    writer.finish()
    print_summary(ticks, fanout, summary)
    print(f"\nrun folder: {path}")
    return path
