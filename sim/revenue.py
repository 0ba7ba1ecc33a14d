"""Ticketed Spaces: ticket sales and the split of each ticket between store, creator and Twitter.

Per ticketed room: the host sets a price (scenario distribution, within the published range)
and a ticket cap (a multiple of the room's expected audience); buyers arrive with a conversion
rate that falls with price; sales never exceed the cap. Each room's gross is split by the
published rule (``sim.rules.tickets``: store fee, then 97% / 80% to the creator around $50,000
of lifetime earnings); lifetime earnings are tracked per host account, so the switch happens
host by host. ``TicketParams`` lives with the rules and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.rules.tickets import TicketParams, split_amounts

__all__ = ["Sales", "Split", "TicketParams", "draw_prices", "sell", "split"]

FloatArray = NDArray[np.float64]


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
    # (np.minimum of np.maximum: np.clip's result, without its per-call overhead, every day)
    return np.minimum(np.maximum(np.round(raw), params.price_min), params.price_max)


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
    store, creator, twitter = split_amounts(gross, earned_before, params)
    return Split(store=store, creator=creator, twitter=twitter)
