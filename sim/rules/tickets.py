"""Ticketed Spaces' rules: the price range, who may sell tickets, and the split of a sale.

Published (Twitter, 2021): prices $1-$999; a host needs to be 18 or older, have at least
1,000 followers and have hosted at least 3 Spaces in the last 30 days; of what is left after
the app store's fee, the creator keeps 97% until $50,000 of lifetime earnings and 80% after,
and Twitter keeps the rest. The scenario's knobs (``TicketParams``) default to these rules.

Each rule is one function that takes Python scalars (the server, one user or one sale) or
numpy arrays (the simulation, a whole panel of hosts or a day of sales) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

PRICE_MIN_USD = 1.0
PRICE_MAX_USD = 999.0
MIN_HOST_AGE = 18
HOSTED_WINDOW_DAYS = 30
"""A ticketed host's recent hosting is counted over this many days."""


@dataclass(frozen=True)
class TicketParams:
    """Ticketed Spaces: eligibility, pricing, demand and the revenue split."""

    launch: date = date(2021, 8, 26)  # scenario assumption: general availability on iOS
    min_followers: float = 1_000.0  # published rule
    min_hosted_30d: int = 3  # published rule: hosted >= 3 Spaces in the last 30 days
    adult_share: float = 0.9  # scenario assumption: share of host accounts that are 18+
    ticketed_share: float = 0.01  # scenario assumption: eligible hosts' rooms that sell tickets
    price_median: float = 5.0  # scenario assumption: lognormal price, clipped to the range
    price_sigma: float = 0.8
    price_min: float = PRICE_MIN_USD  # published range
    price_max: float = PRICE_MAX_USD
    cap_multiple: float = 1.5  # ticket cap = multiple of the room's expected audience
    conversion: float = 0.1  # buyers per expected listener at the median price
    price_elasticity: float = 0.6  # demand falls as (price / median) ** -elasticity
    store_fee: float = 0.30  # in-app purchase fee (15% as sensitivity)
    creator_share: float = 0.97  # published: until the lifetime threshold
    creator_share_after: float = 0.80  # published: after it
    lifetime_threshold_usd: float = 50_000.0  # published

    def validate(self) -> None:
        for name in ("adult_share", "ticketed_share", "store_fee", "creator_share",
                     "creator_share_after"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"tickets.{name}: must be in [0, 1], got {value}")
        for name in ("price_median", "price_min", "cap_multiple", "lifetime_threshold_usd"):
            if not getattr(self, name) > 0:
                raise ValueError(f"tickets.{name}: must be > 0, got {getattr(self, name)}")
        for name in ("price_sigma", "conversion", "price_elasticity", "min_followers"):
            if getattr(self, name) < 0:
                raise ValueError(f"tickets.{name}: must be >= 0, got {getattr(self, name)}")
        if self.min_hosted_30d < 0:
            raise ValueError(f"tickets.min_hosted_30d: must be >= 0, got {self.min_hosted_30d}")
        if not PRICE_MIN_USD <= self.price_min <= self.price_max <= PRICE_MAX_USD:
            raise ValueError(
                f"tickets.price_min/price_max: must satisfy {PRICE_MIN_USD:g} <= min <= max "
                f"<= {PRICE_MAX_USD:g}"
            )


PUBLISHED = TicketParams()
"""The defaults, whose rules are the published ones: the server's (a scenario may vary them)."""


# -- who may sell tickets ---------------------------------------------------------------------
def is_adult(age: ArrayLike) -> BoolArray:
    return np.asarray(age) >= MIN_HOST_AGE


def ticketed_host_checks(
    followers: ArrayLike, adult: ArrayLike, hosted_30d: ArrayLike,
    params: TicketParams = PUBLISHED,
) -> dict[str, BoolArray]:
    """Each published condition by name, met or not, for one account (scalars) or many
    (arrays). ``adult``: 18 or older (``is_adult`` of an age)."""
    return {
        "age": np.asarray(adult, dtype=bool),
        "followers": np.asarray(followers) >= params.min_followers,
        "hosted_30d": np.asarray(hosted_30d) >= params.min_hosted_30d,
    }


def can_host_ticketed(
    followers: ArrayLike, adult: ArrayLike, hosted_30d: ArrayLike,
    params: TicketParams = PUBLISHED,
) -> BoolArray:
    """May sell tickets: every condition of ``ticketed_host_checks`` is met (``bool()`` of
    it for one account)."""
    return np.asarray(np.logical_and.reduce(list(
        ticketed_host_checks(followers, adult, hosted_30d, params).values())))


def unmet_ticketed_rules(
    followers: int, age: int | None, hosted_30d: int, params: TicketParams = PUBLISHED
) -> list[str]:
    """What one account lacks to sell tickets, one phrase per unmet condition (none: it may).
    An unknown age (None) is not known to be 18 or older."""
    adult = age is not None and bool(is_adult(age))
    checks = ticketed_host_checks(followers, adult, hosted_30d, params)
    needs = {
        "age": f"be at least {MIN_HOST_AGE} years old "
        + ("(age unknown)" if age is None else f"(is {age})"),
        "followers": f"have at least {params.min_followers:,.0f} followers (has {followers:,})",
        "hosted_30d": f"have hosted at least {params.min_hosted_30d} Spaces in the last "
        f"{HOSTED_WINDOW_DAYS} days (hosted {hosted_30d})",
    }
    return [needs[name] for name, met in checks.items() if not bool(met)]


# -- the price --------------------------------------------------------------------------------
def price_in_range(price: float) -> bool:
    return PRICE_MIN_USD <= price <= PRICE_MAX_USD


# -- the split --------------------------------------------------------------------------------
def split_amounts(
    gross: ArrayLike, creator_earned_before: ArrayLike, params: TicketParams = PUBLISHED
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(store, creator, platform) of each sale, given the creator's lifetime earnings before
    it; the three add up to the gross. A sale that crosses the lifetime line is split exactly
    at it: the creator's share is the first rate up to the line and the second after."""
    gross = np.asarray(gross, dtype=float)
    store = gross * params.store_fee
    net = gross - store
    room_left = np.maximum(params.lifetime_threshold_usd - np.asarray(creator_earned_before), 0.0)
    creator_at_first_rate = np.minimum(net * params.creator_share, room_left)
    net_at_first_rate = (creator_at_first_rate / params.creator_share
                         if params.creator_share > 0 else np.zeros_like(net))
    creator = creator_at_first_rate + (net - net_at_first_rate) * params.creator_share_after
    return store, creator, net - creator


def split_sale(
    price_usd: float, creator_lifetime_usd: float, params: TicketParams = PUBLISHED
) -> tuple[float, float, float]:
    """(store, creator, platform) of one ticket sold by a creator who had earned
    ``creator_lifetime_usd`` before it."""
    store, creator, platform = split_amounts(price_usd, creator_lifetime_usd, params)
    return float(store), float(creator), float(platform)
