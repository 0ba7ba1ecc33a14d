"""Debian's Chromium for the browser tests: found, or installed on a fresh machine, or skipped.

Playwright drives the system Chromium (``executable_path``); its own browser download does
not work on these machines.
"""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from spaces_core.apt import apt_install

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SPACES_LAB_ARTIFACTS", ROOT / "test-artifacts"))


def system_chromium() -> str:
    """Path of the system Chromium, installing it first if it is missing; skips if impossible."""
    found = shutil.which("chromium")
    if found:
        return found
    reason = apt_install("chromium")
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip(f"browser tests need Debian's chromium, which could not be installed: {reason}")


def write_tone(path: Path, hz: float, seconds: int = 2, rate: int = 48_000) -> Path:
    """A looping test tone for Chromium's fake microphone (whole cycles, so no click)."""
    t = np.arange(seconds * rate) / rate
    pcm = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def launch_args(microphone_wav: Path) -> list[str]:
    """Headless, offline, and a fake microphone playing ``microphone_wav``."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
