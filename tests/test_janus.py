"""Janus as a target: a real Janus (Debian's package, installed when missing) in a network
namespace, real aiortc peers, what they hear checked by FFT; the namespace gone afterwards."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from media_bench.client.bots import Peer
from media_bench.client.janus_process import JanusProcess, JanusUnavailable, janus_binary
from media_bench.client.janus_target import JanusServer
from media_bench.client.marks import Signal
from media_bench.client.netns import HOST_ADDRESS, NetNamespace, namespaces, unavailable
from media_bench.client.report import HEADLINE, comparison, per_listener
from media_bench.client.targets import JanusDesign
from media_bench.common.audio import band_ratio
from spaces_lab.cli import main
from tests.live_room import tone_dominates

SPEAKER_HZ, GUEST_HZ = 440.0, 660.0


@pytest.fixture(scope="module")
def janus() -> str:
    reason = unavailable()
    if reason:
        pytest.skip(f"Janus runs in a network namespace: {reason}")
    try:
        return janus_binary()
    except JanusUnavailable as error:
        pytest.skip(str(error))


def no_namespace_left() -> bool:
    ours = NetNamespace().name
    address = subprocess.run(["ip", "-o", "addr", "show", "to", f"{HOST_ADDRESS}/30"],
                             capture_output=True, text=True, check=True).stdout
    return ours not in namespaces() and not address.strip()


def heard(peer: Peer) -> np.ndarray:
    recording = peer.probe.recording
    return np.concatenate(recording[len(recording) // 3 :]) if recording else np.zeros(0)


async def hear_a_room(design: JanusDesign) -> tuple[np.ndarray, np.ndarray]:
    """Two speakers (440 and 660 Hz) and a listener; what the listener and the first speaker
    heard over 3 s."""
    server = JanusServer(design)
    await asyncio.to_thread(server.start)
    rooms = server.rooms()
    peers: list[Peer] = []
    try:
        room = await rooms.create_room("tone")
        for hz in (SPEAKER_HZ, GUEST_HZ):
            peers.append(await rooms.speaker(room, Signal(tone_hz=hz, marks=False), "arrival"))
        peers.append(await rooms.listener(room, "arrival"))
        for peer in peers:
            peer.probe.record = True
            await peer.join()
        for peer in peers:
            await peer.wait_audio(15)
        await asyncio.sleep(3)
        await rooms.end_room(room)
        return heard(peers[-1]), heard(peers[0])
    finally:
        for peer in peers:
            await peer.close()
        await rooms.close()
        await asyncio.to_thread(server.stop)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("design", ["streaming", "audiobridge"])
def test_a_listener_hears_the_speakers_through_janus(janus: str, design: JanusDesign) -> None:
    listener, speaker = asyncio.run(hear_a_room(design))
    assert len(listener) > 48_000, "under a second of audio reached the listener"
    # the room's mix: both tones, nothing else
    assert band_ratio(listener, SPEAKER_HZ) > 0.2 and band_ratio(listener, GUEST_HZ) > 0.2
    assert band_ratio(listener, SPEAKER_HZ) + band_ratio(listener, GUEST_HZ) > 0.8
    # a speaker hears the others, not itself (the AudioBridge's N-1 mix)
    assert tone_dominates(speaker, GUEST_HZ)
    assert band_ratio(speaker, SPEAKER_HZ) < 0.05
    assert no_namespace_left()


def test_the_namespace_is_removed_when_janus_fails_to_start(
    janus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("media_bench.client.janus_process.janus_binary", lambda: "/bin/false")
    process = JanusProcess(start_timeout=5)
    with pytest.raises(RuntimeError, match="Janus exited with 1"):
        process.start()
    assert no_namespace_left()


def spaces_lab(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spaces_lab.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_swarm_against_janus(janus: str, tmp_path: Path) -> None:
    out = tmp_path / "swarm"
    result = spaces_lab("swarm", "--target", "janus", "--users", "8", "--duration", "20",
                        "--shape", "none", "--spawn-rate", "4", "--probe-every", "1",
                        "--full-probe-every", "0", "--max-latency-ms", "2000", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    stats = pd.read_csv(out / "locust_stats.csv")
    assert stats["Failure Count"].sum() == 0, stats[stats["Failure Count"] > 0]
    count = dict(zip(stats["Name"], stats["Request Count"], strict=True))
    median = dict(zip(stats["Name"], stats["50%"], strict=True))
    assert count["join: offer to first audio"] >= 6
    assert count["latency: mouth to arrival"] >= 10
    assert median["latency: mouth to arrival"] < 250
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    assert summary["peak_listeners"] >= 4  # Janus's own count of its Streaming viewers
    assert summary["server_cores"] > 0
    assert (out / "janus.log").is_file()
    assert no_namespace_left()


@pytest.mark.parametrize("command", [["swarm"], ["bench", "mixer"]])
def test_an_unknown_target_is_a_one_line_error(command: list[str], capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--target", "nginx", "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--target" in err and "nginx" in err
    assert not (tmp_path / "run").exists()


def test_the_bench_sets_janus_beside_our_default_design() -> None:
    def rows(design: str, per_core: float, ticks: float) -> pd.DataFrame:
        listeners = np.array([2, 102, 202])
        return pd.DataFrame({
            "design": design, "listeners": listeners, "seconds": 10.0,
            "server_cores": 0.1 + (listeners - 2) / per_core,
            "server_rss_mb": 100.0, "packets_sent": 500.0 * listeners, "loss_pct": 0.0,
            # Janus has no /metrics: its mixer figures are NaN, which must not read as late
            "late_ticks": 0.0 * ticks, "ticks": 500.0 * ticks, "tick_shortfall_pct": 0.0,
        })

    fanout = per_listener(pd.concat([rows(HEADLINE, 800.0, 1.0), rows("janus", 400.0, math.nan)]))
    assert not fanout["saturated"].any()
    figures = {key: value for key, _, value, _ in comparison(fanout)}
    assert figures["janus_listeners_per_core_fit"] == pytest.approx(400.0)
    assert figures["ours_over_janus"] == pytest.approx(2.0)
    assert "ours_over_janus_audiobridge" not in figures  # not measured in this run
