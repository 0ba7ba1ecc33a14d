"""Who is on a Space's stage: 1 host + up to 2 co-hosts + up to 10 speakers (Twitter, 5 Aug 2021).

Facts of the product, not scenario assumptions: the simulation's stage resource and the
media server's ``Room`` both enforce these.
"""

from __future__ import annotations

MAX_COHOSTS = 2
"""Co-hosts besides the host."""
MAX_SPEAKERS = 10
"""Speakers besides the host and the co-hosts."""
STAGE_CAPACITY = 1 + MAX_COHOSTS + MAX_SPEAKERS
"""Everyone who may speak at once, the host included (13)."""
