"""The fan-out designs by their ``--fanout`` name."""

from __future__ import annotations

from typing import assert_never

from media_bench.server.direct_fanout import DirectFanOut
from media_bench.server.fanout import FanOutDesign
from media_bench.server.settings import FanOut
from media_bench.server.shared_fanout import NaiveFanOut, SharedFanOut


def fanout_design(name: FanOut) -> FanOutDesign:
    """A new design object for one room."""
    if name == "direct":
        return DirectFanOut()
    if name == "shared":
        return SharedFanOut()
    if name == "naive":
        return NaiveFanOut()
    assert_never(name)
