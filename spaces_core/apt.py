"""Debian packages the project installs for itself (as root, on a fresh machine): the browser
tests' Chromium, the Janus server the benchmarks and swarms compare against."""

from __future__ import annotations

import os
import shutil
import subprocess

INSTALL_TIMEOUT = 900


def apt_install(package: str) -> str:
    """Install a Debian package; returns why it could not, or '' on success."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return f"installing needs root (run: apt-get install {package})"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", package],
    ):
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            return f"{' '.join(command)} took over {INSTALL_TIMEOUT} s"
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    return ""
