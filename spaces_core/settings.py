"""Settings read from the environment, each named once."""

from __future__ import annotations

import os

QUICK_ENV = "SPACES_LAB_QUICK"
"""Set (to anything but 0) by the test suite: notebooks and jobs run small, seeded parameters."""


def quick_mode() -> bool:
    """True when notebooks and jobs should run small, seeded parameters."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")
