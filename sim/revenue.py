"""Ticketed Spaces: ticket sales and the split of each ticket between store, creator and Twitter.

Per ticketed room: the host sets a price (scenario distribution, $1-$999) and a ticket cap
(a multiple of the room's expected audience); buyers arrive with a conversion rate that falls
with price; sales never exceed the cap. Of the gross, the app store takes its fee; of the
rest, the creator keeps 97% until $50,000 of lifetime earnings and 80% after (a sale that
crosses the line is split exactly at it); Twitter keeps the remainder. Lifetime earnings are
tracked per host account, so the switch happens host by host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TicketParams:
    """Ticketed Spaces: eligibility, pricing, demand and the revenue split."""

    launch: date = date(2021, 8, 26)  # scenario assumption: general availability on iOS
    min_followers: float = 1_000.0  # published rule
    min_hosted_30d: int = 3  # published rule: hosted >= 3 Spaces in the last 30 days
    adult_share: float = 0.9  # scenario assumption: share of host accounts that are 18+
    ticketed_share: float = 0.01  # scenario assumption: eligible hosts' rooms that sell tickets
    price_median: float = 5.0  # scenario assumption: lognormal price, clipped to $1-$999
    price_sigma: float = 0.8
    price_min: float = 1.0  # published range
    price_max: float = 999.0
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
        if not 1 <= self.price_min <= self.price_max <= 999:
            raise ValueError("tickets.price_min/price_max: must satisfy 1 <= min <= max <= 999")


@dataclass(frozen=True)
class Sales:
    """Tickets sold in a batch of ticketed rooms (one entry per room)."""

    price: FloatArray
    cap: NDArray[np.int64]
    sold: NDArray[np.int64]

    @property
    def gross(self) -> FloatArray:
        return np.asarray(self.price * self.sold)


@dataclass(frozen=True)
class Split:
    """Where each room's gross went; store + creator + twitter == gross, room by room."""

    store: FloatArray
    creator: FloatArray
    twitter: FloatArray


def draw_prices(n: int, params: TicketParams, rng: np.random.Generator) -> FloatArray:
    """Whole-dollar prices from the scenario's lognormal, within the allowed range."""
    raw = params.price_median * np.exp(params.price_sigma * rng.standard_normal(n))
    return np.asarray(np.clip(np.round(raw), params.price_min, params.price_max))


def sell(audience: FloatArray, params: TicketParams, rng: np.random.Generator) -> Sales:
    """Price, cap and tickets sold for rooms with these expected audiences."""
    price = draw_prices(len(audience), params, rng)
    cap = np.maximum(np.ceil(params.cap_multiple * audience), 1).astype(np.int64)
    demand_rate = params.conversion * audience * (price / params.price_median) ** (
        -params.price_elasticity
    )
    demand = rng.poisson(demand_rate)
    return Sales(price=price, cap=cap, sold=np.minimum(demand, cap).astype(np.int64))


def split(gross: FloatArray, earned_before: FloatArray, params: TicketParams) -> Split:
    """Split each room's gross given the host's lifetime creator earnings before it."""
    gross = np.asarray(gross, dtype=float)
    store = gross * params.store_fee
    net = gross - store
    room_left = np.maximum(params.lifetime_threshold_usd - np.asarray(earned_before), 0.0)
    creator_before = np.minimum(net * params.creator_share, room_left)
    # the share of net that the creator earned at the first rate; the rest goes at the second
    net_at_first = np.divide(creator_before, params.creator_share,
                             out=np.zeros_like(net), where=params.creator_share > 0)
    net_at_first = np.where(params.creator_share > 0, net_at_first, 0.0)
    creator = creator_before + (net - net_at_first) * params.creator_share_after
    return Split(store=store, creator=creator, twitter=net - creator)
