"""Follower counts of active accounts: a lognormal body spliced to a power-law tail.

The body's median is Bruner's 61 followers; its sigma and the point where the power-law tail
(Kwak et al.: density exponent ~2.3, so survival exponent ~1.3) takes over are fitted so that
the survival function matches Bruner's anchors: 4% of active accounts at >= 1,000 followers and
1% at >= 3,000. Sampling is by inverse survival function, which also lets the host panel draw
accounts stratified by follower quantile (so the rare, large accounts are represented).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

FloatArray = NDArray[np.float64]

#: (followers, share of active accounts at or above) from Bruner, O'Reilly 2013.
SURVIVAL_ANCHORS: tuple[tuple[float, float], ...] = ((61.0, 0.5), (1_000.0, 0.04), (3_000.0, 0.01))
TAIL_EXPONENT = 1.3  # survival exponent = density exponent (Kwak et al. ~2.3) minus one
MAX_FOLLOWERS = 150e6  # the largest accounts; the pure power law is cut here


@dataclass(frozen=True)
class FollowerModel:
    """Survival function S(x) = P(followers >= x) of active accounts."""

    median: float = 61.0
    sigma: float = 1.6
    tail_start: float = 1_000.0
    tail_exponent: float = TAIL_EXPONENT
    max_followers: float = MAX_FOLLOWERS

    def __post_init__(self) -> None:
        for name in ("median", "sigma", "tail_start", "tail_exponent", "max_followers"):
            if not getattr(self, name) > 0:
                raise ValueError(f"followers.{name}: must be > 0, got {getattr(self, name)}")
        if self.tail_start <= self.median:
            raise ValueError("followers.tail_start: must be above the median")

    @property
    def tail_mass(self) -> float:
        return float(self._lognormal_sf(self.tail_start))

    def _lognormal_sf(self, x: FloatArray | float) -> FloatArray:
        z = np.log(np.maximum(np.asarray(x, dtype=float), 1e-12)) - math.log(self.median)
        return np.asarray(stats.norm.sf(z / self.sigma))

    def survival(self, x: FloatArray | float) -> FloatArray:
        """Share of active accounts with at least ``x`` followers."""
        x = np.asarray(x, dtype=float)
        tail = self.tail_mass * (np.maximum(x, self.tail_start) / self.tail_start) ** (
            -self.tail_exponent
        )
        out = np.where(x < self.tail_start, self._lognormal_sf(x), tail)
        out = np.where(x <= 0, 1.0, out)
        return np.asarray(np.where(x > self.max_followers, 0.0, out))

    def quantile_sf(self, q: FloatArray) -> FloatArray:
        """Follower count x with S(x) = q (inverse survival function), q in (0, 1]."""
        q = np.clip(np.asarray(q, dtype=float), 1e-15, 1.0)
        body = self.median * np.exp(self.sigma * stats.norm.isf(q))
        tail = self.tail_start * (q / self.tail_mass) ** (-1.0 / self.tail_exponent)
        return np.minimum(np.where(q > self.tail_mass, body, tail), self.max_followers)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` follower counts (floats; round for display)."""
        return self.quantile_sf(rng.uniform(0.0, 1.0, size=n))

    def anchor_table(self) -> list[tuple[float, float, float]]:
        """(followers, published share at or above, model share) for each anchor."""
        return [(x, s, float(self.survival(x))) for x, s in SURVIVAL_ANCHORS]


def fit(anchors: tuple[tuple[float, float], ...] = SURVIVAL_ANCHORS) -> FollowerModel:
    """Fit sigma and the tail's start to the anchors (median fixed at the first anchor)."""
    median = anchors[0][0]

    def misfit(theta: NDArray[np.float64]) -> float:
        sigma, log_tail_start = float(theta[0]), float(theta[1])
        if sigma <= 0.1 or math.exp(log_tail_start) <= median:
            return 1e6
        model = FollowerModel(median=median, sigma=sigma, tail_start=math.exp(log_tail_start))
        return sum(
            (math.log(float(model.survival(x))) - math.log(share)) ** 2 for x, share in anchors[1:]
        )

    result = optimize.minimize(misfit, x0=np.array([1.6, math.log(1_000.0)]), method="Nelder-Mead",
                               options={"xatol": 1e-6, "fatol": 1e-12})
    sigma, log_tail_start = (float(v) for v in result.x)
    return FollowerModel(median=median, sigma=sigma, tail_start=math.exp(log_tail_start))


@cache
def fitted() -> FollowerModel:
    """The model fitted to the published anchors (cached: the fit is deterministic)."""
    return fit()


def sample_followers(n: int, seed: int) -> NDArray[np.int64]:
    """``n`` integer follower counts from the fitted distribution (for user directories)."""
    rng = np.random.default_rng(seed)
    return np.rint(fitted().sample(n, rng)).astype(np.int64)
