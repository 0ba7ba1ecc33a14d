"""Load generation against a server process: speaker bots, counting listeners, probes.

The server runs as ``python -m media_bench.server`` in its own process; this process drives
it, so the generator's CPU is never counted as the server's. ``measure_window`` reads the
server's CPU with the process meter, its counters from /metrics, and the listeners' own
counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from media_bench.client.api import ApiClient
from media_bench.client.bench_config import BenchConfig
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.client.process_meter import (
    cpu_seconds,
    machine_cpu_seconds,
    own_cpu_seconds,
    rss_bytes,
)
from media_bench.client.server_process import ServerProcess
from media_bench.common.audio import FRAME_SECONDS
from media_bench.server.settings import FanOut
from spaces_core.errors import Refused

PACKETS_PER_SECOND = 1 / FRAME_SECONDS


SCRAPED = (
    "spaces_mixer_late_ticks_total",
    "spaces_mixer_tick_seconds_count",
    "spaces_mixer_tick_seconds_sum",
    "spaces_rtp_packets_sent_total",
    "spaces_drops_total",
)


def scrape(text: str) -> dict[str, float]:
    """The few server metrics the benchmark reads, each summed over its labels (0 for those
    the text lacks)."""
    found = dict.fromkeys(SCRAPED, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name] += float(sample.value)
    return found


@dataclass(frozen=True)
class Meter:
    """What a window meters: the process whose CPU and memory are the server's (``pid``), the
    ``/metrics`` that counts the packets it sends (``sent_url``) and the one of the process
    that mixes the room (``mixer_url``); None: the API process's. ``also``: further
    processes whose CPU each row reports as ``<name>_cores``.

    One process (``--workers 0``) is metered whole by default; with media workers, a
    benchmark meters one worker (an edge, say) by its pid and its own ``/metrics``.
    """

    pid: int
    sent_url: str | None = None
    mixer_url: str | None = None
    also: tuple[tuple[str, int], ...] = ()


async def metrics_at(api: ApiClient, url: str | None) -> str:
    """The ``/metrics`` text at ``url`` (None: the API process's)."""
    if url is None:
        return await api.metrics_text()
    async with api.session.get(url) as response:
        response.raise_for_status()
        return await response.text()


# -- load generation ---------------------------------------------------------------------------
@dataclass
class Swarm:
    api: ApiClient
    room_id: str
    users: list[str]
    listeners: list[Bot] = field(default_factory=list)
    probes: list[Bot] = field(default_factory=list)
    speakers: list[Bot] = field(default_factory=list)
    parked: list[Bot] = field(default_factory=list)
    """Listeners kept in the room but out of every figure (a benchmark fills a worker)."""
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Failed joins by kind: the refusal's status (``503``: the fleet is full) or the
    exception's name (``TimeoutError``: no audio within 15 s)."""

    async def add_listener(self, probe: str = "count") -> Bot:
        """A listener that joined and heard its first packet; one that did not is closed
        and not kept (its silence is a failed join, not packet loss)."""
        user = self.users.pop()
        token = await self.api.token(user)
        bot = ListenerBot(
            self.api, token, self.room_id, probe="full" if probe == "full" else "count"
        )
        try:
            await bot.join()
            await bot.wait_audio(15)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bot.close(), 10)
            raise
        (self.probes if probe == "full" else self.listeners).append(bot)
        return bot

    async def add_many(self, count: int, rate: float) -> list[float]:
        """Add ``count`` listeners, one started every 1/rate s; their join times (s)."""

        async def one(delay: float) -> float:
            await asyncio.sleep(delay)
            try:
                bot = await self.add_listener()
            except Exception as error:
                self.failures += 1
                kind = str(error.status) if isinstance(error, Refused) else type(error).__name__
                self.errors[kind] += 1
                return math.nan
            return bot.join_seconds or math.nan

        return list(await asyncio.gather(*(one(i / rate) for i in range(count))))

    async def close(self) -> None:
        bots = self.listeners + self.parked + self.probes + self.speakers
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
    server: ServerProcess, swarm: Swarm, seconds: float, meter: Meter | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Everything measured over one window at the current listener count: the server's CPU
    and memory (``meter``'s process; default the server's), its packets sent, the room's mixer
    ticks, the participants the server dropped, the listeners' loss, how many speakers still heard
    their mix, the load generator's own CPU and loop lag, the probes' marks (each with the
    index of its probe in ``swarm.probes``)."""
    meter = meter or Meter(server.pid)
    listeners = list(swarm.listeners)
    for bot in swarm.probes + swarm.speakers:
        bot.probe.arrival_marks.latencies.clear()
        bot.probe.played_marks.latencies.clear()
    marks_lost0 = sum(b.probe.arrival_marks.lost for b in swarm.probes)
    before = [b.probe.counters() for b in listeners]
    speakers_before = [b.probe.packets for b in swarm.speakers]

    async def scraped() -> tuple[dict[str, float], dict[str, float], float]:
        """The metered process's, the mixing process's and the drops: the API process
        counts what the media dropped; a worker, the relay datagrams it refused."""
        pages = {url: scrape(await metrics_at(swarm.api, url))
                 for url in dict.fromkeys((None, meter.sent_url, meter.mixer_url))}  # fmt: skip
        drops = sum(page["spaces_drops_total"] for page in pages.values())
        return pages[meter.sent_url], pages[meter.mixer_url], drops

    sent0, metrics0, drops0 = await scraped()
    lags: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(loop_lag(lags, stop))
    also0 = [cpu_seconds(pid) for _, pid in meter.also]
    cpu0, gen0 = cpu_seconds(meter.pid), own_cpu_seconds()
    t0, all0 = time.monotonic(), machine_cpu_seconds()
    await asyncio.sleep(seconds)
    cpu1, gen1 = cpu_seconds(meter.pid), own_cpu_seconds()
    t1, all1 = time.monotonic(), machine_cpu_seconds()
    also1 = [cpu_seconds(pid) for _, pid in meter.also]
    stop.set()
    await watcher
    sent1, metrics1, drops1 = await scraped()
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
        "server_rss_mb": rss_bytes(meter.pid) / 1e6,
        "loadgen_cores": (gen1 - gen0) / elapsed,
        "other_cores": max(0.0, ((all1 - all0) - (cpu1 - cpu0) - (gen1 - gen0)) / elapsed),
        "loadgen_lag_p99_ms": float(np.percentile(lags, 99)) * 1000 if lags else math.nan,
        "loss_pct": 100.0 * (1 - received / expected) if expected else math.nan,
        "ticks": ticks,
        "late_ticks": metrics1["spaces_mixer_late_ticks_total"]
        - metrics0["spaces_mixer_late_ticks_total"],
        "tick_shortfall_pct": max(0.0, 100.0 * (1 - ticks * FRAME_SECONDS / elapsed)),
        "tick_mean_ms": 1000 * tick_time / ticks if ticks else math.nan,
        "packets_sent": sent1["spaces_rtp_packets_sent_total"]
        - sent0["spaces_rtp_packets_sent_total"],
    }
    row["drops"] = drops1 - drops0
    row["marks_lost"] = sum(b.probe.arrival_marks.lost for b in swarm.probes) - marks_lost0
    row["speakers_heard"] = sum(
        b.probe.packets > was for b, was in zip(swarm.speakers, speakers_before, strict=True)
    )
    for (name, _), used0, used1 in zip(meter.also, also0, also1, strict=True):
        row[f"{name}_cores"] = (used1 - used0) / elapsed
    marks: list[dict[str, Any]] = []
    for index, bot in enumerate(swarm.probes):
        for kind, detector in (
            ("arrival", bot.probe.arrival_marks),
            ("ear", bot.probe.played_marks),
        ):
            marks += [
                {"kind": kind, "probe": index, "latency_ms": 1000 * v} for v in detector.latencies
            ]
    for kind in ("arrival", "ear"):
        values = [float(m["latency_ms"]) for m in marks if m["kind"] == kind]
        row[f"{kind}_p50_ms"] = float(np.percentile(values, 50)) if values else math.nan
        row[f"{kind}_p99_ms"] = float(np.percentile(values, 99)) if values else math.nan
    return row, marks


def server_options(fanout: str, config: BenchConfig) -> list[str]:
    """The server's command-line options for one design of the benchmark."""
    return [
        "--fanout", fanout, "--bitrate", str(config.bitrate),
        "--complexity", str(config.complexity),
        "--speaker-complexity", str(config.speaker_complexity),
        "--seed", str(config.seed), "--workers", "0", "--event-loop", config.event_loop,
    ]  # fmt: skip


async def bench_room(api: ApiClient, title: str) -> Swarm:
    """A new room with two speakers on stage (the host and an invited guest, both counting
    what they hear), and the rest of the directory to draw listeners from."""
    directory = (await api.call("GET", "/users?limit=10000"))["users"]
    host = next(u["id"] for u in directory if u["can_host"])
    users = [u["id"] for u in directory if u["id"] != host]
    host_token = await api.token(host)
    room = (await api.create_room(host_token, title)).id
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
    except BaseException:
        await swarm.close()
        raise
    return swarm


async def measure_design(
    fanout: FanOut, counts: list[int], config: BenchConfig, burst: int
) -> tuple[list[dict[str, Any]], list[float], list[dict[str, Any]]]:
    """Ramp one server design through ``counts`` listeners; rows, join times, mark latencies."""
    server = ServerProcess(server_options(fanout, config))
    await asyncio.to_thread(server.start)
    rows: list[dict[str, Any]] = []
    joins: list[float] = []
    marks: list[dict[str, Any]] = []
    async with ApiClient(server.url) as api:
        swarm = await bench_room(api, f"bench-{fanout}")
        try:
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
                try:
                    if missing > 0:
                        await swarm.add_many(missing, config.ramp_rate)
                    await asyncio.sleep(config.settle)
                    row, window_marks = await measure_window(server, swarm, config.window)
                except TimeoutError:
                    print(
                        f"  {fanout:6} {count:5d} listeners: the server stopped answering its "
                        "API (saturated); larger counts of this design skipped",
                        flush=True,
                    )
                    break
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
            await asyncio.to_thread(server.stop)
            await swarm.close()
    return rows, joins, marks
