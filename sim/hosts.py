"""Who may host, who does: eligibility under ``sim.policy`` and a stratified panel of hosts.

Eligible hosts are computed: mDAU times the share of accounts at or above the follower
threshold in force (the beta's few thousand testers before that). Who actually hosts is
simulated on a *panel*: a stratified sample of active accounts, oversampling the rare large
ones so the heavy tail is represented, each carrying the number of real accounts it stands
for. Each panel account adopts hosting when Bass diffusion of hosting passes its own draw (so
a policy opening releases pent-up demand at once), hosts on a given day with a probability
that grows with its followers, and keeps a 30-day hosting history, from which Ticketed Spaces
eligibility (``sim.rules.tickets``: 18+, >= 1,000 followers, >= 3 Spaces in 30 days) is read.
The panel is conditioned on adopting before the horizon ends (its weights carry that
probability), so every panel slot is a future host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from sim.diffusion import bass_adopted, validate_bass
from sim.followers import FollowerModel
from sim.policy import PolicyParams
from sim.rules.tickets import HOSTED_WINDOW_DAYS

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
HISTORY_DAYS = HOSTED_WINDOW_DAYS
#: survival-quantile bounds of the panel's strata and the share of panel slots each gets
STRATA_BOUNDS = (1.0, 0.5, 0.1, 0.04, 0.01, 0.001, 0.0)
STRATA_SLOTS = (0.10, 0.15, 0.20, 0.20, 0.20, 0.15)


@dataclass(frozen=True)
class HostingParams:
    """How accounts take up hosting, and the panel that simulates them."""

    panel_size: int = 12_000
    beta_panel: int = 200  # panel slots for the beta testers
    bass_p: float = 0.03  # per year, hosting adoption among eligible accounts
    bass_q: float = 0.38
    host_rate: float = 0.05  # scenario assumption: daily P(host) of an adopter with 1,000 followers
    host_rate_elasticity: float = 0.3  # ... grows as (followers / 1000) ** elasticity
    host_rate_min: float = 0.005
    host_rate_max: float = 0.5
    room_day_stride: int = 7  # rooms run event by event every Nth day from the beta start

    def validate(self) -> None:
        validate_bass("hosting", self.bass_p, self.bass_q)
        if self.panel_size < 100:
            raise ValueError(f"hosting.panel_size: must be >= 100, got {self.panel_size}")
        if self.beta_panel < 1:
            raise ValueError(f"hosting.beta_panel: must be >= 1, got {self.beta_panel}")
        if not 0 < self.host_rate_min <= self.host_rate_max <= 1:
            raise ValueError("hosting.host_rate_min/max: must satisfy 0 < min <= max <= 1")
        if not 0 < self.host_rate <= 1:
            raise ValueError(f"hosting.host_rate: must be in (0, 1], got {self.host_rate}")
        if self.room_day_stride < 1:
            raise ValueError(f"hosting.room_day_stride: must be >= 1, got {self.room_day_stride}")


@dataclass
class Panel:
    """Panel accounts (arrays indexed by panel id) and their rolling hosting history."""

    followers: FloatArray
    share: FloatArray  # share of the active population each account stands for (testers: 0)
    fixed_weight: FloatArray  # accounts stood for regardless of population (testers)
    adopt_at: FloatArray  # adoption fraction F at which the account adopts (testers: -1)
    host_prob: FloatArray
    adult: BoolArray
    tester: BoolArray
    history: NDArray[np.int8]  # HISTORY_DAYS x n, rooms hosted on each of the last 30 days
    hosted_30d: NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.followers)

    def weights(self, users: float) -> FloatArray:
        """Real accounts each panel account stands for, with ``users`` active accounts."""
        return np.asarray(self.share * users + self.fixed_weight)

    def record_day(self, day_index: int, hosted: BoolArray) -> None:
        """Roll the 30-day history forward by one day."""
        slot = day_index % HISTORY_DAYS
        self.hosted_30d += hosted.astype(np.int64) - self.history[slot]
        self.history[slot] = hosted


def adoption_cap(hosting: HostingParams, policy: PolicyParams, end: date) -> float:
    """Share of accounts that adopt hosting by the horizon's end (the panel's conditioning)."""
    years = (end - policy.beta_start).days / 365.25
    return float(bass_adopted(years, hosting.bass_p, hosting.bass_q))


def daily_host_prob(followers: FloatArray, hosting: HostingParams) -> FloatArray:
    """Probability that an account that has taken up hosting hosts on a given day."""
    rate = hosting.host_rate * (followers / 1_000.0) ** hosting.host_rate_elasticity
    return np.asarray(np.clip(rate, hosting.host_rate_min, hosting.host_rate_max))


def build_panel(followers: FollowerModel, hosting: HostingParams, policy: PolicyParams,
                adult_share: float, cap: float, rng: np.random.Generator) -> Panel:
    """Draw the panel: stratified by follower quantile, plus the beta testers."""
    counts = np.floor(np.array(STRATA_SLOTS) * hosting.panel_size).astype(int)
    q_parts, share_parts = [], []
    for k, count in enumerate(counts):
        hi, lo = STRATA_BOUNDS[k], STRATA_BOUNDS[k + 1]
        q_parts.append(rng.uniform(lo, hi, size=count))
        share_parts.append(np.full(count, (hi - lo) * cap / count))
    tester_top = float(followers.survival(policy.beta_min_followers))
    q_parts.append(rng.uniform(0.0, tester_top, size=hosting.beta_panel))
    share_parts.append(np.zeros(hosting.beta_panel))
    q = np.concatenate(q_parts)
    n = len(q)
    tester = np.zeros(n, dtype=bool)
    tester[-hosting.beta_panel:] = True
    fixed = np.where(tester, policy.beta_testers / hosting.beta_panel, 0.0)
    counts_followers = followers.quantile_sf(q)
    return Panel(
        followers=counts_followers,
        share=np.concatenate(share_parts),
        fixed_weight=fixed,
        adopt_at=np.where(tester, -1.0, rng.uniform(0.0, cap, size=n)),
        host_prob=daily_host_prob(counts_followers, hosting),
        adult=rng.random(n) < adult_share,
        tester=tester,
        history=np.zeros((HISTORY_DAYS, n), dtype=np.int8),
        hosted_30d=np.zeros(n, dtype=np.int64),
    )


def eligible_mask(panel: Panel, threshold: float | None) -> BoolArray:
    """Panel accounts allowed to host under a threshold (None: nobody; inf: testers only)."""
    if threshold is None:
        return np.zeros(panel.size, dtype=bool)
    return np.asarray(panel.tester | (panel.followers >= threshold))


def eligible_hosts(users: float, threshold: float | None, followers: FollowerModel,
                   beta_testers: int) -> float:
    """Accounts allowed to host, computed from the follower distribution (not the panel)."""
    if threshold is None:
        return 0.0
    if threshold == float("inf"):
        return float(min(beta_testers, users))
    return float(users * _share_at_or_above(followers, threshold))


@lru_cache(maxsize=256)
def _share_at_or_above(followers: FollowerModel, threshold: float) -> float:
    """``followers.survival(threshold)``, cached: the model asks for it every simulated day and a
    policy has a handful of thresholds."""
    return float(followers.survival(threshold))


def eligible_timeline(days: Sequence[date], users: FloatArray, policy: PolicyParams,
                      followers: FollowerModel) -> FloatArray:
    """Eligible hosts day by day for an mDAU path (accounts, not millions) under a policy."""
    return np.array([
        eligible_hosts(float(u), policy.threshold_on(d), followers, policy.beta_testers)
        for d, u in zip(days, users, strict=True)
    ])
