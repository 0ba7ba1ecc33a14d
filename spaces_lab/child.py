"""Jobs of the main job and the capacity plan that run as child ``spaces-lab`` processes."""

from __future__ import annotations

import subprocess
import sys

from spaces_core.errors import CliError


def run_in_subprocess(*args: str, allowed: tuple[int, ...] = (0,)) -> int:
    """Run ``spaces-lab ARGS`` in a child process (its own CPU accounting, its own Locust
    patching); an exit code outside ``allowed`` is a :class:`CliError`."""
    result = subprocess.run([sys.executable, "-m", "spaces_lab.cli", *args], check=False)
    if result.returncode not in allowed:
        raise CliError(f"`spaces-lab {' '.join(args)}` failed with exit code {result.returncode}")
    return result.returncode
