"""The impairment stage's pure parts: its spec, its seeded loss processes, its delays on a real
loop; the playout buffer's accounting and the E-model it feeds."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from media_bench.client.impairment import ImpairmentStage, PeerImpairment
from media_bench.client.impairment_spec import (
    NO_IMPAIRMENT,
    Impairment,
    ImpairmentSpecError,
    parse_impairment,
)
from media_bench.client.quality import PLAYOUT_DEPTH, SETTLE, Playout, burst_ratio, mos_estimate


def test_a_spec_reads_back_as_written() -> None:
    spec = parse_impairment("loss=2.5%, delay=40ms,jitter=0.01s,burst=3")
    assert spec == Impairment(loss=0.025, burst=3.0, delay=0.04, jitter=0.01)
    assert parse_impairment(str(spec)) == spec
    assert str(spec) == "loss=2.5%,burst=3,delay=40ms,jitter=10ms"
    assert parse_impairment("none") == parse_impairment("") == NO_IMPAIRMENT
    assert str(NO_IMPAIRMENT) == "none" and not NO_IMPAIRMENT.active


@pytest.mark.parametrize(
    ("spec", "named"),
    [("loss=2", "loss=2: give a percentage"), ("loss=91%", "loss=91%: at most 90%"),
     ("delay=-1ms", "delay=-1ms: give a duration"), ("jitter=fast", "jitter=fast"),
     ("burst=2", "burst=2: a loss burst needs loss="), ("loss=80%,burst=2", "burst=2: with"),
     ("lost=2%", "lost=2%: unknown field"), ("loss=1%,,delay=3ms", "(empty)"),
     ("delay=11s", "delay=11s: at most 10s")],
)
def test_a_bad_spec_names_the_bad_field(spec: str, named: str) -> None:
    with pytest.raises(ImpairmentSpecError, match=None) as raised:
        parse_impairment(spec)
    assert named in str(raised.value) and "\n" not in str(raised.value)


def drops(stage: ImpairmentStage, datagrams: int) -> list[int]:
    return [n for n in range(datagrams) if stage.lost()]


def test_the_same_seed_drops_the_same_datagrams() -> None:
    five = Impairment(loss=0.05)
    first = drops(ImpairmentStage(five, "7/listener/0/down"), 20_000)
    again = drops(ImpairmentStage(five, "7/listener/0/down"), 20_000)
    other = drops(ImpairmentStage(five, "8/listener/0/down"), 20_000)
    assert first == again and first != other
    assert len(first) / 20_000 == pytest.approx(0.05, abs=0.005)
    jittery = Impairment(loss=0.05, delay=0.04, jitter=0.01)
    stage = ImpairmentStage(jittery, "7/listener/0/down")
    assert [n for n in range(20_000) if stage.lost() or stage.delay() < 0] == first, (
        "jitter draws from a stream of its own: the same seed drops the same datagrams"
    )
    peer = PeerImpairment(uplink=five, downlink=five, seed="7/listener/0")
    up, down = peer.uplink_stage(), peer.downlink_stage()
    assert up is not None and down is not None and drops(up, 2000) != drops(down, 2000)
    assert PeerImpairment(downlink=five).uplink_stage() is None


def runs(lost: list[int]) -> list[int]:
    lengths: list[int] = []
    for previous, n in zip([-2, *lost], lost, strict=False):
        if n == previous + 1:
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


def test_gilbert_elliott_losses_come_in_bursts_at_the_asked_rate() -> None:
    lost = drops(ImpairmentStage(Impairment(loss=0.05, burst=4.0), "1"), 200_000)
    assert len(lost) / 200_000 == pytest.approx(0.05, abs=0.005)
    assert statistics.mean(runs(lost)) == pytest.approx(4.0, rel=0.1)
    independent = drops(ImpairmentStage(Impairment(loss=0.05), "1"), 200_000)
    assert statistics.mean(runs(independent)) == pytest.approx(1 / 0.95, rel=0.05)


def test_delays_are_scheduled_on_the_loop_without_blocking_it() -> None:
    async def scenario() -> tuple[list[tuple[int, float]], float]:
        loop = asyncio.get_running_loop()
        stage = ImpairmentStage(Impairment(delay=0.2, jitter=0.05), "3")
        arrived: list[tuple[int, float]] = []
        started = loop.time()
        for n in range(200):
            stage(n.to_bytes(2), None, lambda data, addr: arrived.append(
                (int.from_bytes(data), loop.time() - started)))
        handed_out = loop.time() - started
        await asyncio.sleep(0.4)
        return arrived, handed_out

    arrived, handed_out = asyncio.run(scenario())
    assert handed_out < 0.05, "routing 200 datagrams returned at once"
    delays = [at for _, at in arrived]
    assert len(arrived) == 200 and min(delays) >= 0.145 and max(delays) <= 0.3
    assert statistics.median(delays) == pytest.approx(0.2, abs=0.02)
    order = [n for n, _ in arrived]
    assert order != sorted(order), "jitter reorders datagrams"


def play(arrivals: list[tuple[int, float]]) -> Playout:
    playout = Playout()
    for sequence, transit in arrivals:
        playout.arrive(sequence, transit)
    playout.settle(max(s for s, _ in arrivals) + SETTLE)
    return playout


def test_the_playout_buffer_conceals_lost_and_late_packets_and_counts_their_runs() -> None:
    steady = [(n, 0.001 * (n % 3)) for n in range(1000)]
    clean = play(steady)
    assert (clean.played, clean.concealed, clean.late, clean.bursts) == (1000, 0, 0, [])

    gaps = [(n, t) for n, t in steady if n not in (10, 11, 12, 500)]
    late = [(n, t + (PLAYOUT_DEPTH + 0.01 if n in (700, 701) else 0)) for n, t in gaps]
    heard = play(late)
    assert heard.concealed == 6 and heard.late == 2 and heard.played == 994
    assert heard.bursts == [3, 1, 2]
    # reordered within the buffer: nothing concealed
    swapped = play([(n ^ 1, t + 0.02 * (n % 2)) for n, t in steady])
    assert swapped.concealed == 0
    # a lasting rise of delay: the buffer follows it within its window
    rising = play([(n, 0.0 if n < 300 else 0.6) for n in range(1000)])
    assert 0 < rising.concealed <= 100


def test_the_quality_score_falls_with_loss_bursts_and_delay() -> None:
    clean = mos_estimate(0.0, 0.1)
    lossy = mos_estimate(0.05, 0.1)
    bursty = mos_estimate(0.05, 0.1, mean_burst=4.0)
    late = mos_estimate(0.0, 0.7)
    assert 4.3 < clean <= 4.5
    assert clean - lossy > 0.3 and bursty < lossy and late < clean - 0.3
    assert mos_estimate(0.0, 0.05) == clean, "no delay impairment below 100 ms"
    assert burst_ratio(0.05, 1 / 0.95) == pytest.approx(1.0)
