"""Who may host, and from when: the published policy timeline.

Its own module, free of the simulation's numerical imports, because the server reads its
follower threshold too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class PolicyParams:
    """Who may host, and from when (published timeline; all of it is a knob)."""

    beta_start: date = date(2020, 12, 17)  # iOS beta, invite only
    beta_testers: int = 3_000  # "a few thousand testers"
    beta_min_followers: float = 1_000.0  # scenario assumption: testers were larger accounts
    threshold_date: date = date(2021, 5, 3)
    threshold: float = 600.0  # followers needed to host from threshold_date
    open_date: date = date(2021, 10, 21)  # anyone can host

    def validate(self) -> None:
        if not self.beta_start <= self.threshold_date <= self.open_date:
            raise ValueError("policy: dates must satisfy beta_start <= threshold_date <= open_date")
        if self.beta_testers < 0:
            raise ValueError(f"policy.beta_testers: must be >= 0, got {self.beta_testers}")
        if self.threshold < 0 or self.beta_min_followers < 0:
            raise ValueError("policy.threshold: must be >= 0")

    def threshold_on(self, day: date) -> float | None:
        """Followers needed to host on ``day``: None before the beta, inf during it (testers)."""
        if day < self.beta_start:
            return None
        if day < self.threshold_date:
            return float("inf")
        if day < self.open_date:
            return self.threshold
        return 0.0
