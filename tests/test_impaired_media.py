"""A bad network on real aiortc peers against a live server: what the impaired listener
measures (loss, loss after the playout buffer, the quality score, delay), what an unimpaired
listener beside it still hears (by FFT), and that the server keeps serving."""

from __future__ import annotations

import asyncio
import math
import statistics

import pytest

from media_bench.client.bots import Bot, ListenerBot
from media_bench.client.impairment import PeerImpairment
from media_bench.client.impairment_spec import Impairment
from media_bench.client.quality import PLAYOUT_DEPTH, SETTLE, mos_estimate
from media_bench.client.stream_counter import StreamCounter
from media_bench.common.audio import FRAME_SECONDS
from tests.test_media_audio import HOST_HZ, Room, hears, with_room

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
LISTEN_SECONDS = 10.0


async def impaired_listener(room: Room, user: str, downlink: Impairment) -> ListenerBot:
    bot = ListenerBot(room.api, await room.api.token(user), room.rid, record=True,
                      impairment=PeerImpairment(downlink=downlink, seed="11"))
    room.bots.append(bot)
    await bot.join()
    await bot.wait_audio(10)
    return bot


Mark = tuple[int, int, int, int]
"""(received, expected, highest sequence, arrival marks) of a probe at one instant."""
Played = tuple[int, int, int]
"""(played, decided, bursts) of its playout buffer, decided up to a mark's highest sequence."""


def mark(bot: Bot) -> Mark:
    probe = bot.probe
    counter = probe.counter
    assert isinstance(counter, StreamCounter)  # impaired and arrival probes count in Python
    return (*probe.counters(), counter.highest, len(probe.arrival_marks.latencies))


async def played_to(bot: Bot, at: Mark) -> Played:
    """The playout buffer's counts over exactly the packets ``at`` had seen: once the stream is
    ``SETTLE`` packets past them, decide up to its highest sequence and no further (deciding
    as far as the stream has come would shift the window by ``SETTLE`` packets against the
    loss window, and a lost packet in either end would tip concealed below loss)."""
    await asyncio.sleep(1.5 * SETTLE * FRAME_SECONDS)
    counter = bot.probe.counter
    assert isinstance(counter, StreamCounter)
    counter.playout.settle(at[2] + SETTLE)
    return counter.playout.played, counter.playout.decided, len(counter.playout.bursts)


def heard_over(bot: Bot, before: tuple[Mark, Played], after: tuple[Mark, Played]
               ) -> dict[str, float]:
    """Loss, loss after the playout buffer and the MOS estimate between two marks."""
    (old_received, old_expected, _, old_marks), (old_played, old_decided, old_bursts) = before
    (received, expected, _, _), (played, decided, _) = after
    loss = 1 - (received - old_received) / (expected - old_expected)
    concealed = 1 - (played - old_played) / (decided - old_decided)
    latencies = bot.probe.arrival_marks.latencies[old_marks:]
    bursts = bot.probe.bursts[old_bursts:]
    latency = statistics.median(latencies) if latencies else math.nan
    mean_burst = statistics.mean(bursts) if bursts else math.nan
    return {"loss": loss, "concealed": concealed, "latency": latency,
            "packets": expected - old_expected, "mean_burst": mean_burst,
            "mos": mos_estimate(concealed, latency + PLAYOUT_DEPTH, mean_burst)}


async def marked(bots: dict[str, Bot]) -> dict[str, tuple[Mark, Played]]:
    marks = {name: mark(bot) for name, bot in bots.items()}
    played = await asyncio.gather(*(played_to(bot, marks[name]) for name, bot in bots.items()))
    return {name: (marks[name], p) for name, p in zip(bots, played, strict=True)}


def test_five_percent_loss_reads_five_percent_and_lowers_the_score_as_the_server_serves_on(
) -> None:
    async def body(room: Room) -> dict[str, dict[str, float]]:
        await room.add("host", HOST_HZ)
        bots = {
            "clear": await room.add("u1"),
            "lossy": await impaired_listener(room, "u2", Impairment(loss=0.05)),
            "bursty": await impaired_listener(room, "u3", Impairment(loss=0.05, burst=4)),
            "jittery": await impaired_listener(room, "u4", Impairment(delay=0.03, jitter=0.01)),
        }
        await asyncio.sleep(1.5)  # past SETTLE
        before = await marked(bots)
        jitter: dict[str, list[float]] = {name: [] for name in bots}

        async def sample_jitter() -> None:
            while True:
                for name, bot in bots.items():
                    jitter[name].append(1000 * bot.probe.jitter)
                await asyncio.sleep(0.1)

        sampler = asyncio.ensure_future(sample_jitter())
        heard = await room.listen(LISTEN_SECONDS)
        sampler.cancel()
        for bot in bots.values():
            assert hears(heard[bot], HOST_HZ)
        state = await room.api.room(room.host_token, room.rid)
        assert state.listener_count == 4, "the impaired listeners are still served"
        after = await marked(bots)
        figures = {name: heard_over(bot, before[name], after[name]) for name, bot in bots.items()}
        for name in bots:
            figures[name]["jitter_ms"] = statistics.median(jitter[name])
        return figures

    figures = with_room(body, "direct")
    print("".join(f"\n{name}: {values}" for name, values in figures.items()))
    clear, lossy, bursty, jittery = (figures[n] for n in ("clear", "lossy", "bursty", "jittery"))
    assert clear["loss"] == 0 and clear["concealed"] < 0.005
    assert 0.03 < lossy["loss"] < 0.075 and lossy["packets"] > 350
    assert lossy["concealed"] >= lossy["loss"] and lossy["mean_burst"] < 1.6
    assert clear["mos"] > 4.3 and clear["mos"] - lossy["mos"] > 0.3
    assert bursty["mean_burst"] > 2 and bursty["loss"] > 0.01
    # +-10 ms uniform reads as about 6.7 ms of RFC 3550 jitter, all within the 80 ms buffer
    assert jittery["jitter_ms"] > clear["jitter_ms"] + 3 and jittery["concealed"] < 0.005


DELAY = 0.600


def test_a_600_ms_delay_reads_as_600_ms_from_rtp_timestamps() -> None:
    """A path whose delay rises by 600 ms mid-call: each packet's transit (arrival minus RTP
    timestamp) rises by 600 ms, with no wrap."""
    async def body(room: Room) -> tuple[float, float]:
        await room.add("host", HOST_HZ)
        bot = await impaired_listener(room, "u1", Impairment(delay=0.001))
        probe, stage = bot.probe, bot.downlink
        assert stage is not None

        async def transit(seconds: float) -> float:
            samples = []
            for _ in range(int(seconds / 0.02)):
                samples.append(probe.transit)
                await asyncio.sleep(0.02)
            return statistics.median(samples)

        await asyncio.sleep(0.5)
        before = await transit(1.5)
        stage.retune(Impairment(delay=0.001 + DELAY))
        await asyncio.sleep(1.0)
        return before, await transit(1.5)

    before, after = with_room(body, "direct")
    print(f"\ntransit rose by {1000 * (after - before):.0f} ms")
    assert after - before == pytest.approx(DELAY, abs=0.03)


def test_a_600_ms_delay_reads_as_600_ms_of_mouth_to_arrival_latency() -> None:
    async def body(room: Room) -> list[float]:
        await room.add("host", HOST_HZ)
        bot = await impaired_listener(room, "u1", Impairment(delay=DELAY))
        await asyncio.sleep(4.0)
        return bot.probe.arrival_marks.latencies

    latencies = with_room(body, "direct")
    print(f"\nmouth to arrival behind a 600 ms path: {latencies}")
    assert len(latencies) >= 5
    assert statistics.median(latencies) == pytest.approx(DELAY + 0.03, abs=0.05)
