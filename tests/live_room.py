"""A live room kept serving beside a test: a speaker bot plays a tone, a listener bot records.

The bots run on their own asyncio loop in a background thread, so a test can hammer the same
server from its own (blocking) thread and afterwards check by FFT what the listener heard.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np

from media_bench.client.api import ApiClient
from media_bench.client.bots import ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SECONDS, band_ratio, spectrum_peaks

T = TypeVar("T")
TONE_HZ = 440.0
DOMINANT_SHARE = 0.5
"""Share of the spectrum within 20 Hz of the tone for it to count as dominating."""


def tone_dominates(audio: np.ndarray, hz: float = TONE_HZ) -> bool:
    """The strongest frequency is the tone's, and it holds most of the energy."""
    if len(audio) == 0:
        return False
    return abs(spectrum_peaks(audio, 1)[0] - hz) < 20 and band_ratio(audio, hz) > DOMINANT_SHARE


class LiveRoom:
    """``host`` creates a room and speaks ``TONE_HZ``; ``listener`` joins and records."""

    def __init__(self, url: str, host: str, listener: str) -> None:
        self.url, self.host, self.listener_user = url, host, listener
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.room_id = ""
        self.api: ApiClient | None = None
        self.speaker: SpeakerBot | None = None
        self.listener: ListenerBot | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> LiveRoom:
        self._thread.start()
        self.run(self._open())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    async def _open(self) -> None:
        api = self.api = ApiClient(self.url)
        host_token = await api.token(self.host)
        self.room_id = (await api.create_room(host_token, "keeps serving")).id
        self.speaker = SpeakerBot(
            api, host_token, self.room_id, Signal(tone_hz=TONE_HZ, marks=False)
        )
        await self.speaker.join()
        listener_token = await api.token(self.listener_user)
        self.listener = ListenerBot(api, listener_token, self.room_id, record=True)
        await self.listener.join()
        await self.listener.wait_audio(10)

    async def _close(self) -> None:
        for bot in (self.listener, self.speaker):
            if bot is not None:
                await bot.close()
        if self.api is not None:
            await self.api.close()

    def start_recording(self) -> None:
        """Forget what the listener heard so far: what it hears from now on counts."""
        assert self.listener is not None
        self.loop.call_soon_threadsafe(self.listener.probe.recording.clear)

    def heard(self) -> np.ndarray:
        """What the listener decoded since ``start_recording``."""
        assert self.listener is not None
        probe = self.listener.probe

        async def take() -> np.ndarray:
            return np.concatenate([np.zeros(0, dtype=np.int16), *probe.recording])

        return self.run(take())

    def heard_seconds(self) -> float:
        assert self.listener is not None
        return len(self.listener.probe.recording) * FRAME_SECONDS
