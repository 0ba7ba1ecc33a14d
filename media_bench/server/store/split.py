"""Where a ticket's price goes: the app store, the creator (host), the platform.

Until ``sim/rules/tickets.py`` holds the product's ticket rules, this follows
``sim.revenue.split`` for one sale: the store takes its fee; of the rest the creator keeps
``creator_share`` until ``lifetime_threshold_usd`` of lifetime creator earnings and
``creator_share_after`` beyond, a sale crossing the line split exactly at it.
"""

from __future__ import annotations

from sim.revenue import TicketParams


def split_sale(
    price_usd: float, creator_lifetime_usd: float, params: TicketParams
) -> tuple[float, float, float]:
    """(store, creator, platform) of one sale; they add up to ``price_usd``."""
    store = price_usd * params.store_fee
    net = price_usd - store
    room_left = max(params.lifetime_threshold_usd - creator_lifetime_usd, 0.0)
    creator_before = min(net * params.creator_share, room_left)
    net_at_first = creator_before / params.creator_share if params.creator_share > 0 else 0.0
    creator = creator_before + (net - net_at_first) * params.creator_share_after
    return store, creator, net - creator
