"""Novelty of listening after Spaces' launch: listening per active user decays to a steady level.

The room parameters (``[rooms]``) describe the steady level. From ``spaces.launch`` the level
is ``1 + (listening_novelty - 1) * 0.5 ** (days since launch / listening_half_life_days)``
times that: ``listening_novelty`` at launch, halfway back to steady after one half-life.
"""

from __future__ import annotations

from datetime import date

from sim.users import SpacesParams


def listening_level(day: date, spaces: SpacesParams) -> float:
    """Listening per active user on ``day``, as a multiple of the steady level (1 = steady)."""
    days = max((day - spaces.launch).days, 0)
    decay: float = 0.5 ** (days / spaces.listening_half_life_days)
    return 1.0 + (spaces.listening_novelty - 1.0) * decay
