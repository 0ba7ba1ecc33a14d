"""A seeded user-space bad network on a client peer's datagram layer.

This kernel has no netem, and a user-space stage runs anywhere without root. Every datagram a
bot's peer connection sends or receives passes one ``ImpairmentStage`` per direction, which
drops it (independently, or in Gilbert-Elliott bursts) or hands it on after a delay.

Where it hooks, and why there: at the peer's own UDP sockets (aioice's protocols, through
``aiortc_internals.route_sends`` / ``route_receives``, and in the bots' own socket readers),
not in a UDP relay between the peers. A relay would need every peer's ICE candidates
rewritten to point at it (or a relay per server port), would be one more process on the
load generator's cores whose own queueing adds delay we did not ask for, and could not tell
one listener's datagrams from another's by role. At the socket, each peer has its own stage
with its own seeded random streams, the role is known, and the cost is a few microseconds of
the peer's own loop per datagram. What that misses: the kernel's and the server's own queues
see unimpaired traffic, as they would behind a lossy last mile.

Delays never block the loop: a delayed datagram is handed on by ``loop.call_later``. With
jitter, datagrams may overtake each other, as they do on real paths. Losses and delays come
from two separate random streams seeded from the peer's seed and the direction, so the same
seed drops the same datagrams, with or without jitter.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from media_bench.client.impairment_spec import NO_IMPAIRMENT, Impairment
from media_bench.common.aiortc_internals import route_receives, route_sends

if TYPE_CHECKING:
    from aioice.ice import StunProtocol

Onward = Callable[[bytes, Any], None]


class GilbertElliott:
    """Two-state loss chain: in the bad state every datagram is lost, in the good state none.

    With long-run loss ``L`` and mean burst ``B`` datagrams, the chain leaves the bad state
    with probability ``r = 1/B`` per datagram and enters it with ``p = L r / (1 - L)``, so the
    share of time in the bad state, ``p / (p + r)``, is ``L``.
    """

    def __init__(self, loss: float, burst: float, draw: Callable[[], float]) -> None:
        self.leave = 1.0 / burst
        self.enter = loss * self.leave / (1.0 - loss)
        self._draw = draw
        self._bad = False

    def lost(self) -> bool:
        self._bad = self._draw() >= self.leave if self._bad else self._draw() < self.enter
        return self._bad


class ImpairmentStage:
    """One direction of one peer: each datagram is dropped or handed on after its delay."""

    def __init__(self, impairment: Impairment, seed: str) -> None:
        self._loss_draw = random.Random(f"{seed}/loss").random
        self._delay_draw = random.Random(f"{seed}/delay").random
        self.retune(impairment)
        self.passed = 0
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def retune(self, impairment: Impairment) -> None:
        """From the next datagram on, impair as ``impairment`` says (a path that changes
        mid-call); the random streams run on."""
        self.impairment = impairment
        self._chain = (GilbertElliott(impairment.loss, impairment.burst, self._loss_draw)
                       if impairment.bursty else None)

    def lost(self) -> bool:
        """Whether the next datagram is lost (one step of the loss process)."""
        if self._chain is not None:
            return self._chain.lost()
        return self.impairment.loss > 0 and self._loss_draw() < self.impairment.loss

    def delay(self) -> float:
        """The next datagram's delay, seconds."""
        impairment = self.impairment
        if impairment.jitter:
            return max(0.0, impairment.delay + impairment.jitter * (2 * self._delay_draw() - 1))
        return impairment.delay

    def __call__(self, data: bytes, addr: Any, onward: Onward) -> None:
        """Route one datagram (``aiortc_internals.Route``): call from the loop's thread."""
        if self.lost():
            self.dropped += 1
            return
        self.passed += 1
        delay = self.delay()
        if delay <= 0:
            onward(data, addr)
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._loop.call_later(delay, onward, data, addr)


@dataclass(frozen=True)
class PeerImpairment:
    """What one peer's network does: to what it sends (its uplink) and what it receives (its
    downlink), with the seed its stages draw from."""

    uplink: Impairment = NO_IMPAIRMENT
    downlink: Impairment = NO_IMPAIRMENT
    seed: str = "1"

    def uplink_stage(self) -> ImpairmentStage | None:
        return ImpairmentStage(self.uplink, f"{self.seed}/up") if self.uplink.active else None

    def downlink_stage(self) -> ImpairmentStage | None:
        if not self.downlink.active:
            return None
        return ImpairmentStage(self.downlink, f"{self.seed}/down")


def impair_sends(protocols: list[StunProtocol], stage: ImpairmentStage) -> None:
    """Route what a peer's sockets send through ``stage``."""
    for protocol in protocols:
        if protocol.transport is not None:
            route_sends(protocol, stage)


def impair_receives(protocol: StunProtocol, stage: ImpairmentStage) -> None:
    """Route what asyncio reads from a peer's socket through ``stage``."""
    route_receives(protocol, stage)
